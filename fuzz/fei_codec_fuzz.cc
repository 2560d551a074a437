// FEI framing: arbitrary bytes fed in arbitrary chunks must yield messages or a clean error.
#include <cstddef>
#include <cstdint>

#include "fwd/fei_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  rampart::fwd::FeiDecoder d;
  size_t chunk = 1 + data[0] % 17;
  for (size_t off = 1; off < size; off += chunk) {
    d.Feed(std::string_view(reinterpret_cast<const char*>(data + off), std::min(chunk, size - off)));
    while (true) {
      auto m = d.Next();
      if (!m.ok()) return 0;
      if (!m->has_value()) break;
      std::string again;
      rampart::fwd::EncodeFeiMessage(**m, &again);
    }
  }
  return 0;
}
