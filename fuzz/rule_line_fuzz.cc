// policy::ParseRuleLine: any input gets a defined outcome; an accepted line prints back to a line
// that parses to the same rule (the canonical form is a fixed point).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/policy_parser.h"
#include "policy/rule_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = rampart::policy::ParseRuleLine(line);
  if (!r.ok()) return 0;
  std::string printed = rampart::policy::RuleLine(*r);
  auto back = rampart::policy::ParseRuleLine(printed);
  if (!back.ok() || !rampart::RuleEquals(*r, *back) || rampart::policy::RuleLine(*back) != printed) std::abort();
  return 0;
}
