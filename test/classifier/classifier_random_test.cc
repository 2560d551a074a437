// The fast Classifier against the LinearClassifier oracle on random rule sets, random keys and
// random change sequences.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "classifier/classifier.h"
#include "classifier/linear.h"
#include "classifier/tuple_merge.h"
#include "test/classifier/test_rules.h"

namespace rampart {
namespace {

using classifier_internal::TupleMergeClassifier;
using classifier_internal::TupleMergeOptions;
using testing_rules::RuleGen;

#ifdef __SANITIZE_ADDRESS__
constexpr int kScale = 4;  // fewer iterations under ASan+UBSan
#else
constexpr int kScale = 1;
#endif

// Checks `c` against the oracle on `n` keys (single and batched lookups).
void ExpectSameAsLinear(const Classifier& c, const std::vector<ClassRule>& rules, RuleGen& gen,
                        size_t n, const std::string& ctx) {
  auto linear = LinearClassifier::Make(rules);
  ASSERT_TRUE(linear.ok()) << linear.status();
  std::vector<ClassKey> keys;
  for (size_t i = 0; i < n; ++i) keys.push_back(gen.Key(rules));
  std::vector<uint32_t> batch(keys.size());
  c.LookupBatch(keys.data(), keys.size(), batch.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    uint32_t want = (*linear)->Lookup(keys[i]);
    ASSERT_EQ(c.Lookup(keys[i]), want) << ctx << " key " << i << " src " << keys[i].src.ToString()
                                       << " dst " << keys[i].dst.ToString();
    ASSERT_EQ(batch[i], want) << ctx << " (batch) key " << i;
  }
}

TEST(ClassifierRandom, BuildMatchesLinearScan) {
  for (uint64_t seed = 1; seed <= 40u / kScale; ++seed) {
    RuleGen gen(seed);
    for (size_t n : {0, 1, 7, 60, 400}) {
      std::vector<ClassRule> rules = gen.Rules(n);
      auto c = Classifier::Build(rules);
      ASSERT_TRUE(c.ok()) << c.status();
      EXPECT_EQ((*c)->Stats().rules, n);
      ExpectSameAsLinear(**c, rules, gen, 1500 / kScale,
                         "seed " + std::to_string(seed) + " n " + std::to_string(n));
    }
  }
}

// The same with LookupBatch's prefetching pipeline forced on (Build turns it on only for sets
// too large for the caches).
TEST(ClassifierRandom, BatchPipelineMatchesLinearScanOnSmallSets) {
  TupleMergeOptions o;
  o.pipeline_min_bytes = 0;
  for (uint64_t seed = 200; seed < 200u + 20 / kScale; ++seed) {
    RuleGen gen(seed);
    for (size_t n : {0, 1, 9, 80, 700}) {
      std::vector<ClassRule> rules = gen.Rules(n);
      auto c = TupleMergeClassifier::Make(rules, o);
      ASSERT_TRUE(c.ok()) << c.status();
      ExpectSameAsLinear(**c, rules, gen, 1500 / kScale,
                         "pipeline seed " + std::to_string(seed) + " n " + std::to_string(n));
      std::vector<ClassRule> add = gen.Rules(50, 100000);
      auto next = (*c)->WithChanges(add, {});
      ASSERT_TRUE(next.ok());
      rules.insert(rules.end(), add.begin(), add.end());
      ExpectSameAsLinear(**next, rules, gen, 500 / kScale, "pipeline after change");
    }
  }
}

TEST(ClassifierRandom, Ipv4OnlyLargerSets) {
  for (uint64_t seed = 100; seed < 100u + 6 / kScale; ++seed) {
    RuleGen gen(seed, /*ipv6=*/false);
    std::vector<ClassRule> rules = gen.Rules(3000 / kScale);
    auto c = Classifier::Build(rules);
    ASSERT_TRUE(c.ok()) << c.status();
    ExpectSameAsLinear(**c, rules, gen, 3000 / kScale, "seed " + std::to_string(seed));
  }
}

// Extreme tunables push every code path: tiny buckets (many tables), grid 1 (exact tuples),
// huge buckets (few tables, long candidate lists), one rule per shard (many shards, reshards).
TEST(ClassifierRandom, ExtremeTunablesStillExact) {
  std::vector<TupleMergeOptions> opts(4);
  opts[0].max_bucket = 2;
  opts[1].v4_grid = 1;
  opts[1].v6_grid = 1;
  opts[2].max_bucket = 1000;
  opts[2].v4_grid = 32;
  opts[2].v6_grid = 128;
  opts[3].rules_per_shard = 1;
  for (auto& o : opts) o.pipeline_min_bytes = 0;  // always exercise the batched pipeline
  for (size_t o = 0; o < opts.size(); ++o) {
    RuleGen gen(500 + o);
    std::vector<ClassRule> rules = gen.Rules(500);
    auto c = TupleMergeClassifier::Make(rules, opts[o]);
    ASSERT_TRUE(c.ok());
    ExpectSameAsLinear(**c, rules, gen, 2000 / kScale, "options " + std::to_string(o));
    // And through a change sequence.
    std::vector<ClassRule> add = gen.Rules(200, 10000);
    std::vector<uint32_t> rm;
    for (uint32_t id = 0; id < 500; id += 3) rm.push_back(id);
    auto next = (*c)->WithChanges(add, rm);
    ASSERT_TRUE(next.ok()) << next.status();
    std::vector<ClassRule> now;
    for (const ClassRule& r : rules) {
      if (r.id % 3 != 0) now.push_back(r);
    }
    now.insert(now.end(), add.begin(), add.end());
    ExpectSameAsLinear(**next, now, gen, 2000 / kScale, "options changed " + std::to_string(o));
  }
}

TEST(ClassifierRandom, ManyRulesWithTheSameTupleAndAddresses) {
  // Same prefixes, different ports: one bucket far past the bound.
  RuleGen gen(7);
  std::vector<ClassRule> rules;
  for (uint32_t i = 0; i < 300; ++i) {
    ClassRule r;
    r.id = i;
    r.priority = 300 - i;
    r.value = i;
    r.match.family = 4;
    r.match.src = Prefix::V4(0xC6120100u, 24);
    r.match.dst = Prefix::V4(0xC6130000u, 16);
    r.match.dport = PortRange{static_cast<uint16_t>(i * 10), static_cast<uint16_t>(i * 10 + 15)};
    rules.push_back(r);
  }
  auto c = Classifier::Build(rules);
  ASSERT_TRUE(c.ok());
  ExpectSameAsLinear(**c, rules, gen, 3000 / kScale, "same tuple");
}

TEST(ClassifierRandom, ChangeSequencesMatchLinearAndOldSnapshotsKeepTheirAnswers) {
  for (uint64_t seed = 1000; seed < 1000u + 12 / kScale; ++seed) {
    RuleGen gen(seed);
    std::map<uint32_t, ClassRule> live;
    uint32_t next_id = 0;
    std::vector<ClassRule> initial = gen.Rules(gen.Uniform(300));
    for (const ClassRule& r : initial) live[r.id] = r;
    next_id = static_cast<uint32_t>(initial.size());
    auto built = Classifier::Build(initial);
    ASSERT_TRUE(built.ok());
    std::shared_ptr<const Classifier> cur = *built;

    // Snapshots taken along the way, with keys and the answers they gave then.
    struct Kept {
      std::shared_ptr<const Classifier> snap;
      std::vector<ClassKey> keys;
      std::vector<uint32_t> answers;
    };
    std::vector<Kept> kept;

    for (int step = 0; step < 25; ++step) {
      std::vector<ClassRule> add;
      std::vector<uint32_t> rm;
      std::vector<uint32_t> ids;
      for (const auto& [id, r] : live) ids.push_back(id);
      std::shuffle(ids.begin(), ids.end(), gen.rng());
      size_t nrm = ids.empty() ? 0 : gen.Uniform(static_cast<uint32_t>(std::min<size_t>(ids.size(), 40)) + 1);
      for (size_t i = 0; i < nrm; ++i) rm.push_back(ids[i]);
      size_t nadd = gen.Uniform(40);
      for (size_t i = 0; i < nadd; ++i) add.push_back(gen.Rule(next_id++));
      // Sometimes re-add a removed id with a new match in the same change.
      if (!rm.empty() && gen.Coin(30)) add.push_back(gen.Rule(rm[0]));

      auto next = cur->WithChanges(add, rm);
      ASSERT_TRUE(next.ok()) << next.status();
      for (uint32_t id : rm) live.erase(id);
      for (const ClassRule& r : add) live[r.id] = r;
      std::vector<ClassRule> now;
      for (const auto& [id, r] : live) now.push_back(r);
      ASSERT_EQ((*next)->Stats().rules, now.size());
      ExpectSameAsLinear(**next, now, gen, 300 / kScale,
                         "seed " + std::to_string(seed) + " step " + std::to_string(step));

      if (step % 5 == 0) {
        Kept k{cur, {}, {}};
        for (int i = 0; i < 200; ++i) {
          k.keys.push_back(gen.Key(now));
          k.answers.push_back(cur->Lookup(k.keys.back()));
        }
        kept.push_back(std::move(k));
      }
      cur = *next;
    }
    for (const Kept& k : kept) {
      for (size_t i = 0; i < k.keys.size(); ++i) {
        ASSERT_EQ(k.snap->Lookup(k.keys[i]), k.answers[i]) << "old snapshot changed, seed " << seed;
      }
    }
  }
}

TEST(ClassifierRandom, GrowingOneTableIncrementallyReshardsCorrectly) {
  RuleGen gen(77, /*ipv6=*/false);
  std::vector<ClassRule> all;
  auto c = Classifier::Build({});
  ASSERT_TRUE(c.ok());
  std::shared_ptr<const Classifier> cur = *c;
  for (int batch = 0; batch < 30; ++batch) {
    std::vector<ClassRule> add;
    for (int i = 0; i < 100; ++i) {
      ClassRule r;
      r.id = static_cast<uint32_t>(all.size() + add.size());
      r.priority = gen.Uniform(100000);
      r.value = r.id;
      r.match.family = 4;
      r.match.src = Prefix::V4(0xC6120000u | gen.Uniform(1 << 17), 32);
      r.match.dst = Prefix::V4(0xC6120000u | (gen.Uniform(1 << 9) << 8), 24);
      add.push_back(r);
    }
    auto next = cur->WithChanges(add, {});
    ASSERT_TRUE(next.ok());
    cur = *next;
    all.insert(all.end(), add.begin(), add.end());
  }
  // Keys at every rule's corners.
  auto linear = LinearClassifier::Make(all);
  ASSERT_TRUE(linear.ok());
  for (size_t i = 0; i < all.size(); i += kScale) {
    ClassKey k;
    k.family = 4;
    k.src = all[i].match.src.addr;
    k.dst = Ip::V4(all[i].match.dst.addr.V4Addr() | (i & 0xff));
    ASSERT_EQ(cur->Lookup(k), (*linear)->Lookup(k)) << i;
  }
}

TEST(ClassifierErrors, BuildRejectsDuplicateIdAndReversedRange) {
  RuleGen gen(3);
  std::vector<ClassRule> rules = gen.Rules(10);
  rules[7].id = rules[2].id;
  auto c = Classifier::Build(rules);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(std::to_string(rules[2].id)), std::string::npos);

  rules = gen.Rules(10);
  rules[4].match.dport = PortRange{900, 80};
  c = Classifier::Build(rules);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rule 4: destination port range 900-80 is reversed"),
            std::string::npos)
      << c.status();
}

TEST(ClassifierErrors, PrefixWithHostBitsIsRejectedByBothImplementations) {
  ClassRule r;
  r.id = 12;
  r.match.family = 4;
  r.match.src = Prefix{Ip::V4(0xC6120001u), 120};  // 198.18.0.1/24: host bits set
  auto c = Classifier::Build(std::vector<ClassRule>{r});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rule 12: source prefix"), std::string::npos) << c.status();
  EXPECT_FALSE(LinearClassifier::Make(std::vector<ClassRule>{r}).ok());
}

TEST(ClassifierErrors, FailedChangesLeaveTheSnapshotUnchanged) {
  RuleGen gen(4);
  std::vector<ClassRule> rules = gen.Rules(200);
  auto built = Classifier::Build(rules);
  ASSERT_TRUE(built.ok());
  std::shared_ptr<const Classifier> c = *built;
  std::vector<ClassKey> keys;
  std::vector<uint32_t> before;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back(gen.Key(rules));
    before.push_back(c->Lookup(keys.back()));
  }
  const size_t rules_before = c->Stats().rules;

  std::vector<uint32_t> unknown = {5, 999999};
  auto r1 = c->WithChanges({}, unknown);
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r1.status().message().find("999999"), std::string::npos);

  std::vector<ClassRule> dup = {gen.Rule(10)};  // id 10 exists
  EXPECT_EQ(c->WithChanges(dup, {}).status().code(), absl::StatusCode::kAlreadyExists);

  std::vector<ClassRule> twice = {gen.Rule(5000), gen.Rule(5000)};
  EXPECT_FALSE(c->WithChanges(twice, {}).ok());

  std::vector<ClassRule> reversed = {gen.Rule(6000)};
  reversed[0].match.sport = PortRange{10, 9};
  std::vector<uint32_t> rm = {1, 2, 3};
  EXPECT_EQ(c->WithChanges(reversed, rm).status().code(), absl::StatusCode::kInvalidArgument);

  std::vector<uint32_t> rm_twice = {1, 1};
  EXPECT_FALSE(c->WithChanges({}, rm_twice).ok());

  EXPECT_EQ(c->Stats().rules, rules_before);
  for (size_t i = 0; i < keys.size(); ++i) ASSERT_EQ(c->Lookup(keys[i]), before[i]);
  // And the same change without the bad part still works.
  auto ok = c->WithChanges({}, rm);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->Stats().rules, rules_before - 3);
}

TEST(ClassifierRandom, OutOfRangeDirectionMatchesNothingInBoth) {
  RuleGen gen(11);
  std::vector<ClassRule> rules = gen.Rules(300);
  auto c = Classifier::Build(rules);
  auto linear = LinearClassifier::Make(rules);
  ASSERT_TRUE(c.ok() && linear.ok());
  for (int i = 0; i < 500; ++i) {
    ClassKey k = gen.Key(rules);
    k.direction = static_cast<uint8_t>(2 + gen.Uniform(254));
    ASSERT_EQ((*c)->Lookup(k), kNoMatch);
    ASSERT_EQ((*linear)->Lookup(k), kNoMatch);
  }
}

TEST(ClassifierChanges, EmptyChangeGivesAnEquivalentSnapshot) {
  RuleGen gen(9);
  std::vector<ClassRule> rules = gen.Rules(300);
  auto c = Classifier::Build(rules);
  ASSERT_TRUE(c.ok());
  auto same = (*c)->WithChanges({}, {});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)->Stats().rules, 300u);
  EXPECT_EQ((*same)->Stats().tables, (*c)->Stats().tables);
  ExpectSameAsLinear(**same, rules, gen, 1000, "empty change");
}

}  // namespace
}  // namespace rampart
