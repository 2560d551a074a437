// Desired-state flow programming for one bridge.
//
// The agent hands over the complete set of flows it wants (SetDesired); the syncer compares it
// with what it knows is installed and sends only the difference — add for new flows,
// modify-strict for changed instructions, add (replace) for a changed cookie, delete-strict for
// flows no longer wanted — as ONE atomic bundle followed by a barrier. An unchanged desired
// state sends nothing at all.
//
// Ownership: every flow Rampart installs carries a cookie with (cookie & owner_mask) ==
// owner_value; flows with other cookies are never touched (nor deleted). What is "installed"
// is read from the switch (a flow-stats dump filtered on the owner cookie) whenever it is
// unknown: on the first sync, after a failed sync, and after every new OpenFlow session (an
// ovs-vswitchd restart loses its flows; an agent restart finds them still there, and then
// nothing is resent).
//
// Thread-safety: all methods are serialised internally; they block on the switch.
#ifndef RAMPART_OVS_FLOW_TABLE_SYNC_H_
#define RAMPART_OVS_FLOW_TABLE_SYNC_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <vector>
#include <condition_variable>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ovs/ofp_codec.h"
#include "ovs/ofp_flow.h"
#include "ovs/openflow_client.h"

namespace rampart::ofp {

struct FlowSyncOptions {
  uint64_t owner_value = 0x5200000000000000ull;  // 'R' in the top byte
  uint64_t owner_mask = 0xff00000000000000ull;
};

// What one sync sent.
struct FlowSyncResult {
  size_t adds = 0;
  size_t modifies = 0;
  size_t deletes = 0;
  bool dumped = false;  // the installed state was re-read from the switch first
  bool sent = false;    // a bundle was sent (false when there was no difference)
};

struct FlowHits {
  Flow flow;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint32_t duration_sec = 0;
};

// The minimal flow mods turning `installed` into `desired` (both keyed by FlowKey), in the
// order deletes, modifies, adds. Exposed for tests.
std::vector<FlowMod> DiffFlows(const std::map<FlowKey, Flow>& installed,
                               const std::map<FlowKey, Flow>& desired, uint64_t owner_mask,
                               FlowSyncResult* result);

// Checks a flow's match prerequisites the way OVS does (OVS silently drops a field whose
// prerequisites are missing, so such a flow would never read back equal): tcp_* needs
// dl_type IPv4/IPv6 + nw_proto 6, nw_src needs dl_type 0x0800, etc.
absl::Status CheckPrerequisites(const Match& match);

class FlowTableSync {
 public:
  FlowTableSync(OpenFlowClient& client, FlowSyncOptions options = {});
  ~FlowTableSync();  // stops the resync thread if started

  // Replaces the desired state and brings the switch to it. InvalidArgument (naming the flow)
  // for a flow without the owner cookie, with a match OVS would change, or a duplicate key; the
  // switch is then untouched. On a switch error nothing was changed (the bundle is atomic) and
  // the next call retries from a fresh dump.
  absl::StatusOr<FlowSyncResult> SetDesired(std::vector<Flow> flows);

  // Brings the switch to the current desired state again if the OpenFlow session changed since
  // the last sync (or the installed state is unknown); otherwise sends nothing.
  absl::StatusOr<FlowSyncResult> Resync();

  // Starts a thread that calls Resync() after every new OpenFlow session (reconnect).
  void StartAutoResync();
  void StopAutoResync();

  // Packet/byte counters of the owned flows, read from the switch now.
  absl::StatusOr<std::vector<FlowHits>> HitCounters();

  size_t desired_size() const;
  uint64_t synced_generation() const;  // session generation of the last successful sync

 private:
  absl::StatusOr<FlowSyncResult> SyncLocked();
  absl::StatusOr<std::map<FlowKey, Flow>> DumpOwned();

  OpenFlowClient& client_;
  const FlowSyncOptions options_;

  mutable std::mutex mu_;
  std::map<FlowKey, Flow> desired_;
  bool desired_set_ = false;  // SetDesired has been called: until then Resync does nothing
  std::map<FlowKey, Flow> installed_;
  bool installed_known_ = false;
  uint64_t installed_generation_ = 0;

  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool thread_stop_ = false;
  std::thread thread_;
};

}  // namespace rampart::ofp

#endif  // RAMPART_OVS_FLOW_TABLE_SYNC_H_
