#include "policy/compiler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/policy_parser.h"
#include "policy/validate.h"
#include "test/policy/policy_testing.h"

namespace rampart {
namespace {

using testing::PolicyGen;
using testing::RefClassify;

Prefix P(const char* s) {
  auto p = Prefix::Parse(s);
  EXPECT_TRUE(p.has_value()) << s;
  return *p;
}

ClassKey Key4(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport, uint8_t dir = 0) {
  ClassKey k;
  k.src = *Ip::Parse(src);
  k.dst = *Ip::Parse(dst);
  k.family = k.src.IsV4() ? 4 : 6;
  k.proto = proto;
  k.sport = sport;
  k.dport = dport;
  k.direction = dir;
  return k;
}

uint32_t IdOf(const CompiledPolicy& cp, const ClassKey& k) { return cp.Classify(k).rule_id; }

// Compares a snapshot with the reference evaluator on `n` corner-biased keys, and checks the
// batched lookup agrees with the single one.
void ExpectMatchesReference(const CompiledPolicy& cp, const Policy& policy, PolicyGen& gen, int n,
                            const std::string& what) {
  std::vector<ClassKey> keys = gen.Keys(policy, n);
  testing::Reference ref(policy);
  std::vector<uint32_t> out(keys.size());
  cp.classifier->LookupBatch(keys.data(), keys.size(), out.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    const ClassKey& k = keys[i];
    ASSERT_NE(out[i], kNoMatch) << what;
    ASSERT_LT(out[i], cp.rules.size()) << what;
    uint32_t want = ref.Classify(k);
    ASSERT_EQ(cp.rules[out[i]].rule_id, want)
        << what << " key " << k.src.ToString() << " -> " << k.dst.ToString() << " proto " << int{k.proto} << " "
        << k.sport << "/" << k.dport << " dir " << int{k.direction} << "\n"
        << SerializePolicyYaml(policy);
    ASSERT_EQ(IdOf(cp, k), want);
  }
}

// The actions/flags a snapshot returns for each rule id agree with the policy.
void ExpectRulesAgree(const CompiledPolicy& cp, const Policy& policy) {
  size_t used = 0;
  for (const CompiledRule& cr : cp.rules) {
    if (cr.rule_id == kFreeSlotRuleId) continue;
    ++used;
    if (cr.rule_id == kDefaultRuleId) {
      EXPECT_EQ(cr.action, policy.default_action);
      EXPECT_EQ(cr.log, policy.default_log);
      continue;
    }
    const Rule* r = nullptr;
    for (const Rule& x : policy.rules) {
      if (x.id == cr.rule_id) r = &x;
    }
    ASSERT_NE(r, nullptr) << cr.rule_id;
    EXPECT_EQ(cr.action, r->action);
    EXPECT_EQ(cr.log, r->log);
    EXPECT_EQ(cr.stateless, r->stateless);
    if (r->action == Action::kRedirect) {
      ASSERT_LT(cr.redirect_service, cp.services.size());
      EXPECT_EQ(cp.services[cr.redirect_service], r->redirect_service);
    }
  }
  EXPECT_EQ(used, policy.rules.size() + 1);
  EXPECT_EQ(cp.rules[cp.default_index].rule_id, kDefaultRuleId);
}

TEST(PolicyCompiler, RandomPoliciesMatchTheReferenceEvaluator) {
  PolicyGen gen(42);
  for (int iter = 0; iter < 200; ++iter) {
    Policy p = gen.MakePolicy(25);
    ASSERT_FALSE(CheckPolicy(p).has_value()) << CheckPolicy(p)->field << ": " << CheckPolicy(p)->reason;
    auto cp = CompilePolicy(p);
    ASSERT_TRUE(cp.ok()) << cp.status();
    ExpectRulesAgree(**cp, p);
    ExpectMatchesReference(**cp, p, gen, 300, "iteration " + std::to_string(iter));
  }
}

TEST(PolicyCompiler, FirstMatchByPriorityThenPosition) {
  Policy p;
  Rule a;  // position 0, priority 10
  a.id = 1;
  a.priority = 10;
  a.action = Action::kAllow;
  Rule b;  // position 1, priority 5: wins over a
  b.id = 2;
  b.priority = 5;
  b.proto = kProtoTcp;
  b.action = Action::kDrop;
  Rule c;  // position 2, priority 5: ties with b, loses by position
  c.id = 3;
  c.priority = 5;
  c.action = Action::kReject;
  p.rules = {a, b, c};
  auto cp = CompilePolicy(p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(IdOf(**cp, Key4("198.18.0.1", "198.18.0.2", kProtoTcp, 1, 2)), 2u);
  EXPECT_EQ(IdOf(**cp, Key4("198.18.0.1", "198.18.0.2", kProtoUdp, 1, 2)), 3u);
}

TEST(PolicyCompiler, DefaultRuleMatchesBothFamiliesAndIsLast) {
  Policy p;
  p.default_action = Action::kReject;
  p.default_log = true;
  Rule r;
  r.id = 7;
  r.src.prefixes = {P("198.18.1.0/24")};
  r.action = Action::kAllow;
  p.rules = {r};
  auto cp = CompilePolicy(p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(IdOf(**cp, Key4("198.18.1.9", "198.18.2.1", 6, 1, 1)), 7u);
  const CompiledRule& d = (*cp)->Classify(Key4("198.18.9.9", "198.18.2.1", 6, 1, 1));
  EXPECT_EQ(d.rule_id, kDefaultRuleId);
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_TRUE(d.log);
  EXPECT_EQ(IdOf(**cp, Key4("2001:db8::1", "2001:db8::2", 17, 1, 1)), kDefaultRuleId);
  EXPECT_EQ((*cp)->rules[(*cp)->default_index].rule_id, kDefaultRuleId);
  EXPECT_EQ((*cp)->generation, 1u);
}

TEST(PolicyCompiler, FamiliesNeverMix) {
  Policy p;
  Rule r;
  r.id = 1;
  r.src.prefixes = {P("198.18.1.0/24"), P("2001:db8:1::/48")};
  r.dst.prefixes = {P("2001:db8:2::/48")};
  r.action = Action::kAllow;
  p.rules = {r};
  auto cp = CompilePolicy(p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  // Only the IPv6 source pairs with the IPv6 destination: one entry plus the default.
  EXPECT_EQ((*cp)->classifier->Stats().rules, 2u);
  EXPECT_EQ(IdOf(**cp, Key4("2001:db8:1::5", "2001:db8:2::5", 6, 1, 1)), 1u);
  EXPECT_EQ(IdOf(**cp, Key4("198.18.1.5", "198.18.1.6", 6, 1, 1)), kDefaultRuleId);
  // An omitted side is "any address of the rule's families": here IPv4 only (icmp).
  Rule icmp;
  icmp.id = 2;
  icmp.proto = kProtoIcmp;
  icmp.icmp_type = 8;
  icmp.action = Action::kAllow;
  p.rules = {icmp};
  cp = CompilePolicy(p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(IdOf(**cp, Key4("198.18.1.5", "198.18.1.6", kProtoIcmp, 8, 0)), 2u);
  EXPECT_EQ(IdOf(**cp, Key4("198.18.1.5", "198.18.1.6", kProtoIcmp, 0, 0)), kDefaultRuleId);
  EXPECT_EQ(IdOf(**cp, Key4("2001:db8::1", "2001:db8::2", kProtoIcmp, 8, 0)), kDefaultRuleId);
}

TEST(PolicyCompiler, EmptyGroupMatchesNothingUntilAPrefixIsAdded) {
  Policy p;
  p.groups = {AddressGroup{"web", {}}};
  Rule r;
  r.id = 1;
  r.dst.groups = {"web"};
  r.action = Action::kAllow;
  Rule s;  // a side with a prefix and the empty group still matches the prefix
  s.id = 2;
  s.src.prefixes = {P("198.18.7.0/24")};
  s.src.groups = {"web"};
  s.action = Action::kDrop;
  p.rules = {r, s};
  PolicyCompiler pc;
  auto snap = pc.Reset(p);
  ASSERT_TRUE(snap.ok()) << snap.status();
  ClassKey k = Key4("198.18.7.1", "198.18.2.10", kProtoTcp, 1000, 80);
  EXPECT_EQ(IdOf(**snap, k), 2u);
  EXPECT_EQ(IdOf(**snap, Key4("198.18.1.1", "198.18.2.10", kProtoTcp, 1000, 80)), kDefaultRuleId);
  snap = pc.AddGroupPrefix("web", P("198.18.2.0/24"));
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(IdOf(**snap, k), 1u);
  EXPECT_FALSE(pc.last_edit().rebuilt);
  snap = pc.RemoveGroupPrefix("web", P("198.18.2.0/24"));
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(IdOf(**snap, k), 2u);
  EXPECT_EQ(pc.entries(), 1u + 1u);  // rule 2: one prefix x any; rule 1: nothing; the default
}

TEST(PolicyCompiler, GroupPrefixAddsOnlyTheAffectedRulesEntries) {
  Policy p;
  p.groups = {AddressGroup{"web", {P("198.18.2.0/24")}}, AddressGroup{"db", {P("198.18.3.0/24")}}};
  for (uint32_t i = 0; i < 3; ++i) {  // 3 rules use web as destination, with 2 sources each
    Rule r;
    r.id = i;
    r.src.prefixes = {P("198.18.1.0/24"), P("2001:db8:1::/48")};
    r.dst.groups = {"web"};
    r.proto = kProtoTcp;
    r.dports = {PortRange{80, 80}, PortRange{443, 443}};
    r.action = Action::kAllow;
    p.rules.push_back(r);
  }
  for (uint32_t i = 3; i < 50; ++i) {  // others use db
    Rule r;
    r.id = i;
    r.dst.groups = {"db"};
    r.action = Action::kDrop;
    p.rules.push_back(r);
  }
  PolicyCompiler pc;
  ASSERT_TRUE(pc.Reset(p).ok());
  size_t before = pc.entries();
  auto gen_before = pc.current()->generation;
  // An IPv4 prefix pairs with each rule's one IPv4 source, times 2 port ranges: 3 x 1 x 2.
  auto snap = pc.AddGroupPrefix("web", P("198.18.4.0/24"));
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(pc.last_edit().entries_added, 6u);
  EXPECT_EQ(pc.last_edit().entries_removed, 0u);
  EXPECT_EQ(pc.entries(), before + 6);
  EXPECT_GT((*snap)->generation, gen_before);
  // An IPv6 prefix pairs with the IPv6 source.
  snap = pc.AddGroupPrefix("web", P("2001:db8:4::/64"));
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(pc.last_edit().entries_added, 6u);
  // Adding it again changes nothing: same snapshot.
  auto again = pc.AddGroupPrefix("web", P("2001:db8:4::/64"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), snap->get());
  EXPECT_EQ(pc.last_edit().entries_added, 0u);
  snap = pc.RemoveGroupPrefix("web", P("198.18.4.0/24"));
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(pc.last_edit().entries_removed, 6u);
  PolicyGen gen(3);
  ExpectMatchesReference(**snap, pc.policy(), gen, 2000, "group edits");
}

TEST(PolicyCompiler, CrossProductExplosionIsRefusedNamingTheRule) {
  Policy p;
  Rule r;
  r.id = 12;
  r.name = "wide";
  for (int i = 0; i < 20; ++i) r.src.prefixes.push_back(Prefix::V4((198u << 24) | (18u << 16) | (i << 8), 24));
  for (int i = 0; i < 20; ++i) r.dst.prefixes.push_back(Prefix::V4((198u << 24) | (19u << 16) | (i << 8), 24));
  for (int i = 0; i < 10; ++i) r.dports.push_back(PortRange{static_cast<uint16_t>(i), static_cast<uint16_t>(i)});
  r.proto = kProtoTcp;
  r.action = Action::kAllow;
  p.rules = {r};
  CompilerOptions o;
  o.max_entries_per_rule = 1000;
  auto cp = CompilePolicy(p, o);
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(cp.status().message().find("rules[0]"), std::string::npos) << cp.status();
  EXPECT_NE(cp.status().message().find("rule 12 'wide'"), std::string::npos) << cp.status();
  EXPECT_NE(cp.status().message().find("4000"), std::string::npos) << cp.status();
  o.max_entries_per_rule = 4000;
  EXPECT_TRUE(CompilePolicy(p, o).ok());
}

TEST(PolicyCompiler, InvalidPolicyIsRefusedWithFieldAndReason) {
  Policy p;
  Rule r;
  r.id = 1;
  r.proto = kProtoTcp;
  r.dports = {PortRange{900, 80}};
  r.action = Action::kAllow;
  p.rules = {r};
  auto cp = CompilePolicy(p);
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(std::string(cp.status().message()), "policy: rules[0].destination_ports[0]: port range 900-80 is reversed");
}

TEST(PolicyCompiler, ManyInsertionsAtOneSpotRespreadKeysAndStayCorrect) {
  PolicyCompiler pc;
  Policy p;
  for (uint32_t i = 0; i < 4; ++i) {
    Rule r;
    r.id = i;
    r.priority = static_cast<int32_t>(i * 10);
    r.proto = kProtoTcp;
    r.dports = {PortRange{static_cast<uint16_t>(i), static_cast<uint16_t>(i + 100)}};
    r.action = Action::kAllow;
    p.rules.push_back(r);
  }
  ASSERT_TRUE(pc.Reset(p).ok());
  bool rebuilt = false;
  PolicyGen gen(9);
  // Each new rule has priority 5 and comes after the previous ones: always between the last
  // priority-5 rule and the priority-10 rule, halving that gap every time.
  for (uint32_t i = 100; i < 140; ++i) {
    Rule r;
    r.id = i;
    r.priority = 5;
    r.proto = kProtoTcp;
    r.dports = {PortRange{static_cast<uint16_t>(i), static_cast<uint16_t>(i)}};
    r.action = i % 2 ? Action::kDrop : Action::kReject;
    auto snap = pc.AddRule(r);
    ASSERT_TRUE(snap.ok()) << snap.status();
    rebuilt = rebuilt || pc.last_edit().rebuilt;
    ExpectMatchesReference(**snap, pc.policy(), gen, 200, "insert " + std::to_string(i));
  }
  EXPECT_TRUE(rebuilt);
}

// One random edit of every kind; some are meant to fail.
struct EditResult {
  absl::StatusOr<PolicyCompiler::Snapshot> snap;
  std::string what;
};

EditResult RandomEdit(PolicyCompiler& pc, PolicyGen& gen, uint32_t& next_id) {
  const Policy& p = pc.policy();
  int kind = gen.Uniform(0, 9);
  auto some_rule = [&]() -> const Rule* {
    if (p.rules.empty()) return nullptr;
    return &p.rules[static_cast<size_t>(gen.Uniform(0, static_cast<int>(p.rules.size()) - 1))];
  };
  switch (kind) {
    case 0:
    case 1: {
      Rule r = gen.MakeRule(p, next_id++);
      if (gen.Chance(10) && !p.rules.empty()) r.id = some_rule()->id;  // duplicate id: must fail
      if (gen.Chance(5)) r.src.groups.push_back("no-such-group");     // must fail
      return {pc.AddRule(r), "add rule " + std::to_string(r.id)};
    }
    case 2: {
      const Rule* r = some_rule();
      uint32_t id = r && gen.Chance(85) ? r->id : 999999;
      return {pc.RemoveRule(id), "remove rule " + std::to_string(id)};
    }
    case 3:
    case 4: {
      const Rule* old = some_rule();
      Rule r = gen.MakeRule(p, old && gen.Chance(90) ? old->id : 888888);
      if (old && gen.Chance(30)) r.priority = old->priority;
      if (gen.Chance(5)) r.dports = {PortRange{10, 5}};  // invalid: must fail
      if (r.proto == kProtoIcmp || r.proto == kProtoIcmpV6) r.dports.clear();
      return {pc.ReplaceRule(r), "replace rule " + std::to_string(r.id)};
    }
    case 5:
    case 6: {
      std::string g = p.groups.empty() || gen.Chance(10)
                          ? "g" + std::to_string(gen.Uniform(0, 6))
                          : p.groups[static_cast<size_t>(gen.Uniform(0, static_cast<int>(p.groups.size()) - 1))].name;
      Prefix x = gen.AnyPrefix(3);
      return {pc.AddGroupPrefix(g, x), "add " + x.ToString() + " to " + g};
    }
    case 7:
    case 8: {
      if (p.groups.empty()) return {pc.RemoveGroupPrefix("nope", Prefix{}), "remove from missing group"};
      const AddressGroup& g = p.groups[static_cast<size_t>(gen.Uniform(0, static_cast<int>(p.groups.size()) - 1))];
      Prefix x = g.prefixes.empty() || gen.Chance(10)
                     ? gen.AnyPrefix(3)
                     : g.prefixes[static_cast<size_t>(gen.Uniform(0, static_cast<int>(g.prefixes.size()) - 1))];
      return {pc.RemoveGroupPrefix(g.name, x), "remove " + x.ToString() + " from " + g.name};
    }
    default: {
      Action a = static_cast<Action>(gen.Uniform(0, 3));  // redirect must fail
      return {pc.SetDefault(a, gen.Chance(50)), std::string("default ") + ActionName(a)};
    }
  }
}

TEST(PolicyCompiler, RandomEditSequencesEqualCompilingFromScratch) {
  PolicyGen gen(7);
  int failures = 0, successes = 0, rebuilds = 0;
  for (int seq = 0; seq < 30; ++seq) {
    PolicyCompiler pc;
    Policy start = gen.MakePolicy(15);
    ASSERT_TRUE(pc.Reset(start).ok());
    uint32_t next_id = 1000;
    uint64_t last_gen = pc.current()->generation;
    for (int step = 0; step < 60; ++step) {
      Policy before = pc.policy();
      PolicyCompiler::Snapshot before_snap = pc.current();
      EditResult e = RandomEdit(pc, gen, next_id);
      std::string what = "sequence " + std::to_string(seq) + " step " + std::to_string(step) + ": " + e.what;
      if (!e.snap.ok()) {
        ++failures;
        // Nothing half-applied: same policy, same snapshot.
        ASSERT_TRUE(PolicyEquals(pc.policy(), before)) << what;
        ASSERT_EQ(pc.current().get(), before_snap.get()) << what;
        EXPECT_FALSE(e.snap.status().message().empty());
        continue;
      }
      ++successes;
      rebuilds += pc.last_edit().rebuilt;
      ASSERT_EQ(e.snap->get(), pc.current().get());
      ASSERT_GE((*e.snap)->generation, last_gen) << what;
      last_gen = (*e.snap)->generation;
      ASSERT_FALSE(CheckPolicy(pc.policy()).has_value()) << what;
      ExpectRulesAgree(**e.snap, pc.policy());
      auto scratch = CompilePolicy(pc.policy());
      ASSERT_TRUE(scratch.ok()) << what << ": " << scratch.status();
      EXPECT_EQ((*scratch)->classifier->Stats().rules, pc.entries()) << what;
      EXPECT_EQ((*e.snap)->classifier->Stats().rules, pc.entries()) << what;
      // Same answers as the from-scratch compile and as the reference.
      testing::Reference ref(pc.policy());
      for (const ClassKey& k : gen.Keys(pc.policy(), 150)) {
        uint32_t want = ref.Classify(k);
        ASSERT_EQ((*scratch)->Classify(k).rule_id, want) << what;
        ASSERT_EQ((*e.snap)->Classify(k).rule_id, want) << what << "\n" << SerializePolicyYaml(pc.policy());
      }
    }
  }
  EXPECT_GT(failures, 40);
  EXPECT_GT(successes, 800);
  EXPECT_LT(rebuilds, successes / 10);
}

TEST(PolicyCompiler, IncrementalEditsTouchOnlyTheRule) {
  PolicyGen gen(11);
  Policy p;
  for (uint32_t i = 0; i < 200; ++i) {
    Rule r;
    r.id = i;
    r.src.prefixes = {Prefix::V4((198u << 24) | (18u << 16) | (i << 6), 26)};
    r.proto = kProtoTcp;
    r.dports = {PortRange{80, 80}};
    r.action = Action::kAllow;
    p.rules.push_back(r);
  }
  PolicyCompiler pc;
  ASSERT_TRUE(pc.Reset(p).ok());
  auto old_snap = pc.current();
  Rule r = p.rules[100];
  r.dports = {PortRange{80, 80}, PortRange{443, 443}};
  auto snap = pc.ReplaceRule(r);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(pc.last_edit().entries_added, 2u);
  EXPECT_EQ(pc.last_edit().entries_removed, 1u);
  EXPECT_FALSE(pc.last_edit().rebuilt);
  // Slots are stable: every rule keeps its index.
  for (size_t i = 0; i < (*snap)->rules.size(); ++i) EXPECT_EQ((*snap)->rules[i].rule_id, old_snap->rules[i].rule_id);
  // The old snapshot still answers as before (persistent update).
  ClassKey k = Key4("198.18.25.1", "198.18.0.1", kProtoTcp, 1, 443);
  EXPECT_EQ(old_snap->Classify(k).rule_id, kDefaultRuleId);
  EXPECT_EQ((*snap)->Classify(k).rule_id, 100u);
  snap = pc.RemoveRule(100);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(pc.last_edit().entries_removed, 2u);
  EXPECT_EQ((*snap)->rules[100].rule_id, kFreeSlotRuleId);
  Rule n = p.rules[0];
  n.id = 5000;
  n.priority = -1;
  snap = pc.AddRule(n);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ((*snap)->rules[100].rule_id, 5000u);  // the freed slot is reused
  EXPECT_EQ(pc.last_edit().entries_added, 1u);
  EXPECT_EQ((*snap)->Classify(Key4("198.18.0.1", "198.18.0.1", kProtoTcp, 1, 80)).rule_id, 5000u);
  ExpectMatchesReference(**snap, pc.policy(), gen, 2000, "after edits");
}

TEST(PolicyCompiler, SetDefaultKeepsTheClassifier) {
  PolicyCompiler pc;
  auto a = pc.SetDefault(Action::kAllow, true);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = pc.SetDefault(Action::kReject, false);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*a)->classifier.get(), (*b)->classifier.get());
  EXPECT_GT((*b)->generation, (*a)->generation);
  EXPECT_EQ((*b)->Classify(Key4("198.18.0.1", "198.18.0.2", 6, 1, 1)).action, Action::kReject);
  EXPECT_EQ((*a)->Classify(Key4("198.18.0.1", "198.18.0.2", 6, 1, 1)).action, Action::kAllow);
  auto bad = pc.SetDefault(Action::kRedirect, false);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(pc.current().get(), b->get());
}

}  // namespace
}  // namespace rampart
