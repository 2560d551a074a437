// The etcd backend against Debian's real etcd: the conformance suite on a single member, then a
// 3-member cluster that loses its leader while reads, writes and a watch go on.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "store/etcd_store.h"
#include "store/store.h"
#include "test/store/etcd_cluster.h"
#include "test/store/store_conformance.h"

namespace rampart::store {
namespace {

// One single-member cluster for the whole conformance suite (each test uses its own prefix).
EtcdCluster* SingleMember() {
  static EtcdCluster* cluster = [] {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> c = EtcdCluster::Start(1);
    if (!c.ok()) {
      ADD_FAILURE() << c.status();
      return static_cast<EtcdCluster*>(nullptr);
    }
    return c->release();
  }();
  return cluster;
}

// Kills the shared member at exit (static destructors do not run for a leaked pointer).
struct KillAtExit : ::testing::Environment {
  void TearDown() override { delete SingleMember(); }
};
::testing::Environment* const kill_at_exit = ::testing::AddGlobalTestEnvironment(new KillAtExit);

absl::StatusOr<std::unique_ptr<Store>> OpenSingle() {
  if (!EtcdCluster::Available()) return absl::FailedPreconditionError("no /usr/bin/etcd");
  EtcdCluster* c = SingleMember();
  if (c == nullptr) return absl::UnavailableError("etcd did not start");
  return OpenStore(absl::StrCat("etcd://", c->endpoints()[0]));
}

INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformance, ::testing::Values(StoreFactory{"SingleMember", OpenSingle, true}),
                         FactoryName);

TEST(EtcdStore, UnreachableClusterFailsWithAClearError) {
  EtcdOptions o;
  o.endpoints = {"127.0.0.1:1"};
  o.total_timeout = std::chrono::milliseconds(500);
  absl::StatusOr<std::unique_ptr<Store>> s = OpenEtcdStore(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("127.0.0.1:1"), std::string_view::npos) << s.status();
}

TEST(EtcdStore, ThreeMembersSurviveTheLossOfTheLeader) {
  if (!EtcdCluster::Available()) GTEST_SKIP() << "no /usr/bin/etcd";
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EtcdCluster& c = **cluster;
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  // The client starts on the leader, so losing it exercises failover of calls and of the watch.
  EtcdOptions o;
  for (int i = 0; i < 3; ++i) o.endpoints.push_back(c.endpoints()[(leader + i) % 3]);
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenEtcdStore(o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& s = **opened;

  std::mutex mu;
  std::vector<std::vector<WatchEvent>> seen;
  std::atomic<int> errors{0};
  WatchCallbacks cb;
  cb.events = [&](const std::vector<WatchEvent>& evs) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(evs);
  };
  cb.error = [&](const absl::Status&) { ++errors; };
  auto watch = s.Watch("/f/", 0, cb);
  ASSERT_TRUE(watch.ok()) << watch.status();

  std::map<std::string, int64_t> written;  // key -> revision
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<int64_t> r = s.Put(absl::StrCat("/f/before/", i), "v");
    ASSERT_TRUE(r.ok()) << r.status();
    written[absl::StrCat("/f/before/", i)] = *r;
  }
  absl::StatusOr<int64_t> lease = s.GrantLease(2);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(s.Put("/lease/key", "v", *lease).ok());

  c.Kill(leader);

  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<int64_t> r = s.Put(absl::StrCat("/f/after/", i), "v");
    ASSERT_TRUE(r.ok()) << "put " << i << " after the leader died: " << r.status();
    written[absl::StrCat("/f/after/", i)] = *r;
  }
  absl::StatusOr<TxnResult> t =
      s.Commit({{Compare::Absent("/f/txn")}, {Op::Put("/f/txn", "1"), Op::Delete("/f/before/0")}});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->succeeded);
  absl::StatusOr<RangeResult> all = s.Range("/f/");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->kvs.size(), 40u);  // 20 + 20 + txn - deleted
  absl::StatusOr<std::optional<KeyValue>> got = s.Get("/f/after/19");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->mod_revision, written["/f/after/19"]);
  EXPECT_GE(c.Leader(), 0) << "the survivors elected a new leader";

  // The watch resumed on a survivor: every revision once, in order, nothing missing.
  size_t want = 40 + 2;  // puts, then the txn's put and delete
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    size_t n = 0;
    {
      std::lock_guard<std::mutex> l(mu);
      for (const auto& b : seen) n += b.size();
    }
    if (n >= want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    std::lock_guard<std::mutex> l(mu);
    std::map<std::string, int64_t> put_events;
    int64_t last = 0;
    size_t n = 0;
    for (const auto& b : seen) {
      EXPECT_GT(b[0].kv.mod_revision, last);
      last = b[0].kv.mod_revision;
      for (const WatchEvent& ev : b) {
        ++n;
        if (ev.type == WatchEvent::Type::kPut) put_events[ev.kv.key] = ev.kv.mod_revision;
      }
    }
    EXPECT_EQ(n, want);
    for (const auto& [k, rev] : written) EXPECT_EQ(put_events[k], rev) << k;
    EXPECT_EQ(last, t->revision);
  }
  EXPECT_EQ(errors.load(), 0);

  // Leases still expire (the new leader takes them over).
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    absl::StatusOr<std::optional<KeyValue>> k = s.Get("/lease/key");
    gone = k.ok() && !k->has_value();
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(gone) << "the leased key outlived its lease after the failover";
}

}  // namespace
}  // namespace rampart::store
