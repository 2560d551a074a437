// Semantic checks of a Policy (policy.h), shared by the YAML parser, the ClassBench importer and
// the compiler, so a policy is judged by one set of rules whichever way it was made.
//
// A problem is reported as a field path in the document's terms ("rules[3].destination_ports[1]",
// "address_groups[0].name", "default") plus a reason a user can act on. The parser turns the path
// into a line number; the compiler prefixes the document name.
//
// Thread-safety: pure functions.
#ifndef RAMPART_POLICY_VALIDATE_H_
#define RAMPART_POLICY_VALIDATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "policy/policy.h"

namespace rampart {

struct PolicyIssue {
  std::string field;   // e.g. "rules[3].destination_ports[1]"
  std::string reason;  // e.g. "port range 900-80 is reversed"
};

// The whole policy: groups (names unique and well-formed, prefixes canonical), every rule (see
// CheckRule), rule ids unique, the default action (allow, drop or reject). First problem only.
std::optional<PolicyIssue> CheckPolicy(const Policy& policy);

// One rule on its own and against `policy`'s groups; `field` names the rule ("rules[3]"). Does not
// check id uniqueness (the caller knows whether the rule replaces one).
std::optional<PolicyIssue> CheckRule(const Rule& rule, const Policy& policy, std::string_view field);

// An address group on its own; `field` names it ("address_groups[0]").
std::optional<PolicyIssue> CheckGroup(const AddressGroup& group, std::string_view field);

// "tcp", "udp", "icmp", "icmpv6", other well-known names, else the number; "any" for nullopt.
std::string ProtocolName(std::optional<uint8_t> proto);

// The families a rule can match, as a bit mask (1 = IPv4, 2 = IPv6): its explicit `family`
// intersected with what its protocol implies (icmp: IPv4, icmpv6: IPv6). 0 for a contradiction.
uint8_t RuleFamilies(const Rule& rule);

// A prefix as Prefix::Parse would produce it: length <= 128 and no bits set below the length.
bool IsCanonicalPrefix(const Prefix& p);

// InvalidArgument "<doc>: <field>: <reason>".
absl::Status IssueToStatus(std::string_view doc, const PolicyIssue& issue);

}  // namespace rampart

#endif  // RAMPART_POLICY_VALIDATE_H_
