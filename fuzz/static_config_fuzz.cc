// The agent's static host configuration parser: any text gives a config or an error naming the
// document, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/static_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = rampart::agent::ParseStaticConfig(text, "fuzz.yaml", "/nonexistent");
  if (!c.ok() && c.status().message().find("fuzz.yaml") == std::string_view::npos) __builtin_trap();
  return 0;
}
