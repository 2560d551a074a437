#include "policy/validate.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "packet/packet.h"
#include "policy/compiled_policy.h"
#include "policy/prefix_hash.h"

namespace rampart {

const char* ActionName(Action a) {
  switch (a) {
    case Action::kAllow: return "allow";
    case Action::kDrop: return "drop";
    case Action::kReject: return "reject";
    case Action::kRedirect: return "redirect";
  }
  return "invalid";
}

std::string ProtocolName(std::optional<uint8_t> proto) {
  if (!proto) return "any";
  switch (*proto) {
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmpV6: return "icmpv6";
    default: return std::to_string(*proto);
  }
}

uint8_t RuleFamilies(const Rule& rule) {
  uint8_t f = 3;
  if (rule.family == 4) f = 1;
  if (rule.family == 6) f = 2;
  if (rule.proto == kProtoIcmp) f &= 1;
  if (rule.proto == kProtoIcmpV6) f &= 2;
  return f;
}

bool IsCanonicalPrefix(const Prefix& p) { return p.len <= 128 && MaskIp(p.addr, p.len) == p.addr; }

absl::Status IssueToStatus(std::string_view doc, const PolicyIssue& issue) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(doc), ": ", issue.field, ": ", issue.reason));
}

namespace {

std::optional<PolicyIssue> Issue(std::string field, std::string reason) {
  return PolicyIssue{std::move(field), std::move(reason)};
}

std::string FamilyWord(uint8_t families) {
  return families == 1 ? "IPv4-only" : families == 2 ? "IPv6-only" : "";
}

std::string WhyFamily(const Rule& r) {
  if (r.proto == kProtoIcmp) return "protocol icmp";
  if (r.proto == kProtoIcmpV6) return "protocol icmpv6";
  return r.family == 4 ? "family ipv4" : "family ipv6";
}

std::optional<PolicyIssue> CheckSide(const Rule& rule, const AddressSpec& side,
                                     const Policy& policy, const std::string& field) {
  uint8_t fam = RuleFamilies(rule);
  for (const Prefix& p : side.prefixes) {
    if (!IsCanonicalPrefix(p)) {
      return Issue(field, absl::StrCat("prefix ", p.ToString(), " has bits set below its length"));
    }
    uint8_t pf = p.IsV4() ? 1 : 2;
    if (!(fam & pf)) {
      return Issue(field, absl::StrCat(p.IsV4() ? "IPv4" : "IPv6", " prefix ", p.ToString(),
                                       " in an ", FamilyWord(fam), " rule (", WhyFamily(rule), ")"));
    }
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& g : side.groups) {
    bool found = false;
    for (const AddressGroup& ag : policy.groups) found = found || ag.name == g;
    if (!found) return Issue(field, absl::StrCat("unknown address group '", g, "'"));
    if (!seen.insert(g).second) return Issue(field, absl::StrCat("address group '", g, "' listed twice"));
  }
  return std::nullopt;
}

std::optional<PolicyIssue> CheckPorts(const std::vector<PortRange>& ports, const std::string& field) {
  for (size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].lo > ports[i].hi) {
      return Issue(absl::StrCat(field, "[", i, "]"),
                   absl::StrCat("port range ", ports[i].lo, "-", ports[i].hi, " is reversed"));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<PolicyIssue> CheckGroup(const AddressGroup& group, std::string_view field_view) {
  const std::string field(field_view);
  if (group.name.empty()) return Issue(absl::StrCat(field, ".name"), "address group name is empty");
  for (unsigned char c : group.name) {
    if (c <= ' ' || c == 0x7f) {
      return Issue(absl::StrCat(field, ".name"),
                   absl::StrCat("address group name '", group.name,
                                "' contains a space or control character"));
    }
  }
  absl::flat_hash_set<Prefix, policy_internal::PrefixHash> seen;
  for (size_t i = 0; i < group.prefixes.size(); ++i) {
    const Prefix& p = group.prefixes[i];
    std::string f = absl::StrCat(field, ".prefixes[", i, "]");
    if (!IsCanonicalPrefix(p)) {
      return Issue(f, absl::StrCat("prefix ", p.ToString(), " has bits set below its length"));
    }
    if (!seen.insert(p).second) return Issue(f, absl::StrCat("prefix ", p.ToString(), " listed twice"));
  }
  return std::nullopt;
}

std::optional<PolicyIssue> CheckRule(const Rule& r, const Policy& policy, std::string_view field) {
  std::string f(field);
  if (r.id == kDefaultRuleId || r.id == kFreeSlotRuleId) {
    return Issue(f + ".id", absl::StrCat("id ", r.id, " is reserved (ids must be below ", kDefaultRuleId, ")"));
  }
  if (r.family != 0 && r.family != 4 && r.family != 6) {
    return Issue(f + ".family", absl::StrCat("family ", int{r.family}, " is not 4, 6 or 0 (any)"));
  }
  if (RuleFamilies(r) == 0) {
    return Issue(f + ".family", absl::StrCat("family ipv", int{r.family}, " conflicts with protocol ",
                                             ProtocolName(r.proto)));
  }
  if (r.direction_mask == 0 || r.direction_mask > 3) {
    return Issue(f + ".direction", absl::StrCat("direction mask ", int{r.direction_mask},
                                                " is not 1 (from-vm), 2 (to-vm) or 3 (any)"));
  }
  if (static_cast<uint8_t>(r.action) > static_cast<uint8_t>(Action::kRedirect)) {
    return Issue(f + ".action", absl::StrCat("action ", int{static_cast<uint8_t>(r.action)}, " is not valid"));
  }
  if (r.action == Action::kRedirect && r.redirect_service.empty()) {
    return Issue(f + ".redirect_to", "action redirect needs redirect_to (the service to hand packets to)");
  }
  if (r.action != Action::kRedirect && !r.redirect_service.empty()) {
    return Issue(f + ".redirect_to", absl::StrCat("redirect_to given for action ", ActionName(r.action),
                                                  " (only action redirect uses it)"));
  }
  bool icmp = r.proto == kProtoIcmp || r.proto == kProtoIcmpV6;
  if (icmp) {
    if (!r.sports.empty()) {
      return Issue(f + ".source_ports", absl::StrCat("source_ports given for protocol ", ProtocolName(r.proto),
                                                     "; use icmp_type and icmp_code"));
    }
    if (!r.dports.empty()) {
      return Issue(f + ".destination_ports", absl::StrCat("destination_ports given for protocol ",
                                                          ProtocolName(r.proto), "; use icmp_type and icmp_code"));
    }
  } else {
    if (r.icmp_type) {
      return Issue(f + ".icmp_type", absl::StrCat("icmp_type given for protocol ", ProtocolName(r.proto),
                                                  " (only icmp and icmpv6 have types)"));
    }
    if (r.icmp_code) {
      return Issue(f + ".icmp_code", absl::StrCat("icmp_code given for protocol ", ProtocolName(r.proto),
                                                  " (only icmp and icmpv6 have codes)"));
    }
  }
  if (auto i = CheckPorts(r.sports, f + ".source_ports")) return i;
  if (auto i = CheckPorts(r.dports, f + ".destination_ports")) return i;
  if (auto i = CheckSide(r, r.src, policy, f + ".source")) return i;
  if (auto i = CheckSide(r, r.dst, policy, f + ".destination")) return i;
  return std::nullopt;
}

std::optional<PolicyIssue> CheckPolicy(const Policy& policy) {
  absl::flat_hash_map<std::string, size_t> group_index;
  for (size_t i = 0; i < policy.groups.size(); ++i) {
    std::string f = absl::StrCat("address_groups[", i, "]");
    if (auto issue = CheckGroup(policy.groups[i], f)) return issue;
    auto [it, fresh] = group_index.emplace(policy.groups[i].name, i);
    if (!fresh) {
      return Issue(f + ".name", absl::StrCat("address group '", policy.groups[i].name,
                                             "' is already defined by address_groups[", it->second, "]"));
    }
  }
  absl::flat_hash_map<uint32_t, size_t> ids;
  for (size_t i = 0; i < policy.rules.size(); ++i) {
    std::string f = absl::StrCat("rules[", i, "]");
    if (auto issue = CheckRule(policy.rules[i], policy, f)) return issue;
    auto [it, fresh] = ids.emplace(policy.rules[i].id, i);
    if (!fresh) {
      return Issue(f + ".id", absl::StrCat("id ", policy.rules[i].id, " is already used by rules[", it->second,
                                           "] (a rule without an id gets its position as id)"));
    }
  }
  if (policy.default_action == Action::kRedirect ||
      static_cast<uint8_t>(policy.default_action) > static_cast<uint8_t>(Action::kRedirect)) {
    return Issue("default", "the default action must be allow, drop or reject");
  }
  return std::nullopt;
}

}  // namespace rampart
