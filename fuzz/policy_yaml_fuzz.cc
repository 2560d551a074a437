// libFuzzer target: the native policy parser, and on success the compiler and the round trip
// through SerializePolicyYaml (which must give back an equal Policy).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/compiler.h"
#include "policy/policy_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = rampart::ParsePolicyYaml(text, "fuzz");
  if (!policy.ok()) return 0;
  rampart::CompilerOptions options;
  options.max_entries_per_rule = 4096;  // keep each input cheap; the guard itself is exercised
  options.max_entries = 1 << 16;
  auto compiled = rampart::CompilePolicy(*policy, options);
  if (compiled.ok() && (*compiled)->rules[(*compiled)->default_index].rule_id != rampart::kDefaultRuleId) {
    __builtin_trap();
  }
  std::string again = rampart::SerializePolicyYaml(*policy);
  auto reparsed = rampart::ParsePolicyYaml(again, "fuzz-roundtrip");
  if (!reparsed.ok() || !rampart::PolicyEquals(*policy, *reparsed)) __builtin_trap();
  return 0;
}
