#include "packet/parser.h"

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "packet/parser_internal.h"
#include "test/packet/packet_test_util.h"

namespace rampart {
namespace {

using testing::ChecksumsVerify;
using testing::ParseChecked;
using Bytes = std::vector<uint8_t>;

Ip V4(const char* s) { return *Ip::Parse(s); }

// ---------------------------------------------------------------------------------------------
// Header kinds, one by one.

TEST(Parser, Ipv4TcpFieldsAreAllFilled) {
  Bytes f = FrameBuilder()
                .SrcMac("02:00:00:00:00:0a")
                .DstMac("02:00:00:00:00:0b")
                .Ipv4("198.18.1.2", "198.18.2.3")
                .Ttl(17)
                .Tos(0xb8)
                .Tcp(40000, 80, kTcpAck | kTcpPsh, 1000, 2000, 512)
                .Payload(100)
                .Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  const uint8_t src_mac[6] = {2, 0, 0, 0, 0, 0x0a}, dst_mac[6] = {2, 0, 0, 0, 0, 0x0b};
  EXPECT_EQ(0, std::memcmp(p.src_mac, src_mac, 6));
  EXPECT_EQ(0, std::memcmp(p.dst_mac, dst_mac, 6));
  EXPECT_EQ(p.num_vlans, 0);
  EXPECT_EQ(p.ethertype, 0x0800);
  EXPECT_EQ(p.l3_offset, 14);
  EXPECT_EQ(p.family, 4);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.ttl, 17);
  EXPECT_EQ(p.tos, 0xb8);
  EXPECT_EQ(p.src, V4("198.18.1.2"));
  EXPECT_EQ(p.dst, V4("198.18.2.3"));
  EXPECT_EQ(p.l3_len, 20 + 20 + 100);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 80);
  EXPECT_EQ(p.l4_payload_len, 100);
  EXPECT_EQ(p.tcp_flags, kTcpAck | kTcpPsh);
  EXPECT_EQ(p.tcp_seq, 1000u);
  EXPECT_EQ(p.tcp_ack, 2000u);
  EXPECT_EQ(p.tcp_window, 512);
  EXPECT_EQ(p.tcp_wscale, 0xff);
  EXPECT_EQ(p.tcp_mss, 0);
  EXPECT_FALSE(p.tcp_sack_permitted);
  EXPECT_FALSE(p.has_inner);
  EXPECT_EQ(p.MatchSport(), 40000);
  EXPECT_EQ(p.MatchDport(), 80);
  EXPECT_TRUE(ChecksumsVerify(f, p));
}

TEST(Parser, EthernetPaddingIsIgnoredButCounted) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Payload(2).PadTo(60).Build();
  ASSERT_EQ(f.size(), 60u);
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.l3_len, 30);
  EXPECT_EQ(p.l4_payload_len, 2);
  Bytes t = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck).PadTo(64).Build();
  p = ParseChecked(t);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.l4_payload_len, 0);
}

TEST(Parser, SingleDot1QTag) {
  Bytes f = FrameBuilder().Vlan(100, 5).Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.num_vlans, 1);
  EXPECT_EQ(p.vlan_tpid[0], 0x8100);
  EXPECT_EQ(p.vlan_tci[0], (5 << 13) | 100);
  EXPECT_EQ(p.ethertype, 0x0800);
  EXPECT_EQ(p.l3_offset, 18);
  EXPECT_EQ(p.l4_offset, 38);
}

TEST(Parser, QinQAndLegacyOuterTag) {
  Bytes f = FrameBuilder().QinQ(10, 20).Ipv6("2001:db8::1", "2001:db8::2").Udp(53, 53).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.num_vlans, 2);
  EXPECT_EQ(p.vlan_tpid[0], 0x88a8);
  EXPECT_EQ(p.vlan_tci[0], 10);
  EXPECT_EQ(p.vlan_tpid[1], 0x8100);
  EXPECT_EQ(p.vlan_tci[1], 20);
  EXPECT_EQ(p.l3_offset, 22);
  Bytes g = FrameBuilder().Vlan(7, 0, 0x9100).Vlan(8).Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Build();
  p = ParseChecked(g);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.vlan_tpid[0], 0x9100);
  EXPECT_EQ(p.num_vlans, 2);
}

TEST(Parser, ThirdTagIsAnError) {
  Bytes f = FrameBuilder().Vlan(1).Vlan(2).Vlan(3).Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTooManyVlanTags);
}

TEST(Parser, NonIpFrameIsNotIp) {
  Bytes arp = FrameBuilder().EtherType(0x0806).Payload(28).Build();
  ParsedPacket p = ParseChecked(arp);
  EXPECT_EQ(p.error, ParseError::kNotIp);
  EXPECT_EQ(p.ethertype, 0x0806);
  EXPECT_EQ(p.family, 0);
  Bytes tagged_arp = FrameBuilder().Vlan(5).EtherType(0x0806).Payload(28).Build();
  p = ParseChecked(tagged_arp);
  EXPECT_EQ(p.error, ParseError::kNotIp);
  EXPECT_EQ(p.num_vlans, 1);
}

TEST(Parser, Ipv4OptionsAreSkipped) {
  Bytes f = FrameBuilder()
                .Ipv4("198.18.1.2", "198.18.2.3")
                .Ipv4Options({0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00})  // RA, NOPs
                .Tcp(1234, 22, kTcpSyn, 7)
                .Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.l4_offset, 14 + 28);
  EXPECT_EQ(p.dport, 22);
  EXPECT_TRUE(ChecksumsVerify(f, p));
}

TEST(Parser, Ipv4ChecksumVerificationCanBeTurnedOff) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").BadIpv4Checksum().Tcp(1, 2, kTcpAck).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv4Checksum);
  EXPECT_EQ(ParseChecked(f, ParseOptions{.verify_ipv4_checksum = false}).error, ParseError::kOk);
}

// The parser's header-checksum check (native-order 32-bit sums) equals the naive RFC 1071
// check on random headers, with and without options, through both parse paths.
TEST(Parser, Ipv4ChecksumCheckEqualsNaiveChecksum) {
  std::mt19937 rng(99);
  int bad = 0, good = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const size_t opt_len = (iter % 3 == 0) ? 4 * (rng() % 11) : 0;
    Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3")
                  .Ipv4Options(std::vector<uint8_t>(opt_len, 1)).Tcp(1, 2, kTcpAck).Build();
    const size_t ihl = 20 + opt_len;
    // Randomize every header byte except version/IHL and the total length.
    for (size_t i = 1; i < ihl; ++i) {
      if (i == 2 || i == 3) continue;
      if (rng() % 3 == 0) f[14 + i] = static_cast<uint8_t>(rng());
    }
    f[14 + 6] &= 0x40;  // keep it unfragmented (DF allowed) so TCP parsing follows
    if (iter % 2) {     // half the time, make the checksum right again
      f[24] = f[25] = 0;
      const uint16_t c = testing::NaiveChecksum(Bytes(f.begin() + 14, f.begin() + 14 + ihl));
      f[24] = static_cast<uint8_t>(c >> 8);
      f[25] = static_cast<uint8_t>(c);
    }
    const bool naive_ok = testing::NaiveChecksum(Bytes(f.begin() + 14, f.begin() + 14 + ihl)) == 0;
    const ParsedPacket p = ParseChecked(f);
    EXPECT_EQ(p.error == ParseError::kBadIpv4Checksum, !naive_ok) << iter;
    (naive_ok ? good : bad)++;
  }
  EXPECT_GT(good, 5000);
  EXPECT_GT(bad, 5000);
}

TEST(Parser, Ipv4FirstFragmentHasL4) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 0xbeef)
                .Udp(1000, 2000).Payload(24).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_TRUE(p.more_fragments);
  EXPECT_EQ(p.frag_offset, 0);
  EXPECT_EQ(p.frag_id, 0xbeefu);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.sport, 1000);
  EXPECT_FALSE(p.IsLaterFragment());
}

TEST(Parser, Ipv4LaterFragmentHasNoL4) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(185, false, 77)
                .Proto(kProtoTcp).Payload(100).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
  EXPECT_FALSE(p.more_fragments);
  EXPECT_EQ(p.frag_offset, 185);
  EXPECT_EQ(p.frag_id, 77u);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.sport, 0);
  EXPECT_EQ(p.MatchDport(), 0);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_TRUE(p.IsLaterFragment());
}

TEST(Parser, DontFragmentAloneIsNotAFragment) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").DontFragment().Tcp(1, 2, kTcpAck).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_FALSE(p.is_fragment);
}

TEST(Parser, BadIpv4Fragments) {
  // First fragment too short for the TCP header.
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
                .Proto(kProtoTcp).Payload(8).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
  // First fragment whose TCP options do not fit.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
          .Tcp(1, 2, kTcpAck).TcpDataOffsetOverride(8).Payload(4).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
  // RFC 1858: TCP at offset 1 could overwrite the TCP header.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(1, true, 1)
          .Proto(kProtoTcp).Payload(16).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
  // Non-final fragment not a multiple of 8 bytes.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(4, true, 1)
          .Proto(kProtoUdp).Payload(13).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
  // Reassembles past 65535 bytes.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(8191, false, 1)
          .Proto(kProtoUdp).Payload(16).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
  // First fragment of an ICMP message shorter than the ICMP header; of UDP shorter than 8.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1)
          .Proto(kProtoIcmp).Payload(0).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadFragment);
}

TEST(Parser, Ipv4HeaderErrors) {
  Bytes good = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck).Build();
  Bytes f = good;
  f[14] = 0x65;
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv4Version);
  f = good;
  f[14] = 0x44;
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv4HeaderLength);
  f = good;
  f[14] = 0x4f;  // 60-byte header in a 40-byte datagram
  f.resize(200);  // (present in the frame: padding)
  EXPECT_EQ(ParseChecked(f, {.verify_ipv4_checksum = false}).error,
            ParseError::kBadIpv4TotalLength);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ipv4TotalLengthOverride(12).Tcp(1, 2, 0).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv4TotalLength);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ipv4TotalLengthOverride(400).Tcp(1, 2, 0).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv4);
  f.assign(good.begin(), good.begin() + 14 + 19);
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv4);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ipv4Options(std::vector<uint8_t>(40, 1))
          .Tcp(1, 2, 0).Build();
  f.resize(14 + 40);  // cut inside the options
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv4);
}

TEST(Parser, EthernetErrors) {
  Bytes f(13, 0);
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedEthernet);
  f.clear();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedEthernet);
  Bytes tagged = FrameBuilder().Vlan(9).Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Build();
  tagged.resize(17);
  EXPECT_EQ(ParseChecked(tagged).error, ParseError::kTruncatedVlan);
  Bytes huge = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).PadTo(kMaxFrameLen + 1).Build();
  EXPECT_EQ(ParseChecked(huge).error, ParseError::kFrameTooLong);
  huge.resize(kMaxFrameLen);
  EXPECT_EQ(ParseChecked(huge).error, ParseError::kOk);
}

TEST(Parser, Ipv6TcpFields) {
  Bytes f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8:1::2").Tos(0x2e).Ttl(3)
                .Tcp(5555, 443, kTcpSyn, 99).Mss(1440).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.family, 6);
  EXPECT_EQ(p.ethertype, 0x86dd);
  EXPECT_EQ(p.tos, 0x2e);
  EXPECT_EQ(p.ttl, 3);
  EXPECT_EQ(p.src, *Ip::Parse("2001:db8::1"));
  EXPECT_EQ(p.dst, *Ip::Parse("2001:db8:1::2"));
  EXPECT_EQ(p.l3_len, 40 + 24);
  EXPECT_EQ(p.l4_offset, 54);
  EXPECT_EQ(p.sport, 5555);
  EXPECT_EQ(p.tcp_mss, 1440);
  EXPECT_TRUE(ChecksumsVerify(f, p));
}

TEST(Parser, Ipv6ExtensionHeaderChain) {
  Bytes f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2")
                .HopByHop({0x05, 0x02, 0x00, 0x00})  // router alert
                .Routing()
                .Ah()
                .DestinationOptions(std::vector<uint8_t>(10, 0))
                .Ipv6ExtHeader(135, {})  // mobility
                .Udp(4000, 4001).Payload(5).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, kProtoUdp);
  EXPECT_EQ(p.l4_offset, 14 + 40 + 8 + 8 + 12 + 16 + 8);
  EXPECT_EQ(p.dport, 4001);
  EXPECT_EQ(p.l4_payload_len, 5);
  EXPECT_TRUE(ChecksumsVerify(f, p));
}

TEST(Parser, EspAndNoNextHeaderEndTheChain) {
  Bytes esp = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").DestinationOptions()
                  .Proto(50).Payload(40).Build();
  ParsedPacket p = ParseChecked(esp);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, 50);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.l4_offset, 14 + 48);
  Bytes none = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Proto(59).Build();
  p = ParseChecked(none);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, 59);
  Bytes gre4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(47).Payload(8).Build();
  p = ParseChecked(gre4);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, 47);
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.MatchSport(), 0);
}

TEST(Parser, ExtensionHeaderCountIsBounded) {
  FrameBuilder ok = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i < kMaxIpv6ExtHeaders; ++i) ok.DestinationOptions();
  EXPECT_EQ(ParseChecked(ok.Tcp(1, 2, kTcpAck).Build()).error, ParseError::kOk);
  FrameBuilder bad = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i <= kMaxIpv6ExtHeaders; ++i) bad.DestinationOptions();
  EXPECT_EQ(ParseChecked(bad.Tcp(1, 2, kTcpAck).Build()).error,
            ParseError::kTooManyIpv6ExtHeaders);
}

TEST(Parser, Ipv6HeaderErrors) {
  Bytes good = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1, 2).Payload(8).Build();
  Bytes f = good;
  f[14] = 0x40;
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv6Version);
  f.assign(good.begin(), good.begin() + 14 + 39);
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv6);
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Ipv6PayloadLengthOverride(100)
          .Udp(1, 2).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv6);
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").HopByHop().Ipv6PayloadLengthOverride(0)
          .Udp(1, 2).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadIpv6PayloadLength);
  // A 16-byte destination-options header in an 8-byte payload.
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").DestinationOptions(std::vector<uint8_t>(14, 0))
          .Proto(59).Ipv6PayloadLengthOverride(8).PadTo(100).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv6ExtHeader);
  // Payload length ends right after the fixed header but names a hop-by-hop... (jumbo, above)
  // and a routing header with only one byte present.
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Routing().Proto(59)
          .Ipv6PayloadLengthOverride(1).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIpv6ExtHeader);
}

TEST(Parser, Ipv6Fragments) {
  Bytes first = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").HopByHop()
                    .Fragment(0, true, 0x12345678).Tcp(1, 2, kTcpAck).Payload(12).Build();
  ParsedPacket p = ParseChecked(first);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_TRUE(p.more_fragments);
  EXPECT_EQ(p.frag_id, 0x12345678u);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.dport, 2);
  EXPECT_EQ(p.l4_offset, 14 + 40 + 8 + 8);

  Bytes later = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(100, false, 9)
                    .Proto(kProtoTcp).Payload(50).Build();
  p = ParseChecked(later);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_TRUE(p.IsLaterFragment());
  EXPECT_FALSE(p.has_l4);
  EXPECT_EQ(p.proto, kProtoTcp);
  EXPECT_EQ(p.frag_offset, 100);
  EXPECT_EQ(p.frag_id, 9u);

  // RFC 6946 atomic fragment: processed as a whole packet.
  Bytes atomic = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, false, 5)
                     .Udp(7, 8).Build();
  p = ParseChecked(atomic);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_TRUE(p.has_l4);
  EXPECT_EQ(p.frag_id, 5u);

  // Two fragment headers; a first fragment without its whole header chain (RFC 7112); a first
  // fragment too short for the UDP header.
  Bytes twice = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 1)
                    .Fragment(0, true, 1).Udp(1, 2).Payload(8).Build();
  EXPECT_EQ(ParseChecked(twice).error, ParseError::kBadFragment);
  Bytes cut_chain = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 1)
                        .DestinationOptions(std::vector<uint8_t>(14, 0)).Proto(59)
                        .Ipv6PayloadLengthOverride(16).PadTo(120).Build();
  EXPECT_EQ(ParseChecked(cut_chain).error, ParseError::kBadFragment);
  Bytes short_udp = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 1)
                        .Proto(kProtoUdp).Payload(0).Build();
  EXPECT_EQ(ParseChecked(short_udp).error, ParseError::kBadFragment);
  Bytes odd = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(3, true, 1)
                  .Proto(kProtoUdp).Payload(13).Build();
  EXPECT_EQ(ParseChecked(odd).error, ParseError::kBadFragment);
}

// ---------------------------------------------------------------------------------------------
// TCP and its options.

TEST(Parser, TcpSynOptions) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn)
                .Mss(1460).SackPermitted().TcpOptions({8, 10, 1, 2, 3, 4, 5, 6, 7, 8})
                .WindowScale(7).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.tcp_mss, 1460);
  EXPECT_TRUE(p.tcp_sack_permitted);
  EXPECT_EQ(p.tcp_wscale, 7);
}

TEST(Parser, TcpOptionsOnlyCountOnSyn) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck)
                .Mss(1460).WindowScale(3).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.tcp_mss, 0);
  EXPECT_EQ(p.tcp_wscale, 0xff);
}

TEST(Parser, TcpOptionEdgeCases) {
  struct Case {
    std::vector<uint8_t> opts;
    uint16_t mss;
    uint8_t wscale;
    bool sack;
  } cases[] = {
      {{3, 3, 20, 0}, 0, 14, false},                      // shift > 14 is used as 14
      {{0, 2, 4, 5, 0xb4}, 0, 0xff, false},               // EOL ends the list
      {{2, 4, 5, 0xb4, 0, 3, 3, 2}, 1460, 0xff, false},   // ... even after a valid option
      {{1, 1, 1, 2, 4, 5, 0xb4}, 1460, 0xff, false},      // NOPs then MSS (last byte = pad)
      {{2, 0, 5, 0xb4}, 0, 0xff, false},                  // length 0: garbage, stop
      {{2, 1, 5, 0xb4}, 0, 0xff, false},                  // length 1: garbage, stop
      {{2, 3, 5, 4, 2, 0, 0, 0}, 0, 0xff, true},          // MSS with wrong length ignored
      {{4, 2, 2, 40, 0, 0, 0, 0}, 0, 0xff, true},         // length runs past the header
      {{1, 1, 1, 3}, 0, 0xff, false},                     // kind with no length byte
      {{99, 6, 1, 1, 1, 1, 3, 3, 2, 0, 0, 0}, 0, 2, false},  // unknown kind skipped
      {{4, 3, 0, 2, 4, 5, 0xb4, 0}, 1460, 0xff, false},   // SACK-perm wrong length skipped
      {{2, 4, 0xff, 0xff, 4, 2, 3, 3, 0, 0, 0, 0}, 0xffff, 0, true},
  };
  for (const Case& c : cases) {
    Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn)
                  .TcpOptions(c.opts).Build();
    ParsedPacket p = ParseChecked(f);
    ASSERT_EQ(p.error, ParseError::kOk);
    EXPECT_EQ(p.tcp_mss, c.mss) << ::testing::PrintToString(c.opts);
    EXPECT_EQ(p.tcp_wscale, c.wscale) << ::testing::PrintToString(c.opts);
    EXPECT_EQ(p.tcp_sack_permitted, c.sack) << ::testing::PrintToString(c.opts);
  }
  // 40 bytes of NOPs: bounded and harmless.
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn)
                .TcpOptions(std::vector<uint8_t>(40, 1)).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kOk);
}

TEST(Parser, TcpErrors) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck)
                .TcpDataOffsetOverride(4).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadTcpHeaderLength);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck)
          .TcpDataOffsetOverride(15).Payload(8).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadTcpHeaderLength);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(kProtoTcp).Payload(19).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedTcp);
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Proto(kProtoTcp).Payload(0).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedTcp);
}

// ---------------------------------------------------------------------------------------------
// UDP.

TEST(Parser, UdpLengthRules) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(53, 5353).Payload(11).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.sport, 53);
  EXPECT_EQ(p.dport, 5353);
  EXPECT_EQ(p.l4_payload_len, 11);
  EXPECT_TRUE(ChecksumsVerify(f, p));
  // UDP length shorter than the IP payload: trailing bytes are not UDP payload.
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).UdpLengthOverride(10).Payload(11).Build();
  p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.l4_payload_len, 2);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).UdpLengthOverride(30).Payload(11).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadUdpLength);
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1, 2).UdpLengthOverride(0).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kBadUdpLength);
  f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(kProtoUdp).Payload(7).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedUdp);
}

// ---------------------------------------------------------------------------------------------
// ICMP and ICMPv6.

TEST(Parser, IcmpEcho) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(0x4242, 1).Payload(56).Build();
  ParsedPacket p = ParseChecked(f);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, kProtoIcmp);
  EXPECT_EQ(p.icmp_type, 8);
  EXPECT_EQ(p.icmp_code, 0);
  EXPECT_EQ(p.icmp_id, 0x4242);
  EXPECT_FALSE(p.icmp_is_error);
  EXPECT_EQ(p.l4_payload_len, 56);
  EXPECT_EQ(p.MatchSport(), 8);
  EXPECT_EQ(p.MatchDport(), 0);
  EXPECT_TRUE(ChecksumsVerify(f, p));
  Bytes g = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Icmp(129, 0, 7, 2).Build();
  p = ParseChecked(g);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.proto, kProtoIcmpV6);
  EXPECT_EQ(p.icmp_type, 129);
  EXPECT_EQ(p.icmp_id, 7);
  EXPECT_TRUE(ChecksumsVerify(g, p));
  // Non-echo informational: no id.
  Bytes ns = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Icmp(135, 0, 7, 2).Payload(16).Build();
  p = ParseChecked(ns);
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.icmp_id, 0);
  EXPECT_FALSE(p.icmp_is_error);
}

TEST(Parser, IcmpTruncated) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(kProtoIcmp).Payload(7).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIcmp);
  f = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Proto(kProtoIcmpV6).Payload(4).Build();
  EXPECT_EQ(ParseChecked(f).error, ParseError::kTruncatedIcmp);
}

TEST(Parser, Icmp4ErrorsCarryInnerTcpUdpIcmp) {
  Bytes tcp = FrameBuilder().Vlan(4).Ipv4("198.18.1.2", "198.18.2.3")
                  .Tcp(40000, 80, kTcpSyn, 0xdeadbeef).Mss(1460).Build();
  Bytes udp = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ipv4Options({1, 1, 1, 1})
                  .Udp(5000, 53).Payload(30).Build();
  Bytes echo = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(0x77, 3).Build();
  for (uint8_t type : {3, 4, 5, 11, 12}) {
    Bytes e = FrameBuilder().Ipv4("198.19.255.1", "198.18.1.2").IcmpErrorAbout(tcp, type, 1).Build();
    ParsedPacket p = ParseChecked(e);
    ASSERT_EQ(p.error, ParseError::kOk) << int(type);
    EXPECT_TRUE(p.icmp_is_error);
    EXPECT_TRUE(p.has_inner);
    EXPECT_EQ(p.icmp_type, type);
    EXPECT_EQ(p.inner.src, V4("198.18.1.2"));
    EXPECT_EQ(p.inner.dst, V4("198.18.2.3"));
    EXPECT_EQ(p.inner.proto, kProtoTcp);
    EXPECT_TRUE(p.inner.has_ports);
    EXPECT_EQ(p.inner.sport, 40000);
    EXPECT_EQ(p.inner.dport, 80);
    EXPECT_EQ(p.inner.tcp_seq, 0xdeadbeefu);
    EXPECT_TRUE(ChecksumsVerify(e, p));
  }
  ParsedPacket p = ParseChecked(
      FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(udp, 3, 3).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.inner.proto, kProtoUdp);
  EXPECT_EQ(p.inner.sport, 5000);
  EXPECT_EQ(p.inner.dport, 53);
  EXPECT_EQ(p.inner.tcp_seq, 0u);
  p = ParseChecked(
      FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(echo, 11, 0).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.inner.proto, kProtoIcmp);
  EXPECT_TRUE(p.inner.has_ports);
  EXPECT_EQ(p.inner.sport, 0x77);
  EXPECT_EQ(p.inner.dport, 0x77);
  // Exactly IP header + 8 bytes (RFC 792 minimum) is enough.
  p = ParseChecked(
      FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp, 3, 1, 28).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.inner.tcp_seq, 0xdeadbeefu);
}

TEST(Parser, Icmp6ErrorsCarryInnerTcpUdpIcmp) {
  Bytes tcp = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").HopByHop().DestinationOptions()
                  .Tcp(1234, 443, kTcpAck, 42, 43).Payload(100).Build();
  Bytes udp = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(546, 547).Build();
  Bytes echo = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").IcmpEcho(0x99).Build();
  for (uint8_t type : {1, 2, 3, 4}) {
    Bytes e = FrameBuilder().Ipv6("2001:db8::ff", "2001:db8::1")
                  .IcmpErrorAbout(tcp, type, 0, SIZE_MAX, type == 2 ? 1280 : 0).Build();
    ParsedPacket p = ParseChecked(e);
    ASSERT_EQ(p.error, ParseError::kOk) << int(type);
    EXPECT_TRUE(p.icmp_is_error);
    ASSERT_TRUE(p.has_inner);
    EXPECT_EQ(p.inner.src, *Ip::Parse("2001:db8::1"));
    EXPECT_EQ(p.inner.dst, *Ip::Parse("2001:db8::2"));
    EXPECT_EQ(p.inner.proto, kProtoTcp);
    EXPECT_EQ(p.inner.sport, 1234);
    EXPECT_EQ(p.inner.dport, 443);
    EXPECT_EQ(p.inner.tcp_seq, 42u);
    EXPECT_TRUE(ChecksumsVerify(e, p));
  }
  ParsedPacket p = ParseChecked(
      FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(udp, 1, 4).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.inner.proto, kProtoUdp);
  EXPECT_EQ(p.inner.dport, 547);
  p = ParseChecked(
      FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(echo, 3, 0).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_EQ(p.inner.proto, kProtoIcmpV6);
  EXPECT_EQ(p.inner.sport, 0x99);
  EXPECT_TRUE(p.inner.has_ports);
}

TEST(Parser, IcmpErrorAboutLaterFragmentHasNoPorts) {
  Bytes frag4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(10, false, 3)
                    .Proto(kProtoUdp).Payload(20).Build();
  ParsedPacket p = ParseChecked(
      FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(frag4, 11, 1).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_TRUE(p.has_inner);
  EXPECT_FALSE(p.inner.has_ports);
  EXPECT_EQ(p.inner.proto, kProtoUdp);
  Bytes frag6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(10, false, 3)
                    .Proto(kProtoUdp).Payload(20).Build();
  p = ParseChecked(
      FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(frag6, 3, 1).Build());
  ASSERT_EQ(p.error, ParseError::kOk);
  EXPECT_FALSE(p.inner.has_ports);
  EXPECT_EQ(p.inner.proto, kProtoUdp);
}

TEST(Parser, IcmpErrorWithShortInnerIsAnError) {
  Bytes tcp4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ipv4Options({1, 1, 1, 1})
                   .Tcp(1, 2, kTcpSyn).Build();
  for (size_t quote : {0, 10, 20, 24, 24 + 7}) {
    Bytes e = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp4, 3, 13, quote).Build();
    ParsedPacket p = ParseChecked(e);
    EXPECT_EQ(p.error, ParseError::kTruncatedIcmpInner) << quote;
    EXPECT_FALSE(p.has_inner);
  }
  Bytes tcp6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").DestinationOptions()
                   .Tcp(1, 2, kTcpSyn).Build();
  for (size_t quote : {0, 39, 40, 47, 48 + 7}) {
    Bytes e = FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(tcp6, 1, 1, quote).Build();
    EXPECT_EQ(ParseChecked(e).error, ParseError::kTruncatedIcmpInner) << quote;
  }
  // The inner header of an ICMPv4 error must be IPv4 (and vice versa), with a sane IHL.
  Bytes e = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp6, 3, 1).Build();
  EXPECT_EQ(ParseChecked(e).error, ParseError::kBadIcmpInner);
  e = FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(tcp4, 1, 1).Build();
  EXPECT_EQ(ParseChecked(e).error, ParseError::kBadIcmpInner);
  Bytes bad_ihl = tcp4;
  bad_ihl[14] = 0x43;
  e = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(bad_ihl, 3, 1).Build();
  EXPECT_EQ(ParseChecked(e).error, ParseError::kBadIcmpInner);
}

// ---------------------------------------------------------------------------------------------
// Every ParseError is reachable, and every name is distinct.

struct NamedFrame {
  std::string name;
  Bytes frame;
};

// A set of valid frames of every kind, used for truncation and mutation below.
std::vector<NamedFrame> ValidFrames() {
  Bytes tcp4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(40000, 80, kTcpSyn, 5)
                   .Mss(1460).WindowScale(7).SackPermitted().Build();
  Bytes tcp6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").HopByHop()
                   .Tcp(1, 2, kTcpAck, 9, 10).Payload(20).Build();
  Bytes udp4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(5000, 53).Payload(20).Build();
  Bytes echo6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").IcmpEcho(5).Build();
  return {
      {"tcp4", tcp4},
      {"tcp4_payload", FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck).Payload(64).Build()},
      {"tcp4_vlan", FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck | kTcpFin).Build()},
      {"tcp4_qinq_opts", FrameBuilder().QinQ(1, 2).Ipv4("198.18.1.2", "198.18.2.3").Ipv4Options({0x94, 4, 0, 0})
                             .Tcp(1, 2, kTcpSyn).Mss(1200).Build()},
      {"udp4_padded", FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).Payload(1).PadTo(60).Build()},
      {"udp4", udp4},
      {"icmp4_echo", FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").IcmpEcho(1, 2).Payload(8).Build()},
      {"icmp4_err_tcp", FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp4, 3, 13).Build()},
      {"icmp4_err_udp", FrameBuilder().Vlan(3).Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(udp4, 11, 0).Build()},
      {"frag4_first", FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1).Udp(1, 2).Payload(16).Build()},
      {"frag4_later", FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(3, false, 1).Proto(kProtoUdp).Payload(9).Build()},
      {"tcp6", tcp6},
      {"udp6_ext", FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Routing().Ah().DestinationOptions()
                       .Udp(1, 2).Payload(3).Build()},
      {"icmp6_echo", echo6},
      {"icmp6_err_tcp", FrameBuilder().Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(tcp6, 1, 1).Build()},
      {"icmp6_err_echo", FrameBuilder().Vlan(8).Ipv6("2001:db8::2", "2001:db8::1").IcmpErrorAbout(echo6, 3, 0).Build()},
      {"frag6_first", FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(0, true, 7).Tcp(1, 2, kTcpAck).Payload(4).Build()},
      {"frag6_later", FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Fragment(9, false, 7).Proto(kProtoTcp).Payload(5).Build()},
      {"esp6", FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Proto(50).Payload(24).Build()},
  };
}

TEST(Parser, ValidFramesParseCleanly) {
  for (const NamedFrame& nf : ValidFrames()) {
    ParsedPacket p = ParseChecked(nf.frame);
    EXPECT_EQ(p.error, ParseError::kOk) << nf.name << ": " << ParseErrorName(p.error);
    EXPECT_TRUE(ChecksumsVerify(nf.frame, p)) << nf.name;
  }
}

TEST(Parser, EveryParseErrorIsReachable) {
  // One frame per error, the smallest example of each (the tests above cover variants).
  Bytes tcp4 = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpAck).Build();
  Bytes tcp6 = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Tcp(1, 2, kTcpAck).Build();
  auto with = [](Bytes f, size_t at, uint8_t v) {
    f[at] = v;
    return f;
  };
  FrameBuilder many = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2");
  for (int i = 0; i <= kMaxIpv6ExtHeaders; ++i) many.DestinationOptions();
  const std::vector<std::pair<ParseError, Bytes>> cases = {
      {ParseError::kOk, tcp4},
      {ParseError::kTruncatedEthernet, Bytes(10, 0)},
      {ParseError::kTooManyVlanTags,
       FrameBuilder().Vlan(1).Vlan(2).Vlan(3).Ipv4("198.18.1.2", "198.18.2.3").Build()},
      {ParseError::kTruncatedVlan, Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1}},
      {ParseError::kNotIp, FrameBuilder().EtherType(0x0806).Payload(28).Build()},
      {ParseError::kTruncatedIpv4, Bytes(tcp4.begin(), tcp4.begin() + 30)},
      {ParseError::kBadIpv4Version, with(tcp4, 14, 0x55)},
      {ParseError::kBadIpv4HeaderLength, with(tcp4, 14, 0x41)},
      {ParseError::kBadIpv4TotalLength, with(tcp4, 17, 10)},
      {ParseError::kBadIpv4Checksum, with(tcp4, 24, tcp4[24] ^ 1)},
      {ParseError::kTruncatedIpv6, Bytes(tcp6.begin(), tcp6.begin() + 50)},
      {ParseError::kBadIpv6Version, with(tcp6, 14, 0x70)},
      {ParseError::kBadIpv6PayloadLength,
       FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").HopByHop().Ipv6PayloadLengthOverride(0).Build()},
      {ParseError::kTruncatedIpv6ExtHeader,
       FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Routing().Proto(59).Ipv6PayloadLengthOverride(4).Build()},
      {ParseError::kTooManyIpv6ExtHeaders, many.Udp(1, 2).Build()},
      {ParseError::kBadFragment,
       FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(0, true, 1).Proto(6).Payload(8).Build()},
      {ParseError::kTruncatedTcp, FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(6).Payload(12).Build()},
      {ParseError::kBadTcpHeaderLength, with(tcp4, 46, 0x30)},
      {ParseError::kTruncatedUdp, FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(17).Payload(4).Build()},
      {ParseError::kBadUdpLength,
       FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Udp(1, 2).UdpLengthOverride(4).Build()},
      {ParseError::kTruncatedIcmp, FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Proto(1).Payload(4).Build()},
      {ParseError::kTruncatedIcmpInner,
       FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp4, 3, 1, 24).Build()},
      {ParseError::kBadIcmpInner,
       FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(tcp6, 3, 1).Build()},
      {ParseError::kFrameTooLong, Bytes(kMaxFrameLen + 1, 0)},
  };
  std::set<ParseError> seen;
  for (const auto& [want, frame] : cases) {
    EXPECT_EQ(ParseChecked(frame).error, want) << ParseErrorName(want);
    seen.insert(want);
  }
  for (int i = 0; i < static_cast<int>(ParseError::kCount); ++i) {
    EXPECT_TRUE(seen.count(static_cast<ParseError>(i)))
        << "no test case for " << ParseErrorName(static_cast<ParseError>(i));
  }
}

TEST(Parser, ErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (int i = 0; i < static_cast<int>(ParseError::kCount); ++i) {
    const std::string n = ParseErrorName(static_cast<ParseError>(i));
    EXPECT_FALSE(n.empty());
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_STREQ(ParseErrorName(ParseError::kOk), "ok");
  EXPECT_STREQ(ParseErrorName(ParseError::kTruncatedIcmpInner), "truncated-icmp-inner");
  EXPECT_STREQ(ParseErrorName(ParseError::kCount), "unknown");
}

// ---------------------------------------------------------------------------------------------
// Robustness: every prefix, random mutations, random garbage. ASan (CI) proves no OOB read;
// ParseChecked proves the fast path equals the general parser on each input.

// Invariants every kOk result must satisfy.
void ExpectConsistent(const Bytes& f, const ParsedPacket& p, const std::string& what) {
  if (p.error != ParseError::kOk) return;
  ASSERT_TRUE(p.family == 4 || p.family == 6) << what;
  EXPECT_LE(size_t{p.l3_offset} + p.l3_len, f.size()) << what;
  EXPECT_LE(p.l4_offset, p.l3_offset + p.l3_len) << what;
  if (p.has_l4) {
    EXPECT_FALSE(p.IsLaterFragment()) << what;
    EXPECT_LE(size_t{p.l4_offset} + p.l4_payload_len, size_t{p.l3_offset} + p.l3_len) << what;
  }
  if (p.has_inner) {
    EXPECT_TRUE(p.icmp_is_error) << what;
  }
  if (p.icmp_is_error) {
    EXPECT_TRUE(p.has_inner) << what;
  }
  EXPECT_LE(p.num_vlans, 2) << what;
}

TEST(Parser, EveryPrefixOfValidFramesIsAnErrorOrAWholeDatagram) {
  for (const NamedFrame& nf : ValidFrames()) {
    for (size_t n = 0; n < nf.frame.size(); ++n) {
      // A fresh, exactly sized heap buffer so ASan sees a read past the end.
      auto buf = std::make_unique<uint8_t[]>(n ? n : 1);
      if (n) std::memcpy(buf.get(), nf.frame.data(), n);
      ParsedPacket p1, p2;
      ParsePacket(buf.get(), n, &p1);
      packet_internal::ParsePacketGeneral(buf.get(), n, &p2, {});
      ASSERT_TRUE(p1 == p2) << nf.name << " prefix " << n;
      if (p1.error == ParseError::kOk) {
        // Only allowed when just Ethernet padding was cut.
        EXPECT_GE(n, size_t{p1.l3_offset} + p1.l3_len) << nf.name << " prefix " << n;
      }
      ExpectConsistent(Bytes(nf.frame.begin(), nf.frame.begin() + n), p1,
                       nf.name + " prefix " + std::to_string(n));
    }
  }
}

TEST(Parser, RandomByteFlipsNeverCrashAndFastPathAgrees) {
  std::mt19937 rng(12345);
  const std::vector<NamedFrame> frames = ValidFrames();
  std::set<ParseError> seen;
  for (int iter = 0; iter < 60000; ++iter) {
    const NamedFrame& nf = frames[iter % frames.size()];
    Bytes f = nf.frame;
    const int flips = 1 + rng() % 4;
    for (int k = 0; k < flips; ++k) f[rng() % f.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
    for (bool verify : {true, false}) {
      ParsedPacket p = ParseChecked(f, ParseOptions{.verify_ipv4_checksum = verify});
      ExpectConsistent(f, p, nf.name);
      seen.insert(p.error);
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(seen.size(), 15u);  // the mutations reach most error kinds
}

TEST(Parser, RandomGarbageBehindValidHeaders) {
  std::mt19937 rng(777);
  const std::vector<NamedFrame> frames = ValidFrames();
  for (int iter = 0; iter < 20000; ++iter) {
    const NamedFrame& nf = frames[rng() % frames.size()];
    ParsedPacket base = ParseChecked(nf.frame);
    // Keep L2/L3 and randomize everything from the L4 header on, random length.
    Bytes f(nf.frame.begin(), nf.frame.begin() + base.l4_offset);
    const size_t extra = rng() % 120;
    for (size_t i = 0; i < extra; ++i) f.push_back(static_cast<uint8_t>(rng()));
    ParsedPacket p = ParseChecked(f, ParseOptions{.verify_ipv4_checksum = false});
    ExpectConsistent(f, p, nf.name);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(Parser, BatchEqualsOneByOne) {
  const std::vector<NamedFrame> frames = ValidFrames();
  std::vector<const uint8_t*> ptrs;
  std::vector<uint16_t> lens;
  Bytes junk(5, 0);
  for (const NamedFrame& nf : frames) {
    ptrs.push_back(nf.frame.data());
    lens.push_back(static_cast<uint16_t>(nf.frame.size()));
  }
  ptrs.push_back(junk.data());
  lens.push_back(static_cast<uint16_t>(junk.size()));
  std::vector<ParsedPacket> out(ptrs.size());
  EXPECT_EQ(ParsePackets(ptrs.data(), lens.data(), ptrs.size(), out.data()), frames.size());
  for (size_t i = 0; i < ptrs.size(); ++i) {
    ParsedPacket one;
    ParsePacket(ptrs[i], lens[i], &one);
    EXPECT_TRUE(one == out[i]) << i;
  }
}

}  // namespace
}  // namespace rampart
