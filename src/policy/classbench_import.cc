#include "policy/classbench_import.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "classifier/classbench.h"
#include "packet/packet.h"
#include "policy/validate.h"

namespace rampart {
namespace {

absl::StatusOr<Policy> FromClassRules(const std::vector<ClassRule>& crs, const std::string& doc) {
  Policy p;
  p.name = doc;
  p.default_action = Action::kDrop;
  p.rules.reserve(crs.size());
  for (size_t i = 0; i < crs.size(); ++i) {
    const RuleMatch& m = crs[i].match;
    Rule r;
    r.id = static_cast<uint32_t>(i);
    r.priority = static_cast<int32_t>(i);
    r.name = absl::StrCat("classbench-", i);
    r.action = Action::kAllow;
    r.direction_mask = 3;
    if (m.family == 6) return absl::InvalidArgumentError(absl::StrCat(doc, ":", i + 1, ": IPv6 rules are not ClassBench"));
    if (m.src.len > 96) r.src.prefixes.push_back(m.src);
    if (m.dst.len > 96) r.dst.prefixes.push_back(m.dst);
    r.family = 4;  // ClassBench is IPv4: 0.0.0.0/0 means any IPv4 address, not any address
    if (m.proto_mask == 0xff) {
      r.proto = m.proto;
    } else if (m.proto_mask != 0) {
      return absl::InvalidArgumentError(absl::StrCat(doc, ":", i + 1, ": protocol mask 0x", absl::Hex(m.proto_mask),
                                                     " is neither 0x00 nor 0xFF"));
    }
    bool icmp = r.proto == kProtoIcmp || r.proto == kProtoIcmpV6;
    if (icmp) {
      // ICMP type/code sit in the port fields: exact values or wildcards only.
      auto one = [&](const PortRange& pr, std::optional<uint8_t>* out, const char* what) -> absl::Status {
        if (pr.IsAny()) return absl::OkStatus();
        if (pr.lo == pr.hi && pr.lo <= 255) {
          *out = static_cast<uint8_t>(pr.lo);
          return absl::OkStatus();
        }
        return absl::InvalidArgumentError(absl::StrCat(doc, ":", i + 1, ": ICMP ", what, " range ", pr.lo, "-", pr.hi,
                                                       " is neither a single value 0..255 nor a wildcard"));
      };
      if (auto s = one(m.sport, &r.icmp_type, "type (source port)"); !s.ok()) return s;
      if (auto s = one(m.dport, &r.icmp_code, "code (destination port)"); !s.ok()) return s;
    } else {
      if (!m.sport.IsAny()) r.sports.push_back(m.sport);
      if (!m.dport.IsAny()) r.dports.push_back(m.dport);
    }
    p.rules.push_back(std::move(r));
  }
  if (auto issue = CheckPolicy(p)) return IssueToStatus(doc, *issue);
  return p;
}

}  // namespace

absl::StatusOr<Policy> ImportClassBench(std::string_view rules_text, std::string_view doc_name) {
  auto crs = ParseClassBenchRules(rules_text, doc_name);
  if (!crs.ok()) return crs.status();
  return FromClassRules(*crs, std::string(doc_name));
}

absl::StatusOr<Policy> ImportClassBenchFile(const std::string& path) {
  auto crs = ReadClassBenchRules(path);
  if (!crs.ok()) return crs.status();
  return FromClassRules(*crs, path);
}

}  // namespace rampart
