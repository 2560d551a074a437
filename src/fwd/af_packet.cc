#include "fwd/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fwd/fanout_bpf.h"

namespace rampart::fwd {

namespace {
#ifdef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
constexpr uint32_t kFanoutFlagIgnoreOutgoing = PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
#else
constexpr uint32_t kFanoutFlagIgnoreOutgoing = 0x4000;
#endif

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}
}  // namespace

absl::StatusOr<std::unique_ptr<AfPacketPort>> AfPacketPort::Open(const PortOptions& o) {
  long page = sysconf(_SC_PAGESIZE);
  if (o.block_size == 0 || o.block_size % page != 0) {
    return absl::InvalidArgumentError(absl::StrCat("block_size ", o.block_size, " is not a multiple of the page size ", page));
  }
  if (o.frame_size < 128 || o.block_size % o.frame_size != 0 || o.block_count == 0) {
    return absl::InvalidArgumentError("frame_size must be >= 128 and divide block_size; block_count > 0");
  }
  std::unique_ptr<AfPacketPort> p(new AfPacketPort());
  p->ifindex_ = static_cast<int>(if_nametoindex(o.ifname.c_str()));
  if (p->ifindex_ == 0) return absl::NotFoundError(absl::StrCat("interface '", o.ifname, "' not found"));
  p->fd_ = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (p->fd_ < 0) return Errno("socket(AF_PACKET)");
  int v = TPACKET_V3;
  if (setsockopt(p->fd_, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0) return Errno("PACKET_VERSION");
  int one = 1;
  // Not fatal on old kernels; the receive path also skips PACKET_OUTGOING frames.
  setsockopt(p->fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
  if (o.qdisc_bypass) setsockopt(p->fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));

  tpacket_req3 req{};
  req.tp_block_size = o.block_size;
  req.tp_block_nr = o.block_count;
  req.tp_frame_size = o.frame_size;
  req.tp_frame_nr = (o.block_size / o.frame_size) * o.block_count;
  req.tp_retire_blk_tov = o.block_timeout_ms;
  req.tp_feature_req_word = 0;
  if (setsockopt(p->fd_, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) return Errno("PACKET_RX_RING");
  p->ring_bytes_ = size_t{o.block_size} * o.block_count;
  void* ring = mmap(nullptr, p->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, p->fd_, 0);
  if (ring == MAP_FAILED) {
    ring = mmap(nullptr, p->ring_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, p->fd_, 0);
    if (ring == MAP_FAILED) return Errno("mmap(rx ring)");
  }
  p->ring_ = static_cast<uint8_t*>(ring);
  p->block_size_ = o.block_size;
  p->block_count_ = o.block_count;

  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = p->ifindex_;
  if (bind(p->fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) return Errno(absl::StrCat("bind(", o.ifname, ")"));
  if (o.fanout_group >= 0) {
    uint32_t mode = o.symmetric_fanout ? PACKET_FANOUT_CBPF : o.fanout_mode;
    // Sockets in a fanout group share the group's hook: the per-socket PACKET_IGNORE_OUTGOING
    // does not apply there, the group flag does (Linux >= 6.8; older kernels refuse the flag,
    // and Receive() skips outgoing frames anyway).
    uint32_t group = static_cast<uint32_t>(o.fanout_group) & 0xffff;
    uint32_t arg = ((mode | kFanoutFlagIgnoreOutgoing) << 16) | group;
    if (setsockopt(p->fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) {
      arg = (mode << 16) | group;
      if (setsockopt(p->fd_, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0) return Errno("PACKET_FANOUT");
    }
    if (o.symmetric_fanout) {
      std::vector<sock_filter> prog = SymmetricFanoutProgram();
      sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
      if (setsockopt(p->fd_, SOL_PACKET, PACKET_FANOUT_DATA, &fprog, sizeof(fprog)) < 0) {
        return Errno("PACKET_FANOUT_DATA (symmetric fanout program)");
      }
    }
  }
  return p;
}

AfPacketPort::~AfPacketPort() {
  if (ring_) munmap(ring_, ring_bytes_);
  if (fd_ >= 0) close(fd_);
}

void AfPacketPort::ReleaseConsumed() {
  while (blocks_to_release_ > 0) {
    uint32_t b = (cur_block_ + block_count_ - blocks_to_release_) % block_count_;
    auto* desc = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t{b} * block_size_);
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    --blocks_to_release_;
  }
}

size_t AfPacketPort::Receive(RxFrame* out, size_t max, int timeout_ms) {
  ReleaseConsumed();
  size_t n = 0;
  bool waited = false;
  while (n < max) {
    if (!block_open_) {
      auto* desc = reinterpret_cast<tpacket_block_desc*>(ring_ + size_t{cur_block_} * block_size_);
      uint32_t status = __atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
      if (!(status & TP_STATUS_USER)) {
        if (n > 0 || waited || timeout_ms == 0) break;
        pollfd pfd{fd_, POLLIN | POLLERR, 0};
        poll(&pfd, 1, timeout_ms);
        waited = true;
        continue;
      }
      block_open_ = true;
      frames_left_ = desc->hdr.bh1.num_pkts;
      next_frame_ = reinterpret_cast<uint8_t*>(desc) + desc->hdr.bh1.offset_to_first_pkt;
    }
    while (frames_left_ > 0 && n < max) {
      auto* h = reinterpret_cast<tpacket3_hdr*>(next_frame_);
      auto* sll = reinterpret_cast<sockaddr_ll*>(next_frame_ + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      if (sll->sll_pkttype != PACKET_OUTGOING) {
        RxFrame& f = out[n++];
        f.data = next_frame_ + h->tp_mac;
        f.len = h->tp_snaplen;
        f.wire_len = h->tp_len;
        f.has_vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
        f.vlan_tci = h->hv1.tp_vlan_tci;
        f.vlan_tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
        f.ts_ns = uint64_t{h->tp_sec} * 1000000000ull + h->tp_nsec;
        if (h->tp_snaplen < h->tp_len) ++stats_.rx_truncated;
        ++stats_.rx_frames;
      }
      --frames_left_;
      next_frame_ += h->tp_next_offset;
    }
    if (frames_left_ == 0) {
      // The frames handed out point into this block: release it on the next call.
      block_open_ = false;
      ++blocks_to_release_;
      cur_block_ = (cur_block_ + 1) % block_count_;
      if (blocks_to_release_ == block_count_) break;
    }
  }
  return n;
}

size_t AfPacketPort::Send(const std::span<const uint8_t>* frames, size_t n) {
  constexpr size_t kChunk = 64;
  size_t sent = 0, ok = 0;
  int busy_waits = 0;
  while (sent < n) {
    size_t m = std::min(kChunk, n - sent);
    iovec iov[kChunk];
    mmsghdr msgs[kChunk];
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    sll.sll_halen = ETH_ALEN;
    for (size_t i = 0; i < m; ++i) {
      iov[i].iov_base = const_cast<uint8_t*>(frames[sent + i].data());
      iov[i].iov_len = frames[sent + i].size();
      std::memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &sll;
      msgs[i].msg_hdr.msg_namelen = sizeof(sll);
    }
    int r = sendmmsg(fd_, msgs, static_cast<unsigned>(m), MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && busy_waits < 8) {
      // The device queue is full: wait briefly for room rather than drop a whole batch.
      ++busy_waits;
      pollfd pfd{fd_, POLLOUT, 0};
      poll(&pfd, 1, 1);
      continue;
    }
    if (r <= 0) {
      // Count the frame that failed and move on: one bad frame must not wedge the batch.
      ++stats_.tx_errors;
      ++sent;
      continue;
    }
    stats_.tx_frames += static_cast<uint64_t>(r);
    sent += static_cast<size_t>(r);
    ok += static_cast<size_t>(r);
  }
  return ok;
}

PortStats AfPacketPort::Stats() {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) stats_.rx_kernel_drops += st.tp_drops;
  return stats_;
}

size_t WithVlan(const RxFrame& f, uint8_t* out, size_t cap) {
  if (!f.has_vlan) {
    if (f.len > cap) return 0;
    std::memcpy(out, f.data, f.len);
    return f.len;
  }
  if (f.len < 12 || f.len + 4 > cap) return 0;
  std::memcpy(out, f.data, 12);
  out[12] = static_cast<uint8_t>(f.vlan_tpid >> 8);
  out[13] = static_cast<uint8_t>(f.vlan_tpid);
  out[14] = static_cast<uint8_t>(f.vlan_tci >> 8);
  out[15] = static_cast<uint8_t>(f.vlan_tci);
  std::memcpy(out + 16, f.data + 12, f.len - 12);
  return f.len + 4;
}

}  // namespace rampart::fwd
