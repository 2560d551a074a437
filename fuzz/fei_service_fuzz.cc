// FEI service.set / service.delete params: any JSON text gives a config or an INVALID_ARGUMENT,
// and an accepted config round-trips through ServiceConfigJson unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fwd/service_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr,
                                 /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto c = rampart::fwd::ParseServiceConfig(j);
  if (c.ok()) {
    auto again = rampart::fwd::ParseServiceConfig(rampart::fwd::ServiceConfigJson(*c));
    if (!again.ok() || !(*again == *c)) __builtin_trap();
  } else if (c.status().code() != absl::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  auto k = rampart::fwd::ParseServiceKey(j);
  if (!k.ok() && k.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
  return 0;
}
