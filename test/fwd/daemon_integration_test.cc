// rampart-fwd end to end on a real veth: frames tagged with a slice go in on one side, the
// daemon judges them with the engine, and allowed frames / RSTs come back with the right tag.
// Configured only through the FEI socket, as rampart-agent does. Runs in its own network
// namespace (unshare), so nothing outlives the test.
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "fwd/af_packet.h"
#include "fwd/daemon.h"
#include "fwd/fei_server.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"

namespace rampart::fwd {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"(
name: web
default: drop
rules:
  - id: 1
    name: web-out
    direction: from-vm
    destination: [198.19.0.0/16]
    protocol: tcp
    destination_ports: [80]
    action: allow
  - id: 2
    name: no-telnet
    protocol: tcp
    destination_ports: [23]
    action: reject
)";

class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root: " << std::strerror(errno);
    ASSERT_EQ(std::system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && ip link add fwa type veth peer name fwb && ip link set fwa up && ip link set fwb up"), 0);
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("fwd-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    DaemonOptions o;
    o.interface = "fwa";
    o.workers = 2;
    o.fei_socket = (dir_ / "fwd.sock").string();
    auto d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = std::move(*d);
    thread_ = std::thread([this] { daemon_->Run(); });
    auto c = FeiClient::Connect(o.fei_socket);
    ASSERT_TRUE(c.ok()) << c.status();
    fei_ = std::move(*c);
    auto wire = AfPacketPort::Open({.ifname = "fwb"});
    ASSERT_TRUE(wire.ok()) << wire.status();
    wire_ = std::move(*wire);
  }

  void TearDown() override {
    fei_.reset();
    daemon_->Stop();
    thread_.join();
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }

  json Call(const std::string& m, const json& p) {
    auto r = fei_->Call(m, p);
    EXPECT_TRUE(r.ok()) << m << ": " << r.status();
    return r.ok() ? *r : json();
  }

  void Configure() {
    Call("instance.create", {{"id", 1}, {"name", "vm1"}});
    Call("tag.bind", {{"vid", 10}, {"instance", 1}, {"port", 1}, {"direction", "from-vm"}});
    Call("tag.bind", {{"vid", 11}, {"instance", 1}, {"port", 1}, {"direction", "to-vm"}});
    json r = Call("policy.set", {{"instance", 1}, {"policy", kPolicy}});
    EXPECT_EQ(r["mode"], "full");
  }

  void Send(const std::vector<uint8_t>& f) {
    std::span<const uint8_t> s(f);
    ASSERT_EQ(wire_->Send(&s, 1), 1u);
  }

  // Tagged frames that come back within `ms`, with their tag restored. (The namespace's own
  // untagged IPv6 neighbour discovery is not ours.)
  std::vector<std::vector<uint8_t>> Collect(int ms) {
    std::vector<std::vector<uint8_t>> out;
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
      RxFrame rx[32];
      size_t n = wire_->Receive(rx, 32, 10);
      for (size_t i = 0; i < n; ++i) {
        uint8_t buf[2048];
        size_t len = WithVlan(rx[i], buf, sizeof(buf));
        ParsedPacket p;
        if (len && ParsePacket(buf, len, &p) == ParseError::kOk && p.num_vlans > 0) out.emplace_back(buf, buf + len);
      }
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> daemon_;
  std::thread thread_;
  std::unique_ptr<FeiClient> fei_;
  std::unique_ptr<AfPacketPort> wire_;
};

TEST_F(DaemonTest, AllowsStatefullyDropsAndRejectsWithTheRightTags) {
  Configure();
  auto syn = FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40000, 80, kTcpSyn, 1000).Build();
  Send(syn);
  auto back = Collect(300);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], syn);  // allowed: out with its own tag, unchanged

  auto synack = FrameBuilder().Vlan(11).Ipv4("198.19.0.5", "198.18.1.10").Tcp(80, 40000, kTcpSyn | kTcpAck, 7000, 1001).Build();
  Send(synack);
  back = Collect(300);
  ASSERT_EQ(back.size(), 1u) << "the reply of an allowed connection passes";
  EXPECT_EQ(back[0], synack);

  // Not allowed by any rule: dropped, nothing comes back.
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40001, 22, kTcpSyn, 1).Build());
  EXPECT_TRUE(Collect(200).empty());

  // Rejected: a RST to the VM, on the VM's tag.
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40002, 23, kTcpSyn, 500).Build());
  back = Collect(300);
  ASSERT_EQ(back.size(), 1u);
  ParsedPacket rst;
  ASSERT_EQ(ParsePacket(back[0].data(), back[0].size(), &rst), ParseError::kOk);
  EXPECT_EQ(rst.num_vlans, 1);
  EXPECT_EQ(rst.vlan_tci[0] & 0xfff, 10);
  EXPECT_EQ(rst.proto, kProtoTcp);
  EXPECT_TRUE(rst.tcp_flags & kTcpRst);
  EXPECT_EQ(rst.dst, *Ip::Parse("198.18.1.10"));
  EXPECT_EQ(rst.dport, 40002);
  EXPECT_EQ(rst.tcp_ack, 501u);

  // A frame on a tag bound to nothing is dropped and counted.
  Send(FrameBuilder().Vlan(99).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40003, 80, kTcpSyn, 1).Build());
  EXPECT_TRUE(Collect(200).empty());

  json conns = Call("conntrack.list", {{"instance", 1}});
  ASSERT_EQ(conns["connections"].size(), 1u);
  EXPECT_EQ(conns["connections"][0]["dport"], 80);
  EXPECT_EQ(conns["connections"][0]["rule_id"], 1);

  json stats = Call("stats", json::object());
  EXPECT_EQ(stats["engine"]["reasons"]["unknown-tag"], 1);
  json inst = stats["instances"][0];
  EXPECT_EQ(inst["reasons"]["allow-new"], 1);
  EXPECT_EQ(inst["reasons"]["allow-established"], 1);
  EXPECT_EQ(inst["reasons"]["rule-reject"], 1);

  // After a flush the connection is gone: its next mid-stream segment is not established.
  Call("conntrack.flush", {{"instance", 1}});
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40000, 80, kTcpAck, 1001, 7001).Build());
  EXPECT_TRUE(Collect(200).empty());
  EXPECT_TRUE(Call("conntrack.list", {{"instance", 1}})["connections"].empty());
}

TEST_F(DaemonTest, PolicyUpdatesAreIncrementalAndBadOnesChangeNothing) {
  Configure();
  std::string changed = kPolicy;
  changed.replace(changed.find("[80]"), 4, "[80, 8080]");
  json r = Call("policy.set", {{"instance", 1}, {"policy", changed}});
  EXPECT_EQ(r["mode"], "incremental");
  auto syn = FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40010, 8080, kTcpSyn, 1).Build();
  Send(syn);
  EXPECT_EQ(Collect(300).size(), 1u);

  auto bad = fei_->Call("policy.set", {{"instance", 1}, {"policy", "rules:\n  - protocol: tcp\n    destination_ports: [90-80]\n"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  json got = Call("policy.get", {{"instance", 1}});
  EXPECT_NE(got["policy"].get<std::string>().find("8080"), std::string::npos) << "a rejected update changed the policy";
}

TEST_F(DaemonTest, ExportAndImportCarryAConnectionToAnotherPort) {
  Configure();
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40000, 80, kTcpSyn, 1000).Build());
  Send(FrameBuilder().Vlan(11).Ipv4("198.19.0.5", "198.18.1.10").Tcp(80, 40000, kTcpSyn | kTcpAck, 7000, 1001).Build());
  EXPECT_EQ(Collect(300).size(), 2u);
  json blob = Call("conntrack.export", {{"instance", 1}, {"port", 1}});
  ASSERT_TRUE(blob.contains("blob"));
  Call("tag.bind", {{"vid", 20}, {"instance", 1}, {"port", 2}, {"direction", "from-vm"}});
  json kept = Call("conntrack.import", {{"instance", 1}, {"port", 2}, {"blob", blob["blob"]}});
  EXPECT_EQ(kept["kept"], 1);
  auto bad = fei_->Call("conntrack.import", {{"instance", 1}, {"port", 2}, {"blob", "AAAA"}});
  EXPECT_FALSE(bad.ok());
}

TEST_F(DaemonTest, RedirectsFollowTheServicesFailureBehaviour) {
  Call("instance.create", {{"id", 1}, {"name", "t1/vm1"}, {"tenant", "t1"}});
  Call("tag.bind", {{"vid", 10}, {"instance", 1}, {"port", 1}, {"direction", "from-vm"}});
  Call("tag.bind", {{"vid", 11}, {"instance", 1}, {"port", 1}, {"direction", "to-vm"}});
  Call("policy.set", {{"instance", 1}, {"policy", R"(
rules:
  - {id: 1, direction: from-vm, protocol: tcp, destination_ports: [8080], action: redirect, redirect_to: ips}
  - {id: 2, direction: from-vm, protocol: tcp, destination_ports: [9090], action: redirect, redirect_to: gone}
)"}});
  EXPECT_EQ(Call("instance.list", json::object())["instances"][0]["tenant"], "t1");
  // Bad fields are refused, naming the field.
  auto bad = fei_->Call("service.set", {{"tenant", "t1"}, {"name", "ips"}, {"check", "every-nth"}, {"nth", 1}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'nth'"), std::string::npos) << bad.status();
  bad = fei_->Call("instance.create", {{"id", 2}, {"tenant", 5}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(Call("service.set", {{"tenant", "t1"}, {"name", "ips"}, {"on_failure", "allow"}})["changed"], true);
  EXPECT_EQ(Call("service.set", {{"tenant", "t1"}, {"name", "ips"}, {"on_failure", "allow"}})["changed"], false);
  auto syn = FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40000, 8080, kTcpSyn, 1000).Build();
  auto synack = FrameBuilder().Vlan(11).Ipv4("198.19.0.5", "198.18.1.10").Tcp(8080, 40000, kTcpSyn | kTcpAck, 7000, 1001).Build();
  Send(syn);
  Send(synack);
  auto back = Collect(300);
  ASSERT_EQ(back.size(), 2u) << "fail open: the redirected connection and its reply pass";
  EXPECT_EQ(back[0], syn);
  EXPECT_EQ(back[1], synack);

  // Fail closed now: the same connection's next segment is dropped.
  Call("service.set", {{"tenant", "t1"}, {"name", "ips"}, {"on_failure", "drop"}});
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40000, 8080, kTcpAck, 1001, 7001).Build());
  // No service "gone": dropped as unknown.
  Send(FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.19.0.5").Tcp(40001, 9090, kTcpSyn, 1).Build());
  EXPECT_TRUE(Collect(300).empty());

  json list = Call("service.list", json::object());
  ASSERT_EQ(list["services"].size(), 1u);
  json svc = list["services"][0];
  EXPECT_EQ(svc["tenant"], "t1");
  EXPECT_EQ(svc["name"], "ips");
  EXPECT_EQ(svc["on_failure"], "drop");
  EXPECT_EQ(svc["check"], "cached");
  EXPECT_EQ(svc["counters"]["redirected"], 3);
  EXPECT_EQ(svc["counters"]["failure_allowed"], 2);
  EXPECT_EQ(svc["counters"]["failure_dropped"], 1);
  ASSERT_EQ(list["unregistered"].size(), 1u);
  EXPECT_EQ(list["unregistered"][0]["name"], "gone");
  EXPECT_EQ(list["unregistered"][0]["counters"]["redirected"], 1);

  json stats = Call("stats", json::object());
  uint64_t no_service = 0, drop = 0, allow = 0, unknown = 0;
  for (const auto& w : stats["workers"]) {
    no_service += w["redirect_no_service"].get<uint64_t>();
    drop += w["redirect_failure_drop"].get<uint64_t>();
    allow += w["redirect_failure_allow"].get<uint64_t>();
    unknown += w["redirect_unknown_service"].get<uint64_t>();
  }
  EXPECT_EQ(no_service, 4u);
  EXPECT_EQ(allow, 2u);
  EXPECT_EQ(drop, 1u);
  EXPECT_EQ(unknown, 1u);
  EXPECT_EQ(stats["instances"][0]["reasons"]["redirect-established"], 2);

  Call("service.delete", {{"tenant", "t1"}, {"name", "ips"}});
  EXPECT_EQ(fei_->Call("service.delete", {{"tenant", "t1"}, {"name", "ips"}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Call("service.list", json::object())["services"].empty());
}

}  // namespace
}  // namespace rampart::fwd
