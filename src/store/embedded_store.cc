#include "store/embedded_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "store/log_format.h"

namespace rampart::store {
namespace {

using logfmt::FileKind;
using logfmt::LogOp;
using logfmt::Record;
using logfmt::RecordType;
using logfmt::ScanResult;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxRevisionsPerDelivery = 1000;

std::string ErrnoText() { return std::strerror(errno); }

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat(path, ": write failed: ", ErrnoText()));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat(dir, ": open for fsync failed: ", ErrnoText()));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat(dir, ": fsync failed: ", ErrnoText()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": open failed: ", ErrnoText()));
  std::string data;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": read failed: ", ErrnoText()));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

std::string FileName(std::string_view kind, int64_t rev) { return absl::StrFormat("%s-%020d", kind, rev); }

// A file name "<kind>-<digits>" -> the revision; -1 if it is not one.
int64_t ParseName(std::string_view name, std::string_view kind) {
  if (!name.starts_with(kind)) return -1;
  name.remove_prefix(kind.size());
  if (!name.starts_with('-')) return -1;
  name.remove_prefix(1);
  if (name.empty() || name.size() > 20) return -1;
  for (char c : name) {
    if (c < '0' || c > '9') return -1;
  }
  int64_t v = 0;
  for (char c : name) {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string LogHeader(int64_t base) {
  Record h;
  h.type = RecordType::kFileHeader;
  h.version = logfmt::kFormatVersion;
  h.file_kind = FileKind::kLog;
  h.revision = base;
  std::string out;
  logfmt::AppendRecord(h, &out);
  return out;
}

struct Watcher {
  std::string prefix;
  WatchCallbacks callbacks;
  int64_t next_rev = 0;  // guarded by the store's state_mu_
  std::mutex deliver_mu;  // held while a callback runs
  std::atomic<bool> cancelled{false};
};

thread_local const Watcher* tls_delivering = nullptr;

class EmbeddedWatchHandle : public WatchHandle {
 public:
  explicit EmbeddedWatchHandle(std::shared_ptr<Watcher> w) : w_(std::move(w)) {}
  ~EmbeddedWatchHandle() override {
    if (tls_delivering == w_.get()) {  // destroyed from inside its own callback
      w_->cancelled = true;
      return;
    }
    std::lock_guard<std::mutex> l(w_->deliver_mu);  // waits out a callback in flight
    w_->cancelled = true;
  }

 private:
  std::shared_ptr<Watcher> w_;
};

struct LeaseState {
  int64_t ttl = 0;
  Clock::time_point deadline;
  std::set<std::string> keys;
};

struct HistoryEntry {
  int64_t revision = 0;
  size_t bytes = 0;  // keys and values
  std::vector<WatchEvent> events;
};

class EmbeddedStoreImpl final : public EmbeddedStore {
 public:
  explicit EmbeddedStoreImpl(const EmbeddedOptions& options) : opts_(options) {}
  ~EmbeddedStoreImpl() override;

  absl::Status Init();

  absl::StatusOr<std::optional<KeyValue>> Get(std::string_view key) override;
  absl::StatusOr<RangeResult> Range(std::string_view prefix) override;
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease) override;
  absl::StatusOr<int64_t> Delete(std::string_view key) override;
  absl::StatusOr<TxnResult> Commit(const Txn& txn) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t start_revision,
                                                     WatchCallbacks callbacks) override;
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds) override;
  absl::Status KeepAlive(int64_t lease) override;
  absl::Status RevokeLease(int64_t lease) override;
  absl::StatusOr<int64_t> CurrentRevision() override { return revision_.load(); }
  std::string Describe() const override;
  std::string recovery_report() const override { return report_; }
  absl::Status SnapshotNow() override;

 private:
  bool durable() const { return !opts_.dir.empty(); }
  std::string PathOf(const std::string& name) const { return opts_.dir + "/" + name; }

  // Recovery (Init only, before the threads start).
  absl::Status Recover();
  absl::StatusOr<bool> LoadSnapshot(int64_t rev);  // false: unusable (noted in the report)
  absl::Status ReplayLog(int64_t base, bool last);
  void Note(const std::string& line);

  // Writing. REQUIRES write_mu_ for all of these.
  absl::Status WriteRecord(const Record& r);
  absl::StatusOr<TxnResult> CommitLocked(const Txn& txn);
  absl::Status RevokeLocked(int64_t lease);
  absl::Status SnapshotLocked();
  void MaybeSnapshotLocked();
  absl::StatusOr<int> CreateLog(int64_t base);

  // Applies a record to memory (commit and replay). Takes state_mu_ and lease_mu_.
  void Apply(const Record& r);

  void DispatchLoop();
  void LeaseLoop();

  const EmbeddedOptions opts_;
  std::string report_;

  std::mutex write_mu_;  // serializes writers; order: write_mu_ -> state_mu_ -> lease_mu_
  int lock_fd_ = -1;
  int log_fd_ = -1;
  int64_t log_base_ = 0;
  uint64_t log_bytes_ = 0;
  uint64_t next_snapshot_at_ = 0;
  std::set<int64_t> snapshots_;  // revisions of snapshot files on disk
  int64_t next_lease_id_ = 1;
  absl::Status failed_;  // sticky: a log write failed, memory and disk may disagree

  mutable std::shared_mutex state_mu_;
  std::map<std::string, KeyValue, std::less<>> kv_;  // written with write_mu_ and state_mu_ held
  std::atomic<int64_t> revision_{0};
  std::deque<HistoryEntry> history_;  // revisions history_floor_+1 .. revision_, contiguous
  size_t history_events_ = 0;
  size_t history_bytes_ = 0;
  int64_t history_floor_ = 0;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::condition_variable_any dispatch_cv_;
  bool dispatch_pending_ = false;
  bool stop_ = false;

  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  std::map<int64_t, LeaseState> leases_;
  bool lease_stop_ = false;

  std::thread dispatcher_;
  std::thread lease_thread_;
};

EmbeddedStoreImpl::~EmbeddedStoreImpl() {
  {
    std::lock_guard<std::mutex> l(lease_mu_);
    lease_stop_ = true;
  }
  lease_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  {
    std::unique_lock<std::shared_mutex> l(state_mu_);
    stop_ = true;
  }
  dispatch_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (log_fd_ >= 0) ::close(log_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

absl::Status EmbeddedStoreImpl::Init() {
  if (durable()) {
    if (absl::Status s = Recover(); !s.ok()) return s;
    if (!report_.empty()) std::fprintf(stderr, "rampart store: warning: %s\n", report_.c_str());
  }
  next_snapshot_at_ = opts_.snapshot_log_bytes;
  dispatcher_ = std::thread([this] { DispatchLoop(); });
  lease_thread_ = std::thread([this] { LeaseLoop(); });
  return absl::OkStatus();
}

void EmbeddedStoreImpl::Note(const std::string& line) {
  if (!report_.empty()) report_ += "; ";
  report_ += line;
}

std::string EmbeddedStoreImpl::Describe() const {
  return absl::StrCat("embedded ", durable() ? opts_.dir : std::string("mem:"), " (rev ", revision_.load(), ")");
}

// ---- recovery ----

absl::Status EmbeddedStoreImpl::Recover() {
  const std::string& dir = opts_.dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("store ", dir, ": cannot create the directory: ", ec.message()));
  std::string lock_path = PathOf("LOCK");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return absl::InternalError(absl::StrCat(lock_path, ": open failed: ", ErrnoText()));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", dir, " is in use by another process (", lock_path, " is locked); stop it or use another directory"));
  }

  std::vector<int64_t> snaps;
  std::vector<int64_t> logs;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".tmp")) {  // an unfinished snapshot or log switch
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    if (int64_t r = ParseName(name, "snapshot"); r >= 0) snaps.push_back(r);
    if (int64_t r = ParseName(name, "log"); r >= 0) logs.push_back(r);
  }
  if (ec) return absl::InternalError(absl::StrCat("store ", dir, ": cannot list the directory: ", ec.message()));
  std::sort(snaps.begin(), snaps.end());
  std::sort(logs.begin(), logs.end());
  snapshots_.insert(snaps.begin(), snaps.end());

  int64_t base = -1;
  for (auto it = snaps.rbegin(); it != snaps.rend(); ++it) {
    absl::StatusOr<bool> loaded = LoadSnapshot(*it);
    if (!loaded.ok()) return loaded.status();
    if (*loaded) {
      base = *it;
      break;
    }
  }
  if (base < 0) {
    if (!snaps.empty() && (logs.empty() || logs.front() != 0)) {
      return absl::DataLossError(absl::StrCat("store ", dir, ": no usable snapshot and no log from revision 0 (",
                                              report_, "); restore the directory from a backup"));
    }
    base = 0;
  }
  history_floor_ = base;

  std::vector<int64_t> replay;
  for (int64_t b : logs) {
    if (b >= base) replay.push_back(b);
  }
  if (replay.empty()) {
    // A fresh directory, or a crash between writing a snapshot and starting its log.
    absl::StatusOr<int> fd = CreateLog(base);
    if (!fd.ok()) return fd.status();
    log_fd_ = *fd;
    log_base_ = base;
    log_bytes_ = LogHeader(base).size();
    return absl::OkStatus();
  }
  if (replay.front() != base) {
    return absl::DataLossError(absl::StrCat("store ", dir, ": ", FileName("log", base), " is missing (the log after ",
                                            base == 0 ? std::string("revision 0") : FileName("snapshot", base),
                                            "); restore the directory from a backup"));
  }
  for (size_t i = 0; i < replay.size(); ++i) {
    if (replay[i] != revision_.load()) {
      return absl::DataLossError(absl::StrCat(PathOf(FileName("log", replay[i])), ": starts at revision ", replay[i],
                                              " but the files before it end at revision ", revision_.load()));
    }
    if (absl::Status s = ReplayLog(replay[i], i + 1 == replay.size()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> EmbeddedStoreImpl::LoadSnapshot(int64_t rev) {
  std::string path = PathOf(FileName("snapshot", rev));
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) return data.status();
  ScanResult scan = logfmt::ScanRecords(*data);
  auto unusable = [&](uint64_t offset, std::string_view why) {
    Note(absl::StrCat(path, ": unusable snapshot, ", std::string(why), " at byte offset ", offset, "; trying an older one"));
    return false;
  };
  if (scan.tail != ScanResult::Tail::kClean) return unusable(scan.bad_offset, scan.reason);
  const auto& recs = scan.records;
  if (recs.size() < 3) return unusable(scan.valid_end, "too few records");
  const Record& h = recs[0].record;
  if (h.type != RecordType::kFileHeader || h.file_kind != FileKind::kSnapshot || h.version != logfmt::kFormatVersion ||
      h.revision != rev) {
    return unusable(0, "bad file header");
  }
  const Record& meta = recs[1].record;
  if (meta.type != RecordType::kSnapMeta || meta.revision != rev) return unusable(recs[1].offset, "bad meta record");
  uint64_t expect = 3 + meta.count + meta.count2;
  if (recs.size() != expect) return unusable(scan.valid_end, absl::StrCat(recs.size(), " records, expected ", expect));
  const Record& end = recs.back().record;
  if (end.type != RecordType::kSnapEnd || end.count != recs.size() - 1) {
    return unusable(recs.back().offset, "missing end record");
  }
  std::map<std::string, KeyValue, std::less<>> kv;
  std::map<int64_t, LeaseState> leases;
  Clock::time_point now = Clock::now();
  for (size_t i = 2; i + 1 < recs.size(); ++i) {
    const Record& r = recs[i].record;
    if (i < 2 + meta.count2) {
      if (r.type != RecordType::kSnapLease) return unusable(recs[i].offset, "expected a lease record");
      leases[r.lease_id] = LeaseState{r.ttl, now + std::chrono::seconds(r.ttl), {}};
    } else {
      if (r.type != RecordType::kSnapKv) return unusable(recs[i].offset, "expected a key record");
      if (r.kv.lease != 0) {
        if (auto it = leases.find(r.kv.lease); it != leases.end()) it->second.keys.insert(r.kv.key);
      }
      kv[r.kv.key] = r.kv;
    }
  }
  kv_ = std::move(kv);
  leases_ = std::move(leases);
  revision_ = rev;
  next_lease_id_ = meta.lease_id;
  return true;
}

absl::Status EmbeddedStoreImpl::ReplayLog(int64_t base, bool last) {
  std::string path = PathOf(FileName("log", base));
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) return data.status();
  ScanResult scan = logfmt::ScanRecords(*data);
  if (scan.tail == ScanResult::Tail::kCorrupt) {
    return absl::DataLossError(absl::StrCat(path, ": damaged record at byte offset ", scan.bad_offset, " (", scan.reason,
                                            ") with valid records after it (at byte offset ", scan.next_valid_offset,
                                            "); refusing to open: restore the directory from a backup"));
  }
  if (scan.tail == ScanResult::Tail::kTorn && !last) {
    return absl::DataLossError(absl::StrCat(path, ": damaged record at byte offset ", scan.bad_offset, " (", scan.reason,
                                            ") in a log that is not the newest; refusing to open"));
  }
  bool have_header = false;
  for (const logfmt::ScannedRecord& sr : scan.records) {
    const Record& r = sr.record;
    auto bad = [&](std::string_view why) {
      return absl::DataLossError(
          absl::StrCat(path, ": record at byte offset ", sr.offset, ": ", std::string(why), "; refusing to open"));
    };
    if (!have_header) {
      if (r.type != RecordType::kFileHeader || r.file_kind != FileKind::kLog || r.revision != base) {
        return bad("not a log header for this file");
      }
      if (r.version != logfmt::kFormatVersion) return bad(absl::StrCat("unsupported format version ", r.version));
      have_header = true;
      continue;
    }
    if (r.type == RecordType::kTxn) {
      int64_t want = r.ops.empty() ? revision_.load() : revision_.load() + 1;
      if (r.revision != want) {
        return bad(absl::StrCat("revision ", r.revision, " where ", want, " was expected"));
      }
      Apply(r);
    } else if (r.type == RecordType::kLeaseGrant) {
      Apply(r);
    } else {
      return bad("a snapshot record inside a log");
    }
  }

  int flags = O_WRONLY | O_APPEND | O_CLOEXEC;
  if (!last) return absl::OkStatus();
  uint64_t keep = scan.valid_end;
  if (scan.tail == ScanResult::Tail::kTorn) {
    Note(absl::StrCat(path, ": torn record at byte offset ", scan.bad_offset, " (", scan.reason, "); truncated ",
                      data->size() - keep, " bytes of a write that was never acknowledged"));
  }
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": open failed: ", ErrnoText()));
  if (keep != data->size()) {
    if (::ftruncate(fd, static_cast<off_t>(keep)) != 0 || ::fsync(fd) != 0) {
      ::close(fd);
      return absl::InternalError(absl::StrCat(path, ": truncating the torn tail failed: ", ErrnoText()));
    }
  }
  if (!have_header) {  // the crash tore the header itself
    std::string header = LogHeader(base);
    if (absl::Status s = WriteAll(fd, header, path); !s.ok() || ::fsync(fd) != 0) {
      ::close(fd);
      return s.ok() ? absl::InternalError(absl::StrCat(path, ": fsync failed: ", ErrnoText())) : s;
    }
    keep = header.size();
  }
  log_fd_ = fd;
  log_base_ = base;
  log_bytes_ = keep;
  return absl::OkStatus();
}

// ---- applying ----

void EmbeddedStoreImpl::Apply(const Record& r) {
  std::unique_lock<std::shared_mutex> state(state_mu_);
  std::lock_guard<std::mutex> lease(lease_mu_);
  if (r.type == RecordType::kLeaseGrant) {
    leases_[r.lease_id] = LeaseState{r.ttl, Clock::now() + std::chrono::seconds(r.ttl), {}};
    next_lease_id_ = std::max(next_lease_id_, r.lease_id + 1);
    return;
  }
  std::vector<WatchEvent> events;
  events.reserve(r.ops.size());
  auto detach = [&](const KeyValue& kv) {
    if (kv.lease == 0) return;
    if (auto it = leases_.find(kv.lease); it != leases_.end()) it->second.keys.erase(kv.key);
  };
  for (const LogOp& op : r.ops) {
    if (op.kind == LogOp::Kind::kPut) {
      auto it = kv_.find(op.key);
      if (it == kv_.end()) {
        it = kv_.emplace(op.key, KeyValue{op.key, {}, r.revision, 0, 0, 0}).first;
      } else {
        detach(it->second);
      }
      KeyValue& kv = it->second;
      kv.value = op.value;
      kv.mod_revision = r.revision;
      kv.version += 1;
      kv.lease = op.lease;
      if (op.lease != 0) {
        if (auto l = leases_.find(op.lease); l != leases_.end()) l->second.keys.insert(op.key);
      }
      events.push_back({WatchEvent::Type::kPut, kv});
    } else {
      auto it = kv_.find(op.key);
      if (it == kv_.end()) continue;
      detach(it->second);
      kv_.erase(it);
      WatchEvent ev;
      ev.type = WatchEvent::Type::kDelete;
      ev.kv.key = op.key;
      ev.kv.mod_revision = r.revision;
      events.push_back(std::move(ev));
    }
  }
  for (int64_t id : r.revoked_leases) leases_.erase(id);
  if (r.ops.empty()) return;
  revision_ = r.revision;
  size_t bytes = 0;
  for (const WatchEvent& ev : events) bytes += ev.kv.key.size() + ev.kv.value.size();
  history_events_ += events.size();
  history_bytes_ += bytes;
  history_.push_back({r.revision, bytes, std::move(events)});
  while ((history_events_ > opts_.history_events || history_bytes_ > opts_.history_bytes) && history_.size() > 1) {
    history_events_ -= history_.front().events.size();
    history_bytes_ -= history_.front().bytes;
    history_floor_ = history_.front().revision;
    history_.pop_front();
  }
  dispatch_pending_ = true;
  dispatch_cv_.notify_all();
}

// ---- writing ----

absl::StatusOr<int> EmbeddedStoreImpl::CreateLog(int64_t base) {
  std::string path = PathOf(FileName("log", base));
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": create failed: ", ErrnoText()));
  absl::Status s = WriteAll(fd, LogHeader(base), tmp);
  if (s.ok() && ::fsync(fd) != 0) s = absl::InternalError(absl::StrCat(tmp, ": fsync failed: ", ErrnoText()));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat(path, ": rename failed: ", ErrnoText()));
  }
  if (s.ok()) s = SyncDir(opts_.dir);
  if (!s.ok()) return s;
  fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": open failed: ", ErrnoText()));
  return fd;
}

absl::Status EmbeddedStoreImpl::WriteRecord(const Record& r) {
  if (!durable()) return absl::OkStatus();
  std::string buf;
  logfmt::AppendRecord(r, &buf);
  std::string path = PathOf(FileName("log", log_base_));
  absl::Status s = WriteAll(log_fd_, buf, path);
  if (s.ok() && opts_.sync && ::fdatasync(log_fd_) != 0) {
    s = absl::InternalError(absl::StrCat(path, ": fdatasync failed: ", ErrnoText()));
  }
  if (!s.ok()) {
    failed_ = absl::UnavailableError(absl::StrCat(
        "store ", opts_.dir, " refuses writes after a failed log write (", s.message(), "); reopen the store"));
    return failed_;
  }
  log_bytes_ += buf.size();
  return absl::OkStatus();
}

absl::StatusOr<TxnResult> EmbeddedStoreImpl::Commit(const Txn& txn) {
  std::lock_guard<std::mutex> l(write_mu_);
  return CommitLocked(txn);
}

absl::StatusOr<TxnResult> EmbeddedStoreImpl::CommitLocked(const Txn& txn) {
  if (!failed_.ok()) return failed_;
  // Only writers change kv_, and we are the writer: reading it without state_mu_ is safe.
  for (const Compare& c : txn.compares) {
    auto it = kv_.find(c.key);
    bool holds = c.target == Compare::Target::kModRevision
                     ? (it == kv_.end() ? 0 : it->second.mod_revision) == c.mod_revision
                     : it != kv_.end() && it->second.value == c.value;
    if (!holds) return TxnResult{false, revision_.load()};
  }
  Record rec;
  rec.type = RecordType::kTxn;
  std::set<std::string_view> put_keys;
  std::set<std::string_view> deleted;
  for (const Op& op : txn.ops) {
    if (op.kind == Op::Kind::kPut) {
      if (op.key.empty()) return absl::InvalidArgumentError("txn: put with an empty key");
      if (!put_keys.insert(op.key).second) {
        return absl::InvalidArgumentError(absl::StrCat("txn: key \"", op.key, "\" is put twice"));
      }
      if (op.lease != 0) {
        std::lock_guard<std::mutex> ll(lease_mu_);
        if (!leases_.contains(op.lease)) {
          return absl::NotFoundError(absl::StrCat("txn: put \"", op.key, "\" with lease ", op.lease,
                                                  ", which does not exist (expired or revoked)"));
        }
      }
      rec.ops.push_back({LogOp::Kind::kPut, op.key, op.value, op.lease});
    } else if (op.kind == Op::Kind::kDelete) {
      if (op.key.empty()) return absl::InvalidArgumentError("txn: delete with an empty key");
      if (kv_.contains(op.key) && deleted.insert(op.key).second) rec.ops.push_back({LogOp::Kind::kDelete, op.key, {}, 0});
    } else {
      for (auto it = kv_.lower_bound(op.key); it != kv_.end() && it->first.starts_with(op.key); ++it) {
        if (deleted.insert(it->first).second) rec.ops.push_back({LogOp::Kind::kDelete, it->first, {}, 0});
      }
    }
  }
  // As etcd: a key may not be both put and deleted in one txn (even if it does not exist yet).
  for (const Op& d : txn.ops) {
    if (d.kind == Op::Kind::kPut) continue;
    for (std::string_view k : put_keys) {
      if (d.kind == Op::Kind::kDelete ? k == d.key : k.starts_with(d.key)) {
        return absl::InvalidArgumentError(absl::StrCat("txn: key \"", std::string(k), "\" is both put and deleted"));
      }
    }
  }
  if (rec.ops.empty()) return TxnResult{true, revision_.load()};
  rec.revision = revision_.load() + 1;
  if (absl::Status s = WriteRecord(rec); !s.ok()) return s;
  Apply(rec);
  MaybeSnapshotLocked();
  return TxnResult{true, rec.revision};
}

absl::StatusOr<int64_t> EmbeddedStoreImpl::Put(std::string_view key, std::string_view value, int64_t lease) {
  Txn t;
  t.ops.push_back(Op::Put(std::string(key), std::string(value), lease));
  absl::StatusOr<TxnResult> r = Commit(t);
  if (!r.ok()) return r.status();
  return r->revision;
}

absl::StatusOr<int64_t> EmbeddedStoreImpl::Delete(std::string_view key) {
  Txn t;
  t.ops.push_back(Op::Delete(std::string(key)));
  absl::StatusOr<TxnResult> r = Commit(t);
  if (!r.ok()) return r.status();
  return r->revision;
}

void EmbeddedStoreImpl::MaybeSnapshotLocked() {
  if (!durable() || log_bytes_ < next_snapshot_at_) return;
  if (absl::Status s = SnapshotLocked(); !s.ok()) {
    // The log still holds everything; try again after another threshold's worth of writes.
    std::fprintf(stderr, "rampart store: warning: snapshot failed: %s\n", std::string(s.message()).c_str());
    next_snapshot_at_ = log_bytes_ + opts_.snapshot_log_bytes;
  }
}

absl::Status EmbeddedStoreImpl::SnapshotNow() {
  std::lock_guard<std::mutex> l(write_mu_);
  if (!durable()) return absl::OkStatus();
  if (!failed_.ok()) return failed_;
  return SnapshotLocked();
}

absl::Status EmbeddedStoreImpl::SnapshotLocked() {
  const int64_t rev = revision_.load();
  const std::string path = PathOf(FileName("snapshot", rev));
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat(tmp, ": create failed: ", ErrnoText()));
  absl::Status s;
  std::string buf;
  uint64_t records = 0;
  auto add = [&](const Record& r) {
    logfmt::AppendRecord(r, &buf);
    ++records;
    if (buf.size() >= (1u << 20) && s.ok()) {
      s = WriteAll(fd, buf, tmp);
      buf.clear();
    }
  };
  {
    Record h;
    h.type = RecordType::kFileHeader;
    h.version = logfmt::kFormatVersion;
    h.file_kind = FileKind::kSnapshot;
    h.revision = rev;
    add(h);
    // kv_ changes only under write_mu_, which we hold; leases_ keys too, deadlines do not matter.
    std::lock_guard<std::mutex> ll(lease_mu_);
    Record meta;
    meta.type = RecordType::kSnapMeta;
    meta.revision = rev;
    meta.lease_id = next_lease_id_;
    meta.count = kv_.size();
    meta.count2 = leases_.size();
    add(meta);
    for (const auto& [id, lease] : leases_) {
      Record r;
      r.type = RecordType::kSnapLease;
      r.lease_id = id;
      r.ttl = lease.ttl;
      add(r);
    }
  }
  for (const auto& [key, kv] : kv_) {
    Record r;
    r.type = RecordType::kSnapKv;
    r.kv = kv;
    add(r);
  }
  Record end;
  end.type = RecordType::kSnapEnd;
  end.count = records;
  add(end);
  if (s.ok()) s = WriteAll(fd, buf, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = absl::InternalError(absl::StrCat(tmp, ": fsync failed: ", ErrnoText()));
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat(path, ": rename failed: ", ErrnoText()));
  }
  if (s.ok()) s = SyncDir(opts_.dir);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  snapshots_.insert(rev);
  // The new log. Until it exists, recovery uses the snapshot and the old log's tail is empty.
  absl::StatusOr<int> new_fd = CreateLog(rev);
  if (!new_fd.ok()) {
    // Without log-R, recovery would take snapshot-R and miss what we append to the old log from
    // now on: take the snapshot back. If even that fails, stop accepting writes.
    if (::unlink(path.c_str()) != 0 || !SyncDir(opts_.dir).ok()) {
      failed_ = absl::UnavailableError(absl::StrCat("store ", opts_.dir, " refuses writes: starting ",
                                                    FileName("log", rev), " failed (", new_fd.status().message(),
                                                    ") and ", path, " could not be removed; reopen the store"));
    }
    snapshots_.erase(rev);
    return new_fd.status();
  }
  ::close(log_fd_);
  log_fd_ = *new_fd;
  log_base_ = rev;
  log_bytes_ = LogHeader(rev).size();
  next_snapshot_at_ = opts_.snapshot_log_bytes;
  // Keep this snapshot and the one before it (with the logs from there): if the newest turns out
  // unreadable, recovery falls back one generation.
  int64_t keep_from = rev;
  if (snapshots_.size() >= 2) keep_from = *std::prev(snapshots_.end(), 2);
  std::error_code ec;
  for (auto it = snapshots_.begin(); it != snapshots_.end();) {
    if (*it < keep_from) {
      std::filesystem::remove(PathOf(FileName("snapshot", *it)), ec);
      it = snapshots_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& entry : std::filesystem::directory_iterator(opts_.dir, ec)) {
    int64_t b = ParseName(entry.path().filename().string(), "log");
    if (b >= 0 && b < keep_from) std::filesystem::remove(entry.path(), ec);
  }
  return SyncDir(opts_.dir);
}

// ---- reads ----

absl::StatusOr<std::optional<KeyValue>> EmbeddedStoreImpl::Get(std::string_view key) {
  std::shared_lock<std::shared_mutex> l(state_mu_);
  auto it = kv_.find(key);
  if (it == kv_.end()) return std::optional<KeyValue>();
  return std::optional<KeyValue>(it->second);
}

absl::StatusOr<RangeResult> EmbeddedStoreImpl::Range(std::string_view prefix) {
  std::shared_lock<std::shared_mutex> l(state_mu_);
  RangeResult out;
  out.revision = revision_.load();
  for (auto it = kv_.lower_bound(prefix); it != kv_.end() && it->first.starts_with(prefix); ++it) {
    out.kvs.push_back(it->second);
  }
  return out;
}

// ---- watches ----

absl::StatusOr<std::unique_ptr<WatchHandle>> EmbeddedStoreImpl::Watch(std::string_view prefix, int64_t start_revision,
                                                                      WatchCallbacks callbacks) {
  if (start_revision < 0) return absl::InvalidArgumentError("watch: negative start revision");
  auto w = std::make_shared<Watcher>();
  w->prefix = std::string(prefix);
  w->callbacks = std::move(callbacks);
  std::unique_lock<std::shared_mutex> l(state_mu_);
  if (start_revision == 0) {
    w->next_rev = revision_.load() + 1;
  } else if (start_revision <= history_floor_) {
    return absl::OutOfRangeError(absl::StrCat("watch from revision ", start_revision,
                                              ": compacted (the oldest revision still kept is ", history_floor_ + 1,
                                              "); read the current state and watch from its revision"));
  } else {
    w->next_rev = start_revision;
  }
  watchers_.push_back(w);
  dispatch_pending_ = true;
  dispatch_cv_.notify_all();
  return std::unique_ptr<WatchHandle>(new EmbeddedWatchHandle(w));
}

void EmbeddedStoreImpl::DispatchLoop() {
  struct Delivery {
    std::shared_ptr<Watcher> w;
    std::vector<std::vector<WatchEvent>> batches;
    absl::Status error;
  };
  std::unique_lock<std::shared_mutex> l(state_mu_);
  while (true) {
    dispatch_cv_.wait(l, [&] { return stop_ || dispatch_pending_; });
    if (stop_) break;
    dispatch_pending_ = false;
    std::vector<Delivery> out;
    const int64_t rev = revision_.load();
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      const std::shared_ptr<Watcher>& w = *it;
      if (w->cancelled) {
        it = watchers_.erase(it);
        continue;
      }
      if (w->next_rev > rev) {
        ++it;
        continue;
      }
      Delivery d{w, {}, absl::OkStatus()};
      if (w->next_rev <= history_floor_) {  // a slow watcher overtaken by the history limit
        d.error = absl::OutOfRangeError(absl::StrCat("watch at revision ", w->next_rev,
                                                     ": compacted while the watcher fell behind; re-read and re-watch"));
        out.push_back(std::move(d));
        it = watchers_.erase(it);
        continue;
      }
      int64_t last = std::min(rev, w->next_rev + kMaxRevisionsPerDelivery - 1);
      for (int64_t r = w->next_rev; r <= last; ++r) {
        const HistoryEntry& h = history_[static_cast<size_t>(r - history_floor_ - 1)];
        std::vector<WatchEvent> batch;
        for (const WatchEvent& ev : h.events) {
          if (ev.kv.key.starts_with(w->prefix)) batch.push_back(ev);
        }
        if (!batch.empty()) d.batches.push_back(std::move(batch));
      }
      w->next_rev = last + 1;
      if (last < rev) dispatch_pending_ = true;
      if (!d.batches.empty()) out.push_back(std::move(d));
      ++it;
    }
    l.unlock();
    for (Delivery& d : out) {
      std::lock_guard<std::mutex> dl(d.w->deliver_mu);
      tls_delivering = d.w.get();
      for (const auto& batch : d.batches) {
        if (d.w->cancelled) break;
        if (d.w->callbacks.events) d.w->callbacks.events(batch);
      }
      if (!d.error.ok() && !d.w->cancelled && d.w->callbacks.error) d.w->callbacks.error(d.error);
      tls_delivering = nullptr;
    }
    l.lock();
  }
  std::vector<std::shared_ptr<Watcher>> left = std::move(watchers_);
  watchers_.clear();
  l.unlock();
  for (const auto& w : left) {
    std::lock_guard<std::mutex> dl(w->deliver_mu);
    tls_delivering = w.get();
    if (!w->cancelled && w->callbacks.error) w->callbacks.error(absl::CancelledError("store closed"));
    tls_delivering = nullptr;
  }
}

// ---- leases ----

absl::StatusOr<int64_t> EmbeddedStoreImpl::GrantLease(int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return absl::InvalidArgumentError(absl::StrCat("lease: ttl ", ttl_seconds, " is not positive"));
  std::lock_guard<std::mutex> l(write_mu_);
  if (!failed_.ok()) return failed_;
  Record r;
  r.type = RecordType::kLeaseGrant;
  r.lease_id = next_lease_id_;
  r.ttl = ttl_seconds;
  if (absl::Status s = WriteRecord(r); !s.ok()) return s;
  Apply(r);
  lease_cv_.notify_all();
  MaybeSnapshotLocked();
  return r.lease_id;
}

absl::Status EmbeddedStoreImpl::KeepAlive(int64_t lease) {
  std::lock_guard<std::mutex> l(lease_mu_);
  auto it = leases_.find(lease);
  if (it == leases_.end()) return absl::NotFoundError(absl::StrCat("lease ", lease, " not found (expired or revoked)"));
  it->second.deadline = Clock::now() + std::chrono::seconds(it->second.ttl);
  return absl::OkStatus();
}

absl::Status EmbeddedStoreImpl::RevokeLease(int64_t lease) {
  std::lock_guard<std::mutex> l(write_mu_);
  return RevokeLocked(lease);
}

absl::Status EmbeddedStoreImpl::RevokeLocked(int64_t lease) {
  if (!failed_.ok()) return failed_;
  Record r;
  r.type = RecordType::kTxn;
  {
    std::lock_guard<std::mutex> ll(lease_mu_);
    auto it = leases_.find(lease);
    if (it == leases_.end()) return absl::NotFoundError(absl::StrCat("lease ", lease, " not found (expired or revoked)"));
    for (const std::string& k : it->second.keys) r.ops.push_back({LogOp::Kind::kDelete, k, {}, 0});
  }
  r.revoked_leases.push_back(lease);
  r.revision = r.ops.empty() ? revision_.load() : revision_.load() + 1;
  if (absl::Status s = WriteRecord(r); !s.ok()) return s;
  Apply(r);
  MaybeSnapshotLocked();
  return absl::OkStatus();
}

void EmbeddedStoreImpl::LeaseLoop() {
  std::unique_lock<std::mutex> l(lease_mu_);
  while (!lease_stop_) {
    Clock::time_point now = Clock::now();
    Clock::time_point next = now + std::chrono::seconds(1);
    std::vector<int64_t> expired;
    for (const auto& [id, lease] : leases_) {
      if (lease.deadline <= now) {
        expired.push_back(id);
      } else {
        next = std::min(next, lease.deadline);
      }
    }
    if (expired.empty()) {
      lease_cv_.wait_until(l, next);
      continue;
    }
    l.unlock();
    bool failed = false;
    for (int64_t id : expired) {
      std::lock_guard<std::mutex> wl(write_mu_);
      {
        std::lock_guard<std::mutex> ll(lease_mu_);
        auto it = leases_.find(id);
        if (it == leases_.end() || it->second.deadline > Clock::now()) continue;  // revoked or kept alive
      }
      if (absl::Status s = RevokeLocked(id); !s.ok()) {
        failed = true;
        std::fprintf(stderr, "rampart store: warning: expiring lease %lld: %s\n", static_cast<long long>(id),
                     std::string(s.message()).c_str());
      }
    }
    l.lock();
    if (failed) lease_cv_.wait_for(l, std::chrono::seconds(1));  // do not spin on a dead log
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const EmbeddedOptions& options) {
  auto store = std::make_unique<EmbeddedStoreImpl>(options);
  if (absl::Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<EmbeddedStore>(std::move(store));
}

}  // namespace rampart::store
