// libFuzzer target for the OpenFlow message decoder (src/ovs/ofp_codec.h).
// Properties: decoding never crashes or reads out of bounds (ASan), and every message that
// decodes re-encodes to bytes that decode to the same value (hello excepted: its header version
// is derived from the bitmap). The input is also treated as a stream of framed messages and as
// a bare match / instruction list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "ovs/ofp_codec.h"

using namespace rampart::ofp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::Span<const uint8_t> in(data, size);
  auto check = [](absl::Span<const uint8_t> bytes) {
    auto m = Decode(bytes);
    if (!m.ok() || std::holds_alternative<Hello>(m->body)) return;
    std::vector<uint8_t> again = Encode(*m);
    auto back = Decode(again);
    if (!back.ok() || !(*back == *m)) std::abort();
    if (auto* fm = std::get_if<FlowMod>(&m->body)) (void)fm->flow.ToString();
    if (auto* e = std::get_if<ErrorMsg>(&m->body)) (void)e->ToString();
  };
  check(in);
  // Stream framing, as the client does it.
  size_t off = 0;
  while (off < size) {
    auto h = PeekHeader(in.subspan(off));
    if (!h.ok() || h->length > size - off) break;
    check(in.subspan(off, h->length));
    off += h->length;
  }
  size_t used = 0;
  auto match = DecodeMatch(in, &used);
  if (match.ok()) {
    if (used > size) std::abort();
    (void)match->ToString();
  }
  auto ins = DecodeInstructions(in);
  if (ins.ok()) (void)ins->ToString();
  return 0;
}
