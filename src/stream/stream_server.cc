#include "stream/stream_server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>

#include <set>
#include <thread>

#include <time.h>

#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rampart/agent.grpc.pb.h"
#include "stream/convert.h"
#include "stream/tls.h"

namespace rampart::stream {

namespace pb = ::rampart::agent::v1;
using MsgPtr = std::shared_ptr<const pb::ControllerMessage>;

namespace {

class Session;

struct HostState {
  records::RecordSet rows;  // without a snapshot source only
  size_t row_count = 0;     // with one: rows of the share (from Publish/Reset)
  uint32_t epoch = 0;
  uint64_t revision = 0;
  // history[i] is the delta to revision history_base + 1 + i.
  uint64_t history_base = 0;
  std::deque<MsgPtr> history;
  size_t history_rows = 0;
  uint64_t acked = 0;
  bool published = false;  // Publish/Reset seen (else: created by a registration)
  std::vector<Session*> sessions;
};

// What a session does next, decided under the server lock and done after releasing it (gRPC
// reactions may run inline from Start*/Finish, so those are never called with the lock held).
struct Action {
  MsgPtr write;
  bool finish = false;
  grpc::Status status;
};

// A snapshot split into messages of kSnapshotChunkRows rows (one message when empty).
template <typename It>
std::vector<MsgPtr> SnapshotChunks(It it, It end, uint64_t revision) {
  std::vector<MsgPtr> out;
  do {
    auto m = std::make_shared<::rampart::agent::v1::ControllerMessage>();
    ::rampart::agent::v1::Snapshot* snap = m->mutable_snapshot();
    snap->set_revision(revision);
    for (size_t n = 0; n < kSnapshotChunkRows && it != end; ++n, ++it) ToProto(*it, snap->add_records());
    snap->set_more(it != end);
    out.push_back(std::move(m));
  } while (it != end);
  return out;
}

// An encoded snapshot (records/wire.h) as messages: each chunk is a serialized Snapshot, so it
// becomes ControllerMessage field 1 (`snapshot`) as is. It is kept as an unknown field of an
// otherwise empty ControllerMessage, which protobuf serializes as tag, length, bytes: the same
// bytes as a ControllerMessage with that snapshot set, without parsing or copying the records.
std::vector<MsgPtr> EncodedChunks(records::EncodedSnapshot e) {
  std::vector<MsgPtr> out;
  out.reserve(e.chunks.size());
  for (std::string& c : e.chunks) {
    auto m = std::make_shared<::rampart::agent::v1::ControllerMessage>();
    m->GetReflection()->MutableUnknownFields(m.get())->AddLengthDelimited(1)->swap(c);
    out.push_back(std::move(m));
  }
  return out;
}

int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

class StreamServer::Impl {
 public:
  explicit Impl(StreamServerOptions o) : options_(std::move(o)), epoch_(options_.epoch), ready_(options_.ready) {}

  absl::Status Start();
  void Shutdown();

  uint64_t Publish(const std::string& host, const records::Delta& rows);
  uint64_t PublishExact(const std::string& host, const records::Delta& rows);  // source mode
  uint64_t Reset(const std::string& host, const records::RecordSet& rows);
  uint64_t ResetFromSource(const std::string& host, size_t row_count);
  bool source_mode() const {
    return static_cast<bool>(options_.snapshot_source) || static_cast<bool>(options_.encoded_snapshot_source);
  }
  void Drop(const std::string& host, const std::string& redirect_to);
  void SetEpoch(uint32_t e) {
    std::lock_guard<std::mutex> l(mu_);
    epoch_ = e;
  }
  void SetReady();
  uint64_t Revision(const std::string& host) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hosts_.find(host);
    return it == hosts_.end() ? 0 : it->second.revision;
  }
  uint64_t AckedRevision(const std::string& host) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hosts_.find(host);
    return it == hosts_.end() ? 0 : it->second.acked;
  }
  bool WaitForAck(const std::string& host, uint64_t revision, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> l(mu_);
    return ack_cv_.wait_for(l, timeout, [&] {
      auto it = hosts_.find(host);
      return it != hosts_.end() && it->second.acked >= revision;
    });
  }
  std::optional<records::RecordSet> Share(const std::string& host) const {
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = hosts_.find(host);
      if (it == hosts_.end()) return std::nullopt;
      if (!source_mode()) return it->second.rows;
    }
    records::RecordSet out;
    if (options_.snapshot_source) {
      records::Delta d = options_.snapshot_source(host);
      for (records::Record& r : d.inserts) out.Insert(std::move(r));
      return out;
    }
    for (const std::string& chunk : options_.encoded_snapshot_source(host).chunks) {
      pb::Snapshot snap;
      if (!snap.ParseFromString(chunk)) continue;  // cannot happen: records::SnapshotEncoder wrote it
      for (const pb::Record& r : snap.records()) out.Insert(FromProto(r));
    }
    return out;
  }
  std::vector<HostStreamStatus> Status() const;
  StreamServerCounters counters() const {
    std::lock_guard<std::mutex> l(mu_);
    return counters_;
  }
  std::vector<std::string> addresses() const { return addresses_; }

  // Session callbacks.
  void OnStart(Session* s);
  void OnMessage(Session* s, const pb::AgentMessage& m);
  void OnReadEnd(Session* s);
  void OnWriteDone(Session* s, bool ok);
  void OnDone(Session* s);

 private:
  friend class Session;
  HostState& HostLocked(const std::string& host);
  Action PumpLocked(Session* s);
  void Perform(Session* s, Action a);
  void PumpHostLocked(HostState& h, std::vector<std::pair<Session*, Action>>* actions);
  void QueueSnapshotLocked(Session* s, const HostState& h);
  void FinishLocked(Session* s, MsgPtr last, grpc::Status st);
  void TrimHistoryLocked(HostState& h);
  uint64_t ResetLocked(HostState& h, std::vector<std::pair<Session*, Action>>* actions);
  // Source mode.
  void RequestSnapshotLocked(Session* s);
  void ClearQueueLocked(Session* s);
  void InstallSnapshotLocked(const std::string& host, uint64_t revision, size_t rows,
                             const std::vector<MsgPtr>& chunks, std::vector<std::pair<Session*, Action>>* actions);
  void FetchLoop();
  void ExpireStalledSnapshotsLocked();

  StreamServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Service> service_;
  std::vector<std::string> addresses_;

  mutable std::mutex mu_;
  mutable std::condition_variable ack_cv_;
  std::condition_variable sessions_cv_;
  uint32_t epoch_;
  bool ready_;
  bool shutting_down_ = false;
  std::map<std::string, HostState> hosts_;
  std::set<Session*> sessions_;  // every live session
  StreamServerCounters counters_;
  // Source mode: hosts whose snapshot a stream waits for (each once), the threads that fetch
  // them, and how many fetched snapshots are queued on streams or being fetched.
  std::deque<std::string> fetch_queue_;
  std::set<std::string> fetch_pending_;
  std::condition_variable fetch_cv_;
  std::vector<std::thread> fetchers_;
  int fetching_ = 0;
  int snapshots_in_flight_ = 0;
  std::chrono::steady_clock::time_point last_expire_pass_;  // FetchLoop's last stalled-stream pass
};

namespace {

class Session : public grpc::ServerBidiReactor<pb::AgentMessage, pb::ControllerMessage> {
 public:
  Session(StreamServer::Impl* server, grpc::CallbackServerContext* ctx) : server_(server), ctx_(ctx) {
    peer = ctx->peer();
    server_->OnStart(this);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      server_->OnReadEnd(this);
      return;
    }
    server_->OnMessage(this, in_);
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override { server_->OnWriteDone(this, ok); }
  void OnDone() override {
    server_->OnDone(this);
    delete this;
  }

  grpc::CallbackServerContext* ctx() { return ctx_; }

  // Guarded by the server's mutex.
  std::string host;
  std::string peer;
  bool registered = false;
  uint64_t sent = 0;          // revision of the last share state queued to this agent
  std::deque<MsgPtr> queue;   // snapshot chunks, a redirect or an error: sent before history
  bool want_snapshot = false;   // source mode: waits for the host's snapshot from the source
  bool snapshot_queued = false; // source mode: `queue` holds snapshot chunks (in flight)
  std::chrono::steady_clock::time_point snapshot_since;  // when they were queued
  MsgPtr writing;             // in flight
  bool finishing = false;     // finish once `queue` is written
  bool finished = false;      // Finish called
  grpc::Status finish_status;

 private:
  StreamServer::Impl* server_;
  grpc::CallbackServerContext* ctx_;
  pb::AgentMessage in_;
};

class Service final : public pb::AgentStream::CallbackService {
 public:
  explicit Service(StreamServer::Impl* impl) : impl_(impl) {}
  grpc::ServerBidiReactor<pb::AgentMessage, pb::ControllerMessage>* Connect(grpc::CallbackServerContext* ctx) override {
    return new Session(impl_, ctx);
  }

 private:
  StreamServer::Impl* impl_;
};

MsgPtr ErrorMessage(grpc::StatusCode code, const std::string& text) {
  auto m = std::make_shared<pb::ControllerMessage>();
  m->mutable_error()->set_code(static_cast<int32_t>(code));
  m->mutable_error()->set_message(text);
  return m;
}

}  // namespace

// ---- lifecycle -------------------------------------------------------------------------------

absl::Status StreamServer::Impl::Start() {
  if (options_.listen.empty()) return absl::InvalidArgumentError("stream server: no listen address");
  if (options_.epoch == 0) return absl::InvalidArgumentError("stream server: epoch must be >= 1");
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (options_.tls.enabled()) {
    auto pems = ReadTlsFiles(options_.tls, /*need_own_identity=*/true);
    if (!pems.ok()) return pems.status();
    grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = pems->ca;
    o.pem_key_cert_pairs.push_back({pems->key, pems->cert});
    creds = grpc::SslServerCredentials(o);
  } else {
    creds = grpc::InsecureServerCredentials();
  }
  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder b;
  std::vector<std::unique_ptr<int>> ports;
  for (const std::string& addr : options_.listen) {
    ports.push_back(std::make_unique<int>(0));
    b.AddListeningPort(addr, creds, ports.back().get());
  }
  b.RegisterService(service_.get());
  b.SetMaxReceiveMessageSize(kMaxMessageBytes);
  b.SetMaxSendMessageSize(kMaxMessageBytes);
  // Agents ping idle streams (AgentClientOptions::keepalive): allow it.
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server_ = b.BuildAndStart();
  if (server_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("stream server: cannot listen on ",
                                               absl::StrJoin(options_.listen, ", "),
                                               " (address in use, bad address, or unwritable socket directory?)"));
  }
  for (size_t i = 0; i < options_.listen.size(); ++i) {
    const std::string& addr = options_.listen[i];
    if (absl::StartsWith(addr, "unix:")) {
      addresses_.push_back(addr);
    } else {
      if (*ports[i] == 0) {
        server_->Shutdown();
        return absl::UnavailableError(absl::StrCat("stream server: cannot listen on ", addr));
      }
      const size_t colon = addr.rfind(':');
      addresses_.push_back(absl::StrCat(addr.substr(0, colon), ":", *ports[i]));
    }
  }
  if (source_mode()) {
    for (int i = 0; i < std::max(1, options_.snapshot_threads); ++i) fetchers_.emplace_back([this] { FetchLoop(); });
  }
  return absl::OkStatus();
}

void StreamServer::Impl::Shutdown() {
  std::vector<std::pair<Session*, Action>> actions;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shutting_down_ || server_ == nullptr) return;
    shutting_down_ = true;
    for (Session* s : sessions_) {
      FinishLocked(s, nullptr, grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
      actions.emplace_back(s, PumpLocked(s));
    }
  }
  fetch_cv_.notify_all();
  for (auto& [s, a] : actions) Perform(s, std::move(a));
  // No source call after Shutdown returns (the source's owner may go away).
  for (std::thread& t : fetchers_) t.join();
  fetchers_.clear();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  std::unique_lock<std::mutex> l(mu_);
  sessions_cv_.wait(l, [&] { return sessions_.empty(); });
}

// ---- sessions --------------------------------------------------------------------------------

void StreamServer::Impl::OnStart(Session* s) {
  std::lock_guard<std::mutex> l(mu_);
  sessions_.insert(s);
  ++counters_.streams;
  if (shutting_down_) {
    FinishLocked(s, nullptr, grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
  }
  // Nothing to write yet, and Finish may not be called from the reactor's constructor; a
  // session finished here completes when its first read ends.
}

void StreamServer::Impl::OnMessage(Session* s, const pb::AgentMessage& m) {
  Action a;
  std::vector<std::pair<Session*, Action>> others;
  std::optional<std::pair<std::string, uint64_t>> acked;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (s->finished || s->finishing) {
      a = PumpLocked(s);
    } else if (!s->registered) {
      if (!m.has_register_() || m.register_().host().empty()) {
        ++counters_.refused_protocol;
        FinishLocked(s, ErrorMessage(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be Register with a host name"),
                     grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be Register with a host name"));
        a = PumpLocked(s);
      } else {
        const pb::Register& r = m.register_();
        ++counters_.registrations;
        bool refused = false;
        if (options_.tls.enabled()) {
          std::vector<grpc::string_ref> cns = s->ctx()->auth_context()->FindPropertyValues("x509_common_name");
          const bool match = cns.size() == 1 && std::string(cns[0].data(), cns[0].size()) == r.host();
          if (!match) {
            ++counters_.refused_identity;
            const std::string cn = cns.empty() ? std::string("(none)") : std::string(cns[0].data(), cns[0].size());
            const std::string why = absl::StrCat("agent certificate CN '", cn, "' may not register as host '", r.host(), "'");
            FinishLocked(s, ErrorMessage(grpc::StatusCode::PERMISSION_DENIED, why),
                         grpc::Status(grpc::StatusCode::PERMISSION_DENIED, why));
            refused = true;
          }
        }
        if (!refused && options_.owner_address) {
          std::optional<std::string> owner = options_.owner_address(r.host());
          if (owner.has_value() && !owner->empty()) {
            ++counters_.redirects;
            auto msg = std::make_shared<pb::ControllerMessage>();
            msg->mutable_redirect()->set_address(*owner);
            FinishLocked(s, msg, grpc::Status::OK);
            refused = true;
          }
        }
        if (!refused) {
          s->registered = true;
          s->host = r.host();
          HostState& h = HostLocked(s->host);
          // Another stream of the same host is a leftover of an earlier connection: end it.
          for (Session* old : h.sessions) {
            FinishLocked(old, ErrorMessage(grpc::StatusCode::ABORTED, "replaced by a newer stream of the same host"),
                         grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer stream of the same host"));
          }
          h.sessions.push_back(s);
          const uint64_t held = r.held_revision();
          if (held != 0 && held >= h.history_base && held <= h.revision) {
            s->sent = held;
            ++counters_.resumes;
          } else {
            s->sent = 0;  // snapshot
          }
        }
        a = PumpLocked(s);
        if (s->registered) {
          // Replaced sessions are finished outside the lock below.
          for (Session* old : HostLocked(s->host).sessions) {
            if (old != s) others.emplace_back(old, PumpLocked(old));
          }
        }
      }
    } else if (m.has_ack()) {
      const uint64_t rev = m.ack().revision();
      auto it = hosts_.find(s->host);
      if (it == hosts_.end() || rev > s->sent || rev == 0) {
        ++counters_.stale_acks;
      } else {
        ++counters_.acks;
        if (rev > it->second.acked) {
          it->second.acked = rev;
          acked.emplace(s->host, rev);
        }
      }
    } else {
      ++counters_.refused_protocol;
    }
  }
  if (acked) {
    ack_cv_.notify_all();
    if (options_.on_ack) options_.on_ack(acked->first, acked->second);
  }
  Perform(s, std::move(a));
  for (auto& [o, oa] : others) Perform(o, std::move(oa));
}

void StreamServer::Impl::OnReadEnd(Session* s) {
  // The agent closed its side or the stream broke: finish (after the in-flight write, if any).
  Action a;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!s->finished && !s->finishing) FinishLocked(s, nullptr, grpc::Status::OK);
    a = PumpLocked(s);
  }
  Perform(s, std::move(a));
}

void StreamServer::Impl::OnWriteDone(Session* s, bool ok) {
  Action a;
  {
    std::lock_guard<std::mutex> l(mu_);
    s->writing.reset();
    if (!ok) {
      // The stream is broken; nothing more can be written.
      ClearQueueLocked(s);
      if (!s->finishing && !s->finished) FinishLocked(s, nullptr, grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    }
    a = PumpLocked(s);
  }
  Perform(s, std::move(a));
}

void StreamServer::Impl::OnDone(Session* s) {
  std::lock_guard<std::mutex> l(mu_);
  ClearQueueLocked(s);
  if (s->registered) {
    auto it = hosts_.find(s->host);
    if (it != hosts_.end()) {
      auto& v = it->second.sessions;
      v.erase(std::remove(v.begin(), v.end(), s), v.end());
    }
  }
  sessions_.erase(s);
  sessions_cv_.notify_all();
}

void StreamServer::Impl::FinishLocked(Session* s, MsgPtr last, grpc::Status st) {
  if (s->finishing || s->finished) return;
  ClearQueueLocked(s);
  if (last) s->queue.push_back(std::move(last));
  s->finishing = true;
  s->finish_status = std::move(st);
}

HostState& StreamServer::Impl::HostLocked(const std::string& host) {
  auto [it, inserted] = hosts_.try_emplace(host);
  if (inserted) {
    it->second.epoch = epoch_;
    it->second.revision = MakeRevision(epoch_, 0);
    it->second.history_base = it->second.revision;
  }
  return it->second;
}

void StreamServer::Impl::QueueSnapshotLocked(Session* s, const HostState& h) {
  for (MsgPtr& m : SnapshotChunks(h.rows.rows().begin(), h.rows.rows().end(), h.revision)) s->queue.push_back(std::move(m));
  s->sent = h.revision;
  ++counters_.snapshots_sent;
}

void StreamServer::Impl::ClearQueueLocked(Session* s) {
  s->queue.clear();
  if (s->snapshot_queued) {
    s->snapshot_queued = false;
    --snapshots_in_flight_;
    fetch_cv_.notify_all();
  }
}

void StreamServer::Impl::RequestSnapshotLocked(Session* s) {
  s->want_snapshot = true;
  if (fetch_pending_.insert(s->host).second) {
    fetch_queue_.push_back(s->host);
    fetch_cv_.notify_one();
  }
}

void StreamServer::Impl::InstallSnapshotLocked(const std::string& host, uint64_t revision, size_t rows,
                                               const std::vector<MsgPtr>& chunks,
                                               std::vector<std::pair<Session*, Action>>* actions) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return;  // dropped meanwhile: its streams were ended
  HostState& h = it->second;
  std::vector<Session*> waiting;
  for (Session* s : h.sessions) {
    if (s->want_snapshot && s->registered && !s->finishing && !s->finished) waiting.push_back(s);
  }
  if (waiting.empty()) return;
  if (revision < h.history_base || revision > h.revision) {
    // Published/Reset past what the history keeps while the source ran: ask again.
    ++counters_.source_refetches;
    for (Session* s : waiting) RequestSnapshotLocked(s);
    return;
  }
  // The row count, exactly: the snapshot's plus the net change of the deltas after it (so a
  // ResetFromSource with an estimate is corrected by the first snapshot).
  int64_t count = static_cast<int64_t>(rows);
  for (size_t i = revision - h.history_base; i < h.history.size(); ++i) {
    const pb::Delta& d = h.history[i]->delta();
    count += d.inserts_size() - d.deletes_size();
  }
  h.row_count = static_cast<size_t>(std::max<int64_t>(count, 0));
  for (Session* s : waiting) {
    s->want_snapshot = false;
    s->queue.assign(chunks.begin(), chunks.end());
    s->snapshot_queued = true;
    s->snapshot_since = std::chrono::steady_clock::now();
    ++snapshots_in_flight_;
    s->sent = revision;
    ++counters_.snapshots_sent;
    Action a = PumpLocked(s);
    if (a.write || a.finish) actions->emplace_back(s, std::move(a));
  }
}

void StreamServer::Impl::ExpireStalledSnapshotsLocked() {
  const auto cutoff = std::chrono::steady_clock::now() - options_.stalled_snapshot_after;
  for (Session* s : sessions_) {
    if (s->snapshot_queued && s->snapshot_since < cutoff) {
      s->snapshot_queued = false;  // its chunks stay queued; they just stop holding a slot
      --snapshots_in_flight_;
      ++counters_.snapshots_stalled;
    }
  }
}

void StreamServer::Impl::FetchLoop() {
  const int limit = std::max(1, options_.max_snapshots_in_flight);
  const auto poll = std::clamp<std::chrono::milliseconds>(options_.stalled_snapshot_after / 4,
                                                          std::chrono::milliseconds(10), std::chrono::seconds(1));
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    auto ready = [&] { return shutting_down_ || (!fetch_queue_.empty() && snapshots_in_flight_ + fetching_ < limit); };
    while (!ready()) {
      if (fetch_queue_.empty()) {
        fetch_cv_.wait(l);
      } else {
        // Blocked by the bound: look for stalled streams now and then (a pass visits every
        // session; not on each of the many wake-ups while 1,000 agents register at once).
        fetch_cv_.wait_for(l, poll);
        const auto now = std::chrono::steady_clock::now();
        if (now - last_expire_pass_ >= poll) {
          last_expire_pass_ = now;
          ExpireStalledSnapshotsLocked();
        }
      }
    }
    if (shutting_down_) return;
    std::string host = std::move(fetch_queue_.front());
    fetch_queue_.pop_front();
    fetch_pending_.erase(host);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) continue;
    bool wanted = false;
    for (Session* s : it->second.sessions) wanted |= s->want_snapshot && !s->finishing && !s->finished;
    if (!wanted) continue;
    ++fetching_;
    ++counters_.source_calls;
    l.unlock();
    uint64_t revision;
    size_t rows;
    std::vector<MsgPtr> chunks;
    const int64_t cpu_before = ThreadCpuNs();
    if (options_.encoded_snapshot_source) {
      records::EncodedSnapshot e = options_.encoded_snapshot_source(host);
      revision = e.revision;
      rows = e.rows;
      chunks = EncodedChunks(std::move(e));
    } else {
      records::Delta d = options_.snapshot_source(host);
      revision = d.revision;
      rows = d.inserts.size();
      chunks = SnapshotChunks(d.inserts.begin(), d.inserts.end(), revision);
    }
    const int64_t cpu = ThreadCpuNs() - cpu_before;
    std::vector<std::pair<Session*, Action>> actions;
    l.lock();
    --fetching_;
    counters_.source_cpu_ns += static_cast<uint64_t>(std::max<int64_t>(cpu, 0));
    InstallSnapshotLocked(host, revision, rows, chunks, &actions);
    fetch_cv_.notify_all();
    if (!actions.empty()) {
      l.unlock();
      for (auto& [s, a] : actions) Perform(s, std::move(a));
      l.lock();
    }
  }
}

Action StreamServer::Impl::PumpLocked(Session* s) {
  Action a;
  if (s->writing || s->finished) return a;
  if (s->queue.empty() && !s->finishing && s->registered && !s->want_snapshot) {
    auto it = hosts_.find(s->host);
    if (it != hosts_.end()) {
      const HostState& h = it->second;
      const bool servable = h.published || ready_;
      if (servable && s->sent < h.revision) {
        if (s->sent >= h.history_base) {
          s->queue.push_back(h.history[s->sent - h.history_base]);
          ++s->sent;
          ++counters_.deltas_sent;
        } else if (source_mode()) {
          RequestSnapshotLocked(s);  // a snapshot thread queues it and pumps again
        } else {
          QueueSnapshotLocked(s, h);
        }
      }
    }
  }
  if (!s->queue.empty()) {
    a.write = std::move(s->queue.front());
    s->queue.pop_front();
    s->writing = a.write;
    if (s->queue.empty() && s->snapshot_queued) {
      // The last chunk is with gRPC now: this stream's snapshot no longer counts as in flight.
      s->snapshot_queued = false;
      --snapshots_in_flight_;
      fetch_cv_.notify_all();
    }
    return a;
  }
  if (s->finishing) {
    s->finished = true;
    a.finish = true;
    a.status = s->finish_status;
  }
  return a;
}

void StreamServer::Impl::Perform(Session* s, Action a) {
  if (a.write) {
    s->StartWrite(a.write.get());
  } else if (a.finish) {
    s->Finish(a.status);
  }
}

void StreamServer::Impl::PumpHostLocked(HostState& h, std::vector<std::pair<Session*, Action>>* actions) {
  for (Session* s : h.sessions) {
    Action a = PumpLocked(s);
    if (a.write || a.finish) actions->emplace_back(s, std::move(a));
  }
}

// ---- publishing ------------------------------------------------------------------------------

void StreamServer::Impl::TrimHistoryLocked(HostState& h) {
  // Deltas holding more rows than half the share cost more to keep (and to replay) than the
  // snapshot that replaces them; a host's first big delta is usually such a case.
  const size_t rows = source_mode() ? h.row_count : h.rows.rows().size();
  const size_t max_rows = std::max<size_t>(rows / 2, 64);
  while (!h.history.empty() && (h.history.size() > options_.history_deltas || h.history_rows > max_rows)) {
    const pb::Delta& d = h.history.front()->delta();
    h.history_rows -= static_cast<size_t>(d.deletes_size() + d.inserts_size());
    h.history.pop_front();
    ++h.history_base;
  }
}

uint64_t StreamServer::Impl::PublishExact(const std::string& host, const records::Delta& rows) {
  // The caller's deltas are exact (see snapshot_source): nothing to filter, so the message is
  // built outside the lock, and not at all when the history would drop it at once.
  const size_t changed = rows.deletes.size() + rows.inserts.size();
  bool whole = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& h = HostLocked(host);
    const size_t after = h.row_count - std::min(h.row_count, rows.deletes.size()) + rows.inserts.size();
    // It alone holds more rows than TrimHistoryLocked allows (typically a host's first big
    // delta). A stale answer (a concurrent Publish of the host) costs a snapshot, not correctness.
    whole = changed > std::max<size_t>(after / 2, 64);
  }
  std::shared_ptr<pb::ControllerMessage> m;
  if (changed > 0 && !whole) {
    m = std::make_shared<pb::ControllerMessage>();
    pb::Delta* d = m->mutable_delta();
    for (const records::Record& r : rows.deletes) ToProto(r, d->add_deletes());
    for (const records::Record& r : rows.inserts) ToProto(r, d->add_inserts());
  }
  std::vector<std::pair<Session*, Action>> actions;
  uint64_t revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& h = HostLocked(host);
    h.published = true;
    if (changed == 0) {
      if (ready_ || h.sessions.empty()) return h.revision;
      PumpHostLocked(h, &actions);  // first publish of a host whose agent waits for readiness
    } else {
      h.row_count = h.row_count - std::min(h.row_count, rows.deletes.size()) + rows.inserts.size();
      h.revision += 1;
      if (whole) {
        // As Reset: the host's streams get a snapshot at this revision from the source.
        h.history.clear();
        h.history_rows = 0;
        h.history_base = h.revision;
      } else {
        m->mutable_delta()->set_revision(h.revision);
        h.history.push_back(std::move(m));
        h.history_rows += changed;
        TrimHistoryLocked(h);
      }
      PumpHostLocked(h, &actions);
    }
    revision = h.revision;
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
  return revision;
}

uint64_t StreamServer::Impl::Publish(const std::string& host, const records::Delta& rows) {
  if (source_mode()) return PublishExact(host, rows);
  std::vector<std::pair<Session*, Action>> actions;
  uint64_t revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& h = HostLocked(host);
    h.published = true;
    auto m = std::make_shared<pb::ControllerMessage>();
    pb::Delta* d = m->mutable_delta();
    {
      // Only real changes go out, so the agent's set never counts an inconsistency.
      for (const records::Record& r : rows.deletes) {
        if (h.rows.Erase(r)) ToProto(r, d->add_deletes());
      }
      for (const records::Record& r : rows.inserts) {
        if (h.rows.rows().count(r) == 0) {
          ToProto(r, d->add_inserts());
          h.rows.Insert(r);
        }
      }
    }
    if (d->deletes_size() == 0 && d->inserts_size() == 0) {
      if (ready_ || h.sessions.empty()) return h.revision;
      PumpHostLocked(h, &actions);  // first publish of a host whose agent waits for readiness
      revision = h.revision;
    } else {
      h.revision += 1;
      d->set_revision(h.revision);
      h.history.push_back(std::move(m));
      h.history_rows += static_cast<size_t>(d->deletes_size() + d->inserts_size());
      TrimHistoryLocked(h);
      PumpHostLocked(h, &actions);
      revision = h.revision;
    }
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
  return revision;
}

uint64_t StreamServer::Impl::ResetLocked(HostState& h, std::vector<std::pair<Session*, Action>>* actions) {
  h.published = true;
  if (h.epoch != epoch_ && epoch_ > h.epoch) {
    h.epoch = epoch_;
    h.revision = MakeRevision(epoch_, 1);
  } else {
    h.revision += 1;
  }
  h.history.clear();
  h.history_rows = 0;
  h.history_base = h.revision;
  PumpHostLocked(h, actions);
  return h.revision;
}

uint64_t StreamServer::Impl::Reset(const std::string& host, const records::RecordSet& rows) {
  std::vector<std::pair<Session*, Action>> actions;
  uint64_t revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& h = HostLocked(host);
    if (source_mode()) {
      h.row_count = rows.rows().size();
    } else {
      h.rows = records::RecordSet();
      for (const records::Record& r : rows.rows()) h.rows.Insert(r);
    }
    revision = ResetLocked(h, &actions);
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
  return revision;
}

uint64_t StreamServer::Impl::ResetFromSource(const std::string& host, size_t row_count) {
  if (!source_mode()) {
    std::fprintf(stderr, "StreamServer::ResetFromSource(%s) without a snapshot_source\n", host.c_str());
    std::abort();
  }
  std::vector<std::pair<Session*, Action>> actions;
  uint64_t revision;
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& h = HostLocked(host);
    h.row_count = row_count;
    revision = ResetLocked(h, &actions);
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
  return revision;
}

void StreamServer::Impl::Drop(const std::string& host, const std::string& redirect_to) {
  std::vector<std::pair<Session*, Action>> actions;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return;
    for (Session* s : it->second.sessions) {
      MsgPtr msg;
      if (!redirect_to.empty()) {
        auto m = std::make_shared<pb::ControllerMessage>();
        m->mutable_redirect()->set_address(redirect_to);
        msg = std::move(m);
        ++counters_.redirects;
      }
      FinishLocked(s, msg, grpc::Status::OK);
      s->registered = false;  // no longer fed from the host's state
      actions.emplace_back(s, PumpLocked(s));
    }
    hosts_.erase(it);
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
}

void StreamServer::Impl::SetReady() {
  std::vector<std::pair<Session*, Action>> actions;
  {
    std::lock_guard<std::mutex> l(mu_);
    ready_ = true;
    for (auto& [name, h] : hosts_) PumpHostLocked(h, &actions);
  }
  for (auto& [s, a] : actions) Perform(s, std::move(a));
}

std::vector<HostStreamStatus> StreamServer::Impl::Status() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<HostStreamStatus> out;
  out.reserve(hosts_.size());
  for (const auto& [name, h] : hosts_) {
    HostStreamStatus st;
    st.host = name;
    st.revision = h.revision;
    st.acked = h.acked;
    st.rows = source_mode() ? h.row_count : h.rows.rows().size();
    st.history = h.history.size();
    st.connected = static_cast<int>(h.sessions.size());
    if (!h.sessions.empty()) st.peer = h.sessions.back()->peer;
    out.push_back(std::move(st));
  }
  return out;
}

// ---- public wrapper --------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<StreamServer>> StreamServer::Start(StreamServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status st = impl->Start();
  if (!st.ok()) return st;
  return std::unique_ptr<StreamServer>(new StreamServer(std::move(impl)));
}

StreamServer::StreamServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamServer::~StreamServer() { Shutdown(); }

uint64_t StreamServer::Publish(const std::string& host, const records::Delta& rows) { return impl_->Publish(host, rows); }
uint64_t StreamServer::Reset(const std::string& host, const records::RecordSet& rows) { return impl_->Reset(host, rows); }
uint64_t StreamServer::ResetFromSource(const std::string& host, size_t row_count) {
  return impl_->ResetFromSource(host, row_count);
}
bool StreamServer::source_mode() const { return impl_->source_mode(); }
void StreamServer::Drop(const std::string& host, const std::string& redirect_to) { impl_->Drop(host, redirect_to); }
void StreamServer::SetEpoch(uint32_t epoch) { impl_->SetEpoch(epoch); }
void StreamServer::SetReady() { impl_->SetReady(); }
uint64_t StreamServer::Revision(const std::string& host) const { return impl_->Revision(host); }
uint64_t StreamServer::AckedRevision(const std::string& host) const { return impl_->AckedRevision(host); }
bool StreamServer::WaitForAck(const std::string& host, uint64_t revision, std::chrono::milliseconds timeout) const {
  return impl_->WaitForAck(host, revision, timeout);
}
std::optional<records::RecordSet> StreamServer::Share(const std::string& host) const { return impl_->Share(host); }
std::vector<HostStreamStatus> StreamServer::Status() const { return impl_->Status(); }
StreamServerCounters StreamServer::counters() const { return impl_->counters(); }
std::vector<std::string> StreamServer::addresses() const { return impl_->addresses(); }
void StreamServer::Shutdown() { impl_->Shutdown(); }

}  // namespace rampart::stream
