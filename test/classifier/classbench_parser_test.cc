#include <gtest/gtest.h>

#include "classifier/classbench.h"

namespace rampart {
namespace {

TEST(ClassBenchParser, ParsesRulesAsInTheReadme) {
  const char* text =
      "@247.145.208.7/32\t1.13.20.19/32\t0 : 65535\t0 : 65535\t0x06/0xFF\t0x1000/0x1000\t\n"
      "@247.145.208.0/23\t0.0.0.0/1\t1024 : 65535\t53 : 53\t0x00/0x00\t0x0000/0x0000\t\n";
  auto rules = ParseClassBenchRules(text, "t.rules");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_EQ(rules->size(), 2u);
  const ClassRule& a = (*rules)[0];
  EXPECT_EQ(a.id, 0u);
  EXPECT_EQ(a.priority, 0u);
  EXPECT_EQ(a.value, 0u);
  EXPECT_EQ(a.match.family, 4);
  EXPECT_EQ(a.match.src, Prefix::V4(0xF791D007u, 32));
  EXPECT_EQ(a.match.dst, Prefix::V4(0x010D1413u, 32));
  EXPECT_EQ(a.match.proto, 6);
  EXPECT_EQ(a.match.proto_mask, 0xff);
  const ClassRule& b = (*rules)[1];
  EXPECT_EQ(b.id, 1u);
  EXPECT_EQ(b.match.src, Prefix::V4(0xF791D000u, 23));
  EXPECT_EQ(b.match.dst, Prefix::V4(0, 1));
  EXPECT_EQ(b.match.sport, (PortRange{1024, 65535}));
  EXPECT_EQ(b.match.dport, (PortRange{53, 53}));
  EXPECT_EQ(b.match.proto_mask, 0);
}

TEST(ClassBenchParser, RoundTripsThroughFormat) {
  auto rules = ParseClassBenchRules(
      "@10.0.0.0/8\t0.0.0.0/0\t0 : 1023\t80 : 80\t0x11/0xFF\t0x0000/0x0000\t\n", "t");
  ASSERT_TRUE(rules.ok());
  auto again = ParseClassBenchRules(FormatClassBenchRule((*rules)[0]), "t");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].match.src, (*rules)[0].match.src);
  EXPECT_EQ((*again)[0].match.dport, (*rules)[0].match.dport);
  EXPECT_EQ((*again)[0].match.proto, 17);
}

TEST(ClassBenchParser, RuleErrorsNameFileLineAndReason) {
  struct Case {
    const char* text;
    const char* reason;
  } cases[] = {
      {"@1.2.3.4/32\t1.2.3.4/32\t80 : 79\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\t\n", "reversed"},
      {"@1.2.3.4/33\t1.2.3.4/32\t0 : 1\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\t\n", "larger than 32"},
      {"@1.2.3.256/32\t1.2.3.4/32\t0 : 1\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\t\n", "larger than 255"},
      {"@1.2.3.4/24\t1.2.3.4/32\t0 : 1\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\t\n", "bits set below"},
      {"1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 65535\t0x06/0xFF\t0x0000/0x0000\t\n", "'@'"},
      {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 70000\t0x06/0xFF\t0x0000/0x0000\t\n", "larger than 65535"},
      {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 6\t0x106/0xFF\t0x0000/0x0000\t\n", "hex digits"},
      {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 6\t0x06/0xFF\n", "flags"},
      {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 6\t0x06/0xFF\t0x0000/0x0000\tjunk\n", "unexpected"},
  };
  for (const Case& c : cases) {
    std::string text = std::string("@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n") + c.text;
    auto r = ParseClassBenchRules(text, "bad.rules");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.status().message().find("bad.rules:2: "), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find(c.reason), std::string::npos) << r.status();
  }
}

TEST(ClassBenchParser, ParsesTraceAndKeepsTheGeneratingRuleApart) {
  auto t = ParseClassBenchTrace("4153528327\t17634323\t0\t0\t6\t4294967295\t693\n", "t.trace");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 1u);
  const ClassBenchHeader& h = (*t)[0];
  EXPECT_EQ(h.key.src, Ip::V4(4153528327u));
  EXPECT_EQ(h.key.dst, Ip::V4(17634323u));
  EXPECT_EQ(h.key.proto, 6);
  EXPECT_EQ(h.key.family, 4);
  EXPECT_EQ(h.flags, 4294967295u);
  EXPECT_EQ(h.gen_rule, 693u);
  EXPECT_FALSE(ParseClassBenchTrace("1\t2\t3\t70000\t6\t0\t1\n", "t").ok());
  EXPECT_FALSE(ParseClassBenchTrace("1\t2\t3\t4\t256\t0\t1\n", "t").ok());
  EXPECT_FALSE(ParseClassBenchTrace("4294967296\t2\t3\t4\t6\t0\t1\n", "t").ok());
  EXPECT_FALSE(ParseClassBenchTrace("1\t2\t3\n", "t").ok());
}

TEST(ClassBenchParser, ParsesExpectedFirstColumnAndMinusOne) {
  auto e = ParseClassBenchExpected("883\t884\n-1\t-1\n7\n", "t.expected");
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0], 883u);
  EXPECT_EQ((*e)[1], kNoMatch);
  EXPECT_EQ((*e)[2], 7u);
  auto bad = ParseClassBenchExpected("1\t2\n-2\t3\n", "t.expected");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.expected:2:"), std::string::npos) << bad.status();
  EXPECT_FALSE(ParseClassBenchExpected("1\tx\n", "t").ok());
}

TEST(ClassBenchParser, MissingFileIsNotFoundNamingThePath) {
  auto r = ReadClassBenchRules("/nonexistent/x.rules");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/x.rules"), std::string::npos);
}

}  // namespace
}  // namespace rampart
