// Conntrack on real frames: FrameBuilder -> ParsePacket -> Track/Commit, so the tracker's
// reading of ParsedPacket (TCP options, payload length, ICMP echo ids, quoted inner headers)
// agrees with the parser's.
#include <vector>

#include "conntrack/conntrack.h"
#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"

namespace rampart {
namespace {

constexpr uint64_t kS = 1000000000ull;

ParsedPacket Parse(const std::vector<uint8_t>& f) {
  ParsedPacket p;
  EXPECT_EQ(ParsePacket(f.data(), f.size(), &p), ParseError::kOk);
  return p;
}

std::unique_ptr<ConnTable> Table() { return std::move(ConnTable::Create({})).value(); }

TEST(ConntrackFrames, TcpHandshakeDataTeardownFromParsedFrames) {
  for (bool v6 : {false, true}) {
    auto t = Table();
    const char* vm = v6 ? "2001:db8::1" : "198.18.1.2";
    const char* srv = v6 ? "2001:db8::2" : "198.18.2.3";
    auto c2s = [&](uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0) {
      FrameBuilder b;
      v6 ? b.Ipv6(vm, srv) : b.Ipv4(vm, srv);
      b.Tcp(40000, 80, flags, seq, ack, 1000);
      if (flags & kTcpSyn) b.Mss(1460).WindowScale(7).SackPermitted();
      if (len) b.Payload(len);
      return Parse(b.Build());
    };
    auto s2c = [&](uint8_t flags, uint32_t seq, uint32_t ack, size_t len = 0) {
      FrameBuilder b;
      v6 ? b.Ipv6(srv, vm) : b.Ipv4(srv, vm);
      b.Tcp(80, 40000, flags, seq, ack, 1000);
      if (flags & kTcpSyn) b.Mss(1460).WindowScale(7);
      if (len) b.Payload(len);
      return Parse(b.Build());
    };
    ParsedPacket syn = c2s(kTcpSyn, 100, 0);
    ASSERT_EQ(t->Track(syn, Direction::kFromVm, kS).kind, TrackKind::kNew);
    ASSERT_EQ(t->Commit(syn, Direction::kFromVm, kS, CtVerdict{1, Action::kAllow, 1}).status,
              CommitStatus::kCreated);
    EXPECT_EQ(t->Track(s2c(kTcpSyn | kTcpAck, 900, 101), Direction::kToVm, kS).state,
              ConnState::kTcpSynRecv);
    EXPECT_EQ(t->Track(c2s(kTcpAck, 101, 901), Direction::kFromVm, kS).state,
              ConnState::kTcpEstablished);
    // 1000 << 7 bytes of window: 50000 bytes ahead is in, 200000 is out.
    EXPECT_EQ(t->Track(c2s(kTcpAck | kTcpPsh, 101, 901, 500), Direction::kFromVm, kS).kind,
              TrackKind::kEstablished);
    EXPECT_EQ(t->Track(s2c(kTcpAck, 901, 601), Direction::kToVm, kS).kind, TrackKind::kEstablished);
    EXPECT_EQ(t->Track(c2s(kTcpAck | kTcpPsh, 50601, 901, 100), Direction::kFromVm, kS).kind,
              TrackKind::kEstablished);
    TrackResult r = t->Track(c2s(kTcpAck | kTcpPsh, 300601, 901, 100), Direction::kFromVm, kS);
    EXPECT_EQ(r.invalid, CtInvalid::kTcpSeqAboveWindow);
    // The server's SYN/ACK frame, quoted in an ICMP error a router sends back to it.
    std::vector<uint8_t> synack_frame;
    {
      FrameBuilder b;
      v6 ? b.Ipv6(srv, vm) : b.Ipv4(srv, vm);
      synack_frame = b.Tcp(80, 40000, kTcpAck, 901, 601, 1000).Build();
    }
    FrameBuilder e;
    v6 ? e.Ipv6("2001:db8:ff::1", srv) : e.Ipv4("198.18.255.1", srv);
    ParsedPacket err = Parse(e.IcmpErrorAbout(synack_frame, v6 ? 1 : 3, v6 ? 3 : 1).Build());
    r = t->Track(err, Direction::kFromVm, kS);
    EXPECT_EQ(r.kind, TrackKind::kRelated);
    EXPECT_EQ(r.side, ConnSide::kOriginal);  // about a reply packet -> travels like originals
    EXPECT_EQ(t->Track(c2s(kTcpRst, 50701, 0), Direction::kFromVm, kS).state, ConnState::kTcpClose);
  }
}

TEST(ConntrackFrames, IcmpEchoAndErrorAboutEchoFromParsedFrames) {
  auto t = Table();
  ParsedPacket req = Parse(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(321, 1).Build());
  ASSERT_EQ(t->Commit(req, Direction::kFromVm, kS, CtVerdict{}).status, CommitStatus::kCreated);
  ParsedPacket rep =
      Parse(FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").Icmp(0, 0, 321, 1).Build());
  EXPECT_EQ(t->Track(rep, Direction::kToVm, kS).state, ConnState::kIcmpReplied);
  std::vector<uint8_t> req_frame = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(321, 1).Build();
  ParsedPacket err = Parse(
      FrameBuilder().Ipv4("198.18.255.1", "198.18.1.2").IcmpErrorAbout(req_frame, 11, 0).Build());
  TrackResult r = t->Track(err, Direction::kToVm, kS);
  EXPECT_EQ(r.kind, TrackKind::kRelated);
  EXPECT_EQ(r.side, ConnSide::kReply);
  EXPECT_EQ(SymmetricFlowHash(err), SymmetricFlowHash(req));
}

TEST(ConntrackFrames, UdpAndLaterFragmentFromParsedFrames) {
  auto t = Table();
  ParsedPacket u = Parse(FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(5353, 53).Payload(40).Build());
  ASSERT_EQ(t->Commit(u, Direction::kFromVm, kS, CtVerdict{}).status, CommitStatus::kCreated);
  EXPECT_EQ(t->Info(*t->Find(*ConnTable::PacketKey(u))).bytes[0], u.l3_len);
  ParsedPacket frag = Parse(FrameBuilder()
                                .Ipv4("198.18.1.2", "198.18.2.3")
                                .Fragment(100, false, 77)
                                .Proto(kProtoUdp)
                                .Payload(64)
                                .Build());
  EXPECT_EQ(t->Track(frag, Direction::kFromVm, kS).kind, TrackKind::kUntracked);
}

}  // namespace
}  // namespace rampart
