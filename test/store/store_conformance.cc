#include "test/store/store_conformance.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace rampart::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Collects watch callbacks; tests wait on it with a generous bound (never a timing assertion).
class Collector {
 public:
  WatchCallbacks Callbacks() {
    WatchCallbacks cb;
    cb.events = [this](const std::vector<WatchEvent>& evs) {
      std::lock_guard<std::mutex> l(mu_);
      batches_.push_back(evs);
      cv_.notify_all();
    };
    cb.error = [this](const absl::Status& s) {
      std::lock_guard<std::mutex> l(mu_);
      errors_.push_back(s);
      cv_.notify_all();
    };
    return cb;
  }
  // Waits until at least n events arrived (or 20 s); returns the batches so far.
  std::vector<std::vector<WatchEvent>> WaitEvents(size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, seconds(20), [&] { return CountLocked() >= n; });
    return batches_;
  }
  std::vector<std::vector<WatchEvent>> Batches() {
    std::lock_guard<std::mutex> l(mu_);
    return batches_;
  }
  size_t Count() {
    std::lock_guard<std::mutex> l(mu_);
    return CountLocked();
  }
  size_t ErrorCount() {
    std::lock_guard<std::mutex> l(mu_);
    return errors_.size();
  }

 private:
  size_t CountLocked() const {
    size_t n = 0;
    for (const auto& b : batches_) n += b.size();
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<WatchEvent>> batches_;
  std::vector<absl::Status> errors_;
};

std::vector<WatchEvent> Flatten(const std::vector<std::vector<WatchEvent>>& batches) {
  std::vector<WatchEvent> out;
  for (const auto& b : batches) out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Polls until `pred` holds or `limit` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return pred();
}

}  // namespace

void StoreConformance::SetUp() {
  absl::StatusOr<std::unique_ptr<Store>> s = GetParam().open();
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = *std::move(s);
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  prefix_ = absl::StrCat("/conf/", info->name(), "/", ::getpid(), "-", counter++, "/");
}

TEST_P(StoreConformance, PutGetDeleteTrackRevisionsAndVersions) {
  absl::StatusOr<int64_t> r1 = store_->Put(K("a"), "1");
  ASSERT_TRUE(r1.ok()) << r1.status();
  auto got = store_->Get(K("a"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "1");
  EXPECT_EQ((*got)->create_revision, *r1);
  EXPECT_EQ((*got)->mod_revision, *r1);
  EXPECT_EQ((*got)->version, 1);

  absl::StatusOr<int64_t> r2 = store_->Put(K("a"), "2");
  ASSERT_TRUE(r2.ok());
  EXPECT_GT(*r2, *r1);
  got = store_->Get(K("a"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "2");
  EXPECT_EQ((*got)->create_revision, *r1);
  EXPECT_EQ((*got)->mod_revision, *r2);
  EXPECT_EQ((*got)->version, 2);

  absl::StatusOr<int64_t> r3 = store_->Delete(K("a"));
  ASSERT_TRUE(r3.ok());
  EXPECT_GT(*r3, *r2);
  got = store_->Get(K("a"));
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  if (GetParam().exact_revisions) {
    EXPECT_EQ(*r2, *r1 + 1);
    EXPECT_EQ(*r3, *r2 + 1);
    // Deleting a missing key changes nothing, not even the revision.
    absl::StatusOr<int64_t> r4 = store_->Delete(K("a"));
    ASSERT_TRUE(r4.ok());
    EXPECT_EQ(*r4, *r3);
    EXPECT_EQ(*store_->CurrentRevision(), *r3);
  }
  // Recreated keys start over.
  absl::StatusOr<int64_t> r5 = store_->Put(K("a"), "3");
  ASSERT_TRUE(r5.ok());
  got = store_->Get(K("a"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->create_revision, *r5);
  EXPECT_EQ((*got)->version, 1);
}

TEST_P(StoreConformance, RangeReturnsExactlyThePrefixSortedByKey) {
  for (const char* k : {"b", "a", "c/2", "c/1", "ab"}) ASSERT_TRUE(store_->Put(K(k), k).ok());
  ASSERT_TRUE(store_->Put(prefix_.substr(0, prefix_.size() - 1) + "x", "outside").ok());  // shares all but '/'
  absl::StatusOr<RangeResult> all = store_->Range(prefix_);
  ASSERT_TRUE(all.ok()) << all.status();
  std::vector<std::string> keys;
  for (const KeyValue& kv : all->kvs) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{K("a"), K("ab"), K("b"), K("c/1"), K("c/2")}));
  EXPECT_GE(all->revision, all->kvs.back().mod_revision);
  absl::StatusOr<RangeResult> c = store_->Range(K("c/"));
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->kvs.size(), 2u);
  EXPECT_EQ(c->kvs[0].value, "c/1");
  absl::StatusOr<RangeResult> none = store_->Range(K("zz"));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->kvs.empty());
}

TEST_P(StoreConformance, BinaryKeysAndValuesRoundTrip) {
  std::string key = K(std::string("k\0\xff\x01", 4));
  std::string value("\0\x01\xfe\xff payload", 12);
  ASSERT_TRUE(store_->Put(key, value).ok());
  auto got = store_->Get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, value);
  absl::StatusOr<RangeResult> r = store_->Range(K(std::string("k\0", 2)));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, key);
}

TEST_P(StoreConformance, TxnAbsentCompareCreatesOnlyOnce) {
  Txn create{{Compare::Absent(K("lock"))}, {Op::Put(K("lock"), "me")}};
  absl::StatusOr<TxnResult> first = store_->Commit(create);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->succeeded);
  Txn again{{Compare::Absent(K("lock"))}, {Op::Put(K("lock"), "you")}};
  absl::StatusOr<TxnResult> second = store_->Commit(again);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);
  EXPECT_GE(second->revision, first->revision);
  EXPECT_EQ((*store_->Get(K("lock")))->value, "me");
}

TEST_P(StoreConformance, TxnModRevisionCompareRefusesStaleUpdates) {
  absl::StatusOr<int64_t> r = store_->Put(K("cfg"), "v1");
  ASSERT_TRUE(r.ok());
  Txn update{{Compare::ModRevision(K("cfg"), *r)}, {Op::Put(K("cfg"), "v2")}};
  absl::StatusOr<TxnResult> ok = store_->Commit(update);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->succeeded);
  EXPECT_EQ((*store_->Get(K("cfg")))->mod_revision, ok->revision);
  Txn stale{{Compare::ModRevision(K("cfg"), *r)}, {Op::Put(K("cfg"), "v3")}};
  absl::StatusOr<TxnResult> refused = store_->Commit(stale);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->succeeded);
  EXPECT_EQ((*store_->Get(K("cfg")))->value, "v2");
}

TEST_P(StoreConformance, TxnValueCompare) {
  Txn on_missing{{Compare::ValueIs(K("v"), "")}, {Op::Put(K("w"), "x")}};
  absl::StatusOr<TxnResult> a = store_->Commit(on_missing);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->succeeded) << "a value compare on a missing key is false";
  ASSERT_TRUE(store_->Put(K("v"), "yes").ok());
  absl::StatusOr<TxnResult> b = store_->Commit({{Compare::ValueIs(K("v"), "no")}, {Op::Put(K("w"), "x")}});
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->succeeded);
  absl::StatusOr<TxnResult> c = store_->Commit({{Compare::ValueIs(K("v"), "yes")}, {Op::Put(K("w"), "x")}});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->succeeded);
  EXPECT_TRUE((*store_->Get(K("w"))).has_value());
}

TEST_P(StoreConformance, TxnIsAllOrNothingAtOneRevision) {
  ASSERT_TRUE(store_->Put(K("b"), "exists").ok());
  ASSERT_TRUE(store_->Put(K("d"), "doomed").ok());
  Txn fail{{Compare::Absent(K("a")), Compare::Absent(K("b"))}, {Op::Put(K("a"), "1"), Op::Put(K("c"), "1")}};
  absl::StatusOr<TxnResult> f = store_->Commit(fail);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->succeeded);
  EXPECT_FALSE((*store_->Get(K("a"))).has_value());
  EXPECT_FALSE((*store_->Get(K("c"))).has_value());

  Txn good{{Compare::Absent(K("a")), Compare::ValueIs(K("b"), "exists")},
           {Op::Put(K("a"), "1"), Op::Put(K("c"), "1"), Op::Delete(K("d"))}};
  absl::StatusOr<TxnResult> g = store_->Commit(good);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(g->succeeded);
  EXPECT_EQ((*store_->Get(K("a")))->mod_revision, g->revision);
  EXPECT_EQ((*store_->Get(K("c")))->mod_revision, g->revision);
  EXPECT_FALSE((*store_->Get(K("d"))).has_value());
}

TEST_P(StoreConformance, LargeTxnCommitsAtOneRevision) {
  Txn big;
  // More keys than one etcd range page (5,000): the read is paged at one revision.
  for (int i = 0; i < 6000; ++i) big.ops.push_back(Op::Put(K(absl::StrCat("big/", i)), std::string(50, 'v')));
  absl::StatusOr<TxnResult> r = store_->Commit(big);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->succeeded);
  absl::StatusOr<RangeResult> all = store_->Range(K("big/"));
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->kvs.size(), 6000u);
  for (const KeyValue& kv : all->kvs) EXPECT_EQ(kv.mod_revision, r->revision);
  absl::StatusOr<TxnResult> del = store_->Commit({{}, {Op::DeletePrefix(K("big/"))}});
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(store_->Range(K("big/"))->kvs.empty());
}

TEST_P(StoreConformance, TxnDeletePrefixRemovesEveryKeyUnderIt) {
  for (const char* k : {"p/1", "p/2", "p/3/x", "q"}) ASSERT_TRUE(store_->Put(K(k), "v").ok());
  Collector c;
  absl::StatusOr<int64_t> now = store_->CurrentRevision();
  ASSERT_TRUE(now.ok());
  auto w = store_->Watch(K("p/"), *now + 1, c.Callbacks());
  ASSERT_TRUE(w.ok()) << w.status();
  absl::StatusOr<TxnResult> t = store_->Commit({{}, {Op::DeletePrefix(K("p/"))}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->succeeded);
  EXPECT_TRUE(store_->Range(K("p/"))->kvs.empty());
  EXPECT_TRUE((*store_->Get(K("q"))).has_value());
  auto batches = c.WaitEvents(3);
  ASSERT_EQ(batches.size(), 1u) << "one revision, one callback";
  ASSERT_EQ(batches[0].size(), 3u);
  for (const WatchEvent& ev : batches[0]) {
    EXPECT_EQ(ev.type, WatchEvent::Type::kDelete);
    EXPECT_EQ(ev.kv.mod_revision, t->revision);
  }
}

TEST_P(StoreConformance, TxnWritingAKeyTwiceIsRefused) {
  absl::StatusOr<TxnResult> t = store_->Commit({{}, {Op::Put(K("a"), "1"), Op::Put(K("a"), "2")}});
  EXPECT_FALSE(t.ok());
  absl::StatusOr<TxnResult> u = store_->Commit({{}, {Op::Put(K("a/1"), "1"), Op::DeletePrefix(K("a/"))}});
  EXPECT_FALSE(u.ok());
  EXPECT_FALSE((*store_->Get(K("a"))).has_value());
}

TEST_P(StoreConformance, RevisionsAreMonotonic) {
  int64_t last = *store_->CurrentRevision();
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<int64_t> r = i % 3 == 2 ? store_->Delete(K(absl::StrCat(i - 1))) : store_->Put(K(absl::StrCat(i)), "v");
    ASSERT_TRUE(r.ok());
    EXPECT_GT(*r, last);
    if (GetParam().exact_revisions) {
      EXPECT_EQ(*r, last + 1);
    }
    last = *r;
  }
  EXPECT_GE(*store_->CurrentRevision(), last);
}

TEST_P(StoreConformance, WatchFromAPastRevisionReplaysThenFollows) {
  absl::StatusOr<int64_t> r1 = store_->Put(K("a"), "1");
  absl::StatusOr<int64_t> r2 = store_->Put(K("b"), "2");
  absl::StatusOr<int64_t> r3 = store_->Delete(K("a"));
  ASSERT_TRUE(r1.ok() && r2.ok() && r3.ok());
  Collector c;
  auto w = store_->Watch(prefix_, *r1, c.Callbacks());
  ASSERT_TRUE(w.ok()) << w.status();
  absl::StatusOr<int64_t> r4 = store_->Put(K("c"), "3");
  ASSERT_TRUE(r4.ok());
  std::vector<WatchEvent> evs = Flatten(c.WaitEvents(4));
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(evs[0].kv.key, K("a"));
  EXPECT_EQ(evs[0].kv.value, "1");
  EXPECT_EQ(evs[0].kv.mod_revision, *r1);
  EXPECT_EQ(evs[1].kv.key, K("b"));
  EXPECT_EQ(evs[1].kv.mod_revision, *r2);
  EXPECT_EQ(evs[2].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(evs[2].kv.key, K("a"));
  EXPECT_EQ(evs[2].kv.mod_revision, *r3);
  EXPECT_EQ(evs[3].kv.key, K("c"));
  EXPECT_EQ(evs[3].kv.mod_revision, *r4);
  EXPECT_EQ(c.ErrorCount(), 0u);
}

TEST_P(StoreConformance, WatchDeliversEveryRevisionInOrderAndOnlyItsPrefix) {
  Collector c;
  auto w = store_->Watch(K("in/"), 0, c.Callbacks());
  ASSERT_TRUE(w.ok()) << w.status();
  // Two writers at once: the watch must still see one callback per revision, in order.
  std::atomic<int> expected{0};
  auto writer = [&](int id) {
    for (int i = 0; i < 40; ++i) {
      if (i % 4 == 3) {
        ASSERT_TRUE(store_->Commit({{}, {Op::Put(K(absl::StrCat("in/", id, "/", i)), "x"),
                                         Op::Put(K(absl::StrCat("in/", id, "/", i, "b")), "y"),
                                         Op::Put(K(absl::StrCat("out/", id, "/", i)), "z")}})
                        .ok());
        expected += 2;
      } else {
        ASSERT_TRUE(store_->Put(K(absl::StrCat("in/", id, "/", i)), "x").ok());
        expected += 1;
        ASSERT_TRUE(store_->Put(K(absl::StrCat("out/", id, "/", i)), "x").ok());
      }
    }
  };
  std::thread t1(writer, 1), t2(writer, 2);
  t1.join();
  t2.join();
  auto batches = c.WaitEvents(static_cast<size_t>(expected.load()));
  size_t n = 0;
  int64_t last = 0;
  for (const auto& b : batches) {
    ASSERT_FALSE(b.empty());
    int64_t rev = b[0].kv.mod_revision;
    EXPECT_GT(rev, last) << "revisions arrive in order, one callback each";
    last = rev;
    for (const WatchEvent& ev : b) {
      EXPECT_EQ(ev.kv.mod_revision, rev);
      EXPECT_TRUE(absl::StartsWith(ev.kv.key, K("in/"))) << ev.kv.key;
      ++n;
    }
  }
  EXPECT_EQ(n, static_cast<size_t>(expected.load()));
}

TEST_P(StoreConformance, DestroyedWatchGetsNoMoreCallbacks) {
  Collector c;
  auto w = store_->Watch(prefix_, 0, c.Callbacks());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_->Put(K("a"), "1").ok());
  c.WaitEvents(1);
  w->reset();
  size_t before = c.Count();
  ASSERT_TRUE(store_->Put(K("b"), "2").ok());
  // A second, live watch proves the event was delivered somewhere before we look.
  Collector live;
  auto w2 = store_->Watch(prefix_, *store_->CurrentRevision(), live.Callbacks());
  ASSERT_TRUE(w2.ok());
  live.WaitEvents(1);
  EXPECT_EQ(c.Count(), before);
}

TEST_P(StoreConformance, WatchCanBeDestroyedInsideItsCallback) {
  std::mutex mu;
  std::unique_ptr<WatchHandle> handle;
  std::atomic<int> calls{0};
  WatchCallbacks cb;
  cb.events = [&](const std::vector<WatchEvent>&) {
    ++calls;
    std::lock_guard<std::mutex> l(mu);
    handle.reset();
  };
  {
    std::lock_guard<std::mutex> l(mu);
    auto w = store_->Watch(prefix_, 0, cb);
    ASSERT_TRUE(w.ok());
    handle = *std::move(w);
  }
  ASSERT_TRUE(store_->Put(K("a"), "1").ok());
  ASSERT_TRUE(Eventually([&] { return calls.load() > 0; }, seconds(20)));
  ASSERT_TRUE(store_->Put(K("b"), "1").ok());
  Collector live;
  auto w2 = store_->Watch(prefix_, *store_->CurrentRevision(), live.Callbacks());
  ASSERT_TRUE(w2.ok());
  live.WaitEvents(1);
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(StoreConformance, LeaseExpiryDeletesItsKeysInOneRevision) {
  absl::StatusOr<int64_t> lease = store_->GrantLease(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(store_->Put(K("l/1"), "a", *lease).ok());
  ASSERT_TRUE(store_->Commit({{}, {Op::Put(K("l/2"), "b", *lease)}}).ok());
  ASSERT_TRUE(store_->Put(K("l/keep"), "c").ok());
  EXPECT_EQ((*store_->Get(K("l/1")))->lease, *lease);
  Collector c;
  auto w = store_->Watch(K("l/"), 0, c.Callbacks());
  ASSERT_TRUE(w.ok());
  // No keep-alive: the lease must lapse (etcd rounds TTLs up to its minimum, a few seconds).
  ASSERT_TRUE(Eventually([&] { return store_->Range(K("l/"))->kvs.size() == 1; }, seconds(30)));
  EXPECT_EQ(store_->Range(K("l/"))->kvs[0].key, K("l/keep"));
  auto batches = c.WaitEvents(2);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].size(), 2u);
  EXPECT_EQ(batches[0][0].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(batches[0][0].kv.mod_revision, batches[0][1].kv.mod_revision);
  EXPECT_FALSE(store_->KeepAlive(*lease).ok());
  EXPECT_FALSE(store_->Put(K("l/3"), "late", *lease).ok()) << "a put with an expired lease is refused";
}

TEST_P(StoreConformance, KeepAliveHoldsKeysAndRevokeDropsThem) {
  absl::StatusOr<int64_t> lease = store_->GrantLease(2);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(store_->Put(K("k"), "v", *lease).ok());
  auto end = std::chrono::steady_clock::now() + milliseconds(3000);
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_TRUE(store_->KeepAlive(*lease).ok());
    std::this_thread::sleep_for(milliseconds(300));
  }
  EXPECT_TRUE((*store_->Get(K("k"))).has_value()) << "kept alive past its TTL";
  ASSERT_TRUE(store_->RevokeLease(*lease).ok());
  EXPECT_FALSE((*store_->Get(K("k"))).has_value());
  EXPECT_FALSE(store_->RevokeLease(*lease).ok());
}

TEST_P(StoreConformance, PutWithUnknownLeaseIsRefused) {
  EXPECT_FALSE(store_->Put(K("x"), "v", 0x7eadbeef1234).ok());
  EXPECT_FALSE((*store_->Get(K("x"))).has_value());
  EXPECT_FALSE(store_->GrantLease(0).ok());
}

// Random operations against a plain map: contents, create/mod revisions and versions must agree.
TEST_P(StoreConformance, RandomOperationsMatchASimpleModel) {
  struct ModelKv {
    std::string value;
    int64_t create = 0, mod = 0, version = 0;
  };
  std::map<std::string, ModelKv> model;
  std::mt19937 rng(12345);
  auto key = [&] { return K(absl::StrCat(rng() % 2 ? "x/" : "y/", rng() % 6)); };
  int64_t last = *store_->CurrentRevision();
  auto check_rev = [&](int64_t r, bool changed) {
    if (changed) {
      EXPECT_GT(r, last);
      if (GetParam().exact_revisions) {
        EXPECT_EQ(r, last + 1);
      }
      last = r;
    } else if (GetParam().exact_revisions) {
      EXPECT_EQ(r, last);
    }
  };
  for (int step = 0; step < 300; ++step) {
    int what = rng() % 10;
    if (what < 4) {
      std::string k = key(), v = absl::StrCat("v", rng() % 1000);
      absl::StatusOr<int64_t> r = store_->Put(k, v);
      ASSERT_TRUE(r.ok());
      check_rev(*r, true);
      ModelKv& m = model[k];
      if (m.version == 0) m.create = *r;
      m.value = v;
      m.mod = *r;
      m.version++;
    } else if (what < 6) {
      std::string k = key();
      absl::StatusOr<int64_t> r = store_->Delete(k);
      ASSERT_TRUE(r.ok());
      bool existed = model.erase(k) > 0;
      check_rev(*r, existed);
    } else if (what < 7) {
      std::string p = K(rng() % 2 ? "x/" : "y/");
      absl::StatusOr<TxnResult> r = store_->Commit({{}, {Op::DeletePrefix(p)}});
      ASSERT_TRUE(r.ok());
      bool any = false;
      for (auto it = model.lower_bound(p); it != model.end() && absl::StartsWith(it->first, p);) {
        it = model.erase(it);
        any = true;
      }
      check_rev(r->revision, any);
    } else {
      // A conditional txn: the compare is built to hold or not from the model.
      std::string ck = key(), k1 = key(), k2 = key();
      if (k2 == k1) k2 += "z";
      Compare c;
      bool expect;
      auto it = model.find(ck);
      switch (rng() % 3) {
        case 0:
          c = Compare::Absent(ck);
          expect = it == model.end();
          break;
        case 1: {
          int64_t rev = it == model.end() ? 0 : it->second.mod;
          if (rng() % 2) rev += 1;
          c = Compare::ModRevision(ck, rev);
          expect = (it == model.end() ? 0 : it->second.mod) == rev;
          break;
        }
        default: {
          std::string v = it != model.end() && rng() % 2 ? it->second.value : "nope";
          c = Compare::ValueIs(ck, v);
          expect = it != model.end() && it->second.value == v;
        }
      }
      std::string v = absl::StrCat("t", step);
      absl::StatusOr<TxnResult> r = store_->Commit({{c}, {Op::Put(k1, v), Op::Put(k2, v)}});
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->succeeded, expect) << "step " << step;
      check_rev(r->revision, expect);
      if (expect) {
        for (const std::string& k : {k1, k2}) {
          ModelKv& m = model[k];
          if (m.version == 0) m.create = r->revision;
          m.value = v;
          m.mod = r->revision;
          m.version++;
        }
      }
    }
    if (step % 25 == 0 || step == 299) {
      absl::StatusOr<RangeResult> all = store_->Range(prefix_);
      ASSERT_TRUE(all.ok());
      ASSERT_EQ(all->kvs.size(), model.size()) << "step " << step;
      auto m = model.begin();
      for (const KeyValue& kv : all->kvs) {
        ASSERT_EQ(kv.key, m->first);
        EXPECT_EQ(kv.value, m->second.value);
        EXPECT_EQ(kv.create_revision, m->second.create) << kv.key;
        EXPECT_EQ(kv.mod_revision, m->second.mod) << kv.key;
        EXPECT_EQ(kv.version, m->second.version) << kv.key;
        ++m;
      }
    }
  }
}

}  // namespace rampart::store
