#include "packet/builder.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"
#include "test/packet/packet_test_util.h"

namespace rampart {
namespace {

using testing::ChecksumsVerify;
using testing::ParseChecked;
using Bytes = std::vector<uint8_t>;

struct Reply {
  Bytes frame;
  ParsedPacket parsed;
};

Reply Rst(const Bytes& f, size_t cap = kMaxTcpResetLen) {
  ParsedPacket p = ParseChecked(f);
  Bytes out(cap);
  const size_t n = BuildTcpReset(f.data(), p, out.data(), cap);
  out.resize(n);
  Reply r{out, {}};
  if (n) r.parsed = ParseChecked(out);
  return r;
}

Reply Unreach(const Bytes& f, size_t cap = kMaxIcmpUnreachableLen, UnreachableCode code = {}) {
  ParsedPacket p = ParseChecked(f);
  Bytes out(cap);
  const size_t n = BuildIcmpUnreachable(f.data(), p, out.data(), cap, code);
  out.resize(n);
  Reply r{out, {}};
  if (n) r.parsed = ParseChecked(out);
  return r;
}

void ExpectSwapped(const Bytes& orig, const Reply& r) {
  ParsedPacket o = ParseChecked(orig);
  const ParsedPacket& p = r.parsed;
  ASSERT_EQ(p.error, ParseError::kOk) << ParseErrorName(p.error);
  EXPECT_EQ(0, std::memcmp(p.dst_mac, o.src_mac, 6));
  EXPECT_EQ(0, std::memcmp(p.src_mac, o.dst_mac, 6));
  // Tags (TPID + TCI) and ethertype byte for byte.
  ASSERT_EQ(p.l3_offset, o.l3_offset);
  EXPECT_TRUE(std::equal(orig.begin() + 12, orig.begin() + o.l3_offset, r.frame.begin() + 12));
  EXPECT_EQ(p.src, o.dst);
  EXPECT_EQ(p.dst, o.src);
  EXPECT_EQ(p.ttl, 64);
  EXPECT_GE(r.frame.size(), 60u);
  EXPECT_TRUE(ChecksumsVerify(r.frame, p));
}

// ---------------------------------------------------------------------------------------------
// TCP RST.

TEST(TcpReset, SynGetsRstAckForSeqPlusOne) {
  Bytes syn = FrameBuilder().Vlan(100, 3).Ipv4("198.18.1.2", "198.18.2.3")
                  .Tcp(40000, 80, kTcpSyn, 1000).Mss(1460).Build();
  Reply r = Rst(syn);
  ASSERT_FALSE(r.frame.empty());
  ExpectSwapped(syn, r);
  EXPECT_EQ(r.parsed.proto, kProtoTcp);
  EXPECT_EQ(r.parsed.sport, 80);
  EXPECT_EQ(r.parsed.dport, 40000);
  EXPECT_EQ(r.parsed.tcp_flags, kTcpRst | kTcpAck);
  EXPECT_EQ(r.parsed.tcp_seq, 0u);
  EXPECT_EQ(r.parsed.tcp_ack, 1001u);
  EXPECT_EQ(r.parsed.l4_payload_len, 0);
  EXPECT_EQ(r.parsed.l3_len, 40);
}

TEST(TcpReset, AckSegmentGetsRstWithItsAckAsSeq) {
  Bytes seg = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3")
                  .Tcp(40000, 80, kTcpAck | kTcpPsh, 5000, 0xabcdef01).Payload(300).Build();
  Reply r = Rst(seg);
  ASSERT_FALSE(r.frame.empty());
  ExpectSwapped(seg, r);
  EXPECT_EQ(r.parsed.tcp_flags, kTcpRst);
  EXPECT_EQ(r.parsed.tcp_seq, 0xabcdef01u);
  EXPECT_EQ(r.parsed.tcp_ack, 0u);
}

TEST(TcpReset, AckCountsPayloadSynAndFinWithWraparound) {
  Bytes seg = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3")
                  .Tcp(1, 2, kTcpSyn | kTcpFin, 0xfffffff0).Payload(20).Build();
  Reply r = Rst(seg);
  ASSERT_FALSE(r.frame.empty());
  EXPECT_EQ(r.parsed.tcp_ack, 0xfffffff0u + 20 + 2);  // wraps to 6
  Bytes bare = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, 0, 77).Payload(3).Build();
  EXPECT_EQ(Rst(bare).parsed.tcp_ack, 80u);
}

TEST(TcpReset, Ipv6AndQinQ) {
  Bytes syn = FrameBuilder().QinQ(10, 20).Ipv6("2001:db8::1", "2001:db8::2").HopByHop()
                  .Tcp(5555, 443, kTcpSyn, 7).Build();
  Reply r = Rst(syn);
  ASSERT_FALSE(r.frame.empty());
  ExpectSwapped(syn, r);
  EXPECT_EQ(r.parsed.family, 6);
  EXPECT_EQ(r.parsed.num_vlans, 2);
  EXPECT_EQ(r.parsed.tcp_ack, 8u);
  EXPECT_EQ(r.parsed.l4_offset, 22 + 40);  // no extension headers in the reply
  EXPECT_EQ(r.frame.size(), 22u + 40 + 20);
}

TEST(TcpReset, NeverAnswersARst) {
  for (uint8_t flags : {kTcpRst, uint8_t(kTcpRst | kTcpAck)}) {
    Bytes rst = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, flags, 1, 2).Build();
    EXPECT_TRUE(Rst(rst).frame.empty());
  }
}

TEST(TcpReset, NoReplyCases) {
  // Not TCP; unparsable; later fragment; SYN fragment (unknown length); multicast/broadcast.
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").BadIpv4Checksum()
                      .Tcp(1, 2, kTcpSyn).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(5, false, 1)
                      .Proto(kProtoTcp).Payload(40).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
                      .Tcp(1, 2, kTcpSyn).Payload(12).Build()).frame.empty());
  EXPECT_FALSE(Rst(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
                       .Tcp(1, 2, kTcpAck, 1, 2).Payload(12).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "224.0.0.5").Tcp(1, 2, kTcpSyn).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("198.18.1.2", "255.255.255.255").Tcp(1, 2, kTcpSyn).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv4("0.0.0.0", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().Ipv6("2001:db8::1", "ff02::1").Tcp(1, 2, kTcpSyn).Build()).frame.empty());
  EXPECT_TRUE(Rst(FrameBuilder().DstMac("ff:ff:ff:ff:ff:ff").Ipv4("198.18.1.2", "198.18.2.3")
                      .Tcp(1, 2, kTcpSyn).Build()).frame.empty());
}

TEST(TcpReset, TooSmallBufferIsRefused) {
  Bytes syn = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build();
  EXPECT_TRUE(Rst(syn, 59).frame.empty());
  EXPECT_EQ(Rst(syn, 60).frame.size(), 60u);
}

// ---------------------------------------------------------------------------------------------
// ICMP / ICMPv6 unreachable.

TEST(IcmpUnreachable, Ipv4QuotesWholeSmallDatagram) {
  Bytes udp = FrameBuilder().Vlan(42).Ipv4("198.18.1.2", "198.18.2.3").Udp(5000, 53).Payload(3)
                  .PadTo(80).Build();
  Reply r = Unreach(udp);
  ASSERT_FALSE(r.frame.empty());
  ExpectSwapped(udp, r);
  const ParsedPacket& p = r.parsed;
  EXPECT_EQ(p.proto, kProtoIcmp);
  EXPECT_EQ(p.icmp_type, 3);
  EXPECT_EQ(p.icmp_code, kIcmpUnreachAdminProhibited);
  ASSERT_TRUE(p.has_inner);
  EXPECT_EQ(p.inner.src, *Ip::Parse("198.18.1.2"));
  EXPECT_EQ(p.inner.dport, 53);
  // The quote is the original datagram exactly (no Ethernet padding).
  const size_t quoted = p.l3_len - 20 - 8;
  EXPECT_EQ(quoted, 20u + 8 + 3);
  EXPECT_TRUE(std::equal(udp.begin() + 18, udp.begin() + 18 + quoted,
                         r.frame.begin() + p.l4_offset + 8));
}

TEST(IcmpUnreachable, Ipv4ReplyIsAtMost576Bytes) {
  Bytes big = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck, 1, 1)
                  .Payload(1400).Build();
  Reply r = Unreach(big, kMaxIcmpUnreachableLen, UnreachableCode{.icmp4 = 3});
  ASSERT_FALSE(r.frame.empty());
  EXPECT_EQ(r.parsed.l3_len, 576);
  EXPECT_EQ(r.parsed.icmp_code, 3);
  EXPECT_EQ(r.parsed.inner.sport, 1);
  EXPECT_TRUE(ChecksumsVerify(r.frame, r.parsed));
}

TEST(IcmpUnreachable, Ipv6ReplyIsAtMost1280Bytes) {
  Bytes big = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").DestinationOptions()
                  .Udp(1, 2).Payload(1400).Build();
  Reply r = Unreach(big);
  ASSERT_FALSE(r.frame.empty());
  ExpectSwapped(big, r);
  EXPECT_EQ(r.parsed.proto, kProtoIcmpV6);
  EXPECT_EQ(r.parsed.icmp_type, 1);
  EXPECT_EQ(r.parsed.icmp_code, kIcmp6UnreachAdminProhibited);
  EXPECT_EQ(r.parsed.l3_len, 1280);
  ASSERT_TRUE(r.parsed.has_inner);
  EXPECT_EQ(r.parsed.inner.proto, kProtoUdp);
  EXPECT_EQ(r.parsed.inner.dport, 2);
  Bytes small = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Tcp(1, 2, kTcpSyn).Build();
  r = Unreach(small, kMaxIcmpUnreachableLen, UnreachableCode{.icmp6 = 4});
  ASSERT_FALSE(r.frame.empty());
  EXPECT_EQ(r.parsed.l3_len, 40 + 8 + 60);
  EXPECT_EQ(r.parsed.icmp_code, 4);
}

TEST(IcmpUnreachable, SmallBufferShortensTheQuote) {
  Bytes big = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Payload(500).Build();
  Reply r = Unreach(big, 14 + 28 + 100);
  ASSERT_EQ(r.frame.size(), 14u + 28 + 100);
  EXPECT_EQ(r.parsed.error, ParseError::kOk);
  EXPECT_TRUE(r.parsed.has_inner);
  EXPECT_TRUE(Unreach(big, 14 + 28 + 27).frame.empty());  // header + 8 bytes must fit
}

TEST(IcmpUnreachable, NotWhenTheHeaderChainCannotBeQuoted) {
  FrameBuilder b = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i < 6; ++i) b.DestinationOptions(std::vector<uint8_t>(250, 0));
  Bytes f = b.Udp(1, 2).Build();
  ASSERT_EQ(ParseChecked(f).error, ParseError::kOk);
  EXPECT_TRUE(Unreach(f).frame.empty());
  EXPECT_FALSE(Rst(FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2")
                       .DestinationOptions(std::vector<uint8_t>(1500, 0))
                       .Tcp(1, 2, kTcpSyn).Build()).frame.empty());
}

TEST(IcmpUnreachable, NeverAboutIcmpErrors) {
  Bytes tcp = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build();
  for (uint8_t type : {3, 4, 5, 11, 12}) {
    Bytes err = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp, type, 0).Build();
    EXPECT_TRUE(Unreach(err).frame.empty()) << int(type);
  }
  // Unknown ICMPv4 types are treated as errors (only queries are answered).
  EXPECT_TRUE(Unreach(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Icmp(42, 0).Build()).frame.empty());
  EXPECT_FALSE(Unreach(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(1).Build()).frame.empty());
  Bytes tcp6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Tcp(1, 2, kTcpSyn).Build();
  for (uint8_t type : {1, 2, 3, 4}) {
    Bytes err = FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(tcp6, type, 0).Build();
    EXPECT_TRUE(Unreach(err).frame.empty()) << int(type);
  }
  Reply echo6 = Unreach(FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").IcmpEcho(9).Build());
  ASSERT_FALSE(echo6.frame.empty());
  EXPECT_EQ(echo6.parsed.inner.proto, kProtoIcmpV6);
  EXPECT_EQ(echo6.parsed.inner.sport, 9);
}

TEST(IcmpUnreachable, OnlyAboutFirstFragments) {
  Bytes later = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(5, false, 1)
                    .Proto(kProtoUdp).Payload(40).Build();
  EXPECT_TRUE(Unreach(later).frame.empty());
  Bytes later6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(5, true, 1)
                     .Proto(kProtoUdp).Payload(40).Build();
  EXPECT_TRUE(Unreach(later6).frame.empty());
  Bytes first = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
                    .Udp(1, 2).Payload(40).Build();
  Reply r = Unreach(first);
  ASSERT_FALSE(r.frame.empty());
  EXPECT_EQ(r.parsed.inner.dport, 2);
}

TEST(IcmpUnreachable, NeverToBroadcastMulticastOrNonUnicastSource) {
  const char* bad4[][2] = {{"198.18.1.2", "224.0.0.1"}, {"198.18.1.2", "255.255.255.255"},
                           {"198.18.1.2", "239.1.1.1"}, {"0.0.0.0", "198.18.2.3"},
                           {"224.0.0.9", "198.18.2.3"}, {"127.0.0.1", "198.18.2.3"}};
  for (auto& a : bad4) {
    EXPECT_TRUE(Unreach(FrameBuilder().Ipv4(a[0], a[1]).Udp(1, 2).Build()).frame.empty()) << a[1];
  }
  EXPECT_TRUE(Unreach(FrameBuilder().Ipv6("2001:db8::1", "ff02::1").Udp(1, 2).Build()).frame.empty());
  EXPECT_TRUE(Unreach(FrameBuilder().Ipv6("::", "2001:db8::1").Udp(1, 2).Build()).frame.empty());
  EXPECT_TRUE(Unreach(FrameBuilder().DstMac("01:00:5e:00:00:01").Ipv4("198.18.1.2", "198.18.2.3")
                          .Udp(1, 2).Build()).frame.empty());
  EXPECT_TRUE(Unreach(FrameBuilder().DstMac("33:33:00:00:00:01").Ipv6("2001:db8::1", "2001:db8::2")
                          .Udp(1, 2).Build()).frame.empty());
}

TEST(IcmpUnreachable, NotForUnparsedFrames) {
  Bytes tcp = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build();
  Bytes short_inner = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp, 3, 0, 10).Build();
  EXPECT_TRUE(Unreach(short_inner).frame.empty());
  EXPECT_TRUE(Unreach(FrameBuilder().EtherType(0x0806).Payload(28).Build()).frame.empty());
}

// Replies to every kind of rejectable frame re-parse cleanly with correct checksums.
TEST(Replies, AlwaysReparseCleanly) {
  std::vector<Bytes> frames = {
      FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build(),
      FrameBuilder().Vlan(1).Ipv4("198.18.1.2", "198.18.2.3").Ipv4Options({1, 1, 1, 1})
          .Tcp(1, 2, kTcpAck | kTcpFin, 4, 5).Payload(900).Build(),
      FrameBuilder().QinQ(3, 4).Ipv6("2001:db8::1", "2001:db8::2").Routing().Udp(1, 2).Payload(2000).Build(),
      FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 3).Tcp(1, 2, kTcpAck, 1, 2).Payload(4).Build(),
      FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(3).Payload(1000).Build(),
      // Found by the fuzzer: protocol 1 (ICMPv4) inside IPv6 is not ICMP, also when quoted.
      FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Proto(kProtoIcmp).Build(),
      FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(kProtoIcmpV6).Build(),
  };
  for (const Bytes& f : frames) {
    ASSERT_EQ(ParseChecked(f).error, ParseError::kOk);
    for (const Reply& r : {Rst(f), Unreach(f)}) {
      if (r.frame.empty()) continue;
      ExpectSwapped(f, r);
      // And a reply is never itself answered: RST is not reset, ICMP errors not unreached.
      EXPECT_TRUE(Rst(r.frame).frame.empty());
      EXPECT_TRUE(Unreach(r.frame).frame.empty() || r.parsed.proto == kProtoTcp);
    }
  }
}

}  // namespace
}  // namespace rampart
