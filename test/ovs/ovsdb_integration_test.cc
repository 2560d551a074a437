// OvsdbClient + VswitchDb against a real ovsdb-server (temp dir, unix socket) and a real
// ovs-vswitchd (userspace datapath) in a network namespace this test creates and removes.
// Needs root and openvswitch-switch; label "integration".
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "ovs/ovsdb_client.h"
#include "ovs/ovsdb_vswitch.h"
#include "test/ovs/ovsdb_vswitch_conformance.h"

namespace rampart::ovs {
namespace {

std::string g_dir;
std::string g_ns;

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string ShOut(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string Env() {
  return "OVS_RUNDIR=" + g_dir + " OVS_DBDIR=" + g_dir + " OVS_LOGDIR=" + g_dir +
         " OVS_SYSCONFDIR=" + g_dir;
}
std::string Vsctl(const std::string& args) {
  return ShOut("ovs-vsctl --timeout=10 --db=unix:" + g_dir + "/db.sock " + args + " 2>&1");
}
std::string Sock() { return g_dir + "/db.sock"; }

void KillPidfile(const std::string& f) {
  std::ifstream in(f);
  pid_t pid = 0;
  if (in >> pid && pid > 0) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; ++i) usleep(100'000);
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
  }
}

bool StartOvsdbServer() {
  return Sh(Env() + " ovsdb-server " + g_dir + "/conf.db --remote=punix:" + Sock() +
            " --pidfile=" + g_dir + "/ovsdb-server.pid --log-file=" + g_dir +
            "/ovsdb-server.log --detach --no-chdir -vconsole:off") == 0;
}

class OvsdbIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0 || Sh("command -v ovsdb-server ovs-vswitchd >/dev/null") != 0) return;
    char tmpl[] = "/tmp/rampart-ovsdb-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    g_dir = tmpl;
    g_ns = "rampart-ovsdbit-" + std::to_string(getpid());
    ASSERT_EQ(Sh("ovsdb-tool create " + g_dir + "/conf.db /usr/share/openvswitch/vswitch.ovsschema"), 0);
    ASSERT_TRUE(StartOvsdbServer());
    ASSERT_EQ(Sh("ip netns add " + g_ns + " && ip -n " + g_ns + " link set lo up"), 0);
    ASSERT_EQ(Sh("ip netns exec " + g_ns + " env " + Env() + " ovs-vswitchd unix:" + Sock() +
                 " --pidfile=" + g_dir + "/ovs-vswitchd.pid --log-file=" + g_dir +
                 "/ovs-vswitchd.log --detach --no-chdir -vconsole:off"),
              0);
  }
  static void TearDownTestSuite() {
    if (g_dir.empty()) return;
    KillPidfile(g_dir + "/ovs-vswitchd.pid");
    KillPidfile(g_dir + "/ovsdb-server.pid");
    Sh("ip netns del " + g_ns + " 2>/dev/null");
    Sh("rm -rf " + g_dir);
  }
  void SetUp() override {
    if (g_dir.empty()) GTEST_SKIP() << "needs root and openvswitch-switch";
    OvsdbClientOptions o;
    o.socket_path = Sock();
    auto c = OvsdbClient::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
    db_ = std::make_unique<VswitchDb>(*client_);
    ASSERT_TRUE(db_->EnsureBridge(BridgeSpec{.name = "br-int"}).ok());
  }

  std::unique_ptr<OvsdbClient> client_;
  std::unique_ptr<VswitchDb> db_;
};

TEST_F(OvsdbIntegration, ListDbsAndSchema) {
  auto dbs = client_->ListDbs();
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  EXPECT_NE(std::find(dbs->begin(), dbs->end(), "Open_vSwitch"), dbs->end());
  auto schema = client_->GetSchema("Open_vSwitch");
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_TRUE((*schema)["tables"].contains("Interface"));
  EXPECT_EQ(client_->GetSchema("NoSuchDb").status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(client_->Echo().ok());
}

TEST_F(OvsdbIntegration, EnsureBridgeIsIdempotentAndConfigured) {
  ASSERT_TRUE(db_->EnsureBridge(BridgeSpec{.name = "br-int"}).ok());
  EXPECT_EQ(Vsctl("list-br"), "br-int");
  EXPECT_EQ(Vsctl("get Bridge br-int fail_mode"), "secure");
  EXPECT_EQ(Vsctl("get Bridge br-int datapath_type"), "netdev");
  EXPECT_EQ(Vsctl("get Bridge br-int other_config:disable-in-band"), "\"true\"");
}

TEST_F(OvsdbIntegration, InternalPortGetsOfportAndMonitorSeesIt) {
  auto initial = client_->Monitor("Open_vSwitch", "agent", VswitchDb::AgentMonitorRequests());
  ASSERT_TRUE(initial.ok()) << initial.status();
  EXPECT_TRUE(initial->initial);
  PortSpec spec{.bridge = "br-int", .name = "rfw0", .type = InterfaceType::kInternal,
                .interface_external_ids = {{"rampart", "fw"}}};
  auto uuid = db_->EnsurePort(spec);
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  auto ofport = db_->WaitForOfport("rfw0", absl::Seconds(10));
  ASSERT_TRUE(ofport.ok()) << ofport.status();
  EXPECT_GT(*ofport, 0);
  EXPECT_EQ(Vsctl("get Interface rfw0 ofport"), std::to_string(*ofport));
  EXPECT_EQ(Vsctl("get Interface rfw0 type"), "internal");

  // The monitor reports the interface with that ofport (insert, then the ofport update).
  bool seen = false;
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!seen && absl::Now() < deadline) {
    auto updates = client_->PollUpdates(absl::Milliseconds(200));
    ASSERT_TRUE(updates.ok()) << updates.status();
    for (const auto& u : *updates) {
      for (const auto& r : u.rows) {
        if (r.table == "Interface" && !r.IsDelete() && r.new_row.value("name", "") == "rfw0" &&
            r.new_row.contains("ofport") && r.new_row["ofport"] == *ofport) {
          seen = true;
        }
      }
    }
  }
  EXPECT_TRUE(seen);
  // Idempotent: same row, no second port.
  auto again = db_->EnsurePort(spec);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *uuid);
  auto ports = db_->ListPorts("br-int");
  ASSERT_TRUE(ports.ok());
  EXPECT_EQ(std::count(ports->begin(), ports->end(), "rfw0"), 1);
  ASSERT_TRUE(client_->MonitorCancel("agent").ok());
}

TEST_F(OvsdbIntegration, SystemPortOnAVeth) {
  ASSERT_EQ(Sh("ip -n " + g_ns + " link add vt0 type veth peer name vt1 && ip -n " + g_ns +
               " link set vt0 up && ip -n " + g_ns + " link set vt1 up"),
            0);
  auto uuid = db_->EnsurePort(PortSpec{.bridge = "br-int", .name = "vt0",
                                       .interface_external_ids = {{"iface-id", "vm1"}}});
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  auto ofport = db_->WaitForOfport("vt0");
  ASSERT_TRUE(ofport.ok()) << ofport.status();
  EXPECT_GT(*ofport, 0);
  EXPECT_EQ(Vsctl("get Interface vt0 external_ids:iface-id"), "vm1");
  ASSERT_TRUE(db_->DeletePort("br-int", "vt0").ok());
  EXPECT_EQ(Vsctl("list-ports br-int | grep -c '^vt0$'"), "0");
  EXPECT_TRUE(db_->DeletePort("br-int", "vt0").ok());  // absent: fine
  Sh("ip -n " + g_ns + " link del vt0");
}

TEST_F(OvsdbIntegration, MissingDeviceReportsOvsError) {
  ASSERT_TRUE(db_->EnsurePort(PortSpec{.bridge = "br-int", .name = "nodev9"}).ok());
  auto ofport = db_->WaitForOfport("nodev9", absl::Seconds(10));
  EXPECT_EQ(ofport.status().code(), absl::StatusCode::kFailedPrecondition) << ofport.status();
  EXPECT_NE(ofport.status().message().find("nodev9"), std::string::npos);
  ASSERT_TRUE(db_->DeletePort("br-int", "nodev9").ok());
}

TEST_F(OvsdbIntegration, ExternalIdsMergeAndRemove) {
  ASSERT_TRUE(db_->EnsurePort(PortSpec{.bridge = "br-int", .name = "rx0", .type = InterfaceType::kInternal,
                                       .interface_external_ids = {{"a", "1"}, {"b", "2"}}})
                  .ok());
  ASSERT_TRUE(db_->SetExternalIds("Interface", "rx0", {{"b", "20"}, {"c", "3"}}).ok());
  auto ids = db_->GetExternalIds("Interface", "rx0");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (StringMap{{"a", "1"}, {"b", "20"}, {"c", "3"}}));
  EXPECT_EQ(Vsctl("get Interface rx0 external_ids:b"), "\"20\"");
  ASSERT_TRUE(db_->RemoveExternalIds("Interface", "rx0", {"a", "zz"}).ok());
  EXPECT_EQ(*db_->GetExternalIds("Interface", "rx0"), (StringMap{{"b", "20"}, {"c", "3"}}));
  EXPECT_EQ(db_->SetExternalIds("Interface", "nope", {{"x", "y"}}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(db_->GetExternalIds("Port", "nope").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(db_->DeletePort("br-int", "rx0").ok());
}

TEST_F(OvsdbIntegration, PortOnMissingOrOtherBridgeIsRefused) {
  auto missing = db_->EnsurePort(PortSpec{.bridge = "br-nope", .name = "p1"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(db_->EnsureBridge(BridgeSpec{.name = "br-two"}).ok());
  ASSERT_TRUE(db_->EnsurePort(PortSpec{.bridge = "br-two", .name = "p2", .type = InterfaceType::kInternal}).ok());
  auto other = db_->EnsurePort(PortSpec{.bridge = "br-int", .name = "p2"});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_EQ(db_->DeletePort("br-int", "p2").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(db_->DeleteBridge("br-two").ok());
  EXPECT_EQ(Vsctl("list-br"), "br-int");
}

TEST_F(OvsdbIntegration, VswitchDbHonoursTheVswitchContract) {
  testing::RunVswitchConformance(*db_, [](const std::string& name) {
    ASSERT_EQ(Sh("ip -n " + g_ns + " link add " + name + " type veth peer name " + name + "-p && ip -n " +
                 g_ns + " link set " + name + " up"),
              0);
  });
  Sh("ip -n " + g_ns + " link del pc-sys 2>/dev/null");
}

TEST_F(OvsdbIntegration, ReconnectsAfterServerRestartAndResyncsMonitor) {
  auto initial = client_->Monitor("Open_vSwitch", "m", {{"Bridge", {"name"}}});
  ASSERT_TRUE(initial.ok()) << initial.status();
  KillPidfile(g_dir + "/ovsdb-server.pid");
  ASSERT_TRUE(StartOvsdbServer());
  // First call sees the dropped connection; a later one reconnects.
  (void)client_->ListDbs();
  auto dbs = client_->ListDbs();
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  EXPECT_GE(client_->reconnects(), 1u);
  auto u = client_->PollUpdates(absl::ZeroDuration());
  ASSERT_TRUE(u.ok());
  ASSERT_FALSE(u->empty());
  EXPECT_TRUE((*u)[0].initial);
  bool has_br_int = false;
  for (const auto& r : (*u)[0].rows) has_br_int |= r.new_row.value("name", "") == "br-int";
  EXPECT_TRUE(has_br_int);
  // ovs-vswitchd reconnects too; a new port still gets an ofport.
  ASSERT_TRUE(db_->EnsurePort(PortSpec{.bridge = "br-int", .name = "after0", .type = InterfaceType::kInternal}).ok());
  auto ofport = db_->WaitForOfport("after0", absl::Seconds(15));
  EXPECT_TRUE(ofport.ok()) << ofport.status();
  ASSERT_TRUE(db_->DeletePort("br-int", "after0").ok());
}

}  // namespace
}  // namespace rampart::ovs
