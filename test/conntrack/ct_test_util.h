// Helpers for conntrack tests: ParsedPacket structs filled directly, and a TCP conversation
// driver that keeps each side's sequence numbers.
#ifndef RAMPART_TEST_CONNTRACK_CT_TEST_UTIL_H_
#define RAMPART_TEST_CONNTRACK_CT_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "conntrack/conntrack.h"
#include "gtest/gtest.h"

namespace rampart::ct_test {

inline constexpr uint64_t kMs = 1000000ull;
inline constexpr uint64_t kS = 1000000000ull;

inline Ip A(const char* s) {
  auto ip = Ip::Parse(s);
  EXPECT_TRUE(ip.has_value()) << s;
  return ip.value_or(Ip{});
}

inline ParsedPacket Base(const Ip& src, const Ip& dst, uint8_t proto) {
  ParsedPacket p;
  p.family = src.IsV4() ? 4 : 6;
  p.proto = proto;
  p.src = src;
  p.dst = dst;
  p.has_l4 = true;
  p.l3_len = p.family == 4 ? 40 : 60;
  return p;
}

inline ParsedPacket Tcp(const Ip& src, uint16_t sp, const Ip& dst, uint16_t dp, uint8_t flags,
                        uint32_t seq, uint32_t ack, uint16_t win = 65535, uint16_t len = 0,
                        uint8_t wscale = 0xff) {
  ParsedPacket p = Base(src, dst, kProtoTcp);
  p.sport = sp;
  p.dport = dp;
  p.tcp_flags = flags;
  p.tcp_seq = seq;
  p.tcp_ack = (flags & kTcpAck) ? ack : 0;
  p.tcp_window = win;
  p.tcp_wscale = wscale;
  p.l4_payload_len = len;
  p.l3_len = static_cast<uint16_t>(p.l3_len + len);
  return p;
}

inline ParsedPacket Udp(const Ip& src, uint16_t sp, const Ip& dst, uint16_t dp, uint16_t len = 10) {
  ParsedPacket p = Base(src, dst, kProtoUdp);
  p.sport = sp;
  p.dport = dp;
  p.l4_payload_len = len;
  p.l3_len = static_cast<uint16_t>((p.family == 4 ? 28 : 48) + len);
  return p;
}

inline ParsedPacket Echo(const Ip& src, const Ip& dst, bool request, uint16_t id) {
  const bool v4 = src.IsV4();
  ParsedPacket p = Base(src, dst, v4 ? kProtoIcmp : kProtoIcmpV6);
  p.icmp_type = v4 ? (request ? 8 : 0) : (request ? 128 : 129);
  p.icmp_id = id;
  return p;
}

// An ICMP/ICMPv6 error from `from` to `to` quoting `inner` (a packet of some connection).
inline ParsedPacket IcmpErrorAbout(const Ip& from, const Ip& to, const ParsedPacket& inner) {
  const bool v4 = from.IsV4();
  ParsedPacket p = Base(from, to, v4 ? kProtoIcmp : kProtoIcmpV6);
  p.icmp_type = v4 ? 3 : 1;
  p.icmp_code = v4 ? 3 : 4;
  p.icmp_is_error = true;
  p.has_inner = true;
  p.inner.src = inner.src;
  p.inner.dst = inner.dst;
  p.inner.proto = inner.proto;
  if (inner.proto == kProtoTcp || inner.proto == kProtoUdp) {
    p.inner.sport = inner.sport;
    p.inner.dport = inner.dport;
    p.inner.tcp_seq = inner.tcp_seq;
  } else {
    p.inner.sport = p.inner.dport = inner.icmp_id;
  }
  p.inner.has_ports = true;
  return p;
}

inline std::unique_ptr<ConnTable> MakeTable(ConnTableOptions o = {}) {
  auto t = ConnTable::Create(o);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(t).value();
}

inline CtVerdict Allow(uint32_t rule = 7, uint32_t gen = 1) {
  return CtVerdict{rule, Action::kAllow, gen};
}

// A TCP conversation between a client (side 0, the VM: Direction::kFromVm) and a server
// (side 1). Send() builds an in-window segment from the current sequence state, tracks it and,
// when accepted, advances that side's next sequence number.
class TcpConv {
 public:
  TcpConv(ConnTable& t, bool v6 = false, uint16_t cport = 40000, uint16_t sport = 80)
      : t_(t) {
    ip_[0] = v6 ? A("2001:db8::1") : A("198.18.0.1");
    ip_[1] = v6 ? A("2001:db8::2") : A("198.18.0.2");
    port_[0] = cport;
    port_[1] = sport;
    nxt_[0] = 1000;
    nxt_[1] = 500000;
  }

  ParsedPacket Pkt(int from, uint8_t flags, uint16_t len = 0, int32_t seq_off = 0,
                   int32_t ack_off = 0) const {
    const int to = 1 - from;
    return Tcp(ip_[from], port_[from], ip_[to], port_[to], flags, nxt_[from] + seq_off,
               nxt_[to] + ack_off, win_[from], len, (flags & kTcpSyn) ? wscale_[from] : 0xff);
  }
  static Direction Dir(int from) { return from == 0 ? Direction::kFromVm : Direction::kToVm; }

  TrackResult Send(const ParsedPacket& p, int from) {
    now_ += kMs;
    TrackResult r = t_.Track(p, Dir(from), now_);
    if (r.kind == TrackKind::kEstablished) Advance(p, from);
    return r;
  }
  TrackResult Send(int from, uint8_t flags, uint16_t len = 0) { return Send(Pkt(from, flags, len), from); }

  // First SYN: Track must say kNew, then Commit.
  CommitResult Open(int from = 0) {
    ParsedPacket p = Pkt(from, kTcpSyn);
    now_ += kMs;
    TrackResult r = t_.Track(p, Dir(from), now_);
    EXPECT_EQ(r.kind, TrackKind::kNew);
    CommitResult c = t_.Commit(p, Dir(from), now_, Allow());
    if (c.status == CommitStatus::kCreated) Advance(p, from);
    return c;
  }
  // SYN, SYN/ACK, ACK.
  void Handshake() {
    ASSERT_EQ(Open().status, CommitStatus::kCreated);
    ASSERT_EQ(Send(1, kTcpSyn | kTcpAck).kind, TrackKind::kEstablished);
    TrackResult r = Send(0, kTcpAck);
    ASSERT_EQ(r.kind, TrackKind::kEstablished);
    ASSERT_EQ(r.state, ConnState::kTcpEstablished);
  }
  void Advance(const ParsedPacket& p, int from) {
    uint32_t end = p.tcp_seq + p.l4_payload_len + ((p.tcp_flags & kTcpSyn) ? 1 : 0) +
                   ((p.tcp_flags & kTcpFin) ? 1 : 0);
    if (static_cast<int32_t>(end - nxt_[from]) > 0) nxt_[from] = end;
  }
  ConnKey Key() const {
    ConnKey k;
    k.family = ip_[0].IsV4() ? 4 : 6;
    k.proto = kProtoTcp;
    k.src = ip_[0];
    k.dst = ip_[1];
    k.sport = port_[0];
    k.dport = port_[1];
    return k;
  }
  ConnInfo Info() const {
    auto h = t_.Find(Key());
    EXPECT_TRUE(h.has_value());
    return h ? t_.Info(*h) : ConnInfo{};
  }

  ConnTable& t_;
  Ip ip_[2];
  uint16_t port_[2];
  uint32_t nxt_[2];
  uint16_t win_[2] = {65535, 65535};
  uint8_t wscale_[2] = {0xff, 0xff};
  uint64_t now_ = 1000 * kS;
};

}  // namespace rampart::ct_test

#endif  // RAMPART_TEST_CONNTRACK_CT_TEST_UTIL_H_
