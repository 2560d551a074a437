// Native OpenFlow 1.3 client for one Open vSwitch bridge (its <rundir>/<bridge>.mgmt socket).
//
// Owns one I/O thread that connects (with exponential backoff), negotiates the version (hello
// with a version bitmap; Rampart speaks 1.3, so OVS's 1.5 hello settles on 1.3), fetches the
// features, answers the switch's echo requests, sends its own echo requests when the line is
// idle (and drops a connection that stays silent past echo_timeout), routes replies to waiting
// callers by xid, hands port-status messages to a callback, and reconnects whenever the session
// ends. Every established session gets a new generation number, so a caller can tell that the
// switch may have lost state (ovs-vswitchd restarted) and re-read it (flow_table_sync does).
//
// Requests block the calling thread until the switch answered or the request timed out; they
// fail with Unavailable when there is no session or it ends before the answer, with
// DeadlineExceeded on timeout, and with FailedPrecondition carrying the switch's decoded
// OFPT_ERROR (e.g. "OFPET_BAD_MATCH/OFPBMC_BAD_PREREQ (type 4, code 9) in reply to
// OFPT_FLOW_MOD").
//
// Thread-safety: all public methods may be called from any thread except the I/O thread (i.e.
// not from inside the port-status callback). Callbacks run on the I/O thread.
#ifndef RAMPART_OVS_OPENFLOW_CLIENT_H_
#define RAMPART_OVS_OPENFLOW_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ovs/ofp_codec.h"
#include "ovs/openflow_transport.h"

namespace rampart::ofp {

struct OfClientOptions {
  absl::Duration echo_interval = absl::Seconds(5);   // idle time before an echo request
  absl::Duration echo_timeout = absl::Seconds(15);   // silence that ends the session
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration handshake_timeout = absl::Seconds(5);
  absl::Duration backoff_initial = absl::Milliseconds(50);
  absl::Duration backoff_max = absl::Seconds(2);
  // Sent in OFPT_SET_CONFIG after the handshake; nonzero makes OVS send port-status (and
  // packet-in) on the management connection. 0 = do not send set-config.
  uint16_t miss_send_len = 0xffff;
};

struct OfClientStats {
  uint64_t bytes_written = 0;
  uint64_t messages_written = 0;
  uint64_t messages_read = 0;
  uint64_t sessions = 0;           // successful handshakes
  uint64_t connect_failures = 0;   // connect or handshake failed
  uint64_t decode_errors = 0;      // messages from the switch that did not decode
  uint64_t unhandled = 0;          // decoded but not expected (e.g. a late reply)
  uint64_t echo_requests_sent = 0;
  uint64_t echo_requests_answered = 0;
  uint64_t port_status = 0;
};

class OpenFlowClient {
 public:
  explicit OpenFlowClient(std::unique_ptr<OfConnector> connector, OfClientOptions options = {});
  ~OpenFlowClient();  // Stop()s
  OpenFlowClient(const OpenFlowClient&) = delete;
  OpenFlowClient& operator=(const OpenFlowClient&) = delete;

  // Starts the I/O thread (connects in the background). Idempotent.
  void Start();
  // Ends the session and joins the I/O thread; pending requests fail with Unavailable.
  void Stop();

  // Waits until a session is established. DeadlineExceeded when none came up in time.
  absl::Status WaitConnected(absl::Duration timeout);
  bool IsConnected() const;
  // Generation of the current (or last) session; 0 before the first one.
  uint64_t generation() const;
  // Waits until a session with generation > `after` is up, or the timeout; returns generation().
  uint64_t WaitForSessionAfter(uint64_t after, absl::Duration timeout);
  uint8_t version() const;          // negotiated version (kVersion13) of the current session
  FeaturesReply features() const;   // of the current session
  OfClientStats stats() const;

  // Called on the I/O thread for every OFPT_PORT_STATUS. Set before Start().
  void SetPortStatusCallback(std::function<void(const PortStatus&)> cb);

  absl::Status Barrier();
  // Flow-stats multipart; all reply parts are joined.
  absl::StatusOr<std::vector<FlowStats>> DumpFlows(const FlowStatsRequest& request);
  // Port-desc multipart.
  absl::StatusOr<std::vector<Port>> DumpPorts();
  // Sends the flow mods, then a barrier; fails if the switch rejected any of them (the others
  // stay applied: not atomic).
  absl::Status SendFlowMods(const std::vector<FlowMod>& mods);
  // Atomic: bundle open (atomic + ordered), one bundle-add per flow mod, commit, barrier. If the
  // switch rejects a message or the commit, the bundle is discarded and nothing changed.
  absl::Status ApplyBundle(const std::vector<FlowMod>& mods);

 private:
  struct Pending;
  struct Session;

  void Run();
  absl::Status Handshake(Session& s);
  void ReadLoop(Session& s);
  void Dispatch(Session& s, absl::Span<const uint8_t> bytes);
  void EndSession(const absl::Status& why);
  absl::Status WriteMessage(const std::shared_ptr<Session>& s, const Message& m);
  absl::Status WriteBytes(const std::shared_ptr<Session>& s, absl::Span<const uint8_t> bytes);
  uint32_t NextXid() { return next_xid_.fetch_add(1); }

  // Registers a pending request on the current session. `kind` decides when it completes.
  enum class Kind { kErrorOnly, kBarrier, kMultipart, kBundleCtrl, kEcho };
  absl::StatusOr<std::shared_ptr<Session>> CurrentSession();
  std::shared_ptr<Pending> Register(const std::shared_ptr<Session>& s, uint32_t xid, Kind kind);
  absl::Status Await(const std::shared_ptr<Pending>& p, absl::Time deadline);
  void Unregister(uint32_t xid);
  absl::Status CollectErrors(const std::vector<std::shared_ptr<Pending>>& ps);

  const std::unique_ptr<OfConnector> connector_;
  const OfClientOptions options_;
  std::function<void(const PortStatus&)> port_status_cb_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool started_ = false;
  std::shared_ptr<Session> session_;  // established session, or null
  uint64_t generation_ = 0;
  std::map<uint32_t, std::shared_ptr<Pending>> pending_;
  OfClientStats stats_;

  std::mutex write_mu_;  // one message at a time on the wire
  std::atomic<uint32_t> next_xid_{1};
  std::atomic<uint32_t> next_bundle_id_{1};
  std::thread thread_;
};

}  // namespace rampart::ofp

#endif  // RAMPART_OVS_OPENFLOW_CLIENT_H_
