// Packet I/O for rampart-fwd on its end of the firewall veth: AF_PACKET with a TPACKET_V3
// receive ring (block-based batching) and batched sends, optionally joined to a PACKET_FANOUT
// group so N workers share one interface.
//
// The kernel strips the outer 802.1Q tag on receive and reports it beside the frame (RxFrame::vlan);
// WithVlan() puts it back for the parser. Outgoing frames are sent exactly as given (the tag
// included). Frames this socket sends are not received back (PACKET_IGNORE_OUTGOING).
//
// Thread-safety: one AfPacketPort per worker thread; not shared.
#ifndef RAMPART_FWD_AF_PACKET_H_
#define RAMPART_FWD_AF_PACKET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace rampart::fwd {

struct PortOptions {
  std::string ifname;
  uint32_t block_size = 1u << 20;   // bytes; a multiple of the page size
  uint32_t block_count = 16;
  uint32_t frame_size = 2048;       // upper bound per frame for ring accounting (v3 packs tighter)
  uint32_t block_timeout_ms = 1;    // a partly filled block is handed over after this long
  int fanout_group = -1;            // >= 0: join this PACKET_FANOUT group id
  uint16_t fanout_mode = 0;         // PACKET_FANOUT_HASH (flow hash) by default
  // Overrides fanout_mode: PACKET_FANOUT_CBPF with SymmetricFanoutProgram() (fanout_bpf.h), so
  // both directions of a conversation reach the same socket.
  bool symmetric_fanout = false;
  bool qdisc_bypass = true;         // sends skip the qdisc layer
};

struct RxFrame {
  const uint8_t* data = nullptr;  // points into the ring; valid until the next Receive()
  uint32_t len = 0;               // bytes captured (the whole frame: snaplen is not limited)
  uint32_t wire_len = 0;          // original length on the wire
  bool has_vlan = false;          // the kernel stripped this tag from the frame
  uint16_t vlan_tpid = 0x8100;
  uint16_t vlan_tci = 0;
  uint64_t ts_ns = 0;
};

struct PortStats {
  uint64_t rx_frames = 0;
  uint64_t rx_kernel_drops = 0;   // frames the kernel dropped because the ring was full
  uint64_t rx_truncated = 0;      // frames larger than a ring slot
  uint64_t tx_frames = 0;
  uint64_t tx_errors = 0;
};

class AfPacketPort {
 public:
  static absl::StatusOr<std::unique_ptr<AfPacketPort>> Open(const PortOptions& options);
  ~AfPacketPort();
  AfPacketPort(const AfPacketPort&) = delete;
  AfPacketPort& operator=(const AfPacketPort&) = delete;

  // Returns up to `max` received frames, waiting up to `timeout_ms` (0: don't wait, -1: forever)
  // when none is ready. The frames stay valid until the next call of Receive(), which hands the
  // blocks they came from back to the kernel.
  size_t Receive(RxFrame* out, size_t max, int timeout_ms);

  // Sends each frame as is (one sendmmsg per call). Returns how many were sent.
  size_t Send(const std::span<const uint8_t>* frames, size_t n);

  PortStats Stats();  // reads and accumulates the kernel's drop counter
  int fd() const { return fd_; }
  int ifindex() const { return ifindex_; }

 private:
  AfPacketPort() = default;
  void ReleaseConsumed();

  int fd_ = -1;
  int ifindex_ = 0;
  uint8_t* ring_ = nullptr;
  size_t ring_bytes_ = 0;
  uint32_t block_size_ = 0;
  uint32_t block_count_ = 0;
  // Receive cursor: the block being read, how many of its frames are left, the next frame.
  uint32_t cur_block_ = 0;
  uint32_t frames_left_ = 0;
  uint8_t* next_frame_ = nullptr;
  bool block_open_ = false;
  uint32_t blocks_to_release_ = 0;  // blocks fully read, released on the next Receive()
  PortStats stats_;
};

// Writes `f` into `out` with its stripped VLAN tag (if any) re-inserted after the MAC addresses.
// Returns the length written, or 0 if `cap` is too small.
size_t WithVlan(const RxFrame& f, uint8_t* out, size_t cap);

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_AF_PACKET_H_
