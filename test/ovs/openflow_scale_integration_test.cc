// Flow sync at scale against a real ovs-vswitchd: 10,000 flows. Checks correctness (what OVS
// holds equals the desired state, counts of flow mods) and PRINTS timings for the record; no
// assertion depends on time. Compare with `ovs-ofctl --bundle replace-flows` of the same flows on
// br-ref, timed in the same run. Label: integration (needs root).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "ovs/flow_table_sync.h"
#include "ovs/openflow_client.h"
#include "test/ovs/openflow_sandbox.h"
#include "test/ovs/openflow_test_util.h"

namespace rampart::ofp {
namespace {

class OvsScale : public testing::OvsSandbox {};

constexpr int kFlows = 10000;

std::vector<Flow> ManyFlows(int n, uint32_t variant) {
  std::vector<Flow> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) {
    Match m;
    m.InPort(1 + i % 200).EthType(0x0800).Ipv4Src(testing::V4(198, 18, (i >> 8) & 0xff, i & 0xff));
    if (i % 3 == 0) m.IpProto(6).Uint(Field::kTcpDst, 1 + i % 1000);
    std::vector<Action> acts = {Action::SetField(Field::kReg0, i + variant),
                                Action::Resubmit(kPortInPort, 1 + i % 4)};
    if (i % 2) acts.push_back(Action::Output(1 + i % 16));
    v.push_back(testing::MakeFlow(static_cast<uint8_t>(i % 4), 100 + i % 50, m, acts, i + 1));
  }
  return v;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST_F(OvsScale, TenThousandFlows) {
  OfClientOptions o = Options();
  OpenFlowClient client(UnixSocketConnector(Mgmt("br-int")), o);
  client.Start();
  ASSERT_TRUE(client.WaitConnected(absl::Seconds(10)).ok());
  FlowTableSync sync(client);
  auto flows = ManyFlows(kFlows, 0);

  auto t0 = std::chrono::steady_clock::now();
  auto r = sync.SetDesired(flows);
  double install = Seconds(t0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->adds, static_cast<size_t>(kFlows));
  uint64_t bytes_install = client.stats().bytes_written;

  t0 = std::chrono::steady_clock::now();
  r = sync.SetDesired(flows);
  double noop = Seconds(t0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->sent);

  auto changed = flows;
  for (int i = 0; i < 10; ++i) changed[i * 997].instructions.apply = {Action::Output(99)};
  uint64_t before = client.stats().bytes_written;
  t0 = std::chrono::steady_clock::now();
  r = sync.SetDesired(changed);
  double ten = Seconds(t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->modifies, 10u);
  uint64_t bytes_ten = client.stats().bytes_written - before;

  // Agent restart: a fresh syncer reads 10,000 flows back and finds nothing to do.
  FlowTableSync fresh(client);
  t0 = std::chrono::steady_clock::now();
  r = fresh.SetDesired(changed);
  double reread = Seconds(t0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->dumped);
  EXPECT_FALSE(r->sent);

  // Reference: ovs-ofctl installing the same flows (from our text form) in one bundle.
  std::string path = dir_ + "/many.flows";
  {
    std::ofstream f(path);
    for (const Flow& fl : changed) f << fl.ToString() << "\n";
  }
  t0 = std::chrono::steady_clock::now();
  std::string out = testing::Shell(absl::StrCat("timeout 120 ovs-ofctl -O OpenFlow13 --bundle replace-flows unix:",
                                       Mgmt("br-ref"), " ", path));
  double ofctl = Seconds(t0);
  EXPECT_EQ(out, "");
  EXPECT_EQ(Dump("br-int"), Dump("br-ref"));

  std::printf(
      "[scale] %d flows: initial bundle %.3f s (%llu bytes written); unchanged re-sync %.4f s "
      "(0 bytes); 10 modified %.4f s (%llu bytes); fresh syncer dump+diff %.3f s; ovs-ofctl "
      "--bundle replace-flows of the same set on br-ref %.3f s\n",
      kFlows, install, static_cast<unsigned long long>(bytes_install), noop, ten,
      static_cast<unsigned long long>(bytes_ten), reread, ofctl);
}

}  // namespace
}  // namespace rampart::ofp
