// Checks the parser against scapy's view of the same bytes (testdata/gen_golden.py writes
// testdata/golden.txt; scapy is an independent dissector and computed the checksums).
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "packet/builder.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"
#include "test/packet/packet_test_util.h"

namespace rampart {
namespace {

using testing::ChecksumsVerify;
using testing::ParseChecked;

struct Golden {
  std::string name;
  std::vector<uint8_t> bytes;
  std::map<std::string, std::string> fields;
};

std::vector<Golden> LoadGolden() {
  std::ifstream in(std::string(RAMPART_SOURCE_DIR) + "/test/packet/testdata/golden.txt");
  std::vector<Golden> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Golden g;
    std::string hex, kv;
    ss >> g.name >> hex;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      g.bytes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    while (ss >> kv) {
      const size_t eq = kv.find('=');
      g.fields[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    out.push_back(std::move(g));
  }
  return out;
}

// The parser's value of a golden field, as text.
std::string Field(const ParsedPacket& p, const std::string& key) {
  auto n = [](uint64_t v) { return std::to_string(v); };
  if (key == "error") return ParseErrorName(p.error);
  if (key == "num_vlans") return n(p.num_vlans);
  if (key == "vlan_tci0") return n(p.vlan_tci[0]);
  if (key == "family") return n(p.family);
  if (key == "src") return p.src.ToString();
  if (key == "dst") return p.dst.ToString();
  if (key == "ttl") return n(p.ttl);
  if (key == "tos") return n(p.tos);
  if (key == "l3_len") return n(p.l3_len);
  if (key == "l3_offset") return n(p.l3_offset);
  if (key == "l4_offset") return n(p.l4_offset);
  if (key == "proto") return n(p.proto);
  if (key == "is_fragment") return n(p.is_fragment);
  if (key == "frag_offset") return n(p.frag_offset);
  if (key == "more_fragments") return n(p.more_fragments);
  if (key == "frag_id") return n(p.frag_id);
  if (key == "sport") return n(p.sport);
  if (key == "dport") return n(p.dport);
  if (key == "tcp_flags") return n(p.tcp_flags);
  if (key == "tcp_seq") return n(p.tcp_seq);
  if (key == "tcp_ack") return n(p.tcp_ack);
  if (key == "tcp_window") return n(p.tcp_window);
  if (key == "tcp_mss") return n(p.tcp_mss);
  if (key == "tcp_wscale") return n(p.tcp_wscale);
  if (key == "tcp_sack_permitted") return n(p.tcp_sack_permitted);
  if (key == "icmp_type") return n(p.icmp_type);
  if (key == "icmp_code") return n(p.icmp_code);
  if (key == "icmp_id") return n(p.icmp_id);
  if (key == "inner.src") return p.inner.src.ToString();
  if (key == "inner.dst") return p.inner.dst.ToString();
  if (key == "inner.proto") return n(p.inner.proto);
  if (key == "inner.sport") return n(p.inner.sport);
  if (key == "inner.dport") return n(p.inner.dport);
  if (key == "inner.tcp_seq") return n(p.inner.tcp_seq);
  return "<unknown key " + key + ">";
}

TEST(Golden, ParserAgreesWithScapy) {
  const std::vector<Golden> golden = LoadGolden();
  ASSERT_GE(golden.size(), 25u) << "testdata/golden.txt missing or short";
  for (const Golden& g : golden) {
    ParsedPacket p = ParseChecked(g.bytes);
    auto it = g.fields.find("error");
    const std::string want_error = it == g.fields.end() ? "ok" : it->second;
    EXPECT_EQ(ParseErrorName(p.error), want_error) << g.name;
    for (const auto& [key, value] : g.fields) {
      EXPECT_EQ(Field(p, key), value) << g.name << " field " << key;
    }
    // Fields scapy leaves out must be at their defaults.
    if (!g.fields.count("tcp_mss")) {
      EXPECT_EQ(p.tcp_mss, 0) << g.name;
    }
    if (!g.fields.count("tcp_wscale")) {
      EXPECT_EQ(p.tcp_wscale, 0xff) << g.name;
    }
    if (!g.fields.count("is_fragment")) {
      EXPECT_FALSE(p.is_fragment) << g.name;
    }
    EXPECT_EQ(p.has_inner, g.fields.count("inner.src") == 1) << g.name;
    if (p.error == ParseError::kOk) {
      EXPECT_TRUE(ChecksumsVerify(g.bytes, p)) << g.name << ": scapy's checksums";
    }
  }
}

// FrameBuilder produces exactly the bytes scapy does for the same description (the fb_*
// frames in gen_golden.py), checksums included.
TEST(Golden, FrameBuilderMatchesScapyByteForByte) {
  const char* A4 = "198.18.1.2";
  const char* B4 = "198.18.2.3";
  const char* A6 = "2001:db8::1";
  const char* B6 = "2001:db8:1::2";
  const std::vector<uint8_t> syn =
      FrameBuilder().Vlan(100).Ipv4(A4, B4).Tcp(40000, 80, kTcpSyn, 1000, 0, 64240).Mss(1460).Build();
  const std::map<std::string, std::vector<uint8_t>> built = {
      {"fb_vlan_syn", syn},
      {"fb_udp", FrameBuilder().Ipv4(A4, B4).Udp(5353, 53).Payload(30).Build()},
      {"fb_frag6_tcp", FrameBuilder().Ipv6(A6, B6).HopByHop().Fragment(0, true, 0x1234567)
                           .Tcp(1, 2, kTcpAck, 7, 8, 501).Payload(12).Build()},
      {"fb_echo4", FrameBuilder().Ipv4(A4, B4).IcmpEcho(0x4242, 3).Payload(8).Build()},
      {"fb_echo6", FrameBuilder().Ipv6(A6, B6).IcmpEcho(0x1234, 1).Build()},
      {"fb_unreach4", FrameBuilder().Ipv4(B4, A4).IcmpErrorAbout(syn, 3, 13).Build()},
      {"fb_unreach6", FrameBuilder().Ipv6(B6, A6)
                          .IcmpErrorAbout(FrameBuilder().Ipv6(A6, B6).Udp(9, 10).Build(), 1, 1)
                          .Build()},
  };
  size_t compared = 0;
  for (const Golden& g : LoadGolden()) {
    auto it = built.find(g.name);
    if (it == built.end()) continue;
    ++compared;
    EXPECT_EQ(::testing::PrintToString(it->second), ::testing::PrintToString(g.bytes)) << g.name;
  }
  EXPECT_EQ(compared, built.size());
}

TEST(Golden, EveryPrefixOfGoldenFramesIsAnErrorOrAWholeDatagram) {
  for (const Golden& g : LoadGolden()) {
    for (size_t n = 0; n < g.bytes.size(); ++n) {
      std::vector<uint8_t> prefix(g.bytes.begin(), g.bytes.begin() + n);
      prefix.shrink_to_fit();
      ParsedPacket p = ParseChecked(prefix);
      if (p.error == ParseError::kOk) {
        EXPECT_GE(n, size_t{p.l3_offset} + p.l3_len) << g.name << " prefix " << n;
      }
    }
  }
}

TEST(Golden, RepliesToGoldenFramesReparse) {
  int replies = 0;
  for (const Golden& g : LoadGolden()) {
    ParsedPacket p = ParseChecked(g.bytes);
    uint8_t out[kMaxIcmpUnreachableLen];
    for (int kind = 0; kind < 2; ++kind) {
      const size_t n = kind == 0 ? BuildTcpReset(g.bytes.data(), p, out, sizeof(out))
                                 : BuildIcmpUnreachable(g.bytes.data(), p, out, sizeof(out));
      if (n == 0) continue;
      ++replies;
      std::vector<uint8_t> r(out, out + n);
      ParsedPacket rp = ParseChecked(r);
      ASSERT_EQ(rp.error, ParseError::kOk) << g.name << " reply " << kind;
      EXPECT_TRUE(ChecksumsVerify(r, rp)) << g.name << " reply " << kind;
    }
  }
  EXPECT_GT(replies, 20);
}

}  // namespace
}  // namespace rampart
