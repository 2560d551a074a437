// What a rampart-fwd worker does with a batch after the engine decided it (daemon.cc's loop,
// kept apart from the AF_PACKET port so tests can drive it with built frames):
//   engine verdicts -> redirects resolved by the service registry (ApplyServiceFailure) ->
//   frames to send (CollectTx).
//
// Data plane: no allocation (tx has capacity for 2 * kMaxBatch), no locks.
#ifndef RAMPART_FWD_WORKER_PATH_H_
#define RAMPART_FWD_WORKER_PATH_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/engine.h"

namespace rampart::fwd {

struct TxTotals {
  uint64_t allowed = 0;  // allowed frames sent back (with their out tag)
  uint64_t replies = 0;  // reject replies sent
};

// Appends what the batch sends to `tx`: every Verdict::kAllow frame, its outer 802.1Q VID
// rewritten in place to Frame::out_tag (bufs[i] is frames[i]'s writable data, tag at bytes
// 12..15), and every reject reply. Drops (and anything else) send nothing.
TxTotals CollectTx(std::span<const Frame> frames, uint8_t* const* bufs, std::vector<std::span<const uint8_t>>* tx);

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_WORKER_PATH_H_
