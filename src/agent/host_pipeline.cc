#include "agent/host_pipeline.h"

namespace rampart::agent {

namespace {

using ofp::Action;
using ofp::Field;
using ofp::Flow;
using ofp::Match;

constexpr uint8_t kTableIngress = 0;
constexpr uint8_t kTableL2 = 1;
constexpr int kRegFromTunnel = 2;  // reg2 = 1: the frame came in through the tunnel
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;

Flow MakeFlow(uint8_t table, uint16_t priority, Match match, std::vector<Action> actions,
              std::optional<uint8_t> goto_table = std::nullopt) {
  Flow f;
  f.table = table;
  f.priority = priority;
  f.match = std::move(match);
  f.instructions.apply = std::move(actions);
  f.instructions.goto_table = goto_table;
  f.cookie = kAgentCookie;
  return f;
}

std::vector<Action> TagAndOutput(uint16_t tag, uint32_t port) {
  return {Action::PushVlan(0x8100), Action::SetField(Field::kVlanVid, ofp::kVlanPresent | tag), Action::Output(port)};
}

}  // namespace

std::vector<Flow> HostFlows(const StaticConfig& c, std::string_view host, const HostPorts& ports) {
  std::vector<Flow> flows;
  const ofp::Mac kBroadcast = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  std::vector<uint32_t> local_ports;
  std::map<std::string, std::vector<const VmConfig*>> remote_by_host;

  for (const VmConfig& vm : c.vms) {
    if (vm.host != host) {
      remote_by_host[vm.host].push_back(&vm);
      continue;
    }
    auto it = ports.vms.find(vm.name);
    if (it == ports.vms.end()) continue;
    uint32_t p = it->second;
    local_ports.push_back(p);
    // Ingress from the VM. A VM never chooses a slice: any 802.1Q tag it sends is dropped.
    flows.push_back(MakeFlow(kTableIngress, 300, Match().InPort(p).VlanVid(ofp::kVlanPresent, ofp::kVlanPresent), {}));
    if (vm.protect) {
      // Every IP frame it sends is judged first (from-vm), then switched.
      for (uint16_t et : {kEthIpv4, kEthIpv6}) {
        flows.push_back(MakeFlow(kTableIngress, 200, Match().InPort(p).EthType(et), TagAndOutput(vm.protect->tag_from_vm, ports.firewall)));
      }
      // Back from the firewall. rampart-fwd returns an allowed frame with the tag it came in
      // with, and sends a reject reply (TCP RST, ICMP unreachable) on that same tag towards the
      // sender; the destination MAC tells the two apart.
      uint16_t from = ofp::kVlanPresent | vm.protect->tag_from_vm;
      uint16_t to = ofp::kVlanPresent | vm.protect->tag_to_vm;
      // from-vm tag: a reply to the VM itself goes straight to it; the rest is switched.
      flows.push_back(MakeFlow(kTableIngress, 210, Match().InPort(ports.firewall).VlanVid(from).EthDst(vm.mac),
                               {Action::PopVlan(), Action::Output(p)}));
      flows.push_back(MakeFlow(kTableIngress, 200, Match().InPort(ports.firewall).VlanVid(from), {Action::PopVlan()}, kTableL2));
      // to-vm tag: frames for the VM are delivered; a reply to whoever sent it is switched.
      flows.push_back(MakeFlow(kTableIngress, 210, Match().InPort(ports.firewall).VlanVid(to).EthDst(vm.mac),
                               {Action::PopVlan(), Action::Output(p)}));
      flows.push_back(MakeFlow(kTableIngress, 200, Match().InPort(ports.firewall).VlanVid(to), {Action::PopVlan()}, kTableL2));
    }
    // Everything else from the VM (ARP; all frames of an unprotected VM) is switched directly.
    flows.push_back(MakeFlow(kTableIngress, 100, Match().InPort(p), {}, kTableL2));

    // L2: frames for this VM.
    if (vm.protect) {
      for (uint16_t et : {kEthIpv4, kEthIpv6}) {
        flows.push_back(MakeFlow(kTableL2, 200, Match().EthDst(vm.mac).EthType(et), TagAndOutput(vm.protect->tag_to_vm, ports.firewall)));
      }
    }
    flows.push_back(MakeFlow(kTableL2, 100, Match().EthDst(vm.mac), {Action::Output(p)}));
  }

  // From the tunnel: the source host already judged the frame as it left its VM.
  if (ports.tunnel) {
    flows.push_back(MakeFlow(kTableIngress, 100, Match().InPort(ports.tunnel),
                             {Action::SetField(ofp::RegField(kRegFromTunnel), 1)}, kTableL2));
  }
  // Remote VMs: into the tunnel, unless the frame came from it (no hairpin between hosts).
  std::vector<Action> flood_remote;
  for (const auto& [h, vms] : remote_by_host) {
    const HostConfig* hc = c.FindHost(h);
    if (!hc || !ports.tunnel) continue;
    std::vector<Action> tunnel = {Action::SetField(Field::kTunnelId, c.vni),
                                  Action::SetField(Field::kTunIpv4Dst, hc->underlay.V4Addr()),
                                  Action::Output(ports.tunnel)};
    flood_remote.insert(flood_remote.end(), tunnel.begin(), tunnel.end());
    for (const VmConfig* vm : vms) {
      flows.push_back(MakeFlow(kTableL2, 100, Match().EthDst(vm->mac).Reg(kRegFromTunnel, 0), tunnel));
    }
  }
  // Broadcast (ARP requests): every local VM port (OVS never sends a frame back out its in_port),
  // and every other host unless the frame came from the tunnel.
  std::vector<Action> flood_local;
  for (uint32_t p : local_ports) flood_local.push_back(Action::Output(p));
  std::vector<Action> flood_all = flood_local;
  flood_all.insert(flood_all.end(), flood_remote.begin(), flood_remote.end());
  flows.push_back(MakeFlow(kTableL2, 50, Match().EthDst(kBroadcast).Reg(kRegFromTunnel, 0), flood_all));
  flows.push_back(MakeFlow(kTableL2, 50, Match().EthDst(kBroadcast).Reg(kRegFromTunnel, 1), flood_local));
  // Anything else is dropped (explicit, so dump-flows shows the decision).
  flows.push_back(MakeFlow(kTableIngress, 0, Match(), {}));
  flows.push_back(MakeFlow(kTableL2, 0, Match(), {}));
  return flows;
}

}  // namespace rampart::agent
