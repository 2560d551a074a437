// A fake OpenFlow 1.3 switch on socketpairs, for the client and flow-sync unit tests. It speaks
// the same codec (so it is not an oracle for byte layouts: the fixture tests and the
// integration test against ovs-vswitchd are), and implements just enough switch semantics:
// hello (configurable version / bitmap), features, echo, barrier, flow_mod (add, modify-strict,
// delete-strict with cookie masks), flow-stats with cookie filter split over several multipart
// parts, port-desc, ONF bundles (open / add / commit atomically / discard), injected
// port-status, crashes (connection drop, optional loss of all flows) and refusal to connect.
#ifndef RAMPART_TEST_OVS_OPENFLOW_FAKE_SWITCH_H_
#define RAMPART_TEST_OVS_OPENFLOW_FAKE_SWITCH_H_

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "ovs/ofp_codec.h"
#include "ovs/openflow_transport.h"

namespace rampart::ofp::testing {

class FakeSwitch {
 public:
  struct Installed {
    Flow flow;
    uint64_t serial = 0;  // bumps whenever the flow is (re)installed by an add
    uint64_t packets = 0;
    uint64_t bytes = 0;
  };

  uint8_t hello_version = 0x06;  // what OVS 3.1 sends: a 1.5 hello without a bitmap
  uint32_t hello_bitmap = 0;
  bool answer_echo = true;
  size_t flows_per_reply_part = 3;

  FakeSwitch() = default;
  ~FakeSwitch() {
    Crash(false);
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> l(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

  std::unique_ptr<OfConnector> MakeConnector() { return std::make_unique<Connector>(this); }

  void SetUp(bool up) {
    std::lock_guard<std::mutex> l(mu_);
    up_ = up;
  }
  // Drops the current connection (as an ovs-vswitchd crash would); lose_flows empties the table.
  void Crash(bool lose_flows) {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    if (lose_flows) table_.clear();
  }
  // Flow mods whose flow has this priority fail with OFPET_BAD_MATCH / OFPBMC_BAD_FIELD.
  void RejectPriority(uint16_t p) {
    std::lock_guard<std::mutex> l(mu_);
    reject_.insert(p);
  }
  void SendToClient(const Message& m) {
    auto bytes = Encode(m);
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : fds_) (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void InstallDirect(const Flow& f) {
    std::lock_guard<std::mutex> l(mu_);
    table_[f.Key()] = Installed{f, ++serial_, 0, 0};
  }
  void SetCounters(const FlowKey& k, uint64_t packets, uint64_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = table_.find(k);
    if (it != table_.end()) {
      it->second.packets = packets;
      it->second.bytes = bytes;
    }
  }

  std::map<FlowKey, Installed> table() {
    std::lock_guard<std::mutex> l(mu_);
    return table_;
  }
  std::vector<Message> received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }
  uint64_t bytes_received() {
    std::lock_guard<std::mutex> l(mu_);
    return bytes_received_;
  }
  int connections() {
    std::lock_guard<std::mutex> l(mu_);
    return connections_;
  }
  template <typename T>
  int Count() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const Message& m : received_) n += std::holds_alternative<T>(m.body);
    return n;
  }
  // Waits (bounded) until pred() holds.
  template <typename Pred>
  bool WaitFor(Pred pred, int ms = 5000) {
    for (int i = 0; i < ms / 5; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

 private:
  class Connector : public OfConnector {
   public:
    explicit Connector(FakeSwitch* sw) : sw_(sw) {}
    absl::StatusOr<std::unique_ptr<OfTransport>> Connect() override { return sw_->Accept(); }
    std::string Describe() const override { return "fake-switch"; }

   private:
    FakeSwitch* sw_;
  };

  struct Bundle {
    std::vector<FlowMod> mods;
  };

  absl::StatusOr<std::unique_ptr<OfTransport>> Accept() {
    std::lock_guard<std::mutex> l(mu_);
    if (!up_) return absl::UnavailableError("fake switch is down");
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return absl::InternalError("socketpair");
    }
    ++connections_;
    fds_.insert(sv[1]);
    threads_.emplace_back([this, fd = sv[1]] { Serve(fd); });
    return FdTransport(sv[0]);
  }

  void Send(int fd, const Message& m) {
    auto bytes = Encode(m);
    (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }

  static ErrorMsg MakeError(uint16_t type, uint16_t code, absl::Span<const uint8_t> request,
                            uint32_t experimenter = 0) {
    ErrorMsg e;
    e.type = type;
    e.code = code;
    e.experimenter = experimenter;
    e.data.assign(request.begin(), request.begin() + std::min<size_t>(request.size(), 64));
    return e;
  }

  // Applies one flow mod to `t`. Returns false (and fills *err) when rejected.
  bool Apply(std::map<FlowKey, Installed>& t, const FlowMod& fm) {
    if (reject_.contains(fm.flow.priority)) return false;
    FlowKey k = fm.flow.Key();
    auto cookie_ok = [&](const Installed& in) {
      return (in.flow.cookie & fm.cookie_mask) == (fm.flow.cookie & fm.cookie_mask);
    };
    switch (fm.command) {
      case FlowModCommand::kAdd:
        t[k] = Installed{fm.flow, ++serial_, 0, 0};
        return true;
      case FlowModCommand::kModifyStrict: {
        auto it = t.find(k);
        if (it != t.end() && cookie_ok(it->second)) it->second.flow.instructions = fm.flow.instructions;
        return true;
      }
      case FlowModCommand::kDeleteStrict: {
        auto it = t.find(k);
        if (it != t.end() && cookie_ok(it->second)) t.erase(it);
        return true;
      }
      case FlowModCommand::kModify:
      case FlowModCommand::kDelete:
        for (auto it = t.begin(); it != t.end();) {
          bool table_ok = fm.flow.table == kTableAll || it->first.table == fm.flow.table;
          if (table_ok && cookie_ok(it->second) && fm.flow.match.empty()) {
            if (fm.command == FlowModCommand::kDelete) {
              it = t.erase(it);
              continue;
            }
            it->second.flow.instructions = fm.flow.instructions;
          }
          ++it;
        }
        return true;
    }
    return false;
  }

  void Serve(int fd) {
    Send(fd, Message{hello_version, 1, Hello{hello_bitmap}});
    std::vector<uint8_t> rx;
    uint8_t buf[65536];
    std::map<uint32_t, Bundle> bundles;
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      rx.insert(rx.end(), buf, buf + n);
      while (rx.size() >= 8) {
        size_t len = size_t{rx[2]} << 8 | rx[3];
        if (len < 8) {
          ::shutdown(fd, SHUT_RDWR);
          break;
        }
        if (rx.size() < len) break;
        std::vector<uint8_t> frame(rx.begin(), rx.begin() + len);
        rx.erase(rx.begin(), rx.begin() + len);
        Handle(fd, frame, bundles);
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    fds_.erase(fd);
    ::close(fd);
  }

  void Handle(int fd, const std::vector<uint8_t>& frame, std::map<uint32_t, Bundle>& bundles) {
    auto m = Decode(frame);
    if (!m.ok()) {
      Send(fd, Message{kVersion13, frame.size() >= 8 ? (uint32_t{frame[4]} << 24 | uint32_t{frame[5]} << 16 | uint32_t{frame[6]} << 8 | frame[7]) : 0,
                       MakeError(1, 1, frame)});
      return;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      received_.push_back(*m);
      bytes_received_ += frame.size();
    }
    const uint32_t xid = m->xid;
    auto reply = [&](MessageBody b) { Send(fd, Message{kVersion13, xid, std::move(b)}); };
    if (std::holds_alternative<FeaturesRequest>(m->body)) {
      reply(FeaturesReply{0xabcdef, 0, 254, 0, 0x4f});
    } else if (auto* e = std::get_if<EchoRequest>(&m->body)) {
      if (answer_echo) reply(EchoReply{e->data});
    } else if (std::holds_alternative<BarrierRequest>(m->body)) {
      reply(BarrierReply{});
    } else if (auto* fm = std::get_if<FlowMod>(&m->body)) {
      std::lock_guard<std::mutex> l(mu_);
      if (!Apply(table_, *fm)) Send(fd, Message{kVersion13, xid, MakeError(4, 6, frame)});
    } else if (auto* req = std::get_if<FlowStatsRequest>(&m->body)) {
      std::vector<FlowStats> all;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& [k, in] : table_) {
          if (req->table != kTableAll && k.table != req->table) continue;
          if ((in.flow.cookie & req->cookie_mask) != (req->cookie & req->cookie_mask)) continue;
          FlowStats fs;
          fs.flow = in.flow;
          fs.packet_count = in.packets;
          fs.byte_count = in.bytes;
          all.push_back(fs);
        }
      }
      size_t i = 0;
      do {
        FlowStatsReply part;
        for (size_t j = 0; j < flows_per_reply_part && i < all.size(); ++j) part.flows.push_back(all[i++]);
        part.flags = i < all.size() ? kMultipartReplyMore : 0;
        reply(part);
      } while (i < all.size());
    } else if (std::holds_alternative<PortDescRequest>(m->body)) {
      PortDescReply r;
      r.ports.push_back(Port{1, {2, 0, 0, 0, 0, 1}, "vm1", 0, 0, 0, 0, 0, 0, 10000000, 0});
      r.ports.push_back(Port{kPortLocal, {2, 0, 0, 0, 0, 2}, "br-int", kPortConfigDown,
                             kPortStateLinkDown, 0, 0, 0, 0, 0, 0});
      reply(r);
    } else if (auto* bc = std::get_if<BundleControl>(&m->body)) {
      BundleControl r = *bc;
      switch (bc->type) {
        case BundleCtrlType::kOpenRequest:
          if (bundles.contains(bc->bundle_id)) {
            reply(MakeError(0xffff, 2303, frame, kOnfExperimenter));
            return;
          }
          bundles[bc->bundle_id] = Bundle{};
          r.type = BundleCtrlType::kOpenReply;
          reply(r);
          return;
        case BundleCtrlType::kCommitRequest: {
          auto it = bundles.find(bc->bundle_id);
          if (it == bundles.end()) {
            reply(MakeError(0xffff, 2302, frame, kOnfExperimenter));
            return;
          }
          std::lock_guard<std::mutex> l(mu_);
          auto copy = table_;
          for (const FlowMod& f : it->second.mods) {
            if (!Apply(copy, f)) {
              bundles.erase(it);
              Send(fd, Message{kVersion13, xid, MakeError(0xffff, 2313, frame, kOnfExperimenter)});
              return;
            }
          }
          table_ = std::move(copy);
          bundles.erase(it);
          r.type = BundleCtrlType::kCommitReply;
          Send(fd, Message{kVersion13, xid, r});
          return;
        }
        case BundleCtrlType::kDiscardRequest:
          bundles.erase(bc->bundle_id);
          r.type = BundleCtrlType::kDiscardReply;
          reply(r);
          return;
        default:
          reply(MakeError(0xffff, 2306, frame, kOnfExperimenter));
          return;
      }
    } else if (auto* ba = std::get_if<BundleAdd>(&m->body)) {
      auto it = bundles.find(ba->bundle_id);
      if (it == bundles.end()) {
        reply(MakeError(0xffff, 2302, frame, kOnfExperimenter));
        return;
      }
      auto inner = Decode(ba->message);
      if (!inner.ok() || !std::holds_alternative<FlowMod>(inner->body) || inner->xid != xid) {
        reply(MakeError(0xffff, 2310, frame, kOnfExperimenter));
        return;
      }
      it->second.mods.push_back(std::get<FlowMod>(inner->body));
    }
  }

  std::mutex mu_;
  bool up_ = true;
  std::set<int> fds_;
  std::vector<std::thread> threads_;
  std::map<FlowKey, Installed> table_;
  std::set<uint16_t> reject_;
  std::vector<Message> received_;
  uint64_t bytes_received_ = 0;
  uint64_t serial_ = 0;
  int connections_ = 0;
};

}  // namespace rampart::ofp::testing

#endif  // RAMPART_TEST_OVS_OPENFLOW_FAKE_SWITCH_H_
