// Desired-state flow sync against the fake switch: minimal diffs in one bundle, nothing sent for
// an unchanged state, ownership by cookie, re-read after reconnect, hit counters. The diff is
// also checked against a brute-force reference on random states.
#include "ovs/flow_table_sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <random>

#include "test/ovs/openflow_fake_switch.h"
#include "test/ovs/openflow_test_util.h"

namespace rampart::ofp {
namespace {

using testing::AllKindsFlows;
using testing::FakeSwitch;
using testing::kOwner;

OfClientOptions FastOptions() {
  OfClientOptions o;
  o.backoff_initial = absl::Milliseconds(10);
  o.backoff_max = absl::Milliseconds(50);
  o.echo_interval = absl::Seconds(60);  // no echo traffic: byte counts below are exact
  o.echo_timeout = absl::Seconds(120);
  return o;
}

std::map<FlowKey, Flow> TableFlows(FakeSwitch& sw, bool owned_only = true) {
  std::map<FlowKey, Flow> out;
  for (const auto& [k, in] : sw.table()) {
    if (!owned_only || (in.flow.cookie >> 56) == 0x52) out.emplace(k, in.flow);
  }
  return out;
}

std::map<FlowKey, Flow> Keyed(const std::vector<Flow>& flows) {
  std::map<FlowKey, Flow> out;
  for (const Flow& f : flows) out.emplace(f.Key(), f);
  return out;
}

struct Fixture {
  FakeSwitch sw;
  OpenFlowClient client{sw.MakeConnector(), FastOptions()};
  FlowTableSync sync{client};
  Fixture() {
    client.Start();
    EXPECT_TRUE(client.WaitConnected(absl::Seconds(5)).ok());
  }
};

TEST(FlowTableSync, FirstSyncInstallsEverythingInOneBundle) {
  Fixture f;
  auto flows = AllKindsFlows();
  auto r = f.sync.SetDesired(flows);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dumped);
  EXPECT_TRUE(r->sent);
  EXPECT_EQ(r->adds, flows.size());
  EXPECT_EQ(TableFlows(f.sw), Keyed(flows));
  EXPECT_EQ(f.sw.Count<BundleControl>(), 2);  // open + commit
  EXPECT_EQ(f.sw.Count<BundleAdd>(), static_cast<int>(flows.size()));
}

TEST(FlowTableSync, UnchangedDesiredStateSendsZeroBytes) {
  Fixture f;
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  uint64_t written = f.client.stats().bytes_written;
  uint64_t received = f.sw.bytes_received();
  std::reverse(flows.begin(), flows.end());  // order does not matter
  auto r = f.sync.SetDesired(flows);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sent);
  EXPECT_FALSE(r->dumped);
  EXPECT_EQ(f.client.stats().bytes_written, written);
  EXPECT_EQ(f.sw.bytes_received(), received);
  auto again = f.sync.Resync();  // same session: nothing to do either
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(f.client.stats().bytes_written, written);
}

TEST(FlowTableSync, ChangesOnlyWhatChanged) {
  Fixture f;
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  auto before = f.sw.table();
  auto next = flows;
  next[3].instructions.apply = {Action::Output(9)};  // modify
  next[10].cookie = kOwner | 0x999;                   // cookie change: replace
  Flow removed = next[20];
  next.erase(next.begin() + 20);                       // delete
  Flow added = flows[0];
  added.priority = 4242;
  next.push_back(added);                               // add
  int adds_before = f.sw.Count<BundleAdd>();
  auto r = f.sync.SetDesired(next);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->modifies, 1u);
  EXPECT_EQ(r->adds, 2u);
  EXPECT_EQ(r->deletes, 1u);
  EXPECT_EQ(f.sw.Count<BundleAdd>() - adds_before, 4);
  EXPECT_EQ(TableFlows(f.sw), Keyed(next));
  // Untouched flows were not reinstalled.
  auto after = f.sw.table();
  for (const Flow& fl : next) {
    if (fl.Key() == next[3].Key() || fl.Key() == next[10].Key() || fl.Key() == added.Key()) continue;
    EXPECT_EQ(after[fl.Key()].serial, before[fl.Key()].serial) << fl.ToString();
  }
  EXPECT_EQ(after[next[3].Key()].serial, before[next[3].Key()].serial);  // modify keeps it
  EXPECT_FALSE(after.contains(removed.Key()));
}

TEST(FlowTableSync, NeverTouchesFlowsItDoesNotOwn) {
  Fixture f;
  Flow foreign = AllKindsFlows()[0];
  foreign.cookie = 0x1234;
  foreign.priority = 7;
  f.sw.InstallDirect(foreign);
  ASSERT_TRUE(f.sync.SetDesired(AllKindsFlows()).ok());
  ASSERT_TRUE(f.sync.SetDesired({}).ok());  // delete all of ours
  auto t = TableFlows(f.sw, false);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.begin()->second, foreign);
}

TEST(FlowTableSync, RejectsBadDesiredStatesWithoutTouchingTheSwitch) {
  Fixture f;
  auto flows = AllKindsFlows();
  uint64_t before = f.sw.bytes_received();
  auto dup = flows;
  dup.push_back(flows[4]);
  dup.back().instructions.apply.clear();
  auto r = f.sync.SetDesired(dup);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("same table, priority and match as flow 4"),
            std::string::npos)
      << r.status();
  auto foreign = flows;
  foreign[2].cookie = 0x77;
  r = f.sync.SetDesired(foreign);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("desired flow 2"), std::string::npos) << r.status();
  auto noprereq = flows;
  noprereq[1].match.Uint(Field::kTcpDst, 80);  // no dl_type / nw_proto
  r = f.sync.SetDesired(noprereq);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tcp_dst requires"), std::string::npos) << r.status();
  EXPECT_EQ(f.sw.bytes_received(), before);
  EXPECT_EQ(f.sw.Count<BundleControl>(), 0);
}

// Neighbour discovery fields need an ND message in the match, as OVS requires (it would drop
// the field otherwise and the flow would never read back equal): nd_target, nd_reserved and
// nd_options_type a solicitation or an advertisement, nd_sll a solicitation, nd_tll an
// advertisement; always ICMPv6 code 0.
TEST(FlowTableSync, NeighbourDiscoveryFieldsNeedAnNdMessage) {
  auto nd = [](std::optional<uint64_t> type, uint64_t code = 0) {
    Match m;
    m.EthType(0x86dd).IpProto(58);
    if (type) m.Uint(Field::kIcmpv6Type, *type);
    m.Uint(Field::kIcmpv6Code, code);
    return m;
  };
  const Ip target = *Ip::Parse("2002:c612:1::10");
  const Mac mac = {0x02, 0, 0, 0, 0, 1};
  auto with = [&](Match m, Field f) {
    if (f == Field::kNdTarget) return m.NdTarget(target), m;
    if (f == Field::kNdSll || f == Field::kNdTll) {
      EXPECT_TRUE(m.Set(f, mac.data(), mac.size()).ok());
      return m;
    }
    return m.Uint(f, 0), m;
  };
  for (Field f : {Field::kNdTarget, Field::kNdReserved, Field::kNdOptionsType}) {
    EXPECT_TRUE(CheckPrerequisites(with(nd(135), f)).ok()) << GetFieldInfo(f).name;
    EXPECT_TRUE(CheckPrerequisites(with(nd(136), f)).ok()) << GetFieldInfo(f).name;
    EXPECT_FALSE(CheckPrerequisites(with(nd(128), f)).ok()) << GetFieldInfo(f).name;      // echo request
    EXPECT_FALSE(CheckPrerequisites(with(nd(135, 1), f)).ok()) << GetFieldInfo(f).name;   // code 1
    EXPECT_FALSE(CheckPrerequisites(with(nd(std::nullopt), f)).ok()) << GetFieldInfo(f).name;
  }
  EXPECT_TRUE(CheckPrerequisites(with(nd(135), Field::kNdSll)).ok());
  EXPECT_FALSE(CheckPrerequisites(with(nd(136), Field::kNdSll)).ok());
  EXPECT_TRUE(CheckPrerequisites(with(nd(136), Field::kNdTll)).ok());
  absl::Status st = CheckPrerequisites(with(nd(135), Field::kNdTll));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nd_tll requires an advertisement"), std::string::npos) << st;
  Match v4;  // ICMPv4 with type 135 is not ND
  v4.EthType(0x0800).IpProto(1).NdTarget(target);
  EXPECT_FALSE(CheckPrerequisites(v4).ok());
}

TEST(FlowTableSync, FailedBundleLeavesTheSwitchAsItWasAndRetries) {
  Fixture f;
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  auto next = flows;
  Flow bad = flows[0];
  bad.priority = 31337;
  f.sw.RejectPriority(31337);
  next.push_back(bad);
  next[2].instructions.apply = {Action::Output(77)};
  auto r = f.sync.SetDesired(next);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(TableFlows(f.sw), Keyed(flows)) << "atomic: the good change was not applied either";
  next.pop_back();
  r = f.sync.SetDesired(next);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dumped);  // state re-read after the failure
  EXPECT_EQ(r->modifies, 1u);
  EXPECT_EQ(r->adds, 0u);
  EXPECT_EQ(TableFlows(f.sw), Keyed(next));
}

TEST(FlowTableSync, AfterReconnectReReadsAndSendsOnlyTheDifference) {
  Fixture f;
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  // Connection drops but the switch keeps its flows (agent-side reconnect); meanwhile a stale
  // flow with our cookie appeared (e.g. left by an older agent).
  f.sw.Crash(false);
  Flow stale = flows[0];
  stale.priority = 5;
  f.sw.InstallDirect(stale);
  ASSERT_TRUE(f.client.WaitForSessionAfter(1, absl::Seconds(5)) >= 2);
  auto r = f.sync.Resync();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dumped);
  EXPECT_EQ(r->deletes, 1u);
  EXPECT_EQ(r->adds, 0u);
  EXPECT_EQ(TableFlows(f.sw), Keyed(flows));
}

TEST(FlowTableSync, AutoResyncRestoresFlowsAfterTheSwitchRestarts) {
  Fixture f;
  f.sync.StartAutoResync();
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  f.sw.Crash(/*lose_flows=*/true);  // ovs-vswitchd restarted: its table is empty
  ASSERT_TRUE(f.sw.WaitFor([&] { return TableFlows(f.sw) == Keyed(flows); }, 10000));
  EXPECT_GE(f.client.generation(), 2u);
  f.sync.StopAutoResync();
}

TEST(FlowTableSync, AFreshSyncerNeverDeletesWhatAPreviousAgentInstalledBeforeItsFirstSetDesired) {
  // An agent restart: the switch holds the previous agent's flows; the new syncer starts its
  // auto-resync before it has computed its desired state. It must not treat "nothing desired yet"
  // as "delete everything".
  Fixture f;
  auto flows = AllKindsFlows();
  for (const Flow& fl : flows) f.sw.InstallDirect(fl);
  f.sync.StartAutoResync();
  auto r = f.sync.Resync();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->sent);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the resync thread run
  EXPECT_EQ(TableFlows(f.sw), Keyed(flows));
  auto first = f.sync.SetDesired(flows);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->sent) << "the same state as installed: nothing to send";
  EXPECT_EQ(TableFlows(f.sw), Keyed(flows));
  f.sync.StopAutoResync();
}

TEST(FlowTableSync, HitCountersMapBackToFlows) {
  Fixture f;
  auto flows = AllKindsFlows();
  ASSERT_TRUE(f.sync.SetDesired(flows).ok());
  f.sw.SetCounters(flows[7].Key(), 11, 1100);
  auto hits = f.sync.HitCounters();
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), flows.size());
  for (const FlowHits& h : *hits) {
    if (h.flow == flows[7]) {
      EXPECT_EQ(h.packets, 11u);
      EXPECT_EQ(h.bytes, 1100u);
    } else {
      EXPECT_EQ(h.packets, 0u);
    }
  }
}

TEST(FlowTableSync, SyncWithoutSessionFailsAndRecoversLater) {
  FakeSwitch sw;
  sw.SetUp(false);
  OpenFlowClient client(sw.MakeConnector(), FastOptions());
  FlowTableSync sync(client);
  client.Start();
  auto r = sync.SetDesired(AllKindsFlows());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  sw.SetUp(true);
  ASSERT_TRUE(client.WaitConnected(absl::Seconds(5)).ok());
  r = sync.Resync();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(TableFlows(sw), Keyed(AllKindsFlows()));
}

// Reference: apply the diff to `installed` with OpenFlow semantics and compare to `desired`;
// and no flow mod touches a key whose flow is already equal.
TEST(FlowTableSync, DiffIsMinimalAndCorrectOnRandomStates) {
  std::mt19937_64 rng(99);
  auto pool = AllKindsFlows();
  for (int iter = 0; iter < 500; ++iter) {
    std::map<FlowKey, Flow> installed, desired;
    for (const Flow& fl : pool) {
      Flow a = fl, b = fl;
      if (rng() % 3 == 0) b.instructions.apply = {Action::Output(static_cast<uint32_t>(rng() % 4))};
      if (rng() % 5 == 0) b.cookie = kOwner | (rng() % 3);
      if (rng() % 2) installed.emplace(a.Key(), a);
      if (rng() % 2) desired.emplace(b.Key(), b);
    }
    FlowSyncResult res;
    auto mods = DiffFlows(installed, desired, 0xff00000000000000ull, &res);
    auto t = installed;
    size_t needed = 0;
    for (const auto& [k, fl] : desired) needed += !(t.contains(k) && t[k] == fl);
    for (const auto& [k, fl] : installed) needed += !desired.contains(k);
    ASSERT_EQ(mods.size(), needed);
    for (const FlowMod& m : mods) {
      FlowKey k = m.flow.Key();
      switch (m.command) {
        case FlowModCommand::kAdd: t[k] = m.flow; break;
        case FlowModCommand::kModifyStrict:
          ASSERT_TRUE(t.contains(k));
          t[k].instructions = m.flow.instructions;
          break;
        case FlowModCommand::kDeleteStrict: t.erase(k); break;
        default: FAIL();
      }
    }
    ASSERT_EQ(t, desired);
  }
}

}  // namespace
}  // namespace rampart::ofp
