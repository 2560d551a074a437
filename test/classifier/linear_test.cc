#include "classifier/linear.h"

#include <gtest/gtest.h>

namespace rampart {
namespace {

ClassRule V4Rule(uint32_t id, uint32_t prio, const char* src, const char* dst) {
  ClassRule r;
  r.id = id;
  r.priority = prio;
  r.value = 100 + id;
  r.match.family = 4;
  r.match.src = *Prefix::Parse(src);
  r.match.dst = *Prefix::Parse(dst);
  return r;
}

ClassKey V4Key(const char* src, const char* dst) {
  ClassKey k;
  k.family = 4;
  k.src = *Ip::Parse(src);
  k.dst = *Ip::Parse(dst);
  return k;
}

TEST(LinearClassifier, LowestPriorityThenLowestIdWins) {
  std::vector<ClassRule> rules = {V4Rule(5, 2, "198.18.0.0/16", "0.0.0.0/0"),
                                  V4Rule(9, 1, "198.18.1.0/24", "0.0.0.0/0"),
                                  V4Rule(3, 1, "198.18.0.0/15", "0.0.0.0/0")};
  auto c = LinearClassifier::Make(rules);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Lookup(V4Key("198.18.1.7", "198.19.0.1")), 103u);  // prio 1, id 3 beats id 9
  EXPECT_EQ((*c)->Lookup(V4Key("198.20.1.7", "198.19.0.1")), kNoMatch);
}

TEST(LinearClassifier, FamilyZeroMatchesBothFamiliesFamilyFourOnlyIpv4) {
  ClassRule any;
  any.id = 1;
  any.priority = 10;
  any.value = 1;
  any.match.family = 0;
  ClassRule v4 = V4Rule(2, 5, "0.0.0.0/0", "0.0.0.0/0");
  v4.match.src = Prefix{};  // /0 = any IPv4 address
  v4.match.dst = Prefix{};
  auto c = LinearClassifier::Make(std::vector<ClassRule>{any, v4});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Lookup(V4Key("198.18.0.1", "198.18.0.2")), 102u);
  ClassKey k6;
  k6.family = 6;
  k6.src = *Ip::Parse("2001:db8::1");
  k6.dst = *Ip::Parse("2001:db8::2");
  EXPECT_EQ((*c)->Lookup(k6), 1u);
}

TEST(LinearClassifier, DirectionAndProtocolMasks) {
  ClassRule r = V4Rule(1, 1, "0.0.0.0/0", "0.0.0.0/0");
  r.match.direction_mask = 2;  // to the VM only
  r.match.proto = 6;
  r.match.proto_mask = 0xff;
  r.match.dport = PortRange{80, 80};
  auto c = LinearClassifier::Make(std::vector<ClassRule>{r});
  ASSERT_TRUE(c.ok());
  ClassKey k = V4Key("198.18.0.1", "198.18.0.2");
  k.proto = 6;
  k.dport = 80;
  k.direction = 1;
  EXPECT_EQ((*c)->Lookup(k), 101u);
  k.direction = 0;
  EXPECT_EQ((*c)->Lookup(k), kNoMatch);
  k.direction = 1;
  k.proto = 17;
  EXPECT_EQ((*c)->Lookup(k), kNoMatch);
  k.proto = 6;
  k.dport = 81;
  EXPECT_EQ((*c)->Lookup(k), kNoMatch);
}

TEST(LinearClassifier, RejectsBadRulesNamingTheRule) {
  ClassRule r = V4Rule(7, 1, "198.18.0.0/16", "0.0.0.0/0");
  r.match.sport = PortRange{900, 80};
  auto c = LinearClassifier::Make(std::vector<ClassRule>{r});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rule 7"), std::string::npos) << c.status();
  EXPECT_NE(c.status().message().find("900-80 is reversed"), std::string::npos) << c.status();

  ClassRule dup = V4Rule(7, 2, "198.18.0.0/16", "0.0.0.0/0");
  ClassRule dup2 = V4Rule(7, 3, "198.19.0.0/16", "0.0.0.0/0");
  auto d = LinearClassifier::Make(std::vector<ClassRule>{dup, dup2});
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("7"), std::string::npos);

  ClassRule mixed = V4Rule(8, 1, "198.18.0.0/16", "0.0.0.0/0");
  mixed.match.family = 6;
  EXPECT_FALSE(LinearClassifier::Make(std::vector<ClassRule>{mixed}).ok());
  ClassRule fam0 = V4Rule(9, 1, "198.18.0.0/16", "0.0.0.0/0");
  fam0.match.family = 0;
  EXPECT_FALSE(LinearClassifier::Make(std::vector<ClassRule>{fam0}).ok());
}

TEST(LinearClassifier, WithChangesAddsAndRemoves) {
  auto c = LinearClassifier::Make(std::vector<ClassRule>{V4Rule(1, 5, "198.18.0.0/16", "0.0.0.0/0")});
  ASSERT_TRUE(c.ok());
  std::vector<ClassRule> add = {V4Rule(2, 1, "198.18.1.0/24", "0.0.0.0/0")};
  std::vector<uint32_t> rm = {1};
  auto next = (*c)->WithChanges(add, rm);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->Lookup(V4Key("198.18.1.1", "1.2.3.4")), 102u);
  EXPECT_EQ((*next)->Lookup(V4Key("198.18.2.1", "1.2.3.4")), kNoMatch);
  EXPECT_EQ((*c)->Lookup(V4Key("198.18.2.1", "1.2.3.4")), 101u);  // old snapshot unchanged
  std::vector<uint32_t> unknown = {42};
  EXPECT_EQ((*c)->WithChanges({}, unknown).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rampart
