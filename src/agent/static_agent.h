// rampart-agent in static mode: applies a StaticConfig (static_config.h) to this host —
// the firewall veth on br-int (OVSDB), the steering pipeline (OpenFlow, as a desired state:
// only differences are sent), and rampart-fwd's instances, slice tags and policies (FEI).
// Apply() is idempotent and may be called again at any time (new config, OVS or rampart-fwd
// restarted): an unchanged configuration sends no flow and no policy edit. The agent holds no
// state that rampart-fwd or OVS need: stopping or restarting it disturbs no traffic.
#ifndef RAMPART_AGENT_STATIC_AGENT_H_
#define RAMPART_AGENT_STATIC_AGENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/static_config.h"
#include "ovs/flow_table_sync.h"
#include "ovs/openflow_client.h"
#include "ovs/ovsdb_client.h"

namespace rampart::agent {

struct StaticAgentOptions {
  std::string host;          // this host's name in the configuration
  std::string ovsdb;         // OVSDB socket ("unix:/path/db.sock" or a path)
  std::string openflow;      // br-int management socket (<rundir>/br-int.mgmt)
  std::string fwd_socket;    // rampart-fwd's FEI socket
  std::string fwd_interface; // rampart-fwd's end of the firewall veth (default: <firewall_port>-fwd)
};

struct ApplyReport {
  size_t flows = 0;
  ofp::FlowSyncResult sync;
  size_t instances_created = 0;
  size_t policies_changed = 0;  // policy.set calls that changed something
  size_t tags_bound = 0;
  size_t vms_missing = 0;       // local VMs whose port does not exist yet
};

class StaticAgent {
 public:
  static absl::StatusOr<std::unique_ptr<StaticAgent>> Connect(const StaticAgentOptions& options);
  ~StaticAgent();

  absl::StatusOr<ApplyReport> Apply(const StaticConfig& config);

 private:
  StaticAgent() = default;
  absl::Status EnsureFirewallVeth(const StaticConfig& config);
  absl::Status ConfigureFwd(const StaticConfig& config, ApplyReport* report);

  StaticAgentOptions options_;
  std::unique_ptr<ovs::OvsdbClient> ovsdb_;
  std::unique_ptr<ofp::OpenFlowClient> openflow_;
  std::unique_ptr<ofp::FlowTableSync> sync_;
};

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_STATIC_AGENT_H_
