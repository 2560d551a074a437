#include "agent/records_agent.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "agent/host_switch.h"
#include "ovs/openflow_transport.h"
#include "ovs/ovsdb_vswitch.h"

namespace rampart::agent {

absl::StatusOr<std::unique_ptr<RecordsAgent>> RecordsAgent::Connect(const RecordsAgentOptions& options) {
  std::unique_ptr<RecordsAgent> a(new RecordsAgent());
  a->options_ = options;
  if (a->options_.fwd_interface.empty()) a->options_.fwd_interface = options.firewall_port + "-fwd";
  ovs::OvsdbClientOptions oo;
  oo.socket_path = options.ovsdb;
  auto db = ovs::OvsdbClient::Connect(oo);
  if (!db.ok()) return db.status();
  a->ovsdb_ = std::move(*db);
  std::string mgmt = options.openflow;
  if (mgmt.rfind("unix:", 0) == 0) mgmt = mgmt.substr(5);
  a->openflow_ = std::make_unique<ofp::OpenFlowClient>(ofp::UnixSocketConnector(mgmt));
  a->openflow_->Start();
  if (auto st = a->openflow_->WaitConnected(absl::Seconds(10)); !st.ok()) {
    return absl::UnavailableError(absl::StrCat("OpenFlow connection to ", mgmt, ": ", std::string(st.message())));
  }
  a->sync_ = std::make_unique<ofp::FlowTableSync>(*a->openflow_);
  return a;
}

RecordsAgent::~RecordsAgent() {
  sync_.reset();
  if (openflow_) openflow_->Stop();
}

absl::StatusOr<LocalFacts> RecordsAgent::ReadFacts() {
  LocalFacts f;
  f.host = options_.host;
  auto fw = ReadOfport(*ovsdb_, options_.firewall_port);
  if (!fw.ok()) return fw.status();
  f.firewall_port = *fw;
  auto tun = ReadOfport(*ovsdb_, options_.tunnel_port);
  if (!tun.ok()) return tun.status();
  f.tunnel_port = *tun;
  auto vms = ReadVmOfports(*ovsdb_);
  if (!vms.ok()) return vms.status();
  f.vms = std::move(*vms);
  return f;
}

absl::StatusOr<bool> RecordsAgent::PortsChanged() {
  auto f = ReadFacts();
  if (!f.ok()) return f.status();
  return !applied_ || f->firewall_port != applied_facts_.firewall_port || f->tunnel_port != applied_facts_.tunnel_port ||
         f->vms != applied_facts_.vms;
}

absl::StatusOr<RecordsApplyReport> RecordsAgent::Apply(const records::RecordSet& records) {
  RecordsApplyReport report;
  if (auto st = EnsureFirewallVeth(*ovsdb_, options_.bridge, options_.firewall_port, options_.fwd_interface); !st.ok()) return st;
  if (auto t = EnsureTunnelPort(*ovsdb_, options_.bridge, options_.tunnel_port); !t.ok()) return t.status();
  {
    // ovs-vswitchd numbers a new port asynchronously.
    ovs::VswitchDb vs(*ovsdb_);
    if (auto of = vs.WaitForOfport(options_.firewall_port, absl::Seconds(10)); !of.ok()) return of.status();
    (void)vs.WaitForOfport(options_.tunnel_port, absl::Seconds(2));
  }
  auto facts = ReadFacts();
  if (!facts.ok()) return facts.status();
  report.vm_ports = facts->vms.size();

  auto fei = ConnectFei(options_.fwd_socket);
  if (!fei.ok()) return fei.status();
  // rampart-fwd first: no frame is steered to an instance before it has its policy and tags.
  auto add = ReconcileFei(**fei, records, FeiPhase::kAdd);
  if (!add.ok()) return add.status();

  Translation t = TranslateRecords(records, *facts);
  for (const auto& [reason, n] : t.stats.skipped) {
    if (reason.rfind("vm port not on br-int", 0) == 0) continue;  // normal while VMs start
    if (logged_.insert(reason).second) {
      auto ex = t.stats.unknown_examples.find(reason);
      std::fprintf(stderr, "rampart-agent: translation: %s (%zu)%s%s\n", reason.c_str(), n,
                   ex == t.stats.unknown_examples.end() ? "" : ", e.g. ", ex == t.stats.unknown_examples.end() ? "" : ex->second.c_str());
    }
  }
  report.flows = t.flows.size();
  report.translate = std::move(t.stats);
  auto sync = sync_->SetDesired(std::move(t.flows));
  if (!sync.ok()) return sync.status();
  report.sync = *sync;
  // From now on an OVS restart (a new OpenFlow session) re-installs the difference.
  sync_->StartAutoResync();

  auto rem = ReconcileFei(**fei, records, FeiPhase::kRemove);
  if (!rem.ok()) return rem.status();
  report.fei = *add;
  report.fei.instances_deleted += rem->instances_deleted;
  report.fei.tags_unbound += rem->tags_unbound;
  report.fei.services_deleted += rem->services_deleted;
  applied_facts_ = std::move(*facts);
  applied_ = true;
  return report;
}

}  // namespace rampart::agent
