// The ClassBench sets in shared/data/classbench (one family per binary, see CMakeLists.txt): the classifier's first match equals column 1
// of `.expected` on every trace header (a deterministic sample under ASan), for a classifier
// built at once and for one built incrementally through WithChanges.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "classifier/classbench.h"
#include "classifier/classifier.h"

namespace rampart {
namespace {

#ifdef __SANITIZE_ADDRESS__
constexpr size_t kStride = 23;  // every 23rd header under ASan+UBSan
#else
constexpr size_t kStride = 1;
#endif

struct Set {
  std::vector<ClassRule> rules;
  std::vector<ClassBenchHeader> trace;
  std::vector<uint32_t> expected;
};

Set Load(const std::string& name) {
  const std::string dir = std::string(RAMPART_SHARED_DIR) + "/data/classbench/";
  Set s;
  auto rules = ReadClassBenchRules(dir + name + ".rules");
  auto trace = ReadClassBenchTrace(dir + name + ".trace");
  auto expected = ReadClassBenchExpected(dir + name + ".expected");
  // Missing data is a failure, not a skip: these sets are the proof of exactness.
  EXPECT_TRUE(rules.ok()) << rules.status() << " (is shared/data/classbench present?)";
  EXPECT_TRUE(trace.ok()) << trace.status();
  EXPECT_TRUE(expected.ok()) << expected.status();
  if (!rules.ok() || !trace.ok() || !expected.ok()) return s;
  s.rules = *std::move(rules);
  s.trace = *std::move(trace);
  s.expected = *std::move(expected);
  EXPECT_EQ(s.trace.size(), s.expected.size()) << name;
  return s;
}

void ExpectExpected(const Classifier& c, const Set& s, const std::string& ctx) {
  std::vector<ClassKey> keys;
  std::vector<uint32_t> want;
  for (size_t i = 0; i < s.trace.size(); i += kStride) {
    keys.push_back(s.trace[i].key);
    want.push_back(s.expected[i]);
  }
  std::vector<uint32_t> got(keys.size());
  c.LookupBatch(keys.data(), keys.size(), got.data());
  size_t bad = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    uint32_t one = c.Lookup(keys[i]);
    if (one != want[i] || got[i] != want[i]) {
      if (++bad <= 5) {
        ADD_FAILURE() << ctx << ": trace line " << i * kStride + 1 << " expected " << want[i]
                      << " Lookup " << one << " LookupBatch " << got[i];
      }
    }
  }
  EXPECT_EQ(bad, 0u) << ctx;
}

class ClassBenchSets : public ::testing::TestWithParam<const char*> {};

TEST_P(ClassBenchSets, BuiltAtOnceMatchesExpected) {
  Set s = Load(GetParam());
  ASSERT_FALSE(s.rules.empty());
  auto c = Classifier::Build(s.rules);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->Stats().rules, s.rules.size());
  ExpectExpected(**c, s, std::string(GetParam()) + " built at once");
}

TEST_P(ClassBenchSets, BuiltIncrementallyMatchesExpected) {
  Set s = Load(GetParam());
  ASSERT_FALSE(s.rules.empty());
  std::mt19937_64 rng(42);
  std::vector<ClassRule> shuffled = s.rules;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  const size_t half = shuffled.size() / 2;
  auto built = Classifier::Build(std::span(shuffled).first(half));
  ASSERT_TRUE(built.ok()) << built.status();
  std::shared_ptr<const Classifier> c = *built;
  // The other half in 5 batches.
  std::span<const ClassRule> rest = std::span(shuffled).subspan(half);
  for (size_t b = 0; b < 5; ++b) {
    size_t from = rest.size() * b / 5, to = rest.size() * (b + 1) / 5;
    auto next = c->WithChanges(rest.subspan(from, to - from), {});
    ASSERT_TRUE(next.ok()) << next.status();
    c = *next;
  }
  ASSERT_EQ(c->Stats().rules, s.rules.size());
  // Remove a random 10% in one change, then re-add them in two.
  std::vector<ClassRule> subset(shuffled.begin(), shuffled.begin() + shuffled.size() / 10);
  std::shuffle(subset.begin(), subset.end(), rng);
  std::vector<uint32_t> ids;
  for (const ClassRule& r : subset) ids.push_back(r.id);
  auto removed = c->WithChanges({}, ids);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ((*removed)->Stats().rules, s.rules.size() - subset.size());
  auto half1 = (*removed)->WithChanges(std::span(subset).first(subset.size() / 2), {});
  ASSERT_TRUE(half1.ok());
  auto all = (*half1)->WithChanges(std::span(subset).subspan(subset.size() / 2), {});
  ASSERT_TRUE(all.ok());
  ExpectExpected(**all, s, std::string(GetParam()) + " built incrementally");
  // The snapshot before the removal still answers as before.
  ExpectExpected(*c, s, std::string(GetParam()) + " old snapshot");
}

// RAMPART_CLASSBENCH_FAMILY (acl1, fw1 or ipc1) picks the family: one test binary each.
INSTANTIATE_TEST_SUITE_P(All, ClassBenchSets,
                         ::testing::Values(RAMPART_CLASSBENCH_FAMILY "_1k",
                                           RAMPART_CLASSBENCH_FAMILY "_10k"));

}  // namespace
}  // namespace rampart
