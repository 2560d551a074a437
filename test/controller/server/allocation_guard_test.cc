// AllocationGuard: the physical stage's allocation transactions become compare-and-swap against
// the values this controller last saw; keys another controller wrote the same way are kept,
// keys it wrote differently are a conflict that changes nothing.
#include "controller/server/allocation_guard.h"

#include <gtest/gtest.h>

#include <string>

#include "controller/physical/physical_stage.h"

namespace rampart::controller {
namespace {

std::string K(const std::string& k) { return std::string(kAllocPrefix) + k; }

std::optional<std::string> ValueOf(store::Store& s, const std::string& key) {
  auto kv = s.Get(key);
  EXPECT_TRUE(kv.ok());
  if (!kv.ok() || !kv->has_value()) return std::nullopt;
  return (*kv)->value;
}

store::Txn Alloc(std::vector<store::Op> ops) {
  store::Txn t;
  t.ops = std::move(ops);
  return t;
}

class AllocationGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::OpenStore("mem:");
    ASSERT_TRUE(s.ok());
    store_ = *std::move(s);
    ASSERT_TRUE(store_->Put(K("dp/A/ls1"), "1").ok());
    ASSERT_TRUE(store_->Put(K("tag/h1/A/fw/attach/from-vm"), "7").ok());
    guard_ = std::make_unique<AllocationGuard>(store_.get());
    ASSERT_TRUE(guard_->Range(kAllocPrefix).ok());  // as PhysicalStage::Load
  }
  std::unique_ptr<store::Store> store_;  // also "the other controller"
  std::unique_ptr<AllocationGuard> guard_;
};

TEST_F(AllocationGuardTest, UnchangedKeysAreWritten) {
  auto r = guard_->Commit(Alloc({store::Op::Put(K("dp/A/ls2"), "2"), store::Op::Put(K("dp/A/ls1"), "3"),
                                 store::Op::Delete(K("tag/h1/A/fw/attach/from-vm"))}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(ValueOf(*store_, K("dp/A/ls2")), "2");
  EXPECT_EQ(ValueOf(*store_, K("dp/A/ls1")), "3");
  EXPECT_EQ(ValueOf(*store_, K("tag/h1/A/fw/attach/from-vm")), std::nullopt);
  EXPECT_EQ(guard_->conflict(), std::nullopt);
  EXPECT_EQ(guard_->adopted(), 0u);
  // What it wrote is what it now expects: a second change of the same key goes through.
  r = guard_->Commit(Alloc({store::Op::Put(K("dp/A/ls1"), "4")}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(ValueOf(*store_, K("dp/A/ls1")), "4");
}

TEST_F(AllocationGuardTest, TheSameDecisionsByAnotherControllerAreKept) {
  ASSERT_TRUE(store_->Put(K("dp/A/ls2"), "2").ok());             // the other one numbered ls2 as this one will
  ASSERT_TRUE(store_->Delete(K("tag/h1/A/fw/attach/from-vm")).ok());  // and freed the same tag
  auto r = guard_->Commit(Alloc({store::Op::Put(K("dp/A/ls2"), "2"), store::Op::Put(K("dp/A/r1"), "5"),
                                 store::Op::Delete(K("tag/h1/A/fw/attach/from-vm"))}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(guard_->adopted(), 2u);
  EXPECT_EQ(guard_->conflict(), std::nullopt);
  EXPECT_EQ(ValueOf(*store_, K("dp/A/ls2")), "2");
  EXPECT_EQ(ValueOf(*store_, K("dp/A/r1")), "5");  // the key only this one wrote
}

TEST_F(AllocationGuardTest, DifferentDecisionsAreAConflictThatChangesNothing) {
  ASSERT_TRUE(store_->Put(K("dp/A/ls2"), "9").ok());
  const int64_t rev = *store_->CurrentRevision();
  auto r = guard_->Commit(Alloc({store::Op::Put(K("dp/A/r1"), "5"), store::Op::Put(K("dp/A/ls2"), "2")}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(guard_->conflict(), K("dp/A/ls2") + ": the store holds 9, this controller chose 2");
  EXPECT_EQ(*store_->CurrentRevision(), rev);  // nothing written, not even the untouched key
  EXPECT_EQ(ValueOf(*store_, K("dp/A/r1")), std::nullopt);
  // A key changed under a delete is a conflict too.
  AllocationGuard g2(store_.get());
  ASSERT_TRUE(g2.Range(kAllocPrefix).ok());
  ASSERT_TRUE(store_->Put(K("dp/A/ls1"), "8").ok());
  r = g2.Commit(Alloc({store::Op::Delete(K("dp/A/ls1"))}));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  EXPECT_EQ(g2.conflict(), K("dp/A/ls1") + ": the store holds 8, this controller chose (none)");
  EXPECT_EQ(ValueOf(*store_, K("dp/A/ls1")), "8");
}

TEST_F(AllocationGuardTest, ALargeTransactionReadsTheStoreOnce) {
  std::vector<store::Op> ops;
  for (int i = 0; i < 1000; ++i) ops.push_back(store::Op::Put(K("port/A/ls1/p" + std::to_string(i)), std::to_string(i + 1)));
  ASSERT_TRUE(store_->Put(K("port/A/ls1/p500"), "501").ok());  // the same decision
  auto r = guard_->Commit(Alloc(ops));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(guard_->adopted(), 1u);
  EXPECT_EQ(ValueOf(*store_, K("port/A/ls1/p999")), "1000");
}

TEST_F(AllocationGuardTest, OtherTransactionsPassAsTheyAre) {
  store::Txn t;  // has a compare: not the physical stage's
  t.compares.push_back(store::Compare::Absent(K("dp/A/ls1")));
  t.ops.push_back(store::Op::Put(K("dp/A/ls1"), "2"));
  auto r = guard_->Commit(t);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);  // the caller's compare, not the guard's
  EXPECT_EQ(guard_->conflict(), std::nullopt);
  store::Txn other;  // outside the allocation prefix
  other.ops.push_back(store::Op::Put("/rampart/nb/Tenant/-/A", "{}"));
  r = guard_->Commit(other);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded);
}

}  // namespace
}  // namespace rampart::controller
