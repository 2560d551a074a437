// The OpenFlow client and flow sync against a real ovs-vswitchd (netdev datapath, fail_mode
// secure) that the test starts in its own network namespace and temp dir and removes again.
// Needs root and openvswitch-switch (label: integration). The flows installed through our
// binary bundle are checked against what ovs-ofctl installs from our text form on a second
// bridge, so both the codec and the ovs-ofctl compatible string form are verified by OVS itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ovs/flow_table_sync.h"
#include "ovs/openflow_client.h"
#include "test/ovs/openflow_sandbox.h"
#include "test/ovs/openflow_test_util.h"

namespace rampart::ofp {
namespace {

using testing::AllKindsFlows;
using testing::kOwner;
using testing::kSandbox;
using testing::OvsSandbox;
using testing::Shell;

TEST_F(OvsSandbox, InstallsEveryKindReSyncsNothingChangesThreeAndSurvivesARestart) {
  OpenFlowClient client(UnixSocketConnector(Mgmt("br-int")), Options());
  std::mutex mu;
  std::vector<PortStatus> port_events;
  client.SetPortStatusCallback([&](const PortStatus& ps) {
    std::lock_guard<std::mutex> l(mu);
    port_events.push_back(ps);
  });
  client.Start();
  ASSERT_TRUE(client.WaitConnected(absl::Seconds(10)).ok());
  EXPECT_EQ(client.version(), kVersion13);
  EXPECT_NE(client.features().datapath_id, 0u);

  // 1. Install ~50 flows of every kind through one bundle.
  FlowTableSync sync(client);
  std::vector<Flow> flows = AllKindsFlows();
  auto r = sync.SetDesired(flows);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adds, flows.size());
  EXPECT_TRUE(r->sent);
  ExpectSameAsReference(flows);

  // 2. Our decoder reads OVS's encoding back to exactly the flows we sent: a fresh syncer (an
  // agent restart) dumps them and finds nothing to do.
  {
    FlowTableSync fresh(client);
    auto rr = fresh.SetDesired(flows);
    ASSERT_TRUE(rr.ok()) << rr.status();
    EXPECT_TRUE(rr->dumped);
    EXPECT_FALSE(rr->sent) << "adds " << rr->adds << " modifies " << rr->modifies << " deletes "
                           << rr->deletes;
    EXPECT_EQ(rr->adds + rr->modifies + rr->deletes, 0u);
  }

  // 3. Same desired state again: zero bytes written, flows not replaced (durations keep growing).
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  uint64_t written = client.stats().bytes_written;
  r = sync.SetDesired(flows);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sent);
  EXPECT_EQ(client.stats().bytes_written, written);
  auto durations = Durations("br-int");
  ASSERT_EQ(durations.size(), flows.size());
  for (const auto& [cookie, d] : durations) EXPECT_GE(d, 2.0) << cookie;

  // 4. Change three flows: one modified, one removed, one added.
  std::vector<Flow> next = flows;
  next[3].instructions.apply = {Action::Output(9)};
  Flow removed = next[12];
  next.erase(next.begin() + 12);
  Flow added = testing::MakeFlow(0, 321, Match().InPort(42), {Action::Output(43)}, 0x4242);
  next.push_back(added);
  r = sync.SetDesired(next);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->modifies, 1u);
  EXPECT_EQ(r->deletes, 1u);
  EXPECT_EQ(r->adds, 1u);
  ExpectSameAsReference(next);
  durations = Durations("br-int");
  for (const Flow& f : next) {
    std::string c = absl::StrCat("0x", absl::Hex(f.cookie));
    ASSERT_TRUE(durations.contains(c)) << c;
    if (f.cookie == added.cookie) {
      EXPECT_LT(durations[c], 2.0) << "the added flow is new";
    } else {
      EXPECT_GE(durations[c], 2.0) << f.ToString() << " was replaced";
    }
  }
  EXPECT_FALSE(durations.contains(absl::StrCat("0x", absl::Hex(removed.cookie))));

  // 5. A bundle OVS rejects changes nothing and says why.
  {
    std::vector<Flow> bad = next;
    Flow back = testing::MakeFlow(3, 5, Match().InPort(50), {}, 0x5050);
    back.instructions.goto_table = 1;  // goto must go forward
    bad.push_back(back);
    bad[0].instructions.apply = {Action::Output(33)};
    auto br = sync.SetDesired(bad);
    ASSERT_FALSE(br.ok());
    EXPECT_NE(br.status().message().find("OFPBIC_BAD_TABLE_ID"), std::string::npos)
        << br.status();
    ExpectSameAsReference(next);
    r = sync.SetDesired(next);  // back to the good state: re-read, nothing to send
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->dumped);
    EXPECT_FALSE(r->sent);
  }

  // 6. Hit counters: a packet-out through the pipeline hits our ARP flood flow.
  {
    Flow arp = testing::MakeFlow(0, 400, Match().InPort(kPortLocal).EthType(0x0806), {}, 0x777);
    next.push_back(arp);
    ASSERT_TRUE(sync.SetDesired(next).ok());
    std::string out = Ofctl(absl::StrCat(
        "packet-out unix:", Mgmt("br-int"),
        " 'in_port=LOCAL packet=ffffffffffff02000000000108060001080006040001020000000001c612"
        "0101000000000000c6120102 actions=table'"));
    EXPECT_EQ(out, "");
    auto hits = sync.HitCounters();
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_EQ(hits->size(), next.size());
    for (const FlowHits& h : *hits) {
      EXPECT_EQ(h.packets, h.flow == arp ? 1u : 0u) << h.flow.ToString();
    }
  }

  // 7. Ports: port-desc and an async port-status for a new port.
  {
    auto ports = client.DumpPorts();
    ASSERT_TRUE(ports.ok()) << ports.status();
    bool local = false;
    for (const Port& p : *ports) local |= p.port_no == kPortLocal && p.name == "br-int";
    EXPECT_TRUE(local);
    std::string out = Vsctl("add-port br-int rof-p1 -- set interface rof-p1 type=internal");
    EXPECT_EQ(out, "") << out;
    bool seen = false;
    for (int i = 0; i < 200 && !seen; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::lock_guard<std::mutex> l(mu);
      for (const PortStatus& ps : port_events) {
        seen |= ps.reason == PortReason::kAdd && ps.port.name == "rof-p1";
      }
    }
    EXPECT_TRUE(seen) << "no port-status for rof-p1";
  }

  // 8. ovs-vswitchd dies and comes back with an empty table: the client reconnects and the
  // syncer re-installs the desired state.
  sync.StartAutoResync();
  uint64_t gen = client.generation();
  std::string out = Shell(absl::StrCat("timeout 30 ", kSandbox, " stop-vswitchd ", dir_));
  ASSERT_TRUE([&] {
    for (int i = 0; i < 200; ++i) {
      if (!client.IsConnected()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }()) << "client did not notice the switch going away";
  int rc = 0;
  out = Shell(absl::StrCat("timeout 30 ", kSandbox, " start-vswitchd ", dir_, " ", ns_), &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_GT(client.WaitForSessionAfter(gen, absl::Seconds(20)), gen);
  bool restored = false;
  for (int i = 0; i < 200 && !restored; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    restored = sync.synced_generation() > gen && Dump("br-int").size() == next.size();
  }
  EXPECT_TRUE(restored) << "flows not re-installed after the restart";
  sync.StopAutoResync();
  ExpectSameAsReference(next);
  client.Stop();
}

TEST_F(OvsSandbox, NoSwitchMeansUnavailableNotAHang) {
  OfClientOptions o;
  o.backoff_initial = absl::Milliseconds(20);
  OpenFlowClient client(UnixSocketConnector(dir_ + "/missing.mgmt"), o);
  client.Start();
  EXPECT_EQ(client.WaitConnected(absl::Milliseconds(300)).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(client.Barrier().code(), absl::StatusCode::kUnavailable);
  EXPECT_GT(client.stats().connect_failures, 0u);
}

}  // namespace
}  // namespace rampart::ofp
