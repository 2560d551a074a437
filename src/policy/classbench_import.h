// ClassBench rule sets (shared/data/classbench/README.md) as Policies: rule i (0-based, file
// order) becomes Rule{id = i, priority = i, name "classbench-<i>"} with its source/destination
// prefixes, port ranges (wildcards become "any") and protocol (mask 0x00 = any), action allow,
// direction any; the flags column is ignored; the default action is drop. The .rules text is
// parsed by the classifier's ClassBench parser (classifier/classbench.h).
//
// Thread-safety: pure functions.
#ifndef RAMPART_POLICY_CLASSBENCH_IMPORT_H_
#define RAMPART_POLICY_CLASSBENCH_IMPORT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "policy/policy.h"

namespace rampart {

// `doc_name` prefixes errors ("<doc>:<line>: <reason>").
absl::StatusOr<Policy> ImportClassBench(std::string_view rules_text, std::string_view doc_name);
absl::StatusOr<Policy> ImportClassBenchFile(const std::string& path);

}  // namespace rampart

#endif  // RAMPART_POLICY_CLASSBENCH_IMPORT_H_
