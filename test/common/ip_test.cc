#include "common/ip.h"

#include <gtest/gtest.h>

#include <random>

namespace rampart {
namespace {

TEST(Ip, ParsesAndPrintsIpv4AsMapped) {
  auto ip = Ip::Parse("198.18.1.2");
  ASSERT_TRUE(ip.has_value());
  EXPECT_TRUE(ip->IsV4());
  EXPECT_EQ(ip->V4Addr(), (198u << 24) | (18u << 16) | (1u << 8) | 2u);
  EXPECT_EQ(ip->ToString(), "198.18.1.2");
  EXPECT_EQ(*ip, Ip::V4(0xc6120102));
}

TEST(Ip, ParsesAndPrintsIpv6) {
  auto ip = Ip::Parse("2001:db8::1");
  ASSERT_TRUE(ip.has_value());
  EXPECT_FALSE(ip->IsV4());
  EXPECT_EQ(ip->hi, 0x20010db800000000ull);
  EXPECT_EQ(ip->lo, 1ull);
  EXPECT_EQ(ip->ToString(), "2001:db8::1");
}

TEST(Ip, RejectsGarbage) {
  EXPECT_FALSE(Ip::Parse("").has_value());
  EXPECT_FALSE(Ip::Parse("198.18.1").has_value());
  EXPECT_FALSE(Ip::Parse("198.18.1.256").has_value());
  EXPECT_FALSE(Ip::Parse("2001:db8:::1").has_value());
  EXPECT_FALSE(Ip::Parse(std::string(100, '1')).has_value());
}

TEST(Prefix, Ipv4PrefixLivesInMappedSpace) {
  auto p = Prefix::Parse("198.18.0.0/15");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->len, 96 + 15);
  EXPECT_TRUE(p->IsV4());
  EXPECT_EQ(p->ToString(), "198.18.0.0/15");
  EXPECT_TRUE(p->Contains(*Ip::Parse("198.19.255.1")));
  EXPECT_FALSE(p->Contains(*Ip::Parse("198.20.0.1")));
  EXPECT_FALSE(p->Contains(*Ip::Parse("::1")));
}

TEST(Prefix, RefusesHostBitsAndBadLengths) {
  EXPECT_FALSE(Prefix::Parse("198.18.1.1/24").has_value());
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/33").has_value());
  EXPECT_FALSE(Prefix::Parse("2001:db8::/129").has_value());
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/").has_value());
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/1x").has_value());
  auto host = Prefix::Parse("2001:db8::5");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->len, 128);
}

TEST(Prefix, ZeroLengthIpv4IsAllIpv4Only) {
  auto any4 = Prefix::Parse("0.0.0.0/0");
  ASSERT_TRUE(any4.has_value());
  EXPECT_TRUE(any4->Contains(*Ip::Parse("1.2.3.4")));
  EXPECT_FALSE(any4->Contains(*Ip::Parse("2001:db8::1")));
  auto any6 = Prefix::Parse("::/0");
  ASSERT_TRUE(any6.has_value());
  EXPECT_TRUE(any6->Contains(*Ip::Parse("2001:db8::1")));
}

// MaskIp against a bit-by-bit reference on random addresses and every length.
TEST(MaskIp, MatchesBitwiseReference) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    Ip ip{rng(), rng()};
    uint8_t bytes[16];
    ip.ToBytes(bytes);
    for (int len = 0; len <= 128; ++len) {
      uint8_t want[16];
      for (int b = 0; b < 128; ++b) {
        int byte = b / 8, bit = 7 - b % 8;
        if (b % 8 == 0) want[byte] = 0;
        if (b < len) want[byte] |= bytes[byte] & (1 << bit);
      }
      EXPECT_EQ(MaskIp(ip, len), Ip::V6(want)) << "len " << len;
    }
  }
}

}  // namespace
}  // namespace rampart
