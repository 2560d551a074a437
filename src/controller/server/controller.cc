#include "controller/server/controller.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "controller/api/nb_objects.h"
#include "controller/logical_stage.h"
#include "controller/physical/physical_stage.h"
#include "controller/server/allocation_guard.h"
#include "controller/server/object_rows_cache.h"
#include "nlog/engine.h"

namespace rampart::controller {

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t Fnv1a(std::string_view a, std::string_view b) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : a) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  h = (h ^ 0xff) * 0x100000001b3ull;  // separator no name contains
  for (char c : b) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return Mix(h);
}

std::string DefaultId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  // Stable across restarts: a restarted controller takes its own membership key over at once
  // instead of waiting for the dead instance's lease to expire.
  return host[0] ? std::string(host) : std::string("controller");
}

void StderrLog(const std::string& line) {
  std::fprintf(stderr, "%s rampart-controller: %s\n",
               absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()).c_str(), line.c_str());
}

}  // namespace

std::string RendezvousOwner(const std::string& host, const std::vector<std::string>& controller_ids) {
  std::string best;
  uint64_t best_w = 0;
  for (const std::string& id : controller_ids) {
    const uint64_t w = Fnv1a(id, host);
    if (best.empty() || w > best_w || (w == best_w && id < best)) {
      best = id;
      best_w = w;
    }
  }
  return best;
}

class Controller::Impl {
 public:
  Impl(store::Store* store, ControllerOptions o)
      : store_(store), options_(std::move(o)), alloc_guard_(store), physical_(&alloc_guard_) {
    if (options_.id.empty()) options_.id = DefaultId();
    if (!options_.log) options_.log = StderrLog;
  }
  ~Impl() { Stop(); }

  absl::Status Start();
  void Stop();
  ControllerStatus Status() const;
  bool WaitApplied(int64_t revision, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> l(mu_);
    return applied_cv_.wait_for(l, timeout, [&] { return applied_revision_ >= revision; });
  }
  std::vector<std::string> agent_addresses() const { return streams_->addresses(); }
  const std::string& id() const { return options_.id; }
  stream::StreamServer& streams() { return *streams_; }

 private:
  // A unit of work for the worker thread.
  struct Item {
    enum class Kind { kNb, kMembers, kReloadNb, kReloadMembers } kind;
    std::vector<store::WatchEvent> events;
    std::chrono::steady_clock::time_point arrived;
  };
  // key -> new value (nullopt = deleted)
  using Changes = std::map<std::string, std::optional<std::string>>;

  absl::StatusOr<uint32_t> AllocateEpoch();
  absl::Status RegisterMember();
  absl::Status LoadMembers(int64_t* revision);
  absl::Status WatchNb(int64_t from);
  absl::Status WatchMembers(int64_t from);
  void Enqueue(Item item);
  void WorkerLoop();
  void KeepAliveLoop();
  // Applies changed objects through both stages; publishes owned hosts when `publish`.
  absl::Status ProcessChanges(const Changes& changes, bool publish, std::map<std::string, uint64_t>* published);
  void HandleNbBatch(std::vector<Item>& items);
  void MarkRestartNeeded(const std::string& reason);
  void ReloadNb();
  void ApplyMembers(std::map<std::string, std::string> members);
  std::string OwnerLocked(const std::string& host) const;
  // The stream server's snapshot source: the host's share and stream revision, consistently.
  records::Delta SnapshotForStream(const std::string& host) const;
  records::EncodedSnapshot EncodedSnapshotForStream(const std::string& host) const;
  // Resets the host's stream to the physical stage's share. REQUIRES: apply_mu_ held exclusively.
  void ResetStreamLocked(const std::string& host);
  std::optional<std::string> OwnerAddress(const std::string& host) const;
  void Log(const std::string& s) { options_.log(s); }

  store::Store* store_;
  ControllerOptions options_;
  AllocationGuard alloc_guard_;  // the physical stage's view of the store (compare-and-swap allocations)
  PhysicalStage physical_;
  std::string restart_needed_;  // worker thread; copied to Status under mu_
  std::unique_ptr<nlog::Engine> engine_;  // worker thread only (after Start)
  ObjectRowCounts object_rows_;  // stored objects -> input rows, counted
  std::unique_ptr<stream::StreamServer> streams_;
  // Held exclusively while physical_ changes and its deltas are published (and while streams_
  // is set up or hosts are Reset), shared by the snapshot source: PhysicalStage::Snapshot may
  // not run during Apply, and the revision it reports must match the rows.
  mutable std::shared_mutex apply_mu_;
  // Writer preference for apply_mu_ (glibc's rwlock prefers readers: snapshot threads taking
  // turns could hold the worker off for as long as agents keep registering). Both sides take
  // the gate to acquire apply_mu_ and drop it once they hold it, so a waiting writer blocks
  // new readers.
  mutable std::mutex apply_gate_;
  std::unique_lock<std::shared_mutex> LockApply() const {
    std::lock_guard<std::mutex> g(apply_gate_);
    return std::unique_lock<std::shared_mutex>(apply_mu_);
  }
  std::shared_lock<std::shared_mutex> LockApplyShared() const {
    std::lock_guard<std::mutex> g(apply_gate_);
    return std::shared_lock<std::shared_mutex>(apply_mu_);
  }
  std::unique_ptr<store::WatchHandle> nb_watch_;
  std::unique_ptr<store::WatchHandle> members_watch_;
  int64_t lease_ = 0;
  std::thread worker_;
  std::thread keepalive_;

  mutable std::mutex mu_;
  mutable std::condition_variable applied_cv_;
  std::condition_variable queue_cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool stopped_ = false;
  int64_t applied_revision_ = 0;
  uint32_t epoch_ = 0;
  uint64_t batches_ = 0, apply_errors_ = 0;
  double last_batch_ms_ = 0, max_batch_ms_ = 0;
  double phase_ms_[4] = {0, 0, 0, 0};  // rows, logical, physical, publish (last batch)
  // Membership: id -> agent address. Read by the stream server's threads (owner_address).
  std::map<std::string, std::string> members_;
  std::vector<std::string> live_ids_;
};

// ---- start / stop ----------------------------------------------------------------------------

absl::StatusOr<uint32_t> Controller::Impl::AllocateEpoch() {
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto kv = store_->Get(kStreamEpochKey);
    if (!kv.ok()) return kv.status();
    uint64_t n = 0;
    int64_t mod = 0;
    if (kv->has_value()) {
      if (!absl::SimpleAtoi((*kv)->value, &n)) {
        return absl::DataLossError(absl::StrCat("store key ", kStreamEpochKey, ": not a number: '", (*kv)->value, "'"));
      }
      mod = (*kv)->mod_revision;
    }
    if (n + 1 > 0xffffffffull) return absl::ResourceExhaustedError("stream epochs exhausted");
    store::Txn txn;
    txn.compares.push_back(store::Compare::ModRevision(kStreamEpochKey, mod));
    txn.ops.push_back(store::Op::Put(kStreamEpochKey, std::to_string(n + 1)));
    auto r = store_->Commit(txn);
    if (!r.ok()) return r.status();
    if (r->succeeded) return static_cast<uint32_t>(n + 1);
  }
  return absl::AbortedError(absl::StrCat("store key ", kStreamEpochKey, ": too much contention"));
}

absl::Status Controller::Impl::RegisterMember() {
  auto lease = store_->GrantLease(options_.lease_ttl_seconds);
  if (!lease.ok()) return lease.status();
  auto put = store_->Put(absl::StrCat(kControllersPrefix, options_.id), options_.advertise, *lease);
  if (!put.ok()) return put.status();
  std::lock_guard<std::mutex> l(mu_);
  lease_ = *lease;
  return absl::OkStatus();
}

absl::Status Controller::Impl::LoadMembers(int64_t* revision) {
  auto r = store_->Range(kControllersPrefix);
  if (!r.ok()) return r.status();
  std::map<std::string, std::string> m;
  for (const auto& kv : r->kvs) m[kv.key.substr(std::strlen(kControllersPrefix))] = kv.value;
  *revision = r->revision;
  std::lock_guard<std::mutex> l(mu_);
  members_ = std::move(m);
  members_[options_.id] = options_.advertise;  // we are alive, whatever the read raced with
  live_ids_.clear();
  for (const auto& [id, addr] : members_) live_ids_.push_back(id);
  return absl::OkStatus();
}

absl::Status Controller::Impl::WatchNb(int64_t from) {
  store::WatchCallbacks cb;
  cb.events = [this](const std::vector<store::WatchEvent>& ev) {
    Enqueue({Item::Kind::kNb, ev, std::chrono::steady_clock::now()});
  };
  cb.error = [this](const absl::Status& st) {
    Log(absl::StrCat("watch of ", std::string(kNbPrefix), " ended: ", st.ToString(), "; reloading"));
    Enqueue({Item::Kind::kReloadNb, {}, std::chrono::steady_clock::now()});
  };
  auto w = store_->Watch(kNbPrefix, from, std::move(cb));
  if (!w.ok()) return w.status();
  nb_watch_ = *std::move(w);
  return absl::OkStatus();
}

absl::Status Controller::Impl::WatchMembers(int64_t from) {
  store::WatchCallbacks cb;
  cb.events = [this](const std::vector<store::WatchEvent>& ev) {
    Enqueue({Item::Kind::kMembers, ev, std::chrono::steady_clock::now()});
  };
  cb.error = [this](const absl::Status& st) {
    Log(absl::StrCat("watch of ", kControllersPrefix, " ended: ", st.ToString(), "; reloading"));
    Enqueue({Item::Kind::kReloadMembers, {}, std::chrono::steady_clock::now()});
  };
  auto w = store_->Watch(kControllersPrefix, from, std::move(cb));
  if (!w.ok()) return w.status();
  members_watch_ = *std::move(w);
  return absl::OkStatus();
}

absl::Status Controller::Impl::Start() {
  if (options_.agents.empty()) return absl::InvalidArgumentError("controller: no agent listen address (--agents)");
  auto prog = CompileLogicalProgram();
  if (!prog.ok()) return prog.status();
  engine_ = std::make_unique<nlog::Engine>(*std::move(prog));

  auto epoch = AllocateEpoch();
  if (!epoch.ok()) return epoch.status();
  epoch_ = *epoch;

  if (absl::Status st = physical_.Load(); !st.ok()) return st;
  if (!engine_->initial_delta().empty()) {
    auto init = physical_.Apply(*engine_, engine_->initial_delta());
    if (!init.ok()) return init.status();
  }

  // The northbound objects as they are now.
  auto nb = store_->Range(kNbPrefix);
  if (!nb.ok()) return nb.status();
  Changes all;
  for (const auto& kv : nb->kvs) all[kv.key] = kv.value;
  if (absl::Status st = ProcessChanges(all, /*publish=*/false, nullptr); !st.ok()) return st;
  applied_revision_ = nb->revision;

  // The stream: not ready until the owned hosts have their shares. The source waits for
  // apply_mu_ until streams_ is set.
  std::unique_lock<std::shared_mutex> apply_lock = LockApply();
  stream::StreamServerOptions so;
  so.listen = options_.agents;
  so.tls = options_.tls;
  so.epoch = epoch_;
  so.history_deltas = options_.history_deltas;
  so.ready = false;
  so.owner_address = [this](const std::string& host) { return OwnerAddress(host); };
  so.on_ack = options_.on_ack;
  if (!options_.stream_keeps_shares) {
    so.snapshot_source = [this](const std::string& host) { return SnapshotForStream(host); };
    if (options_.encoded_snapshots) {
      so.encoded_snapshot_source = [this](const std::string& host) { return EncodedSnapshotForStream(host); };
    }
  }
  auto ss = stream::StreamServer::Start(std::move(so));
  if (!ss.ok()) return ss.status();
  streams_ = *std::move(ss);
  if (options_.advertise.empty()) options_.advertise = streams_->addresses()[0];

  if (absl::Status st = RegisterMember(); !st.ok()) return st;
  int64_t members_rev = 0;
  if (absl::Status st = LoadMembers(&members_rev); !st.ok()) return st;

  size_t owned = 0;
  for (const std::string& host : physical_.Hosts()) {
    bool mine;
    {
      std::lock_guard<std::mutex> l(mu_);
      mine = OwnerLocked(host) == options_.id;
    }
    if (!mine) continue;
    ResetStreamLocked(host);
    ++owned;
  }
  streams_->SetReady();
  apply_lock.unlock();

  if (absl::Status st = WatchMembers(members_rev + 1); !st.ok()) return st;
  if (absl::Status st = WatchNb(nb->revision + 1); !st.ok()) return st;
  worker_ = std::thread([this] { WorkerLoop(); });
  keepalive_ = std::thread([this] { KeepAliveLoop(); });
  Log(absl::StrCat("controller ", options_.id, " started on ", store_->Describe(), ": ", nb->kvs.size(),
                   " objects at revision ", nb->revision, ", epoch ", epoch_, ", ", live_ids_.size(),
                   " live controller(s), owns ", owned, " of ", physical_.Hosts().size(), " hosts; agents at ",
                   absl::StrJoin(streams_->addresses(), ", ")));
  return absl::OkStatus();
}

void Controller::Impl::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  // No callbacks after the handles are gone.
  nb_watch_.reset();
  members_watch_.reset();
  if (worker_.joinable()) worker_.join();
  if (keepalive_.joinable()) keepalive_.join();
  int64_t lease;
  {
    std::lock_guard<std::mutex> l(mu_);
    lease = lease_;
    lease_ = 0;
  }
  // Give the hosts up at once (the others see the key go), then end the streams.
  if (lease != 0) {
    absl::Status st = store_->RevokeLease(lease);
    if (!st.ok()) Log(absl::StrCat("revoking membership lease: ", st.ToString()));
  }
  if (streams_) streams_->Shutdown();
}

void Controller::Impl::KeepAliveLoop() {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(200, options_.lease_ttl_seconds * 1000 / 3));
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    if (queue_cv_.wait_for(l, period, [&] { return stopping_; })) break;
    const int64_t lease = lease_;
    l.unlock();
    absl::Status st = store_->KeepAlive(lease);
    if (!st.ok()) {
      Log(absl::StrCat("membership keep-alive failed (", st.ToString(), "); registering again"));
      st = RegisterMember();
      if (!st.ok()) Log(absl::StrCat("membership registration failed: ", st.ToString()));
    }
    l.lock();
  }
}

// ---- worker ----------------------------------------------------------------------------------

void Controller::Impl::Enqueue(Item item) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_all();
}

void Controller::Impl::WorkerLoop() {
  for (;;) {
    std::vector<Item> items;
    {
      std::unique_lock<std::mutex> l(mu_);
      queue_cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      // Everything that is waiting goes into one batch (one nlog transaction).
      while (!queue_.empty()) {
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Item> nb;
    std::optional<std::map<std::string, std::string>> members;
    bool reload_nb = false, reload_members = false;
    for (Item& it : items) {
      switch (it.kind) {
        case Item::Kind::kNb:
          nb.push_back(std::move(it));
          break;
        case Item::Kind::kReloadNb:
          reload_nb = true;
          break;
        case Item::Kind::kReloadMembers:
          reload_members = true;
          break;
        case Item::Kind::kMembers: {
          if (!members) {
            std::lock_guard<std::mutex> l(mu_);
            members = members_;
          }
          for (const auto& ev : it.events) {
            const std::string id = ev.kv.key.substr(std::strlen(kControllersPrefix));
            if (ev.type == store::WatchEvent::Type::kPut) {
              (*members)[id] = ev.kv.value;
            } else {
              members->erase(id);
            }
          }
          break;
        }
      }
    }
    if (!nb.empty()) HandleNbBatch(nb);
    if (reload_nb) ReloadNb();
    if (reload_members) {
      members_watch_.reset();
      int64_t rev = 0;
      absl::Status st = LoadMembers(&rev);
      if (st.ok()) st = WatchMembers(rev + 1);
      if (!st.ok()) Log(absl::StrCat("reloading membership: ", st.ToString()));
      std::lock_guard<std::mutex> l(mu_);
      members = members_;
    }
    if (members) ApplyMembers(*std::move(members));
  }
}

void Controller::Impl::MarkRestartNeeded(const std::string& reason) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!restart_needed_.empty()) return;
    restart_needed_ = reason;
  }
  Log(absl::StrCat("controller ", options_.id, " must be restarted: ", reason,
                   "; publishing nothing more until then (agents keep what they hold)"));
  if (options_.on_restart_needed) options_.on_restart_needed(reason);
}

void Controller::Impl::HandleNbBatch(std::vector<Item>& items) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!restart_needed_.empty()) return;  // its numbers may differ from the store's: wait for the restart
  }
  Changes changes;
  int64_t last_rev = 0;
  auto first_arrival = items.front().arrived;
  for (const Item& it : items) {
    for (const store::WatchEvent& ev : it.events) {
      if (ev.type == store::WatchEvent::Type::kPut) {
        changes[ev.kv.key] = ev.kv.value;
      } else {
        changes[ev.kv.key] = std::nullopt;
      }
      last_rev = std::max(last_rev, ev.kv.mod_revision);
    }
  }
  std::map<std::string, uint64_t> published;
  absl::Status st = ProcessChanges(changes, /*publish=*/true, &published);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first_arrival).count();
  // Log and report before waking WaitApplied, so a waiter sees the outcome complete.
  if (!st.ok()) {
    Log(absl::StrCat("store revision ", last_rev, ": change refused: ", st.ToString()));
  } else if (!published.empty()) {
    double ph[4];
    {
      std::lock_guard<std::mutex> l(mu_);
      std::copy(std::begin(phase_ms_), std::end(phase_ms_), std::begin(ph));
    }
    Log(absl::StrFormat("store revision %d: %d object(s) changed, published to %d host(s) in %.1f ms "
                        "(rows %.1f, logical %.1f, physical %.1f, publish %.1f)",
                        last_rev, changes.size(), published.size(), ms, ph[0], ph[1], ph[2], ph[3]));
  }
  if (options_.on_published) options_.on_published(last_rev, published);
  {
    std::lock_guard<std::mutex> l(mu_);
    ++batches_;
    if (!st.ok()) ++apply_errors_;
    last_batch_ms_ = ms;
    max_batch_ms_ = std::max(max_batch_ms_, ms);
    applied_revision_ = std::max(applied_revision_, last_rev);
  }
  applied_cv_.notify_all();
}

void Controller::Impl::ReloadNb() {
  nb_watch_.reset();
  auto nb = store_->Range(kNbPrefix);
  if (!nb.ok()) {
    Log(absl::StrCat("reload of ", std::string(kNbPrefix), " failed: ", nb.status().ToString(), "; retrying"));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    Enqueue({Item::Kind::kReloadNb, {}, std::chrono::steady_clock::now()});
    return;
  }
  Changes changes;
  for (const std::string& key : object_rows_.Keys()) changes[key] = std::nullopt;
  for (const auto& kv : nb->kvs) changes[kv.key] = kv.value;
  std::map<std::string, uint64_t> published;
  absl::Status st = ProcessChanges(changes, /*publish=*/true, &published);
  if (!st.ok()) Log(absl::StrCat("reload: ", st.ToString()));
  {
    std::lock_guard<std::mutex> l(mu_);
    applied_revision_ = std::max(applied_revision_, nb->revision);
  }
  applied_cv_.notify_all();
  if (absl::Status w = WatchNb(nb->revision + 1); !w.ok()) Log(absl::StrCat("re-watch: ", w.ToString()));
}

absl::Status Controller::Impl::ProcessChanges(const Changes& changes, bool publish,
                                              std::map<std::string, uint64_t>* published) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); };
  double phase[4] = {0, 0, 0, 0};
  auto t = Clock::now();
  auto record_phases = [&] {
    std::lock_guard<std::mutex> l(mu_);
    std::copy(std::begin(phase), std::end(phase), std::begin(phase_ms_));
  };
  ObjectRowCounts::Result rows = object_rows_.Apply(changes);
  std::vector<std::string>& bad = rows.bad;
  nlog::Transaction& tx = rows.tx;
  nlog::Transaction& undo = rows.undo;
  auto rollback_maps = [&] { object_rows_.Rollback(); };
  absl::Status result = absl::OkStatus();
  if (!bad.empty()) {
    result = absl::InvalidArgumentError(absl::StrCat("stored object(s) ignored: ", absl::StrJoin(bad, "; ")));
  }
  phase[0] = ms_since(t);
  if (tx.empty()) {
    object_rows_.Commit();
    record_phases();
    return result;
  }
  t = Clock::now();
  auto delta = engine_->Apply(tx);
  phase[1] = ms_since(t);
  if (!delta.ok()) {
    rollback_maps();
    return absl::Status(delta.status().code(), absl::StrCat("logical stage: ", delta.status().message()));
  }
  t = Clock::now();
  // Snapshots for the streams wait until the physical stage and the streams agree again.
  std::unique_lock<std::shared_mutex> apply_lock = LockApply();
  // A batch that changes much (the first computation at startup, a whole deployment applied at
  // once) gets no per-host deltas, which would hold every affected host's rows once more: the
  // affected hosts' streams are Reset and their agents get snapshots from the physical stage.
  size_t logical_rows = 0;
  for (const auto& [table, td] : delta->tables) logical_rows += td.inserted.size() + td.deleted.size();
  const bool as_snapshots = !publish || (streams_->source_mode() && logical_rows >= options_.snapshot_batch_rows);
  auto per_host = as_snapshots ? physical_.ApplyForSnapshots(*engine_, *delta) : physical_.Apply(*engine_, *delta);
  phase[2] = ms_since(t);
  if (!per_host.ok()) {
    // The physical stage changed nothing; put the logical stage back and forget its delta.
    auto back = engine_->Apply(undo);
    if (!back.ok()) {
      Log(absl::StrCat("FATAL: logical stage rollback failed: ", back.status().ToString()));
      std::abort();
    }
    rollback_maps();
    if (std::optional<std::string> c = alloc_guard_.conflict()) {
      apply_lock.unlock();
      MarkRestartNeeded(absl::StrCat("another controller persisted different allocations (", *c, ")"));
    }
    return absl::Status(per_host.status().code(), absl::StrCat("physical stage: ", per_host.status().message()));
  }
  t = Clock::now();
  if (publish) {
    for (const auto& [host, d] : *per_host) {
      bool mine;
      {
        std::lock_guard<std::mutex> l(mu_);
        mine = OwnerLocked(host) == options_.id;
      }
      if (!mine) continue;
      const uint64_t rev = as_snapshots ? streams_->ResetFromSource(host, 0) : streams_->Publish(host, d);
      if (published) (*published)[host] = rev;
    }
  }
  phase[3] = ms_since(t);
  record_phases();
  object_rows_.Commit();  // after the phases: a large batch's saved state is freed here, not by the next change
  return result;
}

// ---- membership ------------------------------------------------------------------------------

std::string Controller::Impl::OwnerLocked(const std::string& host) const { return RendezvousOwner(host, live_ids_); }

std::optional<std::string> Controller::Impl::OwnerAddress(const std::string& host) const {
  std::lock_guard<std::mutex> l(mu_);
  const std::string owner = OwnerLocked(host);
  if (owner.empty() || owner == options_.id) return std::nullopt;
  auto it = members_.find(owner);
  if (it == members_.end()) return std::nullopt;
  return it->second;
}

void Controller::Impl::ApplyMembers(std::map<std::string, std::string> members) {
  members[options_.id] = options_.advertise;  // our own key may be briefly gone (re-registering)
  std::vector<std::string> old_ids, new_ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    old_ids = live_ids_;
    for (const auto& [id, addr] : members) new_ids.push_back(id);
    if (new_ids == old_ids && members == members_) return;
  }
  std::set<std::string> hosts;
  for (const std::string& h : physical_.Hosts()) hosts.insert(h);
  for (const auto& s : streams_->Status()) hosts.insert(s.host);
  std::vector<std::string> gained, lost;
  for (const std::string& h : hosts) {
    const bool was = RendezvousOwner(h, old_ids) == options_.id;
    const bool is = RendezvousOwner(h, new_ids) == options_.id;
    if (!was && is) gained.push_back(h);
    if (was && !is) lost.push_back(h);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    members_ = members;
    live_ids_ = new_ids;
  }
  for (const std::string& h : lost) {
    auto it = members.find(RendezvousOwner(h, new_ids));
    streams_->Drop(h, it == members.end() ? std::string() : it->second);
  }
  if (!gained.empty()) {
    // A fresh epoch: revisions of the taken-over hosts stay above the previous owner's.
    auto e = AllocateEpoch();
    if (e.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      epoch_ = *e;
    } else {
      Log(absl::StrCat("epoch for taken-over hosts: ", e.status().ToString()));
    }
    std::unique_lock<std::shared_mutex> apply_lock = LockApply();
    streams_->SetEpoch(epoch_);
    for (const std::string& h : gained) ResetStreamLocked(h);
  }
  Log(absl::StrCat("controllers now [", absl::StrJoin(new_ids, ", "), "]: took over ", gained.size(),
                   " host(s), handed over ", lost.size()));
}

records::Delta Controller::Impl::SnapshotForStream(const std::string& host) const {
  std::shared_lock<std::shared_mutex> l = LockApplyShared();
  // Unsorted, without a RecordSet: the agent's set sorts them anyway.
  records::Delta d = physical_.SnapshotDelta(host);
  d.snapshot = true;
  d.deletes.clear();
  d.revision = streams_->Revision(host);  // the stream's revision, not the physical stage's
  return d;
}

records::EncodedSnapshot Controller::Impl::EncodedSnapshotForStream(const std::string& host) const {
  std::shared_lock<std::shared_mutex> l = LockApplyShared();
  // The stream's revision, not the physical stage's; read under the same lock as the rows.
  return physical_.SnapshotEncoded(host, streams_->Revision(host), stream::kSnapshotChunkRows);
}

void Controller::Impl::ResetStreamLocked(const std::string& host) {
  if (streams_->source_mode()) {
    // No snapshot here just to count its rows (at startup that was one per owned host, under
    // the exclusive lock): the host's first snapshot to an agent sets the count. Until then the
    // history keeps at most 64 rows, which costs nothing: every agent needs a snapshot after a
    // Reset anyway.
    streams_->ResetFromSource(host, 0);
  } else {
    streams_->Reset(host, physical_.Snapshot(host));
  }
}

ControllerStatus Controller::Impl::Status() const {
  ControllerStatus st;
  // The stream server's lock is taken before ours (owner_address), never inside it.
  std::vector<stream::HostStreamStatus> streams = streams_->Status();
  st.stream = streams_->counters();
  st.snapshot_cache_bytes = physical_.SnapshotCacheBytes();
  std::lock_guard<std::mutex> l(mu_);
  st.id = options_.id;
  st.epoch = epoch_;
  st.applied_revision = applied_revision_;
  st.controllers = live_ids_;
  st.batches = batches_;
  st.apply_errors = apply_errors_;
  st.restart_needed = restart_needed_;
  st.allocations_adopted = alloc_guard_.adopted();
  st.last_batch_ms = last_batch_ms_;
  st.max_batch_ms = max_batch_ms_;
  st.last_rows_ms = phase_ms_[0];
  st.last_logical_ms = phase_ms_[1];
  st.last_physical_ms = phase_ms_[2];
  st.last_publish_ms = phase_ms_[3];
  for (const auto& s : streams) {
    ControllerStatus::Host h;
    h.host = s.host;
    h.owner = OwnerLocked(s.host);
    h.owned = h.owner == options_.id;
    h.revision = s.revision;
    h.acked = s.acked;
    h.connected = s.connected;
    h.rows = s.rows;
    st.hosts.push_back(std::move(h));
  }
  return st;
}

// ---- public wrapper --------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Controller>> Controller::Start(store::Store* store, ControllerOptions options) {
  if (store == nullptr) return absl::InvalidArgumentError("controller: no store");
  auto impl = std::make_unique<Impl>(store, std::move(options));
  if (absl::Status st = impl->Start(); !st.ok()) {
    impl->Stop();
    return st;
  }
  return std::unique_ptr<Controller>(new Controller(std::move(impl)));
}

Controller::Controller(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Controller::~Controller() { Stop(); }
void Controller::Stop() { impl_->Stop(); }
ControllerStatus Controller::Status() const { return impl_->Status(); }
bool Controller::WaitApplied(int64_t revision, std::chrono::milliseconds timeout) const {
  return impl_->WaitApplied(revision, timeout);
}
std::vector<std::string> Controller::agent_addresses() const { return impl_->agent_addresses(); }
const std::string& Controller::id() const { return impl_->id(); }
stream::StreamServer& Controller::streams() { return impl_->streams(); }

}  // namespace rampart::controller
