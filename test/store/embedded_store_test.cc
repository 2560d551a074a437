// The embedded backend: the conformance suite on "mem:" and on a directory, then durability
// (kill -9 loses no acknowledged write), recovery (torn tail, corruption, snapshots) and URLs.
#include "store/embedded_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "store/log_format.h"
#include "store/store.h"
#include "test/store/store_conformance.h"

namespace rampart::store {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "rampart-store-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TempDir& SharedDir() {
  static TempDir* dir = new TempDir();
  return *dir;
}

std::atomic<int> dir_counter{0};

INSTANTIATE_TEST_SUITE_P(
    Embedded, StoreConformance,
    ::testing::Values(StoreFactory{"Mem", [] { return OpenStore("mem:"); }, true},
                      StoreFactory{"File",
                                   [] {
                                     return OpenStore(absl::StrCat("file:", SharedDir().path(), "/c", dir_counter++));
                                   },
                                   true},
                      // Tiny snapshot threshold: the same behaviour while snapshots happen all the time.
                      StoreFactory{"FileSnapshotting",
                                   []() -> absl::StatusOr<std::unique_ptr<Store>> {
                                     EmbeddedOptions o;
                                     o.dir = absl::StrCat(SharedDir().path(), "/s", dir_counter++);
                                     o.snapshot_log_bytes = 512;
                                     auto s = EmbeddedStore::Open(o);
                                     if (!s.ok()) return s.status();
                                     return std::unique_ptr<Store>(*std::move(s));
                                   },
                                   true}),
    FactoryName);

std::unique_ptr<EmbeddedStore> OpenOrDie(const EmbeddedOptions& o) {
  auto s = EmbeddedStore::Open(o);
  if (!s.ok()) {
    ADD_FAILURE() << s.status();
    return nullptr;
  }
  return *std::move(s);
}

std::vector<std::string> Files(const std::string& dir, std::string_view kind) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind(std::string(kind) + "-", 0) == 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- durability ----

// The child: writes k<i> = v<i> for i = first, first+1, ... and reports "i rev\n" on the pipe
// after each Put returned (the acknowledgement). It never stops on its own.
[[noreturn]] void WriterChild(const std::string& dir, int first, int fd) {
  EmbeddedOptions o;
  o.dir = dir;
  o.snapshot_log_bytes = 16 << 10;  // snapshots (and log switches) happen during the run
  auto s = EmbeddedStore::Open(o);
  if (!s.ok()) {
    std::fprintf(stderr, "child: %s\n", std::string(s.status().message()).c_str());
    ::_exit(2);
  }
  for (int i = first;; ++i) {
    absl::StatusOr<int64_t> r = (*s)->Put(absl::StrCat("k", i), absl::StrCat("v", i, std::string(i % 97, 'x')));
    if (!r.ok()) ::_exit(3);
    std::string line = absl::StrCat(i, " ", *r, "\n");
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) ::_exit(4);
  }
}

TEST(EmbeddedDurability, KillNineNeverLosesAnAcknowledgedWrite) {
  TempDir dir;
  std::mt19937 rng(7);
  std::map<int, int64_t> acked;  // i -> revision
  int next = 0;
  for (int round = 0; round < 8; ++round) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(p[0]);
      WriterChild(dir.path(), next, p[1]);
    }
    ::close(p[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 250));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer died on its own, status " << status;
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(p[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(p[0]);
    for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
      std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
      int i;
      int64_t rev;
      if (f.size() != 2 || !absl::SimpleAtoi(f[0], &i) || !absl::SimpleAtoi(f[1], &rev)) continue;  // cut line
      acked[i] = rev;
      next = std::max(next, i + 1);
    }
    EmbeddedOptions o;
    o.dir = dir.path();
    auto s = OpenOrDie(o);
    ASSERT_NE(s, nullptr);
    for (const auto& [i, rev] : acked) {
      auto kv = s->Get(absl::StrCat("k", i));
      ASSERT_TRUE(kv.ok() && kv->has_value()) << "round " << round << ": acknowledged k" << i << " lost";
      EXPECT_EQ((*kv)->mod_revision, rev);
      EXPECT_EQ((*kv)->value, absl::StrCat("v", i, std::string(i % 97, 'x')));
    }
    // A write may have reached the log without its ack reaching us: at most that one more.
    int64_t cur = *s->CurrentRevision();
    EXPECT_GE(cur, acked.empty() ? 0 : acked.rbegin()->second);
    next = static_cast<int>(cur);  // keys k0..k<cur-1> exist (one put per revision)
    EXPECT_EQ(s->Range("k")->kvs.size(), static_cast<size_t>(cur));
  }
  EXPECT_GT(acked.size(), 100u) << "the children wrote too little for the test to mean much";
  EXPECT_FALSE(Files(dir.path(), "snapshot").empty()) << "no snapshot happened during the run";
}

TEST(EmbeddedRecovery, TornTailIsTruncatedAndReported) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  int64_t rev;
  {
    auto s = OpenOrDie(o);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Put(absl::StrCat("k", i), "value").ok());
    rev = *s->CurrentRevision();
    EXPECT_EQ(s->recovery_report(), "");
  }
  std::string log = Files(dir.path(), "log").back();
  uint64_t clean = fs::file_size(log);
  {
    // Half of a record: as if the process died inside write().
    std::string rec;
    logfmt::Record r;
    r.type = logfmt::RecordType::kTxn;
    r.revision = rev + 1;
    r.ops.push_back({logfmt::LogOp::Kind::kPut, "k99", "never acknowledged", 0});
    logfmt::AppendRecord(r, &rec);
    std::ofstream f(log, std::ios::app | std::ios::binary);
    f.write(rec.data(), static_cast<std::streamsize>(rec.size() - 5));
  }
  {
    auto s = OpenOrDie(o);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(*s->CurrentRevision(), rev);
    EXPECT_FALSE((*s->Get("k99")).has_value());
    std::string report = s->recovery_report();
    EXPECT_NE(report.find("torn record"), std::string::npos) << report;
    EXPECT_NE(report.find(absl::StrCat("offset ", clean)), std::string::npos) << report;
    EXPECT_EQ(fs::file_size(log), clean);
    // The store goes on from there.
    EXPECT_EQ(*s->Put("k10", "v"), rev + 1);
  }
  auto s = OpenOrDie(o);
  EXPECT_EQ(s->recovery_report(), "");
  EXPECT_EQ(*s->CurrentRevision(), rev + 1);
}

TEST(EmbeddedRecovery, ZeroFilledTailIsTorn) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  { ASSERT_TRUE(OpenOrDie(o)->Put("a", "1").ok()); }
  std::string log = Files(dir.path(), "log").back();
  { std::ofstream(log, std::ios::app | std::ios::binary) << std::string(4096, '\0'); }
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s->Get("a"))->value, "1");
  EXPECT_NE(s->recovery_report().find("torn"), std::string::npos);
}

TEST(EmbeddedRecovery, CorruptionInTheMiddleIsRefusedWithFileAndOffset) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  { auto s = OpenOrDie(o);
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->Put(absl::StrCat("k", i), "some value").ok()); }
  std::string log = Files(dir.path(), "log").back();
  std::string data;
  {
    std::ifstream f(log, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(f), {});
  }
  logfmt::ScanResult scan = logfmt::ScanRecords(data);
  ASSERT_EQ(scan.records.size(), 21u);
  uint64_t victim = scan.records[7].offset;
  data[victim + logfmt::kFrameHeaderSize + 3] ^= 0x40;  // one bit inside record 7's payload
  { std::ofstream(log, std::ios::binary | std::ios::trunc) << data; }
  auto s = EmbeddedStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  std::string msg(s.status().message());
  EXPECT_NE(msg.find(log), std::string::npos) << msg;
  EXPECT_NE(msg.find(absl::StrCat("byte offset ", victim)), std::string::npos) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  // Refusing must not have "repaired" anything.
  EXPECT_EQ(fs::file_size(log), data.size());
}

TEST(EmbeddedRecovery, SnapshotPlusLogRestartKeepsEverything) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  o.snapshot_log_bytes = 4096;
  std::map<std::string, KeyValue> before;
  int64_t rev, lease;
  {
    auto s = OpenOrDie(o);
    std::mt19937 rng(3);
    for (int i = 0; i < 600; ++i) {
      std::string k = absl::StrCat("key/", rng() % 150);
      if (rng() % 4 == 0) {
        ASSERT_TRUE(s->Delete(k).ok());
      } else {
        ASSERT_TRUE(s->Put(k, absl::StrCat("value ", i)).ok());
      }
    }
    lease = *s->GrantLease(60);
    ASSERT_TRUE(s->Put("leased", "x", lease).ok());
    ASSERT_TRUE(s->Put("key/last", "after the last snapshot").ok());
    RangeResult all = *s->Range("");
    for (const KeyValue& kv : all.kvs) before[kv.key] = kv;
    rev = *s->CurrentRevision();
  }
  EXPECT_GE(Files(dir.path(), "snapshot").size(), 1u);
  EXPECT_LE(Files(dir.path(), "snapshot").size(), 2u) << "old generations are removed";
  EXPECT_LE(Files(dir.path(), "log").size(), 2u);
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->recovery_report(), "");
  EXPECT_EQ(*s->CurrentRevision(), rev);
  auto after = s->Range("")->kvs;
  ASSERT_EQ(after.size(), before.size());
  for (const KeyValue& kv : after) {
    const KeyValue& b = before[kv.key];
    EXPECT_EQ(kv.value, b.value);
    EXPECT_EQ(kv.create_revision, b.create_revision);
    EXPECT_EQ(kv.mod_revision, b.mod_revision);
    EXPECT_EQ(kv.version, b.version);
    EXPECT_EQ(kv.lease, b.lease);
  }
  EXPECT_TRUE(s->KeepAlive(lease).ok()) << "leases survive a restart";
  int64_t fresh = *s->GrantLease(60);
  EXPECT_GT(fresh, lease) << "lease ids are not reused";
  // Revisions logged after the newest snapshot are replayable by a watch.
  int64_t last_mod = before["key/last"].mod_revision;
  std::atomic<int> seen{0};
  WatchCallbacks cb;
  cb.events = [&](const std::vector<WatchEvent>& evs) { seen += static_cast<int>(evs.size()); };
  auto w = s->Watch("key/last", last_mod, cb);
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 200 && seen.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(seen.load(), 1);
}

TEST(EmbeddedRecovery, DamagedNewestSnapshotFallsBackToTheOlderOne) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  int64_t rev;
  {
    auto s = OpenOrDie(o);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Put(absl::StrCat("a", i), "1").ok());
    ASSERT_TRUE(s->SnapshotNow().ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->Put(absl::StrCat("b", i), "2").ok());
    ASSERT_TRUE(s->SnapshotNow().ok());
    ASSERT_TRUE(s->Put("c", "3").ok());
    rev = *s->CurrentRevision();
  }
  auto snaps = Files(dir.path(), "snapshot");
  ASSERT_EQ(snaps.size(), 2u);
  fs::resize_file(snaps.back(), fs::file_size(snaps.back()) - 3);
  auto s = OpenOrDie(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*s->CurrentRevision(), rev);
  EXPECT_EQ(s->Range("")->kvs.size(), 21u);
  EXPECT_NE(s->recovery_report().find(snaps.back()), std::string::npos) << s->recovery_report();
}

TEST(EmbeddedRecovery, DamageInALogThatIsNotTheNewestIsRefused) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  {
    auto s = OpenOrDie(o);
    ASSERT_TRUE(s->Put("a", "1").ok());
    ASSERT_TRUE(s->SnapshotNow().ok());
    ASSERT_TRUE(s->Put("b", "2").ok());
    ASSERT_TRUE(s->Put("c", "3").ok());
    ASSERT_TRUE(s->SnapshotNow().ok());
    ASSERT_TRUE(s->Put("d", "4").ok());
  }
  // Recovery must fall back to the older snapshot and replay both logs; the older log lost its end.
  auto snaps = Files(dir.path(), "snapshot");
  auto logs = Files(dir.path(), "log");
  ASSERT_EQ(snaps.size(), 2u);
  ASSERT_EQ(logs.size(), 2u);
  fs::resize_file(snaps.back(), 10);
  fs::resize_file(logs.front(), fs::file_size(logs.front()) - 4);
  auto s = EmbeddedStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(logs.front()), std::string_view::npos) << s.status();
  EXPECT_NE(s.status().message().find("not the newest"), std::string_view::npos) << s.status();
}

TEST(EmbeddedRecovery, SecondOpenOfADirectoryIsRefused) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  auto first = OpenOrDie(o);
  auto second = EmbeddedStore::Open(o);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string_view::npos) << second.status();
  first.reset();
  EXPECT_TRUE(EmbeddedStore::Open(o).ok()) << "the lock goes with the store";
}

TEST(EmbeddedRecovery, LeasesExpireAfterARestart) {
  TempDir dir;
  EmbeddedOptions o;
  o.dir = dir.path();
  {
    auto s = OpenOrDie(o);
    int64_t lease = *s->GrantLease(1);
    ASSERT_TRUE(s->Put("tmp", "x", lease).ok());
  }
  auto s = OpenOrDie(o);
  EXPECT_TRUE((*s->Get("tmp")).has_value()) << "a restart renews the TTL (as etcd does)";
  for (int i = 0; i < 200 && (*s->Get("tmp")).has_value(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE((*s->Get("tmp")).has_value());
}

TEST(EmbeddedWatch, WatchOlderThanTheHistoryIsCompacted) {
  EmbeddedOptions o;
  o.history_events = 10;
  auto s = OpenOrDie(o);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(s->Put("k", absl::StrCat(i)).ok());
  auto w = s->Watch("k", 2, {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(w.status().message().find("compacted"), std::string_view::npos);
  EXPECT_TRUE(s->Watch("k", 25, {}).ok());
}

TEST(EmbeddedWatch, HistoryIsAlsoBoundedByBytes) {
  EmbeddedOptions o;
  o.history_bytes = 10000;
  auto s = OpenOrDie(o);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(s->Put("k", std::string(1000, 'x')).ok());
  EXPECT_FALSE(s->Watch("k", 15, {}).ok()) << "about 10 revisions of 1 kB fit";
  EXPECT_TRUE(s->Watch("k", 25, {}).ok());
}

TEST(EmbeddedWatch, ClosingTheStoreEndsWatchesWithAnError) {
  auto s = OpenOrDie({});
  std::atomic<int> errors{0};
  WatchCallbacks cb;
  cb.error = [&](const absl::Status&) { ++errors; };
  auto w = s->Watch("", 0, cb);
  ASSERT_TRUE(w.ok());
  s.reset();
  EXPECT_EQ(errors.load(), 1);
}

TEST(OpenStore, Urls) {
  TempDir dir;
  EXPECT_TRUE(OpenStore("mem:").ok());
  auto f = OpenStore(absl::StrCat("file:", dir.path(), "/a"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_NE((*f)->Describe().find(dir.path() + "/a"), std::string::npos);
  EXPECT_TRUE(OpenStore(dir.path() + "/b").ok());
  EXPECT_FALSE(OpenStore("ftp://x").ok());
  EXPECT_FALSE(OpenStore("etcd://").ok());
  EXPECT_FALSE(OpenStore("etcd://nohostport").ok());
  EXPECT_FALSE(OpenStore("file:").ok());
}

}  // namespace
}  // namespace rampart::store
