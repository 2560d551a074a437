#include "classifier/validate.h"

#include "absl/strings/str_cat.h"

namespace rampart::classifier_internal {

namespace {
absl::Status CheckPrefix(const ClassRule& r, const Prefix& p, const char* side) {
  const RuleMatch& m = r.match;
  if (p.len > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule ", r.id, ": ", side, " prefix length ", p.len, " is over 128"));
  }
  if (MaskIp(p.addr, p.len) != p.addr) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": ", side, " prefix ",
                                                   p.addr.ToString(), "/", p.len,
                                                   " has address bits set below its length"));
  }
  if (p.len == 0) return absl::OkStatus();  // any address of the rule's family
  if (m.family == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rule ", r.id, ": ", side, " prefix ", p.ToString(),
        " needs family 4 or 6 (a family-0 rule matches any address and must use /0)"));
  }
  if (m.family == 4 && !p.IsV4()) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": ", side, " prefix ",
                                                   p.ToString(), " is not IPv4 in an IPv4 rule"));
  }
  if (m.family == 6 && p.IsV4()) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": ", side, " prefix ",
                                                   p.ToString(), " is IPv4 in an IPv6 rule"));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status ValidateRule(const ClassRule& r) {
  const RuleMatch& m = r.match;
  if (m.family != 0 && m.family != 4 && m.family != 6) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule ", r.id, ": family ", m.family, " is not 0, 4 or 6"));
  }
  if (absl::Status s = CheckPrefix(r, m.src, "source"); !s.ok()) return s;
  if (absl::Status s = CheckPrefix(r, m.dst, "destination"); !s.ok()) return s;
  if (m.sport.lo > m.sport.hi) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": source port range ",
                                                   m.sport.lo, "-", m.sport.hi, " is reversed"));
  }
  if (m.dport.lo > m.dport.hi) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": destination port range ",
                                                   m.dport.lo, "-", m.dport.hi, " is reversed"));
  }
  if ((m.direction_mask & ~0x3u) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("rule ", r.id, ": direction mask ",
                                                   m.direction_mask, " has bits other than 0x3"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRules(std::span<const ClassRule> rules) {
  absl::flat_hash_set<uint32_t> ids;
  ids.reserve(rules.size());
  for (const ClassRule& r : rules) {
    if (absl::Status s = ValidateRule(r); !s.ok()) return s;
    if (!ids.insert(r.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("rule id ", r.id, " appears twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace rampart::classifier_internal
