// The translator: records -> OpenFlow, checked per table and end to end with a small OpenFlow
// interpreter (flow_sim.h) on the flows the real logical stage emits for examples/specs.
#include "agent/translator.h"

#include <gtest/gtest.h>

#include <random>

#include "flow_sim.h"
#include "ovs/flow_table_sync.h"
#include "ovs/ofp_codec.h"
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
  for (const char* name : {"seed-attached", "seed-inline", "tenant-b-overlap", "ipv6-routed"}) {
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

// ---------------------------------------------------------------- IPv6 neighbour discovery
// examples/specs/ipv6-routed.yaml (2002:c612::/31: the 6to4 image of the lab's 198.18.0.0/15):
// ls1 2002:c612:1::/64 (vm1 h1, vm2 h1), ls2 2002:c612:2::/64 (vm3 h2, vm4 h1 with a vNIC
// policy), router r1 at ::1 on both.

std::array<uint8_t, 16> V6(const std::string& s) {
  std::array<uint8_t, 16> b{};
  auto ip = Ip::Parse(s);
  EXPECT_TRUE(ip.has_value()) << s;
  if (ip) ip->ToBytes(b.data());
  return b;
}

// A neighbour solicitation as Linux sends it for address resolution: to the target's
// solicited-node group, with the sender's MAC in the source link-layer address option.
SimPacket Solicit(uint32_t in_port, uint64_t src_mac, const std::string& src, const std::string& target) {
  SimPacket p;
  auto t = V6(target);
  std::array<uint8_t, 16> group = V6("ff02::1:ff00:0");
  group[13] = t[13];
  group[14] = t[14];
  group[15] = t[15];
  p.Set(Field::kInPort, in_port).Set(Field::kEthSrc, src_mac);
  p.Set(Field::kEthDst, 0x3333ff000000ull | uint64_t{t[13]} << 16 | uint64_t{t[14]} << 8 | t[15]);
  p.Set(Field::kEthType, 0x86dd).Set(Field::kIpProto, 58);
  p.fields[Field::kIpv6Src] = V6(src);
  p.fields[Field::kIpv6Dst] = group;
  p.Set(Field::kIcmpv6Type, 135).Set(Field::kIcmpv6Code, 0);
  p.fields[Field::kNdTarget] = t;
  p.Set(Field::kNdSll, src_mac);
  return p;
}

class Ipv6Routed : public ::testing::Test {
 protected:
  void SetUp() override {
    sr_ = testing::RecordsForSpec(Spec("ipv6-routed"));
    ASSERT_TRUE(sr_.hosts.count("h1"));
    auto spec = controller::ParseNbSpecFile(Spec("ipv6-routed"));
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = *spec;
    facts_.host = "h1";
    facts_.firewall_port = kFw;
    facts_.tunnel_port = kTun;
    facts_.vms = {{"A/vm1", 5}, {"A/vm2", 6}, {"A/vm4", 7}};
    t_ = TranslateRecords(sr_.hosts["h1"], facts_);
  }
  uint64_t RouterMac(const std::string& sw) const {
    for (const auto& p : spec_.routers.at(0).ports) if (p.sw == sw) return p.mac;
    ADD_FAILURE() << "no router port on " << sw;
    return 0;
  }
  // Every known address of the spec -> (MAC, is a router port).
  std::map<std::string, std::pair<uint64_t, bool>> Known() const {
    std::map<std::string, std::pair<uint64_t, bool>> k;
    for (const auto& p : spec_.ports) for (const auto& ip : p.ips) k[ip.ToString()] = {p.mac, false};
    for (const auto& p : spec_.routers.at(0).ports) k[p.ip.ToString()] = {p.mac, true};
    return k;
  }
  // Checks that `outs` is exactly the advertisement for `ns` (the reference: RFC 4861 section
  // 7.2.4 with the S and O flags, R for a router) from `mac`.
  void ExpectAdvert(const std::vector<SimOutput>& outs, const SimPacket& ns, uint64_t mac, bool router, const FlowSim& sim) {
    ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
    const SimPacket& na = outs[0].packet;
    EXPECT_EQ(outs[0].port, ns.Get(Field::kInPort));  // back where it came from
    EXPECT_FALSE(na.vlan);
    EXPECT_EQ(na.Get(Field::kEthDst), ns.Get(Field::kEthSrc));
    EXPECT_EQ(na.Get(Field::kEthSrc), mac);
    EXPECT_EQ(na.fields.at(Field::kIpv6Dst), ns.fields.at(Field::kIpv6Src));
    EXPECT_EQ(na.fields.at(Field::kIpv6Src), ns.fields.at(Field::kNdTarget));
    EXPECT_EQ(na.fields.at(Field::kNdTarget), ns.fields.at(Field::kNdTarget));
    EXPECT_EQ(na.Get(Field::kIcmpv6Type), 136u);
    EXPECT_EQ(na.Get(Field::kIcmpv6Code), 0u);
    EXPECT_EQ(na.Get(Field::kNdReserved), router ? 0xe0000000u : 0x60000000u);
    EXPECT_EQ(na.Get(Field::kNdOptionsType), 2u);
    EXPECT_EQ(na.Get(Field::kNdTll), mac);
  }

  testing::SpecRecords sr_;
  controller::NbSpec spec_;
  LocalFacts facts_;
  Translation t_;
};

TEST_F(Ipv6Routed, EveryFormTranslatesAndNdFlowsCarryOvsPrerequisites) {
  EXPECT_EQ(t_.stats.Skipped(), 0u);
  for (const auto& [reason, n] : t_.stats.skipped) ADD_FAILURE() << reason << " x" << n << ": " << t_.stats.unknown_examples[reason];
  int answers = 0, na_table = 0;
  for (const auto& f : t_.flows) {
    EXPECT_TRUE(ofp::CheckPrerequisites(f.match).ok()) << f.ToString();
    const auto* type = f.match.Find(Field::kIcmpv6Type);
    bool nd_match = f.match.Find(Field::kNdTarget) || f.match.Find(Field::kNdSll) || f.match.Find(Field::kNdTll);
    if (nd_match) {  // OVS: nd_* need an ND message (ICMPv6 135/136, code 0); nd_sll a solicitation,
                     // nd_tll an advertisement (port security's advertisement flows)
      ASSERT_NE(type, nullptr) << f.ToString();
      uint64_t want = f.match.Find(Field::kNdTll) ? 136u : f.match.Find(Field::kNdSll) ? 135u : type->ValueAsUint();
      EXPECT_EQ(type->ValueAsUint(), want) << f.ToString();
      EXPECT_TRUE(want == 135u || want == 136u) << f.ToString();
      if (f.table != kTableLsInPortSec) {
        EXPECT_EQ(type->ValueAsUint(), 135u) << f.ToString();
      }
      ASSERT_NE(f.match.Find(Field::kIcmpv6Code), nullptr) << f.ToString();
      EXPECT_EQ(f.match.Find(Field::kIcmpv6Code)->ValueAsUint(), 0u);
      EXPECT_EQ(f.match.Find(Field::kIpProto)->ValueAsUint(), 58u);
    }
    for (const auto& a : f.instructions.apply) {
      bool sets_tll = (a.type == ofp::Action::Type::kSetField && a.field.field == Field::kNdTll) ||
                      (a.type == ofp::Action::Type::kRegMove && a.move.dst == Field::kNdTll);
      bool sets_nd = a.type == ofp::Action::Type::kSetField &&
                     (a.field.field == Field::kNdReserved || a.field.field == Field::kNdOptionsType);
      if (sets_tll) {  // OVS: nd_tll only in a flow that matches an advertisement
        ASSERT_NE(type, nullptr) << f.ToString();
        EXPECT_EQ(type->ValueAsUint(), 136u) << f.ToString();
        EXPECT_EQ(f.table, kTableNdNa);
        ++na_table;
      }
      if (sets_nd) {
        EXPECT_TRUE(nd_match) << f.ToString();
      }
    }
    if (f.table == kTableLsInArp && f.match.Find(Field::kNdTarget)) ++answers;
  }
  EXPECT_EQ(answers, 3 + 3);  // ls1: vm1, vm2, r1; ls2: vm3, vm4, r1 (both switches run on h1)
  EXPECT_EQ(na_table, 1);
}

TEST_F(Ipv6Routed, EveryKnownAddressIsAnsweredFromEveryLocalPort) {
  FlowSim sim(t_.flows);
  struct From { uint32_t ofport; uint64_t mac; const char* ip; const char* cidr; };
  const From kFrom[] = {{5, 0x020000000101ull, "2002:c612:1::11", "2002:c612:1::/64"},
                        {6, 0x020000000102ull, "2002:c612:1::12", "2002:c612:1::/64"},
                        {7, 0x020000000204ull, "2002:c612:2::14", "2002:c612:2::/64"}};
  int checked = 0;
  for (const From& f : kFrom) {
    for (const auto& [addr, mac_router] : Known()) {
      bool same_switch = Prefix::Parse(f.cidr)->Contains(*Ip::Parse(addr));
      SimPacket ns = Solicit(f.ofport, f.mac, f.ip, addr);
      auto outs = sim.Run(ns);
      if (!same_switch) {
        // An address of the other switch is not on this link: no answer (and the multicast
        // solicitation is not forwarded anywhere either).
        EXPECT_TRUE(outs.empty()) << f.ip << " -> " << addr << Describe(outs) << Trace(sim);
        continue;
      }
      SCOPED_TRACE(std::string(f.ip) + " asks for " + addr);
      ExpectAdvert(outs, ns, mac_router.first, mac_router.second, sim);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3 + 3 + 3);  // vm1 and vm2: vm1, vm2, r1; vm4: vm3, vm4, r1
  EXPECT_EQ(RouterMac("ls1"), Known().at("2002:c612:1::1").first);
}

TEST_F(Ipv6Routed, UnknownTargetsAndDadProbesAreNotAnswered) {
  FlowSim sim(t_.flows);
  auto known = Known();
  std::mt19937_64 rng(7);
  int tried = 0;
  for (int i = 0; i < 300; ++i) {
    auto b = V6("2002:c612:1::");
    for (int j = 8; j < 16; ++j) b[j] = static_cast<uint8_t>(rng() & (j < 14 ? 0x00 : 0xff));
    std::string target = Ip::V6(b.data()).ToString();
    if (known.count(target)) continue;
    ++tried;
    auto outs = sim.Run(Solicit(5, 0x020000000101ull, "2002:c612:1::11", target));
    EXPECT_TRUE(outs.empty()) << target << Describe(outs) << Trace(sim);
  }
  EXPECT_GT(tried, 200);
  // Duplicate address detection: from ::, no source link-layer address option. Answering it
  // would make the VM give up its own address.
  SimPacket dad = Solicit(5, 0x020000000101ull, "::", "2002:c612:1::11");
  dad.Set(Field::kNdSll, 0);
  EXPECT_TRUE(sim.Run(dad).empty()) << Trace(sim);
  // Another ICMPv6 message (an echo request to vm2) is forwarded, not mistaken for a solicitation.
  SimPacket echo = Solicit(5, 0x020000000101ull, "2002:c612:1::11", "2002:c612:1::12");
  echo.Set(Field::kIcmpv6Type, 128).Set(Field::kEthDst, 0x020000000102ull);
  echo.fields[Field::kIpv6Dst] = V6("2002:c612:1::12");
  auto outs = sim.Run(echo);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, 6u);
  EXPECT_EQ(outs[0].packet.Get(Field::kIcmpv6Type), 128u);
}

TEST_F(Ipv6Routed, VnicProtectedVmResolvesItsGatewayWithoutTheFirewall) {
  FlowSim sim(t_.flows);
  SimPacket ns = Solicit(7, 0x020000000204ull, "2002:c612:2::14", "2002:c612:2::1");
  auto outs = sim.Run(ns);
  ExpectAdvert(outs, ns, RouterMac("ls2"), /*router=*/true, sim);
  // Its other IPv6 traffic is still steered into the policy (from-vm slice).
  SimPacket ip = ns;
  ip.Set(Field::kIcmpv6Type, 128).Set(Field::kEthDst, RouterMac("ls2"));
  ip.fields[Field::kIpv6Dst] = V6("2002:c612:1::11");
  outs = sim.Run(ip);
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kFw);
  EXPECT_TRUE(outs[0].packet.vlan);
}

TEST(TranslatorNd, BadNdFormsAreSkippedAndFailClosed) {
  records::RecordSet rs;
  rs.Insert({"Datapath", {"A", "ls1", "switch", "7"}});
  rs.Insert({"PortKey", {"A", "ls1", "vm1", "1"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "50", "nd.target==2002:c612:1::5", "nd_na(02:00:00:00:00:05)"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "51", "nd.ns && nd.target==198.18.1.5", "nd_na(02:00:00:00:00:05)"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "52", "nd.ns", "nd_na(02:00:00:00:00:05)"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "53", "nd.ns && nd.target==2002:c612:1::5", "nd_na(02:00:00:00:00)"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "54", "nd.sll==02:00:00:00:00:01", "next"}});
  rs.Insert({"Flow", {"A", "ls1", "ls_in_arp", "55", "arp.op==1 && nd.ns", "next"}});
  Translation t = TranslateRecords(rs, LocalFacts{"h1", kFw, kTun, {}});
  EXPECT_EQ(t.stats.skipped["nd.target without nd.ns or nd.na before it"], 1u);
  EXPECT_EQ(t.stats.skipped["bad nd.target (an IPv6 address)"], 1u);
  EXPECT_EQ(t.stats.skipped["nd_na without nd.ns && nd.target in the match (flow installed as drop)"], 1u);
  EXPECT_EQ(t.stats.skipped["bad MAC in nd_na (flow installed as drop)"], 1u);
  EXPECT_EQ(t.stats.skipped["nd.sll without nd.ns before it"], 1u);
  // ARP and ND contradict: no flow at all (the alternative matches nothing).
  for (const auto& f : t.flows) {
    EXPECT_NE(f.priority, 55) << f.ToString();
    if (f.table == kTableLsInArp && (f.priority == 52 || f.priority == 53)) {
      EXPECT_TRUE(f.instructions.apply.empty()) << f.ToString();
      EXPECT_FALSE(f.instructions.goto_table.has_value()) << f.ToString();
    }
    EXPECT_NE(f.table, kTableNdNa) << "no nd_na translated, so no table 16: " << f.ToString();
  }
}

TEST_F(SeedAttached, Ipv4OnlyNetworksGetNoNdFlows) {
  for (const auto& f : t_.flows) {
    EXPECT_NE(f.table, kTableNdNa) << f.ToString();
    EXPECT_EQ(f.match.Find(Field::kNdTarget), nullptr) << f.ToString();
  }
}


// ---------------------------------------------------------------- L3 port security
// The reference: what a VM port with addresses may send (docs/logical-stage.md, "Port
// security"), written out plainly, against the flows walked by FlowSim. A frame "passes" when
// it leaves the pipeline anywhere (the test frames go unicast to a VM the switch can deliver
// to, or are ARP/ND the flows answer); a frame port security drops leaves nowhere.
struct PortSecRef {
  uint64_t mac = 0;
  std::set<uint32_t> v4;                     // its IPv4 addresses
  std::set<std::array<uint8_t, 16>> src6;    // its IPv6 addresses + link-local (empty: no IPv6)

  bool Allowed(const SimPacket& p) const {
    if (p.Get(Field::kEthSrc) != mac) return false;
    uint64_t type = p.Get(Field::kEthType);
    if (type == 0x0800) return v4.count(static_cast<uint32_t>(p.Get(Field::kIpv4Src))) > 0;
    if (type == 0x0806) return p.Get(Field::kArpSha) == mac && v4.count(static_cast<uint32_t>(p.Get(Field::kArpSpa))) > 0;
    if (type != 0x86dd) return true;  // not IP, not ARP: the L2 rule alone
    if (src6.empty()) return false;
    std::array<uint8_t, 16> src = p.fields.count(Field::kIpv6Src) ? p.fields.at(Field::kIpv6Src) : std::array<uint8_t, 16>{};
    bool own = src6.count(src) > 0, unspecified = src == std::array<uint8_t, 16>{};
    bool nd = p.Get(Field::kIpProto) == 58 && p.Get(Field::kIcmpv6Code) == 0;
    uint64_t icmp = p.Get(Field::kIcmpv6Type);
    if (nd && icmp == 135) {
      uint64_t sll = p.Get(Field::kNdSll);
      return (own && (sll == mac || sll == 0)) || (unspecified && sll == 0);
    }
    if (nd && icmp == 136) {
      uint64_t tll = p.Get(Field::kNdTll);
      return own && src6.count(p.fields.at(Field::kNdTarget)) > 0 && (tll == mac || tll == 0);
    }
    return own || unspecified;
  }
};

// Random frames from `in_port` (the port of `ref`) to `dst_mac`, drawn from pools that mix the
// port's own values with a neighbour's and random ones.
void CheckRandomFrames(const std::vector<ofp::Flow>& flows, uint32_t in_port, uint64_t dst_mac, const PortSecRef& ref,
                       uint64_t other_mac, const std::vector<std::string>& v4_pool, const std::vector<std::string>& v6_pool,
                       int n, int* allowed_out) {
  FlowSim sim(flows);
  std::mt19937_64 rng(2026);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  std::vector<uint64_t> macs = {ref.mac, ref.mac, ref.mac, other_mac, 0, 0x02000000ffffull};
  int allowed = 0;
  for (int i = 0; i < n; ++i) {
    SimPacket p;
    p.Set(Field::kInPort, in_port).Set(Field::kEthSrc, pick(macs)).Set(Field::kEthDst, dst_mac);
    switch (rng() % 4) {
      case 0:
        p.Set(Field::kEthType, 0x0800).Set(Field::kIpProto, 17);
        p.Set(Field::kIpv4Src, V4(pick(v4_pool).c_str())).Set(Field::kIpv4Dst, V4(v4_pool[0].c_str()));
        break;
      case 1:
        p.Set(Field::kEthType, 0x0806).Set(Field::kArpOp, 1 + rng() % 2).Set(Field::kArpSha, pick(macs));
        p.Set(Field::kArpSpa, V4(pick(v4_pool).c_str())).Set(Field::kArpTpa, V4(pick(v4_pool).c_str()));
        break;
      case 2: {
        p.Set(Field::kEthType, 0x86dd).Set(Field::kIpProto, 58);
        p.fields[Field::kIpv6Src] = V6(pick(v6_pool));
        p.fields[Field::kIpv6Dst] = V6(v6_pool[0]);
        const uint8_t types[] = {128, 133, 135, 135, 136, 136};
        uint8_t type = types[rng() % 6];
        p.Set(Field::kIcmpv6Type, type).Set(Field::kIcmpv6Code, rng() % 8 == 0 ? 1 : 0);
        if (type == 135 || type == 136) {
          p.fields[Field::kNdTarget] = V6(pick(v6_pool));
          p.Set(type == 135 ? Field::kNdSll : Field::kNdTll, pick(macs));
        }
        break;
      }
      default:
        p.Set(Field::kEthType, 0x88b5);  // local experimental ethertype: neither IP nor ARP
    }
    bool want = ref.Allowed(p);
    auto outs = sim.Run(p);
    allowed += want;
    EXPECT_EQ(!outs.empty(), want) << "frame " << i << " type " << std::hex << p.Get(Field::kEthType) << std::dec
                                   << " src mac " << p.Get(Field::kEthSrc) << Describe(outs) << Trace(sim);
    if (::testing::Test::HasFailure()) return;
  }
  *allowed_out = allowed;
}

TEST_F(SeedAttached, PortSecurityMatchesTheReferenceOnRandomFrames) {
  // vm1 (port 5, 198.18.1.11) sends to vm2 (same switch, on h2: tunneled when it passes).
  PortSecRef ref{0x020000000101ull, {V4("198.18.1.11")}, {}};
  int allowed = 0;
  CheckRandomFrames(t_.flows, 5, 0x020000000102ull, ref, 0x020000000102ull,
                    {"198.18.1.12", "198.18.1.11", "198.18.1.11", "198.18.2.13", "0.0.0.0", "203.0.113.7"},
                    {"2002:c612:1::12", "fe80::ff:fe00:101", "::"}, 3000, &allowed);
  EXPECT_GT(allowed, 300);  // both outcomes are well represented
  EXPECT_LT(allowed, 2700);
}

TEST_F(SeedAttached, SpoofedIpv4AndArpFromAVmAreDroppedItsOwnPass) {
  FlowSim sim(t_.flows);
  // IPv4 from its own address reaches vm2 (tunnel); from vm2's address or any other, nothing.
  EXPECT_EQ(sim.Run(Ipv4(5, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.11", "198.18.1.12")).size(), 1u);
  EXPECT_TRUE(sim.Run(Ipv4(5, "02:00:00:00:01:01", "02:00:00:00:01:02", "198.18.1.12", "198.18.1.12")).empty());
  EXPECT_TRUE(sim.Run(Ipv4(5, "02:00:00:00:01:01", "02:52:bb:6f:44:61", "198.18.1.99", "198.18.2.13")).empty());
  // A gratuitous ARP (broadcast, spa == tpa) for its own address is flooded; one claiming vm2's
  // address, or with another sender MAC inside, is dropped.
  auto garp = [](const char* sha, const char* spa) {
    SimPacket p;
    p.Set(Field::kInPort, 5).SetMac(Field::kEthSrc, "02:00:00:00:01:01").SetMac(Field::kEthDst, "ff:ff:ff:ff:ff:ff");
    p.Set(Field::kEthType, 0x0806).Set(Field::kArpOp, 2).SetMac(Field::kArpSha, sha);
    p.Set(Field::kArpSpa, V4(spa)).Set(Field::kArpTpa, V4(spa));
    return p;
  };
  auto outs = sim.Run(garp("02:00:00:00:01:01", "198.18.1.11"));
  ASSERT_EQ(outs.size(), 1u) << Describe(outs) << Trace(sim);
  EXPECT_EQ(outs[0].port, kTun);
  EXPECT_TRUE(sim.Run(garp("02:00:00:00:01:01", "198.18.1.12")).empty()) << Trace(sim);
  EXPECT_TRUE(sim.Run(garp("02:00:00:00:01:02", "198.18.1.11")).empty()) << Trace(sim);
  // Frames from the router (another tenant VM's address as source) are not subject to it.
  auto routed = sim.Run(Ipv4(6, "02:00:00:00:02:03", "02:52:bb:6f:3f:48", "198.18.2.13", "198.18.1.12"));
  EXPECT_EQ(routed.size(), 1u) << Trace(sim);
}

TEST_F(Ipv6Routed, PortSecurityMatchesTheReferenceOnRandomFrames) {
  // vm1 (port 5, 2002:c612:1::11) sends to vm2 (port 6, same switch and host).
  PortSecRef ref{0x020000000101ull, {}, {V6("2002:c612:1::11"), V6("fe80::ff:fe00:101")}};
  int allowed = 0;
  CheckRandomFrames(t_.flows, 5, 0x020000000102ull, ref, 0x020000000102ull, {"198.18.1.11", "198.18.1.12"},
                    {"2002:c612:1::11", "2002:c612:1::11", "fe80::ff:fe00:101", "::", "2002:c612:1::12", "fe80::ff:fe00:102",
                     "2002:c612:1::1", "2002:c612:1::77"},
                    4000, &allowed);
  EXPECT_GT(allowed, 300);
  EXPECT_LT(allowed, 3700);
}

TEST_F(Ipv6Routed, SpoofedIpv6AndNeighbourAdvertisementsAreDropped) {
  FlowSim sim(t_.flows);
  auto echo = [](const std::string& src) {
    SimPacket p = Solicit(5, 0x020000000101ull, src, "2002:c612:1::12");
    p.Set(Field::kIcmpv6Type, 128).Set(Field::kEthDst, 0x020000000102ull);
    p.fields[Field::kIpv6Dst] = V6("2002:c612:1::12");
    p.fields.erase(Field::kNdTarget);
    p.fields.erase(Field::kNdSll);
    return p;
  };
  EXPECT_EQ(sim.Run(echo("2002:c612:1::11")).size(), 1u) << Trace(sim);
  EXPECT_EQ(sim.Run(echo("fe80::ff:fe00:101")).size(), 1u) << Trace(sim);
  EXPECT_TRUE(sim.Run(echo("2002:c612:1::12")).empty()) << Trace(sim);   // vm2's address
  EXPECT_TRUE(sim.Run(echo("fe80::ff:fe00:102")).empty()) << Trace(sim); // vm2's link-local
  // An unsolicited advertisement (override) to vm2: for its own address with its MAC it arrives;
  // claiming vm2's address, or its own address with another MAC, never.
  auto advert = [](const std::string& target, uint64_t tll) {
    SimPacket p = Solicit(5, 0x020000000101ull, "2002:c612:1::11", target);
    p.Set(Field::kEthDst, 0x020000000102ull).Set(Field::kIcmpv6Type, 136);
    p.fields[Field::kIpv6Dst] = V6("2002:c612:1::12");
    p.fields.erase(Field::kNdSll);
    if (tll) p.Set(Field::kNdTll, tll);
    return p;
  };
  auto outs = sim.Run(advert("2002:c612:1::11", 0x020000000101ull));
  ASSERT_EQ(outs.size(), 1u) << Trace(sim);
  EXPECT_EQ(outs[0].port, 6u);
  EXPECT_EQ(sim.Run(advert("2002:c612:1::11", 0)).size(), 1u) << Trace(sim);  // no tll option
  EXPECT_TRUE(sim.Run(advert("2002:c612:1::12", 0x020000000101ull)).empty()) << Trace(sim);
  EXPECT_TRUE(sim.Run(advert("2002:c612:1::12", 0)).empty()) << Trace(sim);
  EXPECT_TRUE(sim.Run(advert("2002:c612:1::11", 0x020000000102ull)).empty()) << Trace(sim);
  // A solicitation carrying another MAC as its source link-layer address: dropped (it would
  // teach the target that MAC for vm1's address); DAD from :: passes to the DAD guard.
  SimPacket ns = Solicit(5, 0x020000000101ull, "2002:c612:1::11", "2002:c612:1::12");
  ns.Set(Field::kNdSll, 0x020000000102ull);
  EXPECT_TRUE(sim.Run(ns).empty()) << Trace(sim);
  SimPacket spoofed_ns = Solicit(5, 0x020000000101ull, "2002:c612:1::12", "2002:c612:1::1");
  EXPECT_TRUE(sim.Run(spoofed_ns).empty()) << Trace(sim);
}

TEST_F(Ipv6Routed, PortSecurityFlowsEncodeTheirNdAndAddressFieldsAsOxm) {
  // One advertisement flow of vm1: its match on the wire holds OpenFlow 1.3 OXM TLVs for
  // icmpv6_type 136, ipv6_src, nd_target and nd_tll (class 0x8000, fields 29, 26, 31, 33).
  const ofp::Flow* na = nullptr;
  for (const auto& f : t_.flows) {
    const auto* tll = f.match.Find(Field::kNdTll);
    const auto* in = f.match.Find(Field::kReg14);
    if (f.table == kTableLsInPortSec && f.priority == 150 && tll && tll->ValueAsUint() == 0x020000000101ull && in &&
        f.match.Find(Field::kNdTarget)->value == V6("fe80::ff:fe00:101") && f.match.Find(Field::kIpv6Src)->value == V6("2002:c612:1::11")) {
      na = &f;
    }
  }
  ASSERT_NE(na, nullptr);
  std::vector<uint8_t> m;
  ofp::EncodeMatch(na->match, m);
  auto has = [&](std::vector<uint8_t> tlv) { return std::search(m.begin(), m.end(), tlv.begin(), tlv.end()) != m.end(); };
  EXPECT_TRUE(has({0x80, 0x00, 0x3a, 0x01, 136}));                                  // icmpv6_type
  EXPECT_TRUE(has({0x80, 0x00, 0x42, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01}));  // nd_tll
  EXPECT_TRUE(has({0x80, 0x00, 0x3e, 0x10, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0, 0x01, 0x01}));  // nd_target
  EXPECT_TRUE(has({0x80, 0x00, 0x34, 0x10, 0x20, 0x02, 0xc6, 0x12, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11}));  // ipv6_src
  size_t used = 0;
  auto back = ofp::DecodeMatch(m, &used);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, na->match);
  EXPECT_EQ(na->match.ToString().find("nd_tll=02:00:00:00:01:01") != std::string::npos, true) << na->match.ToString();
  // Every flow of this host survives the codec (the agent's restart compares decoded dumps).
  for (const auto& f : t_.flows) {
    std::vector<uint8_t> b;
    ofp::EncodeMatch(f.match, b);
    auto d = ofp::DecodeMatch(b, &used);
    ASSERT_TRUE(d.ok()) << f.ToString();
    EXPECT_EQ(*d, f.match) << f.ToString();
  }
}

TEST_F(SeedAttached, ArpPortSecurityFlowEncodesArpShaAndSpaAsOxm) {
  const ofp::Flow* arp = nullptr;
  for (const auto& f : t_.flows) {
    if (f.table == kTableLsInPortSec && f.match.Find(Field::kArpSha) && f.match.Find(Field::kArpSpa) &&
        f.match.Find(Field::kArpSpa)->ValueAsUint() == V4("198.18.1.11")) {
      arp = &f;
    }
  }
  ASSERT_NE(arp, nullptr);
  EXPECT_EQ(arp->priority, 120);
  std::vector<uint8_t> m;
  ofp::EncodeMatch(arp->match, m);
  auto has = [&](std::vector<uint8_t> tlv) { return std::search(m.begin(), m.end(), tlv.begin(), tlv.end()) != m.end(); };
  EXPECT_TRUE(has({0x80, 0x00, 0x0a, 0x02, 0x08, 0x06}));                          // eth_type ARP
  EXPECT_TRUE(has({0x80, 0x00, 0x30, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01}));  // arp_sha
  EXPECT_TRUE(has({0x80, 0x00, 0x2c, 0x04, 198, 18, 1, 11}));                       // arp_spa
}

TEST(TranslatorPortSec, NewTermsNeedTheirFamilyAndBadValuesFailClosed) {
  records::RecordSet rs;
  rs.Insert({"Datapath", {"A", "ls1", "switch", "7"}});
  rs.Insert({"PortKey", {"A", "ls1", "vm1", "1"}});
  auto flow = [&](int prio, const char* match) { rs.Insert({"Flow", {"A", "ls1", "ls_in_port_sec", std::to_string(prio), match, "next"}}); };
  flow(10, "ip4.src==2002:c612:1::5");
  flow(11, "ip6.src==198.18.1.5");
  flow(12, "arp.spa==2002::1");
  flow(13, "arp.sha==02:00:00");
  flow(14, "nd.tll==02:00:00:00:00:01");
  flow(15, "nd.ns && nd.tll==02:00:00:00:00:01");
  flow(16, "nd.tll==zz");
  flow(20, "arp && ip4.src==198.18.1.5");   // contradiction: no flow
  flow(21, "nd.ns && nd.na");              // contradiction: no flow
  flow(22, "ip4 && ip6.src==::");           // contradiction: no flow
  flow(30, "inport==vm1 && ip6.src==::");
  flow(31, "inport==vm1 && nd.na && nd.target==2002:c612:1::5 && nd.tll==00:00:00:00:00:00");
  flow(32, "inport==vm1 && arp");
  flow(33, "ip4.src==198.18.0.0/15 && ip4.dst==198.18.1.1");
  Translation t = TranslateRecords(rs, LocalFacts{"h1", kFw, kTun, {}});
  EXPECT_EQ(t.stats.skipped["bad ip4.src (an IPv4 address or prefix)"], 1u);
  EXPECT_EQ(t.stats.skipped["bad ip6.src (an IPv6 address or prefix)"], 1u);
  EXPECT_EQ(t.stats.skipped["bad arp.spa (an IPv4 address)"], 1u);
  EXPECT_EQ(t.stats.skipped["bad MAC in 'arp.sha'"], 1u);
  EXPECT_EQ(t.stats.skipped["nd.tll without nd.na before it"], 2u);
  EXPECT_EQ(t.stats.skipped["bad MAC in 'nd.tll'"], 1u);
  std::map<int, const ofp::Flow*> by_prio;
  for (const auto& f : t.flows) {
    if (f.table != kTableLsInPortSec) continue;
    EXPECT_TRUE(ofp::CheckPrerequisites(f.match).ok()) << f.ToString();
    EXPECT_TRUE(by_prio.emplace(f.priority, &f).second) << f.ToString();
  }
  for (int p : {10, 11, 12, 13, 14, 15, 16, 20, 21, 22}) EXPECT_EQ(by_prio.count(p), 0u) << p;
  ASSERT_EQ(by_prio.count(30), 1u);
  EXPECT_EQ(by_prio[30]->match.ToString(), "metadata=0x7,dl_type=0x86dd,ipv6_src=::,reg14=0x1");
  ASSERT_EQ(by_prio.count(31), 1u);
  EXPECT_EQ(by_prio[31]->match.ToString(),
            "metadata=0x7,dl_type=0x86dd,nw_proto=58,icmpv6_type=136,icmpv6_code=0,reg14=0x1,nd_target=2002:c612:1::5,"
            "nd_tll=00:00:00:00:00:00");
  ASSERT_EQ(by_prio.count(32), 1u);
  EXPECT_EQ(by_prio[32]->match.ToString(), "metadata=0x7,dl_type=0x0806,reg14=0x1");
  ASSERT_EQ(by_prio.count(33), 1u);
  EXPECT_EQ(by_prio[33]->match.ToString(), "metadata=0x7,dl_type=0x0800,nw_src=198.18.0.0/15,nw_dst=198.18.1.1");
}

}  // namespace
}  // namespace rampart::agent
