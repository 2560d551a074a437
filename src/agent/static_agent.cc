#include "agent/static_agent.h"

#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/host_pipeline.h"
#include "agent/host_switch.h"
#include "fwd/fei_server.h"
#include "ovs/openflow_transport.h"
#include "ovs/ovsdb_vswitch.h"

namespace rampart::agent {

using nlohmann::json;

absl::StatusOr<std::unique_ptr<StaticAgent>> StaticAgent::Connect(const StaticAgentOptions& options) {
  std::unique_ptr<StaticAgent> a(new StaticAgent());
  a->options_ = options;
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
    return absl::UnavailableError(absl::StrCat("OpenFlow connection to ", mgmt, ": ", st.message()));
  }
  a->sync_ = std::make_unique<ofp::FlowTableSync>(*a->openflow_);
  return a;
}

StaticAgent::~StaticAgent() {
  sync_.reset();
  if (openflow_) openflow_->Stop();
}

absl::Status StaticAgent::EnsureFirewallVeth(const StaticConfig& c) {
  std::string ovs_end = c.firewall_port;
  std::string fwd_end = options_.fwd_interface.empty() ? ovs_end + "-fwd" : options_.fwd_interface;
  return agent::EnsureFirewallVeth(*ovsdb_, c.bridge, ovs_end, fwd_end);
}

absl::Status StaticAgent::ConfigureFwd(const StaticConfig& c, ApplyReport* report) {
  auto fei = fwd::FeiClient::Connect(options_.fwd_socket);
  if (!fei.ok()) return fei.status();
  fwd::FeiClient& f = **fei;
  // Instances: create what is missing, delete what the configuration no longer has.
  auto list = f.Call("instance.list");
  if (!list.ok()) return list.status();
  std::set<uint32_t> have, want;
  for (const auto& i : (*list)["instances"]) have.insert(i["id"].get<uint32_t>());
  for (const auto& inst : c.instances) {
    want.insert(inst.id);
    if (!have.count(inst.id)) {
      auto r = f.Call("instance.create", {{"id", inst.id}, {"name", inst.name}, {"options", inst.options}});
      if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("instance ", inst.id, ": ", r.status().message()));
      ++report->instances_created;
    }
    auto r = f.Call("policy.set", {{"instance", inst.id}, {"policy", inst.policy_yaml},
                                   {"name", absl::StrCat("instance ", inst.id, " (", inst.name, ") policy")}});
    if (!r.ok()) return r.status();
    if ((*r)["mode"] == "full" || (*r).value("edits", 0) > 0) ++report->policies_changed;
  }
  // Tags: the local protected VMs' two tags each.
  std::map<uint16_t, json> desired;
  for (const auto& vm : c.vms) {
    if (vm.host != options_.host || !vm.protect) continue;
    const Protection& p = *vm.protect;
    desired[p.tag_from_vm] = {{"vid", p.tag_from_vm}, {"instance", p.instance}, {"port", p.port}, {"direction", "from-vm"}, {"return_tag", p.tag_from_vm}};
    desired[p.tag_to_vm] = {{"vid", p.tag_to_vm}, {"instance", p.instance}, {"port", p.port}, {"direction", "to-vm"}, {"return_tag", p.tag_to_vm}};
  }
  auto tags = f.Call("tag.list");
  if (!tags.ok()) return tags.status();
  std::map<uint16_t, json> bound;
  for (const auto& b : (*tags)["bindings"]) bound[b["vid"].get<uint16_t>()] = b;
  for (const auto& [vid, b] : bound) {
    auto it = desired.find(vid);
    bool same = it != desired.end() && it->second["instance"] == b["instance"] && it->second["port"] == b["port"] &&
                it->second["direction"] == b["direction"] && it->second["return_tag"] == b["return_tag"];
    if (!same) {
      if (auto r = f.Call("tag.unbind", {{"vid", vid}}); !r.ok()) return r.status();
      bound.erase(vid);
      if (it == desired.end()) continue;
    }
  }
  for (const auto& [vid, b] : desired) {
    if (bound.count(vid)) continue;
    if (auto r = f.Call("tag.bind", b); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("tag ", vid, ": ", r.status().message()));
    ++report->tags_bound;
  }
  for (uint32_t id : have) {
    if (!want.count(id)) {
      if (auto r = f.Call("instance.delete", {{"id", id}}); !r.ok()) return r.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ApplyReport> StaticAgent::Apply(const StaticConfig& c) {
  if (!c.FindHost(options_.host)) return absl::InvalidArgumentError(absl::StrCat("host '", options_.host, "' is not in the configuration's hosts"));
  ApplyReport report;
  if (auto st = EnsureFirewallVeth(c); !st.ok()) return st;
  ovs::VswitchDb db(*ovsdb_);
  HostPorts ports;
  auto fw = db.WaitForOfport(c.firewall_port, absl::Seconds(10));
  if (!fw.ok()) return fw.status();
  ports.firewall = static_cast<uint32_t>(*fw);
  if (auto tun = db.WaitForOfport(c.tunnel_port, absl::Seconds(2)); tun.ok()) ports.tunnel = static_cast<uint32_t>(*tun);
  for (const auto& vm : c.vms) {
    if (vm.host != options_.host) continue;
    auto p = db.WaitForOfport(vm.ovs_port, absl::Milliseconds(500));
    if (p.ok()) {
      ports.vms[vm.name] = static_cast<uint32_t>(*p);
    } else {
      ++report.vms_missing;
    }
  }
  // The firewall is configured before any frame is steered to it.
  if (auto st = ConfigureFwd(c, &report); !st.ok()) return st;
  auto flows = HostFlows(c, options_.host, ports);
  report.flows = flows.size();
  auto sync = sync_->SetDesired(std::move(flows));
  if (!sync.ok()) return sync.status();
  report.sync = *sync;
  // From now on, when OVS restarts (a new OpenFlow session), re-read its flows and send the
  // difference. Only now: before the first desired state, a resync would delete what a previous
  // agent installed and open a gap in enforcement.
  sync_->StartAutoResync();
  return report;
}

}  // namespace rampart::agent
