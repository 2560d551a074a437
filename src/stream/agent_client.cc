#include "stream/agent_client.h"

#include <google/protobuf/arena.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "rampart/agent.grpc.pb.h"
#include "stream/convert.h"
#include "stream/tls.h"

namespace rampart::stream {

namespace pb = ::rampart::agent::v1;

class AgentClient::Impl {
 public:
  Impl(AgentClient* owner, AgentClientOptions options) : owner_(owner), options_(std::move(options)) {
    current_target_ = options_.target;
  }

  absl::Status Start(DeltaCallback cb) {
    if (thread_.joinable()) return absl::FailedPreconditionError("AgentClient: already started");
    if (options_.host.empty()) return absl::InvalidArgumentError("AgentClient: options.host is empty");
    if (absl::StrReplaceAll(options_.target, {{",", ""}, {" ", ""}}).empty()) {
      return absl::InvalidArgumentError("AgentClient: options.target is empty");
    }
    if (!cb) return absl::InvalidArgumentError("AgentClient: no delta callback");
    if (options_.tls.enabled()) {
      auto pems = ReadTlsFiles(options_.tls, /*need_own_identity=*/true);
      if (!pems.ok()) return pems.status();
      pems_ = *std::move(pems);
    }
    cb_ = std::move(cb);
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = false;
    }
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Ack(uint64_t revision) {
    pb::AgentMessage m;
    m.mutable_ack()->set_revision(revision);
    std::lock_guard<std::mutex> l(write_mu_);
    if (writer_ == nullptr) return;
    if (writer_->Write(m)) {
      std::lock_guard<std::mutex> c(mu_);
      ++counters_.acks_sent;
    }
  }

  std::string current_target() const {
    std::lock_guard<std::mutex> l(mu_);
    return current_target_;
  }
  absl::Status last_error() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_error_;
  }
  AgentClientCounters counters() const {
    std::lock_guard<std::mutex> l(mu_);
    return counters_;
  }

 private:
  enum class Outcome { kEnded, kRedirect, kStopped };

  std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
    grpc::ChannelArguments args;
    // One connection per client, even when many clients live in one process (benchmarks).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    const int min_ms = static_cast<int>(std::max<int64_t>(10, options_.min_backoff.count()));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, min_ms);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, min_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(std::max<int64_t>(min_ms, options_.max_backoff.count())));
    if (options_.keepalive.count() > 0) {
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options_.keepalive.count()));
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(std::max<int64_t>(1000, options_.keepalive.count() / 2)));
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (options_.tls.enabled()) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = pems_.ca;
      o.pem_cert_chain = pems_.cert;
      o.pem_private_key = pems_.key;
      creds = grpc::SslCredentials(o);
      args.SetSslTargetNameOverride(options_.server_name);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    return grpc::CreateCustomChannel(target, creds, args);
  }

  void SetError(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    last_error_ = std::move(s);
    ++counters_.errors;
  }

  // One stream: register, read until it ends. Sets `redirect` for kRedirect.
  Outcome RunOnce(const std::string& target, std::string* redirect, bool* established) {
    auto channel = MakeChannel(target);
    auto stub = pb::AgentStream::NewStub(channel);
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return Outcome::kStopped;
      ctx_ = &ctx;
      ++counters_.connect_attempts;
    }
    std::unique_ptr<grpc::ClientReaderWriter<pb::AgentMessage, pb::ControllerMessage>> stream = stub->Connect(&ctx);
    pb::AgentMessage reg;
    reg.mutable_register_()->set_host(options_.host);
    const uint64_t held = force_snapshot_ ? 0 : owner_->held_revision_.load();
    reg.mutable_register_()->set_held_revision(held);
    reg.mutable_register_()->set_agent_version(options_.agent_version);
    force_snapshot_ = false;
    bool ok = stream->Write(reg);
    if (ok) {
      std::lock_guard<std::mutex> l(write_mu_);
      writer_ = stream.get();
    }

    Outcome outcome = Outcome::kEnded;
    bool cancel = false;
    records::Delta snapshot;  // accumulates a multi-message snapshot
    bool in_snapshot = false;
    // Each message is parsed into an arena that the next Read resets: a snapshot's ~10^4 records
    // are freed as a few blocks, not object by object. Freeing them one by one (with malloc
    // consolidating the freed chunks) happened when the first delta after the snapshot was
    // parsed, and delayed its ack by up to ~100 ms in the 1,000-agent bench (docs/PERFORMANCE.md).
    google::protobuf::ArenaOptions arena_options;
    arena_options.start_block_size = 4096;
    arena_options.max_block_size = 1 << 20;
    google::protobuf::Arena arena(arena_options);
    while (ok) {
      arena.Reset();
      pb::ControllerMessage& m = *google::protobuf::Arena::CreateMessage<pb::ControllerMessage>(&arena);
      if (!stream->Read(&m)) break;
      if (!*established) {
        *established = true;
        owner_->connected_.store(true);
        std::lock_guard<std::mutex> l(mu_);
        ++counters_.streams_established;
      }
      if (m.has_snapshot()) {
        const pb::Snapshot& s = m.snapshot();
        if (in_snapshot && s.revision() != snapshot.revision) {
          ProtocolError(absl::StrCat("snapshot chunk of revision ", s.revision(), " inside snapshot ",
                                     snapshot.revision));
          cancel = true;
          break;
        }
        if (!in_snapshot) {
          snapshot = records::Delta{};
          snapshot.snapshot = true;
          snapshot.revision = s.revision();
          in_snapshot = true;
        }
        // The message is ours until the next Read: its strings are moved, not copied.
        for (pb::Record& r : *m.mutable_snapshot()->mutable_records()) snapshot.inserts.push_back(FromProto(std::move(r)));
        if (s.more()) continue;
        in_snapshot = false;
        {
          std::lock_guard<std::mutex> l(mu_);
          ++counters_.snapshots;
          counters_.rows_received += snapshot.inserts.size();
        }
        const uint64_t revision = snapshot.revision;  // the callback may move from `snapshot`
        cb_(snapshot);
        owner_->held_revision_.store(revision);
        snapshot = records::Delta{};
      } else if (m.has_delta()) {
        const pb::Delta& d = m.delta();
        const uint64_t held_now = owner_->held_revision_.load();
        if (in_snapshot || d.revision() != held_now + 1) {
          ProtocolError(absl::StrCat("delta revision ", d.revision(), " does not follow held revision ", held_now));
          cancel = true;
          break;
        }
        records::Delta delta;
        delta.revision = d.revision();
        delta.deletes.reserve(d.deletes_size());
        delta.inserts.reserve(d.inserts_size());
        for (pb::Record& r : *m.mutable_delta()->mutable_deletes()) delta.deletes.push_back(FromProto(std::move(r)));
        for (pb::Record& r : *m.mutable_delta()->mutable_inserts()) delta.inserts.push_back(FromProto(std::move(r)));
        {
          std::lock_guard<std::mutex> l(mu_);
          ++counters_.deltas;
          counters_.rows_received += delta.deletes.size() + delta.inserts.size();
        }
        const uint64_t revision = delta.revision;
        cb_(delta);
        owner_->held_revision_.store(revision);
      } else if (m.has_redirect()) {
        *redirect = m.redirect().address();
        {
          std::lock_guard<std::mutex> l(mu_);
          ++counters_.redirects;
        }
        outcome = redirect->empty() ? Outcome::kEnded : Outcome::kRedirect;
        cancel = true;
        break;
      } else if (m.has_error()) {
        SetError(absl::Status(static_cast<absl::StatusCode>(m.error().code()),
                              absl::StrCat("controller ", target, ": ", m.error().message())));
        cancel = true;
        break;
      }
    }
    {
      std::lock_guard<std::mutex> l(write_mu_);
      writer_ = nullptr;
    }
    if (cancel) ctx.TryCancel();
    grpc::Status st = stream->Finish();
    {
      std::lock_guard<std::mutex> l(mu_);
      ctx_ = nullptr;
      if (*established) ++counters_.disconnects;
      if (!st.ok() && !cancel && !stop_) {
        last_error_ = absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                                   absl::StrCat("controller ", target, ": ", st.error_message()));
        ++counters_.errors;
      }
      if (stop_) outcome = Outcome::kStopped;
    }
    owner_->connected_.store(false);
    return outcome;
  }

  void ProtocolError(std::string what) {
    // The agent's rows no longer follow the stream: start over from a snapshot.
    force_snapshot_ = true;
    std::lock_guard<std::mutex> l(mu_);
    ++counters_.protocol_errors;
    last_error_ = absl::DataLossError(absl::StrCat("stream protocol error: ", what, "; resyncing from a snapshot"));
  }

  void Run() {
    std::mt19937_64 rng(std::hash<std::string>{}(options_.host) ^ reinterpret_cast<uintptr_t>(this));
    auto backoff = options_.min_backoff;
    std::string redirect_target;
    int redirects_in_row = 0;
    const std::vector<std::string> targets = absl::StrSplit(options_.target, ',', absl::SkipWhitespace());
    size_t next_target = 0;
    for (;;) {
      const std::string target = redirect_target.empty() ? targets[next_target % targets.size()] : redirect_target;
      {
        std::lock_guard<std::mutex> l(mu_);
        current_target_ = target;
      }
      std::string redirect;
      bool established = false;
      const Outcome o = RunOnce(target, &redirect, &established);
      if (o == Outcome::kStopped) return;
      if (established) backoff = options_.min_backoff;
      if (o == Outcome::kRedirect && redirects_in_row < kMaxRedirectsInRow) {
        ++redirects_in_row;
        redirect_target = redirect;
        continue;  // straight to the owner
      }
      // Ended, refused, or redirected too often: to the next configured controller after a pause.
      if (redirect_target.empty() || !established) ++next_target;
      redirects_in_row = 0;
      redirect_target.clear();
      std::uniform_real_distribution<double> jitter(0.8, 1.2);
      const auto pause = std::chrono::milliseconds(static_cast<int64_t>(backoff.count() * jitter(rng)));
      {
        std::unique_lock<std::mutex> l(mu_);
        if (cv_.wait_for(l, pause, [&] { return stop_; })) return;
      }
      backoff = std::min(options_.max_backoff, backoff * 2);
    }
  }

  static constexpr int kMaxRedirectsInRow = 4;

  AgentClient* owner_;
  AgentClientOptions options_;
  TlsPems pems_;
  DeltaCallback cb_;
  std::thread thread_;
  bool force_snapshot_ = false;  // client thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  grpc::ClientContext* ctx_ = nullptr;
  std::string current_target_;
  absl::Status last_error_;
  AgentClientCounters counters_;

  std::mutex write_mu_;
  grpc::ClientReaderWriter<pb::AgentMessage, pb::ControllerMessage>* writer_ = nullptr;
};

AgentClient::AgentClient(AgentClientOptions options) {
  held_revision_.store(options.held_revision);
  impl_ = std::make_unique<Impl>(this, std::move(options));
}

AgentClient::~AgentClient() { Stop(); }

absl::Status AgentClient::Start(DeltaCallback on_delta) { return impl_->Start(std::move(on_delta)); }
void AgentClient::Ack(uint64_t revision) { impl_->Ack(revision); }
void AgentClient::Stop() { impl_->Stop(); }
std::string AgentClient::current_target() const { return impl_->current_target(); }
absl::Status AgentClient::last_error() const { return impl_->last_error(); }
AgentClientCounters AgentClient::counters() const { return impl_->counters(); }

}  // namespace rampart::stream
