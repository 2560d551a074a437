#include "store/etcd_store.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "etcd/rpc.grpc.pb.h"

namespace rampart::store {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kRangePage = 5000;

struct Member {
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
};

// What the store and its watch threads share (a watch may outlive the store's object briefly).
struct Cluster {
  EtcdOptions options;
  std::vector<Member> members;
  std::atomic<size_t> current{0};  // the member that answered last

  std::string Names() const {
    std::vector<std::string> v;
    for (const Member& m : members) v.push_back(m.endpoint);
    return absl::StrJoin(v, ",");
  }
};

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

absl::Status ToAbsl(const grpc::Status& s, std::string_view what, std::string_view endpoint) {
  if (s.ok()) return absl::OkStatus();
  std::string hint;
  // etcd's default limits are small for a controller's applies: say which server flag to raise.
  if (s.error_message().find("too many operations in txn") != std::string::npos) {
    hint = " (raise the etcd servers' --max-txn-ops, default 128)";
  } else if (s.error_message().find("request is too large") != std::string::npos) {
    hint = " (raise the etcd servers' --max-request-bytes, default 1.5 MiB)";
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat("etcd ", std::string(what), " (", std::string(endpoint), "): ", s.error_message(), hint));
}

// Runs `fn(member, context)` on the current member, moving on to the next one when a member is
// unreachable or too slow, until one answers or the call's total time is spent.
template <typename Fn>
absl::Status CallWithFailover(Cluster& c, std::string_view what, Fn fn) {
  const Clock::time_point end = Clock::now() + c.options.total_timeout;
  const size_t n = c.members.size();
  size_t start = c.current.load();
  grpc::Status last;
  std::string last_endpoint;
  for (size_t attempt = 0;; ++attempt) {
    size_t idx = (start + attempt) % n;
    Member& m = c.members[idx];
    grpc::ClientContext ctx;
    auto budget = std::min<Clock::duration>(c.options.call_timeout, end - Clock::now());
    ctx.set_deadline(std::chrono::system_clock::now() + budget);
    last = fn(m, ctx);
    last_endpoint = m.endpoint;
    if (last.ok()) {
      c.current = idx;
      return absl::OkStatus();
    }
    if (!Retryable(last)) return ToAbsl(last, what, m.endpoint);
    if (Clock::now() >= end) break;
    // A whole round failed (an election, say): pause before the next one.
    if ((attempt + 1) % n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat("etcd ", std::string(what), ": no member of ", c.Names(),
                                             " answered; last error from ", last_endpoint, ": ",
                                             last.error_message()));
}

// etcd's prefix convention: [prefix, PrefixEnd(prefix)); "\0" as an end means "no end".
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyValue FromProto(const mvccpb::KeyValue& p) {
  return KeyValue{p.key(), p.value(), p.create_revision(), p.mod_revision(), p.version(), p.lease()};
}

thread_local const void* tls_watch_thread = nullptr;

// One etcd watch: a thread holding a bidi Watch stream, re-established on another member after a
// failure, from the revision after the last one delivered.
class EtcdWatch : public WatchHandle {
 public:
  EtcdWatch(std::shared_ptr<Cluster> cluster, std::string prefix, int64_t start, WatchCallbacks cb)
      : state_(std::make_shared<State>()) {
    state_->cluster = std::move(cluster);
    state_->prefix = std::move(prefix);
    state_->next_rev = start;
    state_->callbacks = std::move(cb);
  }

  // Starts the thread and waits until the first stream is set up (or fails for good).
  absl::Status Start() {
    std::shared_ptr<State> st = state_;
    thread_ = std::thread([st] { Run(st); });
    std::unique_lock<std::mutex> l(st->mu);
    st->cv.wait(l, [&] { return st->started; });
    return st->start_status;
  }

  ~EtcdWatch() override {
    {
      std::lock_guard<std::mutex> l(state_->mu);
      state_->cancelled = true;
      if (state_->ctx != nullptr) state_->ctx->TryCancel();
    }
    state_->cv.notify_all();
    if (!thread_.joinable()) return;
    if (tls_watch_thread == state_.get()) {
      thread_.detach();  // destroyed from inside its own callback: the thread ends after it returns
    } else {
      thread_.join();
    }
  }

 private:
  struct State {
    std::shared_ptr<Cluster> cluster;
    std::string prefix;
    int64_t next_rev = 0;  // only the thread touches it after Start
    WatchCallbacks callbacks;
    std::mutex mu;
    std::condition_variable cv;
    bool cancelled = false;             // guarded by mu
    grpc::ClientContext* ctx = nullptr;  // guarded by mu
    bool started = false;               // guarded by mu
    absl::Status start_status;          // guarded by mu
  };

  static void Deliver(State& st, const std::vector<WatchEvent>& batch) {
    {
      std::lock_guard<std::mutex> l(st.mu);
      if (st.cancelled) return;
    }
    if (st.callbacks.events) st.callbacks.events(batch);
  }

  static void Finish(State& st, const absl::Status& why) {
    bool report = false;
    {
      std::lock_guard<std::mutex> l(st.mu);
      if (!st.started) {
        st.started = true;
        st.start_status = why;
      } else {
        report = !st.cancelled;
      }
    }
    st.cv.notify_all();
    if (report && st.callbacks.error) st.callbacks.error(why);
  }

  static void Run(std::shared_ptr<State> sp) {
    State& st = *sp;
    tls_watch_thread = sp.get();
    Cluster& c = *st.cluster;
    const size_t n = c.members.size();
    size_t idx = c.current.load();
    Clock::time_point healthy = Clock::now();  // last time a stream was up
    // Before the first stream: give up after the call budget; afterwards, after a minute down.
    auto give_up_after = [&] {
      bool started;
      {
        std::lock_guard<std::mutex> l(st.mu);
        started = st.started;
      }
      return started ? std::chrono::milliseconds(60000) : c.options.total_timeout;
    };
    std::string last_error;
    for (size_t attempt = 0;; ++attempt) {
      Member& m = c.members[idx % n];
      grpc::ClientContext ctx;
      {
        std::lock_guard<std::mutex> l(st.mu);
        if (st.cancelled) return;
        st.ctx = &ctx;
      }
      std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream =
          m.watch->Watch(&ctx);
      etcdserverpb::WatchRequest req;
      etcdserverpb::WatchCreateRequest* create = req.mutable_create_request();
      create->set_key(st.prefix.empty() ? std::string(1, '\0') : st.prefix);
      create->set_range_end(PrefixEnd(st.prefix));
      create->set_start_revision(st.next_rev);
      create->set_progress_notify(true);
      bool done = false;  // the watch ended for good (compacted, cancelled by the server)
      if (stream->Write(req)) {
        etcdserverpb::WatchResponse resp;
        while (stream->Read(&resp)) {
          if (resp.created()) {
            if (st.next_rev == 0) st.next_rev = resp.header().revision() + 1;
            healthy = Clock::now();
            bool first;
            {
              std::lock_guard<std::mutex> l(st.mu);
              first = !st.started;
              st.started = true;
            }
            if (first) st.cv.notify_all();
          }
          if (resp.compact_revision() > 0) {
            Finish(st, absl::OutOfRangeError(absl::StrCat(
                           "etcd watch from revision ", st.next_rev, ": compacted (oldest kept is ",
                           resp.compact_revision(), "); read the current state and watch from its revision")));
            done = true;
            break;
          }
          if (resp.canceled()) {
            Finish(st, absl::AbortedError(absl::StrCat("etcd watch cancelled by ", m.endpoint, ": ",
                                                       resp.cancel_reason())));
            done = true;
            break;
          }
          // Events of one revision arrive together; split the response by revision.
          std::vector<WatchEvent> batch;
          int64_t rev = 0;
          for (const mvccpb::Event& e : resp.events()) {
            if (e.kv().mod_revision() != rev && !batch.empty()) {
              Deliver(st, batch);
              st.next_rev = rev + 1;
              batch.clear();
            }
            rev = e.kv().mod_revision();
            WatchEvent ev;
            if (e.type() == mvccpb::Event::DELETE) {
              ev.type = WatchEvent::Type::kDelete;
              ev.kv.key = e.kv().key();
              ev.kv.mod_revision = e.kv().mod_revision();
            } else {
              ev.type = WatchEvent::Type::kPut;
              ev.kv = FromProto(e.kv());
            }
            batch.push_back(std::move(ev));
          }
          if (!batch.empty()) {
            Deliver(st, batch);
            st.next_rev = rev + 1;
          }
          healthy = Clock::now();
        }
      }
      {
        std::lock_guard<std::mutex> l(st.mu);
        st.ctx = nullptr;
        if (st.cancelled) done = true;
      }
      if (done) {
        ctx.TryCancel();
        stream->Finish();
        return;
      }
      ctx.TryCancel();
      grpc::Status s = stream->Finish();
      last_error = absl::StrCat(m.endpoint, ": ", s.ok() ? std::string("stream closed") : s.error_message());
      if (Clock::now() - healthy > give_up_after()) {
        Finish(st, absl::UnavailableError(absl::StrCat("etcd watch on ", c.Names(),
                                                       ": no member would serve it; last error ", last_error)));
        return;
      }
      ++idx;  // try the next member
      std::unique_lock<std::mutex> l(st.mu);
      st.cv.wait_for(l, std::chrono::milliseconds(attempt % n == n - 1 ? 200 : 20), [&] { return st.cancelled; });
    }
  }

  std::shared_ptr<State> state_;
  std::thread thread_;
};

class EtcdStore final : public Store {
 public:
  explicit EtcdStore(std::shared_ptr<Cluster> c) : c_(std::move(c)) {}

  absl::StatusOr<std::optional<KeyValue>> Get(std::string_view key) override {
    etcdserverpb::RangeRequest req;
    req.set_key(std::string(key));
    etcdserverpb::RangeResponse resp;
    absl::Status s = CallWithFailover(*c_, "get", [&](Member& m, grpc::ClientContext& ctx) {
      return m.kv->Range(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    if (resp.kvs_size() == 0) return std::optional<KeyValue>();
    return std::optional<KeyValue>(FromProto(resp.kvs(0)));
  }

  absl::StatusOr<RangeResult> Range(std::string_view prefix) override {
    RangeResult out;
    etcdserverpb::RangeRequest req;
    req.set_key(prefix.empty() ? std::string(1, '\0') : std::string(prefix));
    req.set_range_end(PrefixEnd(prefix));
    req.set_limit(kRangePage);
    while (true) {
      etcdserverpb::RangeResponse resp;
      absl::Status s = CallWithFailover(*c_, "range", [&](Member& m, grpc::ClientContext& ctx) {
        return m.kv->Range(&ctx, req, &resp);
      });
      if (!s.ok()) return s;
      if (out.revision == 0) out.revision = resp.header().revision();
      for (const mvccpb::KeyValue& kv : resp.kvs()) out.kvs.push_back(FromProto(kv));
      if (!resp.more() || resp.kvs_size() == 0) break;
      // The next page, at the same revision so the pages form one consistent read.
      req.set_key(resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0'));
      req.set_revision(out.revision);
    }
    return out;
  }

  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease) override {
    etcdserverpb::PutRequest req;
    req.set_key(std::string(key));
    req.set_value(std::string(value));
    req.set_lease(lease);
    etcdserverpb::PutResponse resp;
    absl::Status s = CallWithFailover(*c_, "put", [&](Member& m, grpc::ClientContext& ctx) {
      return m.kv->Put(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    return resp.header().revision();
  }

  absl::StatusOr<int64_t> Delete(std::string_view key) override {
    etcdserverpb::DeleteRangeRequest req;
    req.set_key(std::string(key));
    etcdserverpb::DeleteRangeResponse resp;
    absl::Status s = CallWithFailover(*c_, "delete", [&](Member& m, grpc::ClientContext& ctx) {
      return m.kv->DeleteRange(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    return resp.header().revision();
  }

  absl::StatusOr<TxnResult> Commit(const Txn& txn) override {
    etcdserverpb::TxnRequest req;
    for (const Compare& c : txn.compares) {
      etcdserverpb::Compare* p = req.add_compare();
      p->set_result(etcdserverpb::Compare::EQUAL);
      p->set_key(c.key);
      if (c.target == Compare::Target::kModRevision) {
        p->set_target(etcdserverpb::Compare::MOD);
        p->set_mod_revision(c.mod_revision);
      } else {
        p->set_target(etcdserverpb::Compare::VALUE);
        p->set_value(c.value);
      }
    }
    for (const Op& op : txn.ops) {
      etcdserverpb::RequestOp* p = req.add_success();
      switch (op.kind) {
        case Op::Kind::kPut: {
          etcdserverpb::PutRequest* put = p->mutable_request_put();
          put->set_key(op.key);
          put->set_value(op.value);
          put->set_lease(op.lease);
          break;
        }
        case Op::Kind::kDelete:
          p->mutable_request_delete_range()->set_key(op.key);
          break;
        case Op::Kind::kDeletePrefix: {
          etcdserverpb::DeleteRangeRequest* del = p->mutable_request_delete_range();
          del->set_key(op.key.empty() ? std::string(1, '\0') : op.key);
          del->set_range_end(PrefixEnd(op.key));
          break;
        }
      }
    }
    etcdserverpb::TxnResponse resp;
    absl::Status s = CallWithFailover(*c_, "txn", [&](Member& m, grpc::ClientContext& ctx) {
      return m.kv->Txn(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    return TxnResult{resp.succeeded(), resp.header().revision()};
  }

  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t start_revision,
                                                     WatchCallbacks callbacks) override {
    if (start_revision < 0) return absl::InvalidArgumentError("watch: negative start revision");
    auto w = std::make_unique<EtcdWatch>(c_, std::string(prefix), start_revision, std::move(callbacks));
    if (absl::Status s = w->Start(); !s.ok()) return s;
    return std::unique_ptr<WatchHandle>(std::move(w));
  }

  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds) override {
    if (ttl_seconds <= 0) return absl::InvalidArgumentError(absl::StrCat("lease: ttl ", ttl_seconds, " is not positive"));
    etcdserverpb::LeaseGrantRequest req;
    req.set_ttl(ttl_seconds);
    etcdserverpb::LeaseGrantResponse resp;
    absl::Status s = CallWithFailover(*c_, "lease grant", [&](Member& m, grpc::ClientContext& ctx) {
      return m.lease->LeaseGrant(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    if (!resp.error().empty()) return absl::UnavailableError(absl::StrCat("etcd lease grant: ", resp.error()));
    return resp.id();
  }

  absl::Status KeepAlive(int64_t lease) override {
    int64_t ttl = 0;
    absl::Status s = CallWithFailover(*c_, "lease keep-alive", [&](Member& m, grpc::ClientContext& ctx) {
      auto stream = m.lease->LeaseKeepAlive(&ctx);
      etcdserverpb::LeaseKeepAliveRequest req;
      req.set_id(lease);
      etcdserverpb::LeaseKeepAliveResponse resp;
      if (stream->Write(req) && stream->WritesDone() && stream->Read(&resp)) ttl = resp.ttl();
      return stream->Finish();
    });
    if (!s.ok()) return s;
    if (ttl <= 0) return absl::NotFoundError(absl::StrCat("lease ", lease, " not found (expired or revoked)"));
    return absl::OkStatus();
  }

  absl::Status RevokeLease(int64_t lease) override {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(lease);
    etcdserverpb::LeaseRevokeResponse resp;
    return CallWithFailover(*c_, "lease revoke", [&](Member& m, grpc::ClientContext& ctx) {
      return m.lease->LeaseRevoke(&ctx, req, &resp);
    });
  }

  absl::StatusOr<int64_t> CurrentRevision() override {
    etcdserverpb::RangeRequest req;
    req.set_key(std::string(1, '\0'));  // a single key nobody uses: cheap, and the header has the revision
    etcdserverpb::RangeResponse resp;
    absl::Status s = CallWithFailover(*c_, "revision", [&](Member& m, grpc::ClientContext& ctx) {
      return m.kv->Range(&ctx, req, &resp);
    });
    if (!s.ok()) return s;
    return resp.header().revision();
  }

  std::string Describe() const override { return absl::StrCat("etcd ", c_->Names()); }

 private:
  std::shared_ptr<Cluster> c_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("etcd store: no endpoints");
  auto c = std::make_shared<Cluster>();
  c->options = options;
  for (const std::string& ep : options.endpoints) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    // Connections of this store only: another store's broken connection is not shared with us.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // A dead member is noticed quickly and a restarted one is reconnected quickly.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
    Member m;
    m.endpoint = ep;
    m.channel = grpc::CreateCustomChannel(ep, grpc::InsecureChannelCredentials(), args);
    m.kv = etcdserverpb::KV::NewStub(m.channel);
    m.watch = etcdserverpb::Watch::NewStub(m.channel);
    m.lease = etcdserverpb::Lease::NewStub(m.channel);
    c->members.push_back(std::move(m));
  }
  // Fail now, with a clear message, if no member answers at all.
  auto store = std::make_unique<EtcdStore>(c);
  if (absl::StatusOr<int64_t> rev = store->CurrentRevision(); !rev.ok()) return rev.status();
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace rampart::store
