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
#include "test/ovs/openflow_test_util.h"

namespace rampart::ofp {
namespace {

using testing::AllKindsFlows;
using testing::kOwner;

const std::string kSandbox =
    std::string(RAMPART_SOURCE_DIR) + "/test/ovs/testdata/openflow/ovs_sandbox.sh";

std::string Shell(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  if (rc != nullptr) *rc = WEXITSTATUS(status);
  return out;
}

class OvsSandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespace)";
    if (Shell("command -v ovs-vswitchd").empty()) GTEST_SKIP() << "openvswitch-switch missing";
    char tmpl[] = "/tmp/rampart-of-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ns_ = absl::StrCat("rampart-of-", ::getpid());
    int rc = 0;
    std::string out = Shell(absl::StrCat("timeout 60 ", kSandbox, " start ", dir_, " ", ns_), &rc);
    ASSERT_EQ(rc, 0) << out;
    started_ = true;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      Shell(absl::StrCat("timeout 60 ", kSandbox, " stop ", dir_, " ", ns_));
      Shell(absl::StrCat("rm -rf ", dir_));
    }
  }

  std::string Mgmt(const std::string& br) const { return absl::StrCat(dir_, "/", br, ".mgmt"); }
  std::string Ofctl(const std::string& args) {
    return Shell(absl::StrCat("timeout 20 ovs-ofctl -O OpenFlow13 --timeout=10 ", args));
  }
  std::string Vsctl(const std::string& args) {
    return Shell(absl::StrCat("timeout 20 ovs-vsctl --timeout=10 --db=unix:", dir_, "/db.sock ",
                            args));
  }
  // dump-flows lines without statistics, as a sorted multiset.
  std::multiset<std::string> Dump(const std::string& br) {
    std::multiset<std::string> out;
    for (auto line : absl::StrSplit(Ofctl(absl::StrCat("--no-stats dump-flows unix:", Mgmt(br))),
                                    '\n')) {
      std::string l(line);
      while (!l.empty() && l[0] == ' ') l.erase(0, 1);
      if (!l.empty()) out.insert(l);
    }
    return out;
  }
  // Per-flow durations in seconds, keyed by the flow's cookie (unique in our corpus).
  std::map<std::string, double> Durations(const std::string& br) {
    std::map<std::string, double> out;
    std::regex re(R"(cookie=(0x[0-9a-f]+), duration=([0-9.]+)s)");
    std::string text = Ofctl(absl::StrCat("dump-flows unix:", Mgmt(br)));
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
      out[(*it)[1]] = std::stod((*it)[2]);
    }
    return out;
  }
  // Installs `flows` on br-ref via ovs-ofctl from our text form (replace-flows: exactly these).
  void InstallReference(const std::vector<Flow>& flows) {
    std::string path = dir_ + "/ref.flows";
    std::ofstream f(path);
    for (const Flow& fl : flows) f << fl.ToString() << "\n";
    f.close();
    std::string out = Ofctl(absl::StrCat("replace-flows unix:", Mgmt("br-ref"), " ", path));
    EXPECT_EQ(out, "") << out;
  }
  void ExpectSameAsReference(const std::vector<Flow>& flows) {
    InstallReference(flows);
    auto got = Dump("br-int");
    auto want = Dump("br-ref");
    EXPECT_EQ(got.size(), flows.size());
    EXPECT_EQ(got, want);
    if (got != want) {
      for (const auto& l : got) {
        if (!want.contains(l)) ADD_FAILURE() << "only in br-int (ours): " << l;
      }
      for (const auto& l : want) {
        if (!got.contains(l)) ADD_FAILURE() << "only in br-ref (ovs-ofctl): " << l;
      }
    }
  }

  static OfClientOptions Options() {
    OfClientOptions o;
    o.backoff_initial = absl::Milliseconds(50);
    o.backoff_max = absl::Milliseconds(500);
    o.echo_interval = absl::Seconds(30);  // keep byte counts exact during the test
    o.echo_timeout = absl::Seconds(90);
    return o;
  }

  std::string dir_, ns_;
  bool started_ = false;
};

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
