#include "agent/host_pipeline.h"

#include <gtest/gtest.h>

#include <set>

namespace rampart::agent {
namespace {

StaticConfig Sample() {
  auto c = ParseStaticConfig(R"(
hosts: [{name: h1, underlay: 198.19.255.1}, {name: h2, underlay: 198.19.255.2}, {name: h3, underlay: 198.19.255.3}]
instances: [{id: 1, policy: "default: allow"}]
vms:
  - {name: a1, mac: "02:00:00:00:01:01", host: h1, protect: {instance: 1, port: 1, tags: [101, 102]}}
  - {name: a2, mac: "02:00:00:00:01:02", host: h1}
  - {name: a3, mac: "02:00:00:00:01:03", host: h1}
  - {name: b1, mac: "02:00:00:00:02:01", host: h2}
  - {name: c1, mac: "02:00:00:00:03:01", host: h3}
)", "t");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

std::vector<std::string> Strings(const std::vector<ofp::Flow>& flows) {
  std::vector<std::string> out;
  for (const auto& f : flows) out.push_back(f.ToString());
  return out;
}

bool Has(const std::vector<std::string>& flows, const std::string& needle) {
  for (const auto& f : flows) {
    if (f.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(HostPipeline, SteersProtectedVmThroughTheFirewallWithItsTags) {
  HostPorts ports{.firewall = 9, .tunnel = 1, .vms = {{"a1", 2}, {"a2", 3}}};  // a3's port is missing
  auto flows = HostFlows(Sample(), "h1", ports);
  auto s = Strings(flows);
  for (const auto& f : s) SCOPED_TRACE(f);
  // The VM's own tags are dropped on every local VM port.
  EXPECT_TRUE(Has(s, "priority=300,in_port=2,vlan_vid=4096/4096 actions=drop"));
  EXPECT_TRUE(Has(s, "priority=300,in_port=3,vlan_vid=4096/4096 actions=drop"));
  // IP from a1 goes to the firewall with tag 101; to a1 with tag 102.
  EXPECT_TRUE(Has(s, "set_field:4197->vlan_vid,output:9"));
  EXPECT_TRUE(Has(s, "set_field:4198->vlan_vid,output:9"));
  // Nothing for a3 (no port yet); nothing steers the unprotected a2 to the firewall.
  EXPECT_FALSE(Has(s, "02:00:00:00:01:03"));
  for (const auto& f : flows) {
    const auto* in = f.match.Find(ofp::Field::kInPort);
    if (in && in->ValueAsUint() == 3) {
      for (const auto& a : f.instructions.apply) EXPECT_NE(a.type, ofp::Action::Type::kPushVlan) << f.ToString();
    }
  }
  // Remote VMs through the tunnel to their host's underlay address.
  EXPECT_TRUE(Has(s, "set_field:198.19.255.2->tun_dst,output:1"));
  EXPECT_TRUE(Has(s, "set_field:198.19.255.3->tun_dst,output:1"));
}

TEST(HostPipeline, IsDeterministicOwnedAndHasNoDuplicateKeys) {
  HostPorts ports{.firewall = 9, .tunnel = 1, .vms = {{"a1", 2}, {"a2", 3}, {"a3", 4}}};
  auto a = HostFlows(Sample(), "h1", ports);
  auto b = HostFlows(Sample(), "h1", ports);
  EXPECT_EQ(a, b);
  std::set<ofp::FlowKey> keys;
  for (const auto& f : a) {
    EXPECT_EQ(f.cookie, kAgentCookie);
    EXPECT_TRUE(keys.insert(f.Key()).second) << "duplicate " << f.ToString();
  }
}

TEST(HostPipeline, RemoteHostSeesTheVmOnlyAsATunnelDestination) {
  HostPorts ports{.firewall = 5, .tunnel = 1, .vms = {{"b1", 2}}};
  auto s = Strings(HostFlows(Sample(), "h2", ports));
  EXPECT_FALSE(Has(s, "->vlan_vid")) << "h2 has no protected VM: nothing is steered to its firewall";
  EXPECT_TRUE(Has(s, "dl_dst=02:00:00:00:01:01,reg2=0x0 actions=set_field:0x1389->tun_id,set_field:198.19.255.1->tun_dst,output:1"));
}

}  // namespace
}  // namespace rampart::agent
