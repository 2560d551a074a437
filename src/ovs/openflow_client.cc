#include "ovs/openflow_client.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rampart::ofp {

struct OpenFlowClient::Pending {
  Kind kind;
  uint64_t generation = 0;
  bool done = false;
  absl::Status status;            // error answer or session loss
  std::vector<Message> replies;   // barrier / multipart parts / bundle reply
};

struct OpenFlowClient::Session {
  std::shared_ptr<OfTransport> transport;
  uint64_t generation = 0;
  uint8_t version = kVersion13;
  FeaturesReply features;
  absl::Time last_rx = absl::Now();
  bool echo_outstanding = false;
  std::vector<uint8_t> rx;  // bytes received, not yet a whole message
};

namespace {

constexpr uint8_t kOurMaxVersion = kVersion13;
constexpr uint32_t kOurVersionBitmap = 1u << kVersion13;

// Takes the next whole message out of `rx`, if there is one.
absl::StatusOr<bool> NextFrame(std::vector<uint8_t>& rx, std::vector<uint8_t>& frame) {
  if (rx.size() < kHeaderSize) return false;
  auto h = PeekHeader(rx);
  if (!h.ok()) return h.status();
  if (rx.size() < h->length) return false;
  frame.assign(rx.begin(), rx.begin() + h->length);
  rx.erase(rx.begin(), rx.begin() + h->length);
  return true;
}

}  // namespace

OpenFlowClient::OpenFlowClient(std::unique_ptr<OfConnector> connector, OfClientOptions options)
    : connector_(std::move(connector)), options_(options) {}

OpenFlowClient::~OpenFlowClient() { Stop(); }

void OpenFlowClient::SetPortStatusCallback(std::function<void(const PortStatus&)> cb) {
  std::lock_guard<std::mutex> l(mu_);
  port_status_cb_ = std::move(cb);
}

void OpenFlowClient::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (started_) return;
  started_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void OpenFlowClient::Stop() {
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!started_) return;
    stop_ = true;
    s = session_;
  }
  if (s) s->transport->Shutdown();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> l(mu_);
  started_ = false;
}

absl::Status OpenFlowClient::WaitConnected(absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  auto deadline = absl::ToChronoTime(absl::Now() + timeout);
  if (!cv_.wait_until(l, deadline, [this] { return session_ != nullptr || stop_; }) || stop_) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no OpenFlow session with ", connector_->Describe(), " within ",
        absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

bool OpenFlowClient::IsConnected() const {
  std::lock_guard<std::mutex> l(mu_);
  return session_ != nullptr;
}

uint64_t OpenFlowClient::generation() const {
  std::lock_guard<std::mutex> l(mu_);
  return generation_;
}

uint64_t OpenFlowClient::WaitForSessionAfter(uint64_t after, absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  auto deadline = absl::ToChronoTime(absl::Now() + timeout);
  cv_.wait_until(l, deadline,
                 [&] { return stop_ || (session_ != nullptr && generation_ > after); });
  return generation_;
}

uint8_t OpenFlowClient::version() const {
  std::lock_guard<std::mutex> l(mu_);
  return session_ ? session_->version : 0;
}

FeaturesReply OpenFlowClient::features() const {
  std::lock_guard<std::mutex> l(mu_);
  return session_ ? session_->features : FeaturesReply{};
}

OfClientStats OpenFlowClient::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

// ---------------------------------------------------------------------------------------------
// I/O thread.

void OpenFlowClient::Run() {
  absl::Duration backoff = options_.backoff_initial;
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    auto t = connector_->Connect();
    absl::Status st = t.status();
    if (t.ok()) {
      auto s = std::make_shared<Session>();
      s->transport = std::shared_ptr<OfTransport>(std::move(*t));
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) {
          s->transport->Shutdown();
          return;
        }
      }
      st = Handshake(*s);
      if (st.ok()) {
        backoff = options_.backoff_initial;
        {
          std::lock_guard<std::mutex> l(mu_);
          s->generation = ++generation_;
          session_ = s;
          ++stats_.sessions;
        }
        cv_.notify_all();
        ReadLoop(*s);  // returns when the session ends
        continue;      // reconnect at once; backoff applies to failed attempts
      }
      s->transport->Shutdown();
    }
    {
      std::unique_lock<std::mutex> l(mu_);
      ++stats_.connect_failures;
      cv_.wait_for(l, absl::ToChronoNanoseconds(backoff), [this] { return stop_; });
      if (stop_) return;
    }
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

absl::Status OpenFlowClient::Handshake(Session& s) {
  auto self = std::shared_ptr<Session>(std::shared_ptr<Session>{}, &s);  // non-owning alias
  absl::Time deadline = absl::Now() + options_.handshake_timeout;
  uint32_t hello_xid = NextXid();
  absl::Status st = WriteMessage(self, Message{kOurMaxVersion, hello_xid,
                                               Hello{kOurVersionBitmap}});
  if (!st.ok()) return st;
  bool have_hello = false;
  uint32_t features_xid = 0;
  std::vector<uint8_t> buf(65536), frame;
  while (absl::Now() < deadline) {
    for (;;) {
      auto got = NextFrame(s.rx, frame);
      if (!got.ok()) return got.status();
      if (!*got) break;
      auto m = Decode(frame);
      if (!m.ok()) {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.decode_errors;
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.messages_read;
      }
      if (auto* h = std::get_if<Hello>(&m->body); h != nullptr && !have_hello) {
        uint8_t negotiated = 0;
        if (h->version_bitmap != 0) {
          uint32_t common = h->version_bitmap & kOurVersionBitmap;
          for (int v = 31; v >= 0; --v) {
            if (common & (1u << v)) {
              negotiated = static_cast<uint8_t>(v);
              break;
            }
          }
        } else {
          negotiated = std::min(m->version, kOurMaxVersion);
          if (!(kOurVersionBitmap & (1u << negotiated))) negotiated = 0;
        }
        if (negotiated == 0) {
          ErrorMsg e{0, 0, 0, {}};  // OFPET_HELLO_FAILED / OFPHFC_INCOMPATIBLE
          std::string text = "Rampart supports OpenFlow 1.3 only";
          e.data.assign(text.begin(), text.end());
          (void)WriteMessage(self, Message{kOurMaxVersion, m->xid, e});
          return absl::FailedPreconditionError(absl::StrFormat(
              "%s: no common OpenFlow version (switch hello 0x%02x, bitmap 0x%x; Rampart "
              "speaks 1.3)",
              connector_->Describe(), m->version, h->version_bitmap));
        }
        s.version = negotiated;
        have_hello = true;
        features_xid = NextXid();
        st = WriteMessage(self, Message{s.version, features_xid, FeaturesRequest{}});
        if (!st.ok()) return st;
      } else if (auto* e = std::get_if<EchoRequest>(&m->body)) {
        st = WriteMessage(self, Message{s.version, m->xid, EchoReply{e->data}});
        if (!st.ok()) return st;
      } else if (auto* f = std::get_if<FeaturesReply>(&m->body);
                 f != nullptr && have_hello && m->xid == features_xid) {
        s.features = *f;
        s.last_rx = absl::Now();
        if (options_.miss_send_len != 0) {
          st = WriteMessage(self, Message{s.version, NextXid(),
                                          SetConfig{0, options_.miss_send_len}});
          if (!st.ok()) return st;
        }
        return absl::OkStatus();
      } else if (auto* err = std::get_if<ErrorMsg>(&m->body)) {
        return absl::FailedPreconditionError(absl::StrCat(
            connector_->Describe(), ": switch refused the handshake: ", err->ToString()));
      }
    }
    auto n = s.transport->Read(buf.data(), buf.size(), std::min(absl::Milliseconds(100),
                                                               deadline - absl::Now()));
    if (!n.ok()) return n.status();
    s.rx.insert(s.rx.end(), buf.begin(), buf.begin() + *n);
  }
  return absl::DeadlineExceededError(
      absl::StrCat(connector_->Describe(), ": OpenFlow handshake timed out"));
}

void OpenFlowClient::ReadLoop(Session& s) {
  std::shared_ptr<Session> self;
  {
    std::lock_guard<std::mutex> l(mu_);
    self = session_;
  }
  std::vector<uint8_t> buf(65536), frame;
  // Messages that arrived together with the handshake are already in s.rx.
  for (;;) {
    for (;;) {
      auto got = NextFrame(s.rx, frame);
      if (!got.ok()) {
        EndSession(got.status());
        return;
      }
      if (!*got) break;
      s.last_rx = absl::Now();
      s.echo_outstanding = false;
      Dispatch(s, frame);
    }
    bool stopping;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping = stop_;
    }
    if (stopping) {
      EndSession(absl::UnavailableError("client stopped"));
      return;
    }
    absl::Duration idle = absl::Now() - s.last_rx;
    if (idle > options_.echo_timeout) {
      EndSession(absl::UnavailableError(absl::StrCat(
          connector_->Describe(), ": no answer to echo requests for ",
          absl::FormatDuration(idle))));
      return;
    }
    if (idle > options_.echo_interval && !s.echo_outstanding) {
      s.echo_outstanding = true;
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.echo_requests_sent;
      }
      (void)WriteMessage(self, Message{s.version, NextXid(), EchoRequest{}});
    }
    auto n = s.transport->Read(buf.data(), buf.size(), absl::Milliseconds(100));
    if (!n.ok()) {
      EndSession(n.status());
      return;
    }
    s.rx.insert(s.rx.end(), buf.begin(), buf.begin() + *n);
  }
}

void OpenFlowClient::EndSession(const absl::Status& why) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard<std::mutex> l(mu_);
    s = std::move(session_);
    session_ = nullptr;
    for (auto& [xid, p] : pending_) {
      if (!p->done) {
        p->done = true;
        p->status = absl::UnavailableError(
            absl::StrCat("OpenFlow session ended before the answer: ", why.message()));
      }
    }
  }
  if (s) s->transport->Shutdown();
  cv_.notify_all();
}

void OpenFlowClient::Dispatch(Session& s, absl::Span<const uint8_t> bytes) {
  std::shared_ptr<Session> self;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.messages_read;
    self = session_;
  }
  auto m = Decode(bytes);
  if (!m.ok()) {
    // A reply we cannot decode fails the request waiting for it; anything else is counted.
    std::lock_guard<std::mutex> l(mu_);
    if (m.status().code() == absl::StatusCode::kUnimplemented) {
      ++stats_.unhandled;  // e.g. packet-in, flow-removed: valid, just not Rampart's business
    } else {
      ++stats_.decode_errors;
    }
    uint32_t xid = bytes.size() >= 8 ? (uint32_t{bytes[4]} << 24 | uint32_t{bytes[5]} << 16 |
                                        uint32_t{bytes[6]} << 8 | bytes[7])
                                     : 0;
    auto it = pending_.find(xid);
    if (it != pending_.end() && !it->second->done) {
      it->second->done = true;
      it->second->status = absl::DataLossError(absl::StrCat(
          "undecodable answer from the switch: ", m.status().message()));
      cv_.notify_all();
    }
    return;
  }
  if (auto* e = std::get_if<EchoRequest>(&m->body)) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.echo_requests_answered;
    }
    (void)WriteMessage(self, Message{s.version, m->xid, EchoReply{e->data}});
    return;
  }
  if (std::holds_alternative<EchoReply>(m->body)) return;  // liveness only
  if (auto* ps = std::get_if<PortStatus>(&m->body)) {
    std::function<void(const PortStatus&)> cb;
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.port_status;
      cb = port_status_cb_;
    }
    if (cb) cb(*ps);
    return;
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = pending_.find(m->xid);
  if (it == pending_.end() || it->second->done) {
    ++stats_.unhandled;
    return;
  }
  Pending& p = *it->second;
  if (auto* err = std::get_if<ErrorMsg>(&m->body)) {
    p.done = true;
    p.status = absl::FailedPreconditionError(
        absl::StrCat("switch ", connector_->Describe(), " rejected the request: ", err->ToString()));
  } else {
    switch (p.kind) {
      case Kind::kErrorOnly:
        ++stats_.unhandled;
        return;
      case Kind::kBarrier:
        if (!std::holds_alternative<BarrierReply>(m->body)) {
          ++stats_.unhandled;
          return;
        }
        p.done = true;
        break;
      case Kind::kBundleCtrl:
        if (!std::holds_alternative<BundleControl>(m->body)) {
          ++stats_.unhandled;
          return;
        }
        p.replies.push_back(std::move(*m));
        p.done = true;
        break;
      case Kind::kMultipart: {
        uint16_t flags = 0;
        if (auto* fr = std::get_if<FlowStatsReply>(&m->body)) {
          flags = fr->flags;
        } else if (auto* pr = std::get_if<PortDescReply>(&m->body)) {
          flags = pr->flags;
        } else {
          ++stats_.unhandled;
          return;
        }
        p.replies.push_back(std::move(*m));
        if (!(flags & kMultipartReplyMore)) p.done = true;
        break;
      }
      case Kind::kEcho:
        p.done = true;
        break;
    }
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Requests.

absl::Status OpenFlowClient::WriteBytes(const std::shared_ptr<Session>& s,
                                        absl::Span<const uint8_t> bytes) {
  if (!s) return absl::UnavailableError("no OpenFlow session");
  std::lock_guard<std::mutex> w(write_mu_);
  absl::Status st = s->transport->Write(bytes);
  if (st.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    stats_.bytes_written += bytes.size();
    ++stats_.messages_written;
  }
  return st;
}

absl::Status OpenFlowClient::WriteMessage(const std::shared_ptr<Session>& s, const Message& m) {
  std::vector<uint8_t> bytes = Encode(m);
  return WriteBytes(s, bytes);
}

absl::StatusOr<std::shared_ptr<OpenFlowClient::Session>> OpenFlowClient::CurrentSession() {
  std::lock_guard<std::mutex> l(mu_);
  if (!session_) {
    return absl::UnavailableError(
        absl::StrCat("no OpenFlow session with ", connector_->Describe()));
  }
  return session_;
}

std::shared_ptr<OpenFlowClient::Pending> OpenFlowClient::Register(
    const std::shared_ptr<Session>& s, uint32_t xid, Kind kind) {
  auto p = std::make_shared<Pending>();
  p->kind = kind;
  p->generation = s->generation;
  std::lock_guard<std::mutex> l(mu_);
  if (session_ != s) {
    p->done = true;
    p->status = absl::UnavailableError("OpenFlow session ended");
  }
  pending_[xid] = p;
  return p;
}

void OpenFlowClient::Unregister(uint32_t xid) {
  std::lock_guard<std::mutex> l(mu_);
  pending_.erase(xid);
}

absl::Status OpenFlowClient::Await(const std::shared_ptr<Pending>& p, absl::Time deadline) {
  std::unique_lock<std::mutex> l(mu_);
  if (!cv_.wait_until(l, absl::ToChronoTime(deadline), [&] { return p->done || stop_; })) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no answer from ", connector_->Describe(), " within ",
        absl::FormatDuration(options_.request_timeout)));
  }
  if (!p->done) return absl::UnavailableError("OpenFlow client stopped");
  return p->status;
}

absl::Status OpenFlowClient::CollectErrors(const std::vector<std::shared_ptr<Pending>>& ps) {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& p : ps) {
    if (p->done && !p->status.ok()) return p->status;
  }
  return absl::OkStatus();
}

absl::Status OpenFlowClient::Barrier() {
  auto s = CurrentSession();
  if (!s.ok()) return s.status();
  uint32_t xid = NextXid();
  auto p = Register(*s, xid, Kind::kBarrier);
  absl::Status st = WriteMessage(*s, Message{(*s)->version, xid, BarrierRequest{}});
  if (st.ok()) st = Await(p, absl::Now() + options_.request_timeout);
  Unregister(xid);
  return st;
}

absl::StatusOr<std::vector<FlowStats>> OpenFlowClient::DumpFlows(const FlowStatsRequest& req) {
  auto s = CurrentSession();
  if (!s.ok()) return s.status();
  uint32_t xid = NextXid();
  auto p = Register(*s, xid, Kind::kMultipart);
  absl::Status st = WriteMessage(*s, Message{(*s)->version, xid, req});
  if (st.ok()) st = Await(p, absl::Now() + options_.request_timeout);
  Unregister(xid);
  if (!st.ok()) return st;
  std::vector<FlowStats> out;
  std::lock_guard<std::mutex> l(mu_);
  for (Message& m : p->replies) {
    auto& r = std::get<FlowStatsReply>(m.body);
    for (FlowStats& fs : r.flows) out.push_back(std::move(fs));
  }
  return out;
}

absl::StatusOr<std::vector<Port>> OpenFlowClient::DumpPorts() {
  auto s = CurrentSession();
  if (!s.ok()) return s.status();
  uint32_t xid = NextXid();
  auto p = Register(*s, xid, Kind::kMultipart);
  absl::Status st = WriteMessage(*s, Message{(*s)->version, xid, PortDescRequest{}});
  if (st.ok()) st = Await(p, absl::Now() + options_.request_timeout);
  Unregister(xid);
  if (!st.ok()) return st;
  std::vector<Port> out;
  std::lock_guard<std::mutex> l(mu_);
  for (Message& m : p->replies) {
    auto* r = std::get_if<PortDescReply>(&m.body);
    if (r == nullptr) return absl::DataLossError("port-desc request answered with flow stats");
    for (Port& port : r->ports) out.push_back(std::move(port));
  }
  return out;
}

absl::Status OpenFlowClient::SendFlowMods(const std::vector<FlowMod>& mods) {
  auto s = CurrentSession();
  if (!s.ok()) return s.status();
  std::vector<uint32_t> xids;
  std::vector<std::shared_ptr<Pending>> ps;
  absl::Status st;
  for (const FlowMod& fm : mods) {
    uint32_t xid = NextXid();
    ps.push_back(Register(*s, xid, Kind::kErrorOnly));
    xids.push_back(xid);
    st = WriteMessage(*s, Message{(*s)->version, xid, fm});
    if (!st.ok()) break;
  }
  if (st.ok()) {
    uint32_t bxid = NextXid();
    auto bp = Register(*s, bxid, Kind::kBarrier);
    xids.push_back(bxid);
    st = WriteMessage(*s, Message{(*s)->version, bxid, BarrierRequest{}});
    if (st.ok()) st = Await(bp, absl::Now() + options_.request_timeout);
  }
  absl::Status errors = CollectErrors(ps);
  for (uint32_t x : xids) Unregister(x);
  if (!errors.ok()) return errors;
  return st;
}

absl::Status OpenFlowClient::ApplyBundle(const std::vector<FlowMod>& mods) {
  auto s = CurrentSession();
  if (!s.ok()) return s.status();
  const uint8_t version = (*s)->version;
  const uint32_t bundle_id = next_bundle_id_.fetch_add(1);
  const uint16_t flags = kBundleAtomic | kBundleOrdered;
  const absl::Time deadline = absl::Now() + options_.request_timeout;
  std::vector<uint32_t> xids;
  auto cleanup = [&] {
    for (uint32_t x : xids) Unregister(x);
  };

  auto control = [&](BundleCtrlType type, BundleCtrlType want) -> absl::Status {
    uint32_t xid = NextXid();
    xids.push_back(xid);
    auto p = Register(*s, xid, Kind::kBundleCtrl);
    absl::Status st =
        WriteMessage(*s, Message{version, xid, BundleControl{bundle_id, type, flags}});
    if (st.ok()) st = Await(p, deadline);
    if (!st.ok()) return st;
    std::lock_guard<std::mutex> l(mu_);
    const auto& reply = std::get<BundleControl>(p->replies.front().body);
    if (reply.type != want || reply.bundle_id != bundle_id) {
      return absl::DataLossError(absl::StrCat("unexpected bundle reply type ",
                                              static_cast<int>(reply.type), " for bundle ",
                                              reply.bundle_id));
    }
    return absl::OkStatus();
  };
  auto discard = [&] {
    (void)control(BundleCtrlType::kDiscardRequest, BundleCtrlType::kDiscardReply);
  };

  absl::Status st = control(BundleCtrlType::kOpenRequest, BundleCtrlType::kOpenReply);
  if (!st.ok()) {
    cleanup();
    return absl::Status(st.code(), absl::StrCat("bundle open: ", st.message()));
  }
  std::vector<std::shared_ptr<Pending>> adds;
  for (const FlowMod& fm : mods) {
    uint32_t xid = NextXid();
    xids.push_back(xid);
    adds.push_back(Register(*s, xid, Kind::kErrorOnly));
    BundleAdd add{bundle_id, flags, Encode(Message{version, xid, fm})};
    st = WriteMessage(*s, Message{version, xid, std::move(add)});
    if (!st.ok()) break;
  }
  // A bundle-add the switch rejects is left out of the bundle while the rest would still commit,
  // so make sure every add was accepted (barrier) before committing; otherwise discard.
  absl::Status add_error;
  if (st.ok()) {
    uint32_t bxid = NextXid();
    xids.push_back(bxid);
    auto bp = Register(*s, bxid, Kind::kBarrier);
    st = WriteMessage(*s, Message{version, bxid, BarrierRequest{}});
    if (st.ok()) st = Await(bp, deadline);
    add_error = CollectErrors(adds);
  }
  if (st.ok() && add_error.ok()) {
    st = control(BundleCtrlType::kCommitRequest, BundleCtrlType::kCommitReply);
    // An error about one flow mod (sent with that bundle-add's xid) says more than the
    // commit's generic "message failed"; report it first.
    add_error = CollectErrors(adds);
  }
  if (!st.ok() || !add_error.ok()) {
    if (st.code() != absl::StatusCode::kUnavailable) discard();
    cleanup();
    absl::Status first = add_error.ok() ? st : add_error;
    return absl::Status(first.code(), absl::StrCat("bundle of ", mods.size(),
                                                   " flow mods not applied: ", first.message()));
  }
  cleanup();
  return Barrier();
}

}  // namespace rampart::ofp
