#include "packet/checksum.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"
#include "test/packet/packet_test_util.h"

namespace rampart {
namespace {

using testing::NaiveChecksum;
using Bytes = std::vector<uint8_t>;

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (one's complement).
  const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumFinish(ChecksumAdd(b.data(), b.size())), static_cast<uint16_t>(~0xddf2));
}

TEST(Checksum, KnownIpv4Header) {
  // A captured header whose checksum field is b861.
  Bytes h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
             0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(Ipv4HeaderChecksum(h.data(), h.size()), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  EXPECT_EQ(Ipv4HeaderChecksum(h.data(), h.size()), 0);
}

TEST(Checksum, MatchesNaiveOnRandomBuffersOfEveryLength) {
  std::mt19937 rng(1);
  for (size_t len = 0; len < 300; ++len) {
    for (int rep = 0; rep < 20; ++rep) {
      Bytes b(len);
      const int mode = rep % 3;  // random, all 0xff (carry heavy), all zero
      for (auto& x : b) x = mode == 0 ? static_cast<uint8_t>(rng()) : mode == 1 ? 0xff : 0;
      ASSERT_EQ(InternetChecksum(b.data(), b.size()), NaiveChecksum(b)) << len;
      // Chained in even chunks gives the same result.
      const size_t cut = len ? (rng() % len) & ~size_t{1} : 0;
      uint32_t s = ChecksumAdd(b.data(), cut);
      s = ChecksumAdd(b.data() + cut, len - cut, s);
      ASSERT_EQ(ChecksumFinish(s), NaiveChecksum(b)) << len;
    }
  }
}

TEST(Checksum, PseudoHeadersMatchHandBuiltOnes) {
  std::mt19937 rng(2);
  for (int rep = 0; rep < 500; ++rep) {
    Bytes seg(rng() % 1500);
    for (auto& x : seg) x = static_cast<uint8_t>(rng());
    uint8_t a4[4], b4[4], a6[16], b6[16];
    for (auto& x : a4) x = static_cast<uint8_t>(rng());
    for (auto& x : b4) x = static_cast<uint8_t>(rng());
    for (auto& x : a6) x = static_cast<uint8_t>(rng());
    for (auto& x : b6) x = static_cast<uint8_t>(rng());
    const uint8_t proto = rep % 2 ? kProtoTcp : kProtoUdp;
    Bytes v4(a4, a4 + 4);
    v4.insert(v4.end(), b4, b4 + 4);
    v4.insert(v4.end(), {0, proto, static_cast<uint8_t>(seg.size() >> 8),
                         static_cast<uint8_t>(seg.size())});
    v4.insert(v4.end(), seg.begin(), seg.end());
    EXPECT_EQ(L4ChecksumV4(a4, b4, proto, seg.data(), seg.size()), NaiveChecksum(v4));
    Bytes v6(a6, a6 + 16);
    v6.insert(v6.end(), b6, b6 + 16);
    v6.insert(v6.end(), {0, 0, static_cast<uint8_t>(seg.size() >> 8),
                         static_cast<uint8_t>(seg.size()), 0, 0, 0, kProtoIcmpV6});
    v6.insert(v6.end(), seg.begin(), seg.end());
    EXPECT_EQ(L4ChecksumV6(a6, b6, kProtoIcmpV6, seg.data(), seg.size()), NaiveChecksum(v6));
  }
}

TEST(Checksum, BuiltFramesVerify) {
  Bytes f = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(1, 2, kTcpSyn).Payload(33).Build();
  ParsedPacket p;
  ASSERT_EQ(ParsePacket(f.data(), f.size(), &p), ParseError::kOk);
  const uint8_t* ip = f.data() + p.l3_offset;
  EXPECT_EQ(L4ChecksumV4(ip + 12, ip + 16, kProtoTcp, f.data() + p.l4_offset, 20 + 33), 0);
  Bytes g = FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1, 2).Payload(7).Build();
  ASSERT_EQ(ParsePacket(g.data(), g.size(), &p), ParseError::kOk);
  ip = g.data() + p.l3_offset;
  EXPECT_EQ(L4ChecksumV6(ip + 8, ip + 24, kProtoUdp, g.data() + p.l4_offset, 15), 0);
}

// RFC 1624: updating a checksum for a changed word equals recomputing it.
TEST(Checksum, IncrementalUpdateEqualsRecompute) {
  std::mt19937 rng(3);
  for (int rep = 0; rep < 20000; ++rep) {
    Bytes h(20);
    for (auto& x : h) x = static_cast<uint8_t>(rng());
    h[0] = 0x45;  // a non-zero word, so the sum is never +0/-0 ambiguous
    h[10] = h[11] = 0;
    const uint16_t c = Ipv4HeaderChecksum(h.data(), 20);
    if (rep % 2) {
      const size_t at = 2 * (1 + rng() % 4);  // words 1..4 (not the checksum itself)
      const uint16_t old_word = static_cast<uint16_t>(h[at] << 8 | h[at + 1]);
      const uint16_t new_word = static_cast<uint16_t>(rng());
      h[at] = static_cast<uint8_t>(new_word >> 8);
      h[at + 1] = static_cast<uint8_t>(new_word);
      ASSERT_EQ(ChecksumUpdate16(c, old_word, new_word), Ipv4HeaderChecksum(h.data(), 20));
    } else {
      const size_t at = rng() % 2 ? 12 : 16;  // an address (NAT-style rewrite)
      const uint32_t old_word = uint32_t{h[at]} << 24 | uint32_t{h[at + 1]} << 16 |
                                uint32_t{h[at + 2]} << 8 | h[at + 3];
      const uint32_t new_word = static_cast<uint32_t>(rng());
      for (int i = 0; i < 4; ++i) h[at + i] = static_cast<uint8_t>(new_word >> (24 - 8 * i));
      ASSERT_EQ(ChecksumUpdate32(c, old_word, new_word), Ipv4HeaderChecksum(h.data(), 20));
    }
  }
}

TEST(Checksum, TtlDecrementExample) {
  // The classic router case: TTL 64 -> 63 (the TTL/protocol word changes by 0x0100).
  Bytes h = FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Ttl(64).Udp(1, 2).Build();
  uint8_t* ip = h.data() + 14;
  const uint16_t c = static_cast<uint16_t>(ip[10] << 8 | ip[11]);
  const uint16_t old_word = static_cast<uint16_t>(ip[8] << 8 | ip[9]);
  ip[8] = 63;
  const uint16_t new_word = static_cast<uint16_t>(ip[8] << 8 | ip[9]);
  const uint16_t c2 = ChecksumUpdate16(c, old_word, new_word);
  ip[10] = static_cast<uint8_t>(c2 >> 8);
  ip[11] = static_cast<uint8_t>(c2);
  EXPECT_EQ(Ipv4HeaderChecksum(ip, 20), 0);
}

}  // namespace
}  // namespace rampart
