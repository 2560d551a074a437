#include "records/records.h"

#include <random>

#include "gtest/gtest.h"

namespace rampart::records {
namespace {

Record R(std::string t, std::vector<std::string> v) { return Record{std::move(t), std::move(v)}; }

TEST(RecordSet, ApplyAndTable) {
  RecordSet s;
  s.Apply({1, true, {}, {R("Flow", {"A", "ls1"}), R("Host", {"h1", "198.19.255.1"}), R("Flow", {"A", "ls0"})}});
  EXPECT_EQ(s.revision(), 1u);
  auto flows = s.Table("Flow");
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0]->values[1], "ls0");
  EXPECT_EQ(ToString(*flows[1]), "Flow(A, ls1)");
  EXPECT_TRUE(s.Table("Fl").empty());
  s.Apply({2, false, {R("Flow", {"A", "ls0"})}, {R("Flow", {"A", "ls2"})}});
  EXPECT_EQ(s.Table("Flow").size(), 2u);
  EXPECT_EQ(s.inconsistencies(), 0u);
  s.Apply({3, false, {R("Flow", {"A", "nope"})}, {R("Flow", {"A", "ls2"})}});
  EXPECT_EQ(s.inconsistencies(), 2u);
  EXPECT_EQ(s.revision(), 3u);
}

// Apply(Delta&&) (rows moved; a snapshot sorted and inserted in order) ends exactly where
// Apply(const Delta&) does, also on inconsistent deltas (duplicates in a snapshot, deletes of
// absent rows, inserts of present ones).
TEST(RecordSet, ApplyByMoveEqualsApplyByCopy) {
  std::mt19937 rng(11);
  auto row = [&] { return R("T" + std::to_string(rng() % 3), {std::to_string(rng() % 15), std::string(rng() % 40, 'v')}); };
  for (int iter = 0; iter < 300; ++iter) {
    RecordSet by_copy, by_move;
    for (uint64_t rev = 1; rev <= 6; ++rev) {
      Delta d;
      d.revision = rev;
      d.snapshot = rng() % 3 == 0;
      for (int i = rng() % 4; i > 0; --i) d.deletes.push_back(row());
      for (int i = rng() % 25; i > 0; --i) d.inserts.push_back(row());
      if (!d.inserts.empty() && rng() % 4 == 0) d.inserts.push_back(d.inserts.front());  // duplicate
      by_copy.Apply(d);
      by_move.Apply(std::move(d));
      ASSERT_EQ(by_copy.rows(), by_move.rows()) << "iteration " << iter << " revision " << rev;
      ASSERT_EQ(by_copy.inconsistencies(), by_move.inconsistencies()) << "iteration " << iter;
      ASSERT_EQ(by_copy.revision(), by_move.revision());
    }
  }
}

// Diff(from, to) applied to `from` gives `to`, on random sets.
TEST(RecordSet, DiffRoundTripsRandomSets) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    RecordSet a, b;
    for (int i = 0; i < 30; ++i) {
      Record r = R("T" + std::to_string(rng() % 3), {std::to_string(rng() % 20)});
      if (rng() % 2) a.Insert(r); else b.Insert(r);
      if (rng() % 4 == 0) { a.Insert(r); b.Insert(r); }
    }
    Delta d = RecordSet::Diff(a, b);
    RecordSet c = a;
    c.Apply(d);
    EXPECT_EQ(c.rows(), b.rows());
    EXPECT_EQ(c.inconsistencies(), 0u);
  }
}

}  // namespace
}  // namespace rampart::records
