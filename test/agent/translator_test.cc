// The translator: records -> OpenFlow, checked per table and end to end with a small OpenFlow
// interpreter (flow_sim.h) on the flows the real logical stage emits for examples/specs.
#include "agent/translator.h"

#include <gtest/gtest.h>

#include "flow_sim.h"
#include "ovs/flow_table_sync.h"
#include "spec_records.h"
#ifdef RAMPART_TEST_HAS_PHYSICAL
#include "controller/physical/physical_stage.h"
#endif

namespace rampart::agent {
namespace {

using ofp::Field;
using testing::FlowSim;
using testing::SimOutput;
using testing::SimPacket;

constexpr uint32_t kFw = 9, kTun = 1;

std::string Spec(const std::string& name) { return std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + name + ".yaml"; }

uint32_t V4(const char* s) { return Ip::Parse(s)->V4Addr(); }

SimPacket Ipv4(uint32_t in_port, const char* src_mac, const char* dst_mac, const char* src, const char* dst, uint8_t proto = 6) {
  SimPacket p;
  p.Set(Field::kInPort, in_port).SetMac(Field::kEthSrc, src_mac).SetMac(Field::kEthDst, dst_mac);
  p.Set(Field::kEthType, 0x0800).Set(Field::kIpv4Src, V4(src)).Set(Field::kIpv4Dst, V4(dst)).Set(Field::kIpProto, proto);
  if (proto == 6) p.Set(Field::kTcpDst, 80);
  return p;
}

std::string Describe(const std::vector<SimOutput>& outs) {
  std::string s;
  for (const auto& o : outs) s += "port " + std::to_string(o.port) + (o.packet.vlan ? " vlan " + std::to_string(o.packet.vid) : "") + "; ";
  return s;
}

std::string Trace(const FlowSim& sim) {
  std::string s = "\ntrace:\n";
  for (const auto& t : sim.trace()) s += "  " + t + "\n";
  return s;
}

class SeedAttached : public ::testing::Test {
 protected:
  void SetUp() override {
    sr_ = testing::RecordsForSpec(Spec("seed-attached"));
    ASSERT_TRUE(sr_.hosts.count("h1"));
    facts_.host = "h1";
    facts_.firewall_port = kFw;
    facts_.tunnel_port = kTun;
    facts_.vms = {{"A/vm1", 5}, {"A/vm3", 6}};
    t_ = TranslateRecords(sr_.hosts["h1"], facts_);
  }
  uint32_t Dp(const char* dp) { return sr_.dp_keys.at({"A", dp}); }
  uint32_t Port(const char* dp, const char* port) { return sr_.port_keys.at({"A", dp, port}); }
  uint16_t AttachTag() { return sr_.tags["h1"].at({"A", "fw", "attach/from-vm"}); }

  testing::SpecRecords sr_;
  LocalFacts facts_;
  Translation t_;
};

TEST_F(SeedAttached, EveryFormTheLogicalStageEmitsTranslates) {
  EXPECT_EQ(t_.stats.Skipped(), 0u);
  for (const auto& [reason, n] : t_.stats.skipped) ADD_FAILURE() << reason << " x" << n << ": " << t_.stats.unknown_examples[reason];
  EXPECT_GT(t_.stats.logical_flows, 50u);
  EXPECT_EQ(t_.stats.openflow_flows, t_.flows.size());
  std::set<ofp::FlowKey> keys;
  for (const auto& f : t_.flows) {
    EXPECT_TRUE(keys.insert(f.Key()).second) << f.ToString();
    EXPECT_TRUE(ofp::CheckPrerequisites(f.match).ok()) << f.ToString();
    EXPECT_EQ(f.cookie, kRecordsCookie);
  }
}

TEST_F(SeedAttached, TablesPerStage) {
  std::map<uint8_t, int> per_table;
  for (const auto& f : t_.flows) ++per_table[f.table];
  for (uint8_t t : {kTableClassify, kTableLsInPortSec, kTableLsInVnic, kTableLsInArp, kTableLsInL2, kTableLsOutVnic,
                    kTableLsOutDeliver, kTableLrInPort, kTableLrInPolicy, kTableLrInRouting, kTableLrInArpResolve, kTableLrOut}) {
    EXPECT_GT(per_table[t], 0) << "table " << int(t);
  }
  // The policy route's inport!= becomes 16 single-bit flows.
  int policy_steer = 0;
  for (const auto& f : t_.flows) {
    if (f.table == kTableLrInPolicy && f.priority == 1000) ++policy_steer;
  }
  EXPECT_EQ(policy_steer, 16);
}

TEST_F(SeedAttached, RoutedFrameIsSteeredThenDelivered) {
  FlowSim sim(t_.flows);
  // vm1 (h1, ls1) -> vm3 (h1, ls2) through r1: the policy route steers it into the firewall.
  SimPacket p = Ipv4(5, "02:00:00:00:01:01", "02:52:bb:6f:44:61", "198.18.1.11", "198.18.2.13");
  auto outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_TRUE(outs[0].packet.vlan);
  EXPECT_EQ(outs[0].packet.vid, AttachTag());
  // It comes back on the same tag and re-enters r1 with the firewall as ingress: routed to vm3.
  SimPacket back = p;
  back.Set(Field::kInPort, kFw);
  back.vlan = true;
  back.vid = AttachTag();
  outs = sim.Run(back);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 6u);
  EXPECT_FALSE(outs[0].packet.vlan);
  EXPECT_EQ(outs[0].packet.Get(Field::kEthDst), 0x020000000203u);
  EXPECT_EQ(outs[0].packet.Get(Field::kEthSrc), 0x0252bb6f3f48u);
  EXPECT_EQ(outs[0].packet.ttl, 63);
}

TEST_F(SeedAttached, ReplyDirectionPassesTheSameFirewallBeforeDelivery) {
  FlowSim sim(t_.flows);
  // vm3 -> vm1 is not matched by the policy route (source 198.18.2.13), but it is routed towards
  // the route's source prefix: before delivery to vm1 it is steered into the same firewall, so
  // its connection table sees both directions.
  SimPacket p = Ipv4(6, "02:00:00:00:02:03", "02:52:bb:6f:3f:48", "198.18.2.13", "198.18.1.11");
  auto outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.vid, AttachTag());
  SimPacket back = outs[0].packet;
  back.Set(Field::kInPort, kFw);
  outs = sim.Run(back);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 5u);
  EXPECT_FALSE(outs[0].packet.vlan);
  // The same for a reply routed on another host and tunneled here (from_tunnel).
  SimPacket t = Ipv4(kTun, "02:52:bb:6f:44:61", "02:00:00:00:01:01", "198.18.2.14", "198.18.1.11");
  t.Set(Field::kTunnelId, Dp("ls1"));
  outs = sim.Run(t);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  // Routed here towards a VM on another host: not steered here (that host does it), tunneled.
  outs = sim.Run(Ipv4(6, "02:00:00:00:02:03", "02:52:bb:6f:3f:48", "198.18.2.13", "198.18.1.12"));
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_FALSE(outs[0].packet.vlan);
  // A frame from vm2 (same switch, not routed) to vm1 is not steered.
  SimPacket l2 = Ipv4(kTun, "02:00:00:00:01:02", "02:00:00:00:01:01", "198.18.1.12", "198.18.1.11");
  l2.Set(Field::kTunnelId, Dp("ls1"));
  outs = sim.Run(l2);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 5u);
}

TEST_F(SeedAttached, SameSwitchTrafficIsNotSteeredAndTunnelsToTheRemoteHost) {
  FlowSim sim(t_.flows);
  auto outs = sim.Run(Ipv4(5, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12"));
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_FALSE(outs[0].packet.vlan);
  EXPECT_EQ(outs[0].packet.Get(Field::kTunnelId), Dp("ls1"));
  EXPECT_EQ(outs[0].packet.Get(Field::kTunIpv4Dst), V4("198.19.255.2"));
  // Routed to a remote VM: steered first, then tunneled on the destination switch's VNI.
  SimPacket back = Ipv4(kFw, "02:00:00:00:01:01", "02:52:bb:6f:44:61", "198.18.1.11", "198.18.2.14");
  back.vlan = true;
  back.vid = AttachTag();
  outs = sim.Run(back);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_EQ(outs[0].packet.Get(Field::kTunnelId), Dp("ls2"));
}

TEST_F(SeedAttached, TaggedFramesFromVmsAreDropped) {
  FlowSim sim(t_.flows);
  SimPacket p = Ipv4(5, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12");
  p.vlan = true;
  p.vid = AttachTag();
  EXPECT_TRUE(sim.Run(p).empty());
  // A spoofed source MAC is dropped by port security.
  EXPECT_TRUE(sim.Run(Ipv4(5, "02:00:00:00:01:09", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12")).empty());
}

TEST_F(SeedAttached, TunnelFramesAreDeliveredOnlyLocally) {
  FlowSim sim(t_.flows);
  SimPacket p = Ipv4(kTun, "02:00:00:00:01:02", "02:00:00:00:01:01", "198.18.1.12", "198.18.1.11");
  p.Set(Field::kTunnelId, Dp("ls1"));
  auto outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 5u);
  // A broadcast from the tunnel goes to the local VM only, never back into a tunnel.
  p.SetMac(Field::kEthDst, "ff:ff:ff:ff:ff:ff");
  outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 5u);
  // For a VM on another host: nothing (no hairpin through this host).
  p.SetMac(Field::kEthDst, "02:00:00:00:01:02");
  EXPECT_TRUE(sim.Run(p).empty());
  // A broadcast from a local VM floods to the tunnel (and not back to the sender).
  SimPacket b = Ipv4(5, "02:00:00:00:01:01", "ff:ff:ff:ff:ff:ff", "198.18.1.11", "198.18.1.255", 17);
  outs = sim.Run(b);
  std::set<uint32_t> ports;
  for (const auto& o : outs) ports.insert(o.port);
  EXPECT_EQ(ports, (std::set<uint32_t>{kTun})) << Describe(outs);  // not back out of in_port 5
}

TEST_F(SeedAttached, ArpRequestsAreAnsweredInOpenFlow) {
  FlowSim sim(t_.flows);
  SimPacket p;
  p.Set(Field::kInPort, 5).SetMac(Field::kEthSrc, "02:00:00:00:01:01").SetMac(Field::kEthDst, "ff:ff:ff:ff:ff:ff");
  p.Set(Field::kEthType, 0x0806).Set(Field::kArpOp, 1).SetMac(Field::kArpSha, "02:00:00:00:01:01");
  p.Set(Field::kArpSpa, V4("198.18.1.11")).Set(Field::kArpTpa, V4("198.18.1.1"));
  auto outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  const SimPacket& r = outs[0].packet;
  EXPECT_EQ(outs[0].port, 5u);  // IN_PORT
  EXPECT_EQ(r.Get(Field::kArpOp), 2u);
  EXPECT_EQ(r.Get(Field::kEthDst), 0x020000000101u);
  EXPECT_EQ(r.Get(Field::kEthSrc), 0x0252bb6f4461u);
  EXPECT_EQ(r.Get(Field::kArpSha), 0x0252bb6f4461u);
  EXPECT_EQ(r.Get(Field::kArpSpa), V4("198.18.1.1"));
  EXPECT_EQ(r.Get(Field::kArpTha), 0x020000000101u);
  EXPECT_EQ(r.Get(Field::kArpTpa), V4("198.18.1.11"));
}

TEST_F(SeedAttached, MissingPortsDegradeSafely) {
  LocalFacts f = facts_;
  f.vms.erase("A/vm3");
  f.firewall_port = 0;
  Translation t = TranslateRecords(sr_.hosts["h1"], f);
  EXPECT_GT(t.stats.skipped["vm port not on br-int (yet)"], 0u);
  FlowSim sim(t.flows);
  // Without the firewall port, steered traffic is dropped (fail closed), never routed around it.
  EXPECT_TRUE(sim.Run(Ipv4(5, "02:00:00:00:01:01", "02:52:bb:6f:44:61", "198.18.1.11", "198.18.2.13")).empty());
  for (const auto& fl : t.flows) EXPECT_EQ(fl.match.Find(Field::kInPort) && fl.match.Find(Field::kInPort)->ValueAsUint() == 6, false);
}

TEST_F(SeedAttached, DeterministicAndUnchangedRecordsGiveEqualFlows) {
  Translation again = TranslateRecords(sr_.hosts["h1"], facts_);
  EXPECT_EQ(again.flows, t_.flows);
}

TEST(Translator, SeedInlineSlicesAndVnicPolicy) {
  auto sr = testing::RecordsForSpec(Spec("seed-inline"));
  ASSERT_TRUE(sr.hosts.count("h1"));
  LocalFacts facts{"h1", kFw, kTun, {{"A/vm1", 5}, {"A/vm3", 6}, {"B/vm2", 7}}};
  Translation t = TranslateRecords(sr.hosts["h1"], facts);
  EXPECT_EQ(t.stats.Skipped(), 0u);
  for (const auto& [reason, n] : t.stats.skipped) ADD_FAILURE() << reason << " x" << n << ": " << t.stats.unknown_examples[reason];
  auto& tags = sr.tags["h1"];
  uint16_t a = tags.at({"A", "fw-inline", "switch/from-vm"}), b = tags.at({"A", "fw-inline", "router/to-vm"});
  FlowSim sim(t.flows);

  // vm3 (ls2) -> vm1 (ls1): ls2's router MAC is the firewall's switch side: steered with tag A.
  std::string r1_ls2_mac, r1_ls1_mac;
  for (const auto* r : sr.hosts["h1"].Table("Flow")) {
    if (r->values[1] == "ls2" && r->values[2] == "ls_in_arp" && r->values[4] == "arp.op==1 && arp.tpa==198.18.2.1")
      r1_ls2_mac = r->values[5].substr(10, 17);
    if (r->values[0] == "A" && r->values[1] == "ls1" && r->values[2] == "ls_in_arp" && r->values[4] == "arp.op==1 && arp.tpa==198.18.1.1")
      r1_ls1_mac = r->values[5].substr(10, 17);
  }
  ASSERT_EQ(r1_ls2_mac.size(), 17u);
  SimPacket p = Ipv4(6, "02:00:00:00:02:03", r1_ls2_mac.c_str(), "198.18.2.13", "198.18.1.11");
  auto outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.vid, a);
  // rampart-fwd lets it out on B: it enters r1 from the firewall's router side and is routed.
  p.Set(Field::kInPort, kFw);
  p.vlan = true;
  p.vid = b;
  outs = sim.Run(p);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 5u);
  // vm1 -> vm3: r1's egress to ls2 goes through the firewall's router side (tag B)...
  SimPacket q = Ipv4(5, "02:00:00:00:01:01", r1_ls1_mac.c_str(), "198.18.1.11", "198.18.2.13");
  outs = sim.Run(q);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.vid, b);
  // ... and comes back on A into ls2, to vm3.
  SimPacket q2 = outs[0].packet;
  q2.Set(Field::kInPort, kFw);
  q2.vid = a;
  outs = sim.Run(q2);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 6u);

  // Tenant B, vm2 under a vNIC policy: its IP frames go to its from-vm slice first.
  uint16_t x = tags.at({"B", "protect-vm2", "vm2/from-vm"}), y = tags.at({"B", "protect-vm2", "vm2/to-vm"});
  SimPacket v = Ipv4(7, "02:00:00:00:01:02", "02:00:00:00:01:01", "198.18.1.12", "198.18.1.11");
  outs = sim.Run(v);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.vid, x);
  // Back from the firewall on X: switched on B's ls1 towards vm1 on h3 (tunnel, B's VNI).
  v.Set(Field::kInPort, kFw);
  v.vlan = true;
  v.vid = x;
  outs = sim.Run(v);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_EQ(outs[0].packet.Get(Field::kTunnelId), sr.dp_keys.at({"B", "ls1"}));
  EXPECT_EQ(outs[0].packet.Get(Field::kTunIpv4Dst), V4("198.19.255.3"));
  // From the tunnel to vm2: its to-vm slice, then delivered.
  SimPacket w = Ipv4(kTun, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12");
  w.Set(Field::kTunnelId, sr.dp_keys.at({"B", "ls1"}));
  outs = sim.Run(w);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.vid, y);
  w = outs[0].packet;
  w.Set(Field::kInPort, kFw);
  outs = sim.Run(w);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 7u);
  // Tenant A's vm1 and tenant B's vm2 share MACs and addresses but never each other's datapath.
  SimPacket cross = Ipv4(5, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12");
  outs = sim.Run(cross);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_EQ(outs[0].packet.Get(Field::kTunnelId), sr.dp_keys.at({"A", "ls1"}));
}

TEST(Translator, UnknownFormsAreSkippedCountedAndFailClosed) {
  records::RecordSet rs;
  rs.Insert({"Datapath", {"A", "ls1", "switch", "7"}});
  rs.Insert({"PortKey", {"A", "ls1", "vm1", "1"}});
  rs.Insert({"VmPort", {"A", "vm1", "ls1", "02:00:00:00:01:01", "A/vm1"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_port_sec", "100", "inport==vm1 && tcp.dst==80", "next"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_port_sec", "90", "inport==vm1", "explode(now)"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_warp", "90", "1", "next"}});
  rs.Insert({"Flow", {"A", "ls9", "ls_in_l2", "90", "1", "next"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_l2", "90", "outport==nobody", "next"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_l2", "abc", "1", "next"}});
  rs.Insert({"Datapath", {"A", "bad", "switch", "0"}});
  Translation t = TranslateRecords(rs, LocalFacts{"h1", kFw, kTun, {{"A/vm1", 5}}});
  EXPECT_EQ(t.stats.logical_flows, 6u);
  EXPECT_EQ(t.stats.skipped["unknown match field 'tcp.dst'"], 1u);
  EXPECT_EQ(t.stats.skipped["unknown action 'explode(...)' (flow installed as drop)"], 1u);
  EXPECT_EQ(t.stats.skipped["unknown stage 'ls_in_warp' for a switch"], 1u);
  EXPECT_EQ(t.stats.skipped["Flow of a datapath without Datapath row"], 1u);
  EXPECT_EQ(t.stats.skipped["unknown logical port in match"], 1u);
  EXPECT_EQ(t.stats.skipped["malformed Flow row"], 1u);
  EXPECT_EQ(t.stats.skipped["malformed Datapath row"], 1u);
  EXPECT_NE(t.stats.unknown_examples["unknown match field 'tcp.dst'"].find("tcp.dst==80"), std::string::npos);
  // The unknown action's flow is a drop at its priority.
  bool found = false;
  for (const auto& f : t.flows) {
    if (f.table == kTableLsInPortSec && f.priority == 90) {
      found = true;
      EXPECT_TRUE(f.instructions.apply.empty());
      EXPECT_FALSE(f.instructions.goto_table.has_value());
    }
  }
  EXPECT_TRUE(found);
}

TEST(Translator, Ipv6PrefixesAndNextHops) {
  records::RecordSet rs;
  rs.Insert({"Datapath", {"A", "r1", "router", "3"}});
  rs.Insert({"PortKey", {"A", "r1", "ls1", "1"}});
  rs.Insert({"Flow", {"A", "r1", "lr_in_routing", "129", "ip.dst==2001:db8:1::/64", "outport=ls1; eth.src=02:52:00:00:00:01; nexthop=ip.dst; next"}});
  rs.Insert({"Flow", {"A", "r1", "lr_in_routing", "100", "ip.dst==2001:db8:9::/64", "outport=ls1; nexthop=2001:db8:1::fe; next"}});
  rs.Insert({"Flow", {"A", "r1", "lr_in_arp_resolve", "100", "outport==ls1 && nexthop==2001:db8:1::5", "eth.dst=02:00:00:00:00:05; next"}});
  rs.Insert({"Flow", {"A", "r1", "lr_out", "100", "outport==ls1", "ttl--; output(firewall:fw:router)"}});
  rs.Insert({"Slice", {"A", "fw", "router", "to-vm", "5", "6", "1"}});
  rs.Insert({"PortKey", {"A", "r1", "firewall:fw:router", "2"}});
  Translation t = TranslateRecords(rs, LocalFacts{"h1", kFw, kTun, {}});
  EXPECT_EQ(t.stats.Skipped(), 0u);
  for (const auto& [reason, n] : t.stats.skipped) ADD_FAILURE() << reason << " x" << n << ": " << t.stats.unknown_examples[reason];
  FlowSim sim(t.flows);
  SimPacket p;
  uint8_t dst[16];
  Ip::Parse("2001:db8:1::5")->ToBytes(dst);
  std::array<uint8_t, 16> d{};
  std::copy(dst, dst + 16, d.begin());
  p.fields[Field::kIpv6Dst] = d;
  p.Set(Field::kEthType, 0x86dd).Set(Field::kMetadata, 3);
  auto outs = sim.Run(p, kTableLrInRouting);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_EQ(outs[0].packet.Get(Field::kEthDst), 0x020000000005u);
  EXPECT_EQ(outs[0].packet.Get(Field::kEthSrc), 0x025200000001u);
  EXPECT_EQ(outs[0].packet.Get(ofp::RegField(4)), 0x20010db8u);
  EXPECT_EQ(outs[0].packet.Get(ofp::RegField(7)), 5u);
  // Static route: the next hop is the literal address (not on ls1 here: no MAC, dropped).
  Ip::Parse("2001:db8:9::77")->ToBytes(dst);
  std::copy(dst, dst + 16, d.begin());
  p.fields[Field::kIpv6Dst] = d;
  EXPECT_TRUE(sim.Run(p, kTableLrInRouting).empty());
}

#ifdef RAMPART_TEST_HAS_PHYSICAL
// The records the controller's real physical stage produces (not the test helper's numbering):
// every row of every host of every example translates, and the seed's routed frame is steered.
TEST(Translator, RealPhysicalStageRecordsTranslateCompletely) {
  for (const char* name : {"seed-attached", "seed-inline", "tenant-b-overlap"}) {
    auto spec = controller::ParseNbSpecFile(Spec(name));
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto logical = controller::LogicalStage::Create();
    ASSERT_TRUE(logical.ok());
    auto delta = (*logical)->SetSpec(*spec);
    ASSERT_TRUE(delta.ok()) << delta.status();
    controller::PhysicalStage physical(nullptr);
    ASSERT_TRUE(physical.Load().ok());
    auto per_host = physical.Apply((*logical)->engine(), *delta);
    ASSERT_TRUE(per_host.ok()) << per_host.status();
    for (const auto& h : physical.Hosts()) {
      records::RecordSet rs = physical.Snapshot(h);
      LocalFacts facts{h, kFw, kTun, {}};
      uint32_t next = 10;
      for (const auto* r : rs.Table("VmPort")) facts.vms[r->values[4]] = next++;
      Translation t = TranslateRecords(rs, facts);
      EXPECT_EQ(t.stats.Skipped(), 0u) << name << " " << h;
      for (const auto& [reason, n] : t.stats.skipped) ADD_FAILURE() << name << " " << h << ": " << reason << " x" << n << ": " << t.stats.unknown_examples[reason];
      EXPECT_GT(t.flows.size(), 10u);
      if (std::string(name) == "seed-inline" && h == "h3") {
        // B/vm1 -> B/vm2 (vNIC-protected, on h1): not judged here; tunneled to h1, which judges it.
        FlowSim sim(t.flows);
        auto outs = sim.Run(Ipv4(facts.vms.at("B/vm1"), "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12"));
        ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
        EXPECT_EQ(outs[0].port, kTun);
        EXPECT_EQ(outs[0].packet.Get(Field::kTunIpv4Dst), V4("198.19.255.1"));
        EXPECT_FALSE(outs[0].packet.vlan);
      }
      if (std::string(name) == "seed-attached" && h == "h1") {
        FlowSim sim(t.flows);
        uint32_t vm1 = facts.vms.at("A/vm1"), vm3 = facts.vms.at("A/vm3");
        auto outs = sim.Run(Ipv4(vm1, "02:00:00:00:01:01", "02:52:bb:6f:44:61", "198.18.1.11", "198.18.2.13"));
        ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
        EXPECT_EQ(outs[0].port, kFw);
        SimPacket back = outs[0].packet;
        back.Set(Field::kInPort, kFw);
        outs = sim.Run(back);
        ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
        EXPECT_EQ(outs[0].port, vm3);
      }
    }
  }
}
#endif

}  // namespace
}  // namespace rampart::agent
