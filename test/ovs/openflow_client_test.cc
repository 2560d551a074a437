// OpenFlowClient state machine against a fake switch on socketpairs: version negotiation,
// features, echo both ways, barrier, multipart joining, bundles (commit, rejection, discard),
// port-status callback, reconnect with backoff.
#include "ovs/openflow_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "test/ovs/openflow_fake_switch.h"
#include "test/ovs/openflow_test_util.h"

namespace rampart::ofp {
namespace {

using testing::AllKindsFlows;
using testing::FakeSwitch;

OfClientOptions FastOptions() {
  OfClientOptions o;
  o.request_timeout = absl::Seconds(10);
  o.backoff_initial = absl::Milliseconds(10);
  o.backoff_max = absl::Milliseconds(100);
  o.echo_interval = absl::Seconds(60);  // tests that want echoes lower these
  o.echo_timeout = absl::Seconds(120);
  return o;
}

std::vector<FlowMod> Adds(const std::vector<Flow>& flows) {
  std::vector<FlowMod> mods;
  for (const Flow& f : flows) {
    FlowMod fm;
    fm.flow = f;
    mods.push_back(fm);
  }
  return mods;
}

TEST(OpenFlowClient, NegotiatesOpenFlow13WithOvsStyleHelloAndReadsFeatures) {
  FakeSwitch sw;  // hello version 0x06, no bitmap: what OVS 3.1 sends
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  EXPECT_EQ(c.version(), kVersion13);
  EXPECT_EQ(c.features().datapath_id, 0xabcdefu);
  EXPECT_EQ(c.features().n_tables, 254);
  EXPECT_EQ(c.generation(), 1u);
  auto hellos = sw.received();
  ASSERT_FALSE(hellos.empty());
  EXPECT_EQ(std::get<Hello>(hellos[0].body).version_bitmap, 1u << kVersion13);
  // A set-config with a nonzero miss_send_len, so OVS sends port-status on this connection.
  ASSERT_TRUE(sw.WaitFor([&] { return sw.Count<SetConfig>() == 1; }));
  for (const Message& m : sw.received()) {
    if (auto* c = std::get_if<SetConfig>(&m.body)) {
      EXPECT_NE(c->miss_send_len, 0);
    }
  }
}

TEST(OpenFlowClient, NegotiatesThroughAVersionBitmap) {
  FakeSwitch sw;
  sw.hello_version = 0x06;
  sw.hello_bitmap = (1u << 4) | (1u << 5) | (1u << 6);
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  EXPECT_EQ(c.version(), kVersion13);
}

TEST(OpenFlowClient, RefusesASwitchWithoutOpenFlow13) {
  FakeSwitch sw;
  sw.hello_version = 0x01;  // OpenFlow 1.0 only
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  EXPECT_FALSE(c.WaitConnected(absl::Milliseconds(300)).ok());
  EXPECT_GT(c.stats().connect_failures, 0u);
  // It told the switch why (OFPET_HELLO_FAILED).
  EXPECT_TRUE(sw.WaitFor([&] { return sw.Count<ErrorMsg>() > 0; }));
  c.Stop();
}

TEST(OpenFlowClient, AnswersEchoRequestsFromTheSwitch) {
  FakeSwitch sw;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  sw.SendToClient(Message{kVersion13, 77, EchoRequest{{9, 9}}});
  ASSERT_TRUE(sw.WaitFor([&] { return sw.Count<EchoReply>() == 1; }));
  for (const Message& m : sw.received()) {
    if (auto* r = std::get_if<EchoReply>(&m.body)) {
      EXPECT_EQ(m.xid, 77u);
      EXPECT_EQ(r->data, (std::vector<uint8_t>{9, 9}));
    }
  }
}

TEST(OpenFlowClient, SendsEchoRequestsWhenIdleAndDropsASilentSwitch) {
  FakeSwitch sw;
  OfClientOptions o = FastOptions();
  o.echo_interval = absl::Milliseconds(100);
  o.echo_timeout = absl::Milliseconds(600);
  OpenFlowClient c(sw.MakeConnector(), o);
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  ASSERT_TRUE(sw.WaitFor([&] { return sw.Count<EchoRequest>() >= 2; }));
  EXPECT_EQ(c.generation(), 1u);  // answered echoes keep the session
  sw.answer_echo = false;
  uint64_t g = c.WaitForSessionAfter(1, absl::Seconds(10));
  EXPECT_GE(g, 2u) << "a switch that stops answering is dropped and reconnected";
}

TEST(OpenFlowClient, BarrierAndPortDesc) {
  FakeSwitch sw;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  EXPECT_TRUE(c.Barrier().ok());
  auto ports = c.DumpPorts();
  ASSERT_TRUE(ports.ok()) << ports.status();
  ASSERT_EQ(ports->size(), 2u);
  EXPECT_EQ((*ports)[0].name, "vm1");
  EXPECT_EQ((*ports)[1].port_no, kPortLocal);
}

TEST(OpenFlowClient, FlowStatsJoinsMultipartReplies) {
  FakeSwitch sw;
  sw.flows_per_reply_part = 4;
  auto flows = AllKindsFlows();
  for (const Flow& f : flows) sw.InstallDirect(f);
  Flow foreign = flows[0];
  foreign.cookie = 0x1;  // not ours
  foreign.priority = 1;
  sw.InstallDirect(foreign);
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  FlowStatsRequest all;
  auto got = c.DumpFlows(all);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), flows.size() + 1);
  FlowStatsRequest ours;
  ours.cookie = testing::kOwner;
  ours.cookie_mask = 0xff00000000000000ull;
  got = c.DumpFlows(ours);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), flows.size());
}

TEST(OpenFlowClient, BundleCommitsAllFlowModsAtOnce) {
  FakeSwitch sw;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  auto flows = AllKindsFlows();
  ASSERT_TRUE(c.ApplyBundle(Adds(flows)).ok());
  EXPECT_EQ(sw.table().size(), flows.size());
  EXPECT_EQ(sw.Count<BundleAdd>(), static_cast<int>(flows.size()));
  EXPECT_EQ(sw.Count<FlowMod>(), 0);  // nothing outside the bundle
  EXPECT_GE(sw.Count<BarrierRequest>(), 1);
}

TEST(OpenFlowClient, RejectedBundleChangesNothingAndNamesTheError) {
  FakeSwitch sw;
  auto flows = AllKindsFlows();
  sw.RejectPriority(flows[5].priority);
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  absl::Status st = c.ApplyBundle(Adds(flows));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("OFPBFC_MSG_FAILED"), std::string::npos) << st;
  EXPECT_TRUE(sw.table().empty());
  // The session survives and works.
  EXPECT_TRUE(c.Barrier().ok());
  EXPECT_EQ(c.generation(), 1u);
}

TEST(OpenFlowClient, FlowModErrorsComeBackWithTheirReason) {
  FakeSwitch sw;
  auto flows = AllKindsFlows();
  sw.RejectPriority(flows[1].priority);
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  absl::Status st = c.SendFlowMods(Adds({flows[1]}));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("OFPET_BAD_MATCH/OFPBMC_BAD_FIELD"), std::string::npos) << st;
  EXPECT_NE(st.message().find("OFPT_FLOW_MOD"), std::string::npos) << st;
  EXPECT_TRUE(c.SendFlowMods(Adds({flows[20]})).ok());
}

TEST(OpenFlowClient, PortStatusReachesTheCallback) {
  FakeSwitch sw;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  std::mutex mu;
  std::vector<PortStatus> seen;
  c.SetPortStatusCallback([&](const PortStatus& ps) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back(ps);
  });
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  PortStatus ps{PortReason::kAdd, Port{12, {2, 0, 0, 0, 0, 12}, "vm12", 0, 0, 0, 0, 0, 0, 0, 0}};
  sw.SendToClient(Message{kVersion13, 0, ps});
  ASSERT_TRUE(sw.WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return !seen.empty();
  }));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(seen[0], ps);
}

TEST(OpenFlowClient, ReconnectsWithBackoffAfterTheSwitchGoesAway) {
  FakeSwitch sw;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  sw.SetUp(false);
  sw.Crash(true);
  ASSERT_TRUE(sw.WaitFor([&] { return !c.IsConnected(); }));
  EXPECT_EQ(c.Barrier().code(), absl::StatusCode::kUnavailable);
  // While the switch is down the client keeps trying, with growing pauses.
  ASSERT_TRUE(sw.WaitFor([&] { return c.stats().connect_failures >= 3; }));
  sw.SetUp(true);
  EXPECT_GE(c.WaitForSessionAfter(1, absl::Seconds(5)), 2u);
  EXPECT_TRUE(c.Barrier().ok());
  EXPECT_EQ(sw.connections(), 2);
}

TEST(OpenFlowClient, PendingRequestFailsWhenTheSessionDrops) {
  FakeSwitch sw;
  sw.answer_echo = true;
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  ASSERT_TRUE(c.WaitConnected(absl::Seconds(5)).ok());
  sw.SetUp(false);
  std::thread crasher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sw.Crash(false);
  });
  // Many barriers: at least one is in flight when the connection drops; all return promptly.
  absl::Status last;
  for (int i = 0; i < 100000 && c.IsConnected(); ++i) last = c.Barrier();
  crasher.join();
  EXPECT_EQ(c.Barrier().code(), absl::StatusCode::kUnavailable);
}

TEST(OpenFlowClient, StopWhileConnectingReturns) {
  FakeSwitch sw;
  sw.SetUp(false);
  OpenFlowClient c(sw.MakeConnector(), FastOptions());
  c.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.Stop();
  EXPECT_FALSE(c.IsConnected());
}

}  // namespace
}  // namespace rampart::ofp
