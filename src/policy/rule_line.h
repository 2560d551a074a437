// The canonical one-line form of a firewall rule, as the controller's logical stage prints it
// (src/controller/nb_spec.cc RuleText) and the records carry it (docs/records.md, FwRule.text):
//
//   dir=any [family=ipv4|ipv6] proto=tcp src=198.18.1.0/24,group:web dst=any [sport=1024-65535]
//   [dport=80,5201] [icmp_type=8] [icmp_code=0] action=allow|drop|reject|redirect:SVC [log]
//   [stateless] [name=REST OF LINE]
//
// ParseRuleLine reads it back into a rampart::Rule (id and priority are not part of the text:
// they are FwRule columns, left 0 here). BuildFeiPolicy assembles the complete policy document
// (docs/policy.md, JSON) that rampart-agent hands to rampart-fwd's policy.set for one instance.
//
// Thread-safety: pure functions.
#ifndef RAMPART_POLICY_RULE_LINE_H_
#define RAMPART_POLICY_RULE_LINE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip.h"
#include "policy/policy.h"

namespace rampart::policy {

// Parses one canonical rule line. Errors name the token and the reason
// ("token 4 'dst=198.18.2.0/33': bad address '198.18.2.0/33'").
absl::StatusOr<Rule> ParseRuleLine(std::string_view line);

// The inverse (the same text nb_spec.cc's RuleText prints for a validated rule).
std::string RuleLine(const Rule& rule);

struct RuleRow {      // an FwRule record's columns
  uint32_t id = 0;
  int32_t priority = 0;
  std::string text;   // canonical line
};
struct GroupRow {     // an FwGroup record's columns
  std::string group;
  Prefix prefix;
};

// The policy of one engine instance: rules ordered by (priority, id), every group a rule
// references (with its FwGroup prefixes, possibly none), the default action
// (allow | drop | reject). Errors name the rule id and the reason; a group row nobody uses
// is kept (harmless).
absl::StatusOr<Policy> BuildPolicy(std::string_view name, const std::vector<RuleRow>& rules,
                                   const std::vector<GroupRow>& groups,
                                   std::string_view default_action);

// docs/policy.md JSON text of `policy` (ParsePolicyYaml reads it back to an equal Policy).
std::string PolicyToJson(const Policy& policy);

}  // namespace rampart::policy

#endif  // RAMPART_POLICY_RULE_LINE_H_
