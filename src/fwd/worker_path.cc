#include "fwd/worker_path.h"

namespace rampart::fwd {

TxTotals CollectTx(std::span<const Frame> frames, uint8_t* const* bufs, std::vector<std::span<const uint8_t>>* tx) {
  TxTotals t;
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    if (f.verdict == Verdict::kAllow) {
      uint8_t* buf = bufs[i];
      // Leave with the binding's return tag; the frame's outer tag is at bytes 12..15.
      buf[14] = static_cast<uint8_t>((buf[14] & 0xf0) | ((f.out_tag >> 8) & 0x0f));
      buf[15] = static_cast<uint8_t>(f.out_tag);
      tx->emplace_back(buf, f.len);
      ++t.allowed;
    } else if (f.verdict == Verdict::kReject && f.reply_len > 0) {
      tx->emplace_back(f.reply, f.reply_len);
      ++t.replies;
    }
  }
  return t;
}

}  // namespace rampart::fwd
