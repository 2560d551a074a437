// rampart-agent in records mode: applies a host's records (docs/records.md) — from a file or
// from the controller's stream — to this host: br-int's ports (OVSDB), the OpenFlow pipeline
// (translator.h, installed through ofp::FlowTableSync: one bundle of differences) and
// rampart-fwd (fei_reconcile.h). Apply() is idempotent: against unchanged records and ports it
// sends no flow mod and makes no mutating FEI call, so an agent restart disturbs nothing.
//
// Thread-safety: one thread at a time (the caller serialises Apply and PortsChanged).
#ifndef RAMPART_AGENT_RECORDS_AGENT_H_
#define RAMPART_AGENT_RECORDS_AGENT_H_

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "agent/fei_reconcile.h"
#include "agent/translator.h"
#include "ovs/flow_table_sync.h"
#include "ovs/openflow_client.h"
#include "ovs/ovsdb_client.h"
#include "records/records.h"

namespace rampart::agent {

struct RecordsAgentOptions {
  std::string host;           // this host's name (the records' Host rows)
  std::string ovsdb;          // "unix:/path/db.sock" or a path
  std::string openflow;       // br-int's management socket
  std::string fwd_socket;     // rampart-fwd's FEI socket
  std::string bridge = "br-int";
  std::string firewall_port = "rfw0";  // OVS end of rampart-fwd's veth
  std::string fwd_interface;           // rampart-fwd's end (default <firewall_port>-fwd)
  std::string tunnel_port = "geneve0";
};

struct RecordsApplyReport {
  size_t flows = 0;
  ofp::FlowSyncResult sync;
  FeiReport fei;
  TranslateStats translate;
  size_t vm_ports = 0;  // local VM ports found on br-int
};

class RecordsAgent {
 public:
  static absl::StatusOr<std::unique_ptr<RecordsAgent>> Connect(const RecordsAgentOptions& options);
  ~RecordsAgent();

  // Brings the host to `records` (see the file comment). On error nothing is acknowledged by
  // the caller; a later call retries everything (each step is idempotent).
  absl::StatusOr<RecordsApplyReport> Apply(const records::RecordSet& records);
  // Whether br-int's VM ports (iface-id -> ofport), firewall or tunnel port differ from those
  // the last Apply used (a VM appeared, moved or left): then the caller applies again.
  absl::StatusOr<bool> PortsChanged();

 private:
  RecordsAgent() = default;
  absl::StatusOr<LocalFacts> ReadFacts();

  RecordsAgentOptions options_;
  std::unique_ptr<ovs::OvsdbClient> ovsdb_;
  std::unique_ptr<ofp::OpenFlowClient> openflow_;
  std::unique_ptr<ofp::FlowTableSync> sync_;
  LocalFacts applied_facts_;
  bool applied_ = false;
  std::set<std::string> logged_;  // translation problems already logged
};

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_RECORDS_AGENT_H_
