// Parsers for ClassBench files (shared/data/classbench/README.md): `.rules` (db_generator
// standard form), `.trace` (trace_generator output) and `.expected` (ground-truth first match).
//
// Rules become ClassRules with priority = id = value = rule index (0-based, file order), family 4,
// direction any; the flags column is parsed and checked but ignored (5-tuple classification).
// Errors name `name:line` and the reason. The text parsers never read outside the given text and
// are the fuzz target's entry points (fuzz/classbench_fuzz.cc).
//
// Thread-safety: pure functions.
#ifndef RAMPART_CLASSIFIER_CLASSBENCH_H_
#define RAMPART_CLASSIFIER_CLASSBENCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/match.h"

namespace rampart {

// One `.trace` line.
struct ClassBenchHeader {
  ClassKey key;           // family 4, direction 0 (kFromVm)
  uint32_t flags = 0;     // generator-encoded flags column (not TCP flags; unused)
  uint32_t gen_rule = 0;  // rule the header was generated from: NOT the first match
};

// `name` is only used in error messages (usually the file path).
absl::StatusOr<std::vector<ClassRule>> ParseClassBenchRules(std::string_view text,
                                                            std::string_view name);
absl::StatusOr<std::vector<ClassBenchHeader>> ParseClassBenchTrace(std::string_view text,
                                                                   std::string_view name);
// Column 1 of each `.expected` line (first match, flags ignored); -1 becomes kNoMatch.
absl::StatusOr<std::vector<uint32_t>> ParseClassBenchExpected(std::string_view text,
                                                              std::string_view name);

// File forms: read `path` and parse; errors name the path.
absl::StatusOr<std::vector<ClassRule>> ReadClassBenchRules(const std::string& path);
absl::StatusOr<std::vector<ClassBenchHeader>> ReadClassBenchTrace(const std::string& path);
absl::StatusOr<std::vector<uint32_t>> ReadClassBenchExpected(const std::string& path);

// Back to `.rules` text (flags written as wildcard); ParseClassBenchRules(Format(r)) == r for
// family-4 rules with any direction. For tests and for writing fuzz seeds.
std::string FormatClassBenchRule(const ClassRule& rule);

}  // namespace rampart

#endif  // RAMPART_CLASSIFIER_CLASSBENCH_H_
