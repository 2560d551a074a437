// The native policy format (YAML; JSON is accepted since it is YAML) <-> Policy. The format is
// documented in docs/policy.md; examples are in examples/policies/.
//
// Errors are InvalidArgument (NotFound for a missing file) and read
//   "<doc>:<line>:<column>: <field path>: <reason>"
// e.g. "web.yaml:14:9: rules[3].destination_ports[1]: port range 900-80 is reversed". Nothing is
// returned on error. The ClassBench importer (classbench_import.h) produces the same Policy model.
//
// Thread-safety: pure functions.
#ifndef RAMPART_POLICY_POLICY_PARSER_H_
#define RAMPART_POLICY_POLICY_PARSER_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "policy/policy.h"
#include "yaml-cpp/yaml.h"

namespace rampart {

// Parses one policy document. `doc_name` (a file name, or e.g. "request body") prefixes errors.
// A rule without `id` gets its position as id; without `priority`, its position as priority.
absl::StatusOr<Policy> ParsePolicyYaml(std::string_view text, std::string_view doc_name);

// The same for a document already loaded by yaml-cpp (marks in errors are the node's own).
absl::StatusOr<Policy> ParsePolicyNode(const YAML::Node& root, std::string_view doc_name);

// Reads and parses `path`; errors name the path.
absl::StatusOr<Policy> ParsePolicyFile(const std::string& path);

// The policy as a YAML document that ParsePolicyYaml turns back into an equal Policy.
// REQUIRES: CheckPolicy(policy) finds nothing (policy/validate.h).
std::string SerializePolicyYaml(const Policy& policy);

// Field-by-field equality (Policy has no operator==: it is a plain struct of the header contract).
bool PolicyEquals(const Policy& a, const Policy& b);
bool RuleEquals(const Rule& a, const Rule& b);

}  // namespace rampart

#endif  // RAMPART_POLICY_POLICY_PARSER_H_
