// rampart-fwd's service registry: service.set/service.delete parameters, the registry's
// idempotence, and redirected frames through the worker path (engine -> ApplyServiceFailure ->
// CollectTx) for both failure behaviours and for unknown services.
#include "fwd/service_registry.h"

#include <gtest/gtest.h>

#include "fwd/worker_path.h"
#include "packet/frame_builder.h"
#include "policy/compiler.h"
#include "policy/policy_parser.h"

namespace rampart::fwd {
namespace {

using nlohmann::json;

TEST(ServiceConfig, DefaultsAndEveryField) {
  auto c = ParseServiceConfig({{"tenant", "t1"}, {"name", "ips"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->on_failure, OnFailure::kDrop);
  EXPECT_EQ(c->check, ServiceCheck::kCached);
  EXPECT_EQ(c->nth, 0u);
  EXPECT_FALSE(c->relay);
  EXPECT_EQ(c->same_host, SameHost::kBoth);
  EXPECT_EQ(c->migration, MigrationMode::kEngine);
  json full = {{"tenant", "t1"}, {"name", "ips"}, {"on_failure", "allow"}, {"check", "every-nth"}, {"nth", 5},
               {"relay", true}, {"same_host", "destination"}, {"migration", "svm-review"}};
  c = ParseServiceConfig(full);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->on_failure, OnFailure::kAllow);
  EXPECT_EQ(c->check, ServiceCheck::kEveryNth);
  EXPECT_EQ(c->nth, 5u);
  EXPECT_TRUE(c->relay);
  EXPECT_EQ(c->same_host, SameHost::kDestination);
  EXPECT_EQ(c->migration, MigrationMode::kSvmReview);
  EXPECT_EQ(ServiceConfigJson(*c), full);  // round trip
  for (const char* m : {"engine", "svm-review", "svm"}) {
    EXPECT_TRUE(ParseServiceConfig({{"name", "x"}, {"migration", m}}).ok()) << m;
  }
  for (const char* s : {"both", "source", "destination"}) {
    EXPECT_TRUE(ParseServiceConfig({{"name", "x"}, {"same_host", s}}).ok()) << s;
  }
  EXPECT_TRUE(ParseServiceConfig({{"name", "x"}, {"check", "every-packet"}, {"nth", 0}}).ok());
}

TEST(ServiceConfig, BadFieldsAreRefusedNamingTheField) {
  struct Case {
    json params;
    const char* field;
  };
  const std::vector<Case> cases = {
      {{{"tenant", "t"}}, "'name'"},
      {{{"name", ""}}, "'name'"},
      {{{"name", 7}}, "'name'"},
      {{{"name", "a\nb"}}, "'name'"},
      {{{"name", std::string(300, 'x')}}, "'name'"},
      {{{"name", "x"}, {"tenant", false}}, "'tenant'"},
      {{{"name", "x"}, {"on_failure", "open"}}, "'on_failure'"},
      {{{"name", "x"}, {"on_failure", 1}}, "'on_failure'"},
      {{{"name", "x"}, {"check", "sometimes"}}, "'check'"},
      {{{"name", "x"}, {"check", "every-nth"}}, "'nth'"},
      {{{"name", "x"}, {"check", "every-nth"}, {"nth", 1}}, "'nth'"},
      {{{"name", "x"}, {"check", "cached"}, {"nth", 3}}, "'nth'"},
      {{{"name", "x"}, {"nth", -2}}, "'nth'"},
      {{{"name", "x"}, {"nth", "3"}}, "'nth'"},
      {{{"name", "x"}, {"nth", 1.5}}, "'nth'"},
      {{{"name", "x"}, {"relay", "true"}}, "'relay'"},
      {{{"name", "x"}, {"relay", true}, {"check", "every-packet"}}, "'relay'"},
      {{{"name", "x"}, {"same_host", "neither"}}, "'same_host'"},
      {{{"name", "x"}, {"migration", "vmotion"}}, "'migration'"},
      {{{"name", "x"}, {"colour", "red"}}, "'colour'"},
  };
  for (const auto& c : cases) {
    auto r = ParseServiceConfig(c.params);
    ASSERT_FALSE(r.ok()) << c.params.dump();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status() << " for " << c.params.dump();
    EXPECT_NE(r.status().message().find("service.set"), std::string::npos) << r.status();
  }
  EXPECT_FALSE(ParseServiceConfig(json::array()).ok());
  EXPECT_FALSE(ParseServiceKey({{"tenant", "t"}}).ok());
  EXPECT_FALSE(ParseServiceKey({{"name", "x"}, {"on_failure", "drop"}}).ok());
  auto k = ParseServiceKey({{"tenant", "t"}, {"name", "x"}});
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->first, "t");
  EXPECT_EQ(k->second, "x");
}

// An engine with instance 1 (tenant t1) protecting port 1 (tags 10 from the VM, 11 to it) whose
// policy redirects TCP port 8080 statefully to "ips", UDP 9000 statelessly to "ips", and TCP
// 9090 to "nope"; everything else dropped.
class WorkerPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = Engine::Create({});
    ASSERT_TRUE(e.ok());
    engine_ = std::move(*e);
    ASSERT_TRUE(engine_->CreateInstance(InstanceInfo{1, "t1/vm1", {}, "t1"}).ok());
    ASSERT_TRUE(engine_->BindTag(10, TagBinding{1, 1, Direction::kFromVm}).ok());
    ASSERT_TRUE(engine_->BindTag(11, TagBinding{1, 1, Direction::kToVm}).ok());
    auto policy = ParsePolicyYaml(R"(
default: drop
rules:
  - {id: 1, direction: from-vm, protocol: tcp, destination_ports: [8080], action: redirect, redirect_to: ips}
  - {id: 2, direction: from-vm, protocol: udp, destination_ports: [9000], action: redirect, redirect_to: ips, stateless: true}
  - {id: 3, direction: from-vm, protocol: tcp, destination_ports: [9090], action: redirect, redirect_to: nope}
)", "test");
    ASSERT_TRUE(policy.ok()) << policy.status();
    auto snap = compiler_.Reset(*policy);
    ASSERT_TRUE(snap.ok()) << snap.status();
    ASSERT_TRUE(engine_->SetPolicy(1, *snap).ok());
    registry_ = std::make_unique<ServiceRegistry>(*engine_);
  }

  struct Out {
    std::vector<Frame> frames;
    std::vector<std::vector<uint8_t>> sent;
    RedirectTotals redirects;
  };
  // One batch through the worker path, as daemon.cc's loop runs it.
  Out Run(std::vector<std::vector<uint8_t>> in) {
    Out out;
    bufs_ = std::move(in);
    out.frames.resize(bufs_.size());
    std::vector<uint8_t*> ptrs;
    for (size_t i = 0; i < bufs_.size(); ++i) {
      out.frames[i].data = bufs_[i].data();
      out.frames[i].len = static_cast<uint32_t>(bufs_[i].size());
      ptrs.push_back(bufs_[i].data());
    }
    engine_->ProcessBatch(engine_->worker(0), out.frames, now_ += 1'000'000);
    out.redirects = ApplyServiceFailure(*registry_->Table(), out.frames, registry_->counters(0));
    std::vector<std::span<const uint8_t>> tx;
    CollectTx(out.frames, ptrs.data(), &tx);
    for (auto s : tx) out.sent.emplace_back(s.begin(), s.end());
    return out;
  }

  ServiceRegistry::Entry Listed(const std::string& name) {
    for (const auto& e : registry_->List()) {
      if (e.config.name == name) return e;
    }
    ADD_FAILURE() << name << " not listed";
    return {};
  }

  static std::vector<uint8_t> Tcp(uint16_t tag, bool from_vm, uint16_t vm_port, uint16_t peer_port, uint8_t flags,
                                  uint32_t seq, uint32_t ack) {
    FrameBuilder b;
    b.Vlan(tag);
    if (from_vm) b.Ipv4("198.18.1.10", "198.18.2.20").Tcp(vm_port, peer_port, flags, seq, ack);
    else b.Ipv4("198.18.2.20", "198.18.1.10").Tcp(peer_port, vm_port, flags, seq, ack);
    return b.Build();
  }

  std::unique_ptr<Engine> engine_;
  PolicyCompiler compiler_;
  std::unique_ptr<ServiceRegistry> registry_;
  std::vector<std::vector<uint8_t>> bufs_;
  uint64_t now_ = 1'000'000'000;
};

TEST_F(WorkerPathTest, FailOpenForwardsTheConnectionLikeAnAllowedOneRepliesIncluded) {
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(*registry_->Set(c));
  auto syn = Tcp(10, true, 40000, 8080, kTcpSyn, 1000, 0);
  auto synack = Tcp(11, false, 40000, 8080, kTcpSyn | kTcpAck, 7000, 1001);
  auto ack = Tcp(10, true, 40000, 8080, kTcpAck, 1001, 7001);
  Out o = Run({syn, synack, ack});
  ASSERT_EQ(o.sent.size(), 3u);
  // Exactly the frames, each out with its own tag (the binding has no return tag).
  EXPECT_EQ(o.sent[0], syn);
  EXPECT_EQ(o.sent[1], synack);
  EXPECT_EQ(o.sent[2], ack);
  EXPECT_EQ(o.frames[0].reason, Reason::kRuleRedirect);
  EXPECT_EQ(o.frames[1].reason, Reason::kRedirectEstablished);
  EXPECT_EQ(o.redirects.failure_allowed, 3u);
  auto e = Listed("ips");
  EXPECT_EQ(e.redirected, 3u);
  EXPECT_EQ(e.failure_allowed, 3u);
  EXPECT_EQ(e.failure_dropped, 0u);
  // A fresh reply-direction SYN to the same port is no part of any connection: the default drops it.
  o = Run({Tcp(11, false, 40001, 8080, kTcpSyn, 1, 0)});
  EXPECT_TRUE(o.sent.empty());
  EXPECT_EQ(o.redirects.redirected, 0u);
}

TEST_F(WorkerPathTest, FailOpenKeepsTheReturnTagOfAnInlineFirewall) {
  ASSERT_TRUE(engine_->CreateInstance(InstanceInfo{2, "t1/fw", {}, "t1"}).ok());
  ASSERT_TRUE(engine_->BindTag(20, TagBinding{2, 1, Direction::kFromVm, 21}).ok());
  ASSERT_TRUE(engine_->BindTag(21, TagBinding{2, 1, Direction::kToVm, 20}).ok());
  ASSERT_TRUE(engine_->SetPolicy(2, compiler_.current()).ok());
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(registry_->Set(c).ok());
  Out o = Run({Tcp(20, true, 40000, 8080, kTcpSyn, 1000, 0), Tcp(21, false, 40000, 8080, kTcpSyn | kTcpAck, 7000, 1001)});
  ASSERT_EQ(o.sent.size(), 2u);
  EXPECT_EQ(o.frames[0].out_tag, 21);
  EXPECT_EQ(((o.sent[0][14] & 0x0f) << 8) | o.sent[0][15], 21);
  EXPECT_EQ(((o.sent[1][14] & 0x0f) << 8) | o.sent[1][15], 20);
}

TEST_F(WorkerPathTest, FailClosedDropsAndCountsEveryFrameOfTheConnection) {
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";  // on_failure: drop is the default
  ASSERT_TRUE(registry_->Set(c).ok());
  Out o = Run({Tcp(10, true, 40000, 8080, kTcpSyn, 1000, 0), Tcp(10, true, 40000, 8080, kTcpSyn, 1000, 0)});
  EXPECT_TRUE(o.sent.empty());
  EXPECT_EQ(o.frames[0].verdict, Verdict::kDrop);
  EXPECT_EQ(o.redirects.failure_dropped, 2u);
  EXPECT_EQ(Listed("ips").failure_dropped, 2u);
  // Switching the same service to fail open takes effect on the next batch, for the connection
  // already committed too (its SYN retransmission passes).
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(*registry_->Set(c));
  o = Run({Tcp(10, true, 40000, 8080, kTcpSyn, 1000, 0)});
  EXPECT_EQ(o.sent.size(), 1u);
  auto e = Listed("ips");
  EXPECT_EQ(e.redirected, 3u);
  EXPECT_EQ(e.failure_dropped, 2u);
  EXPECT_EQ(e.failure_allowed, 1u);
}

TEST_F(WorkerPathTest, StatelessRedirectFailOpenPassesOnlyMatchingFrames) {
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(registry_->Set(c).ok());
  auto q = FrameBuilder().Vlan(10).Ipv4("198.18.1.10", "198.18.2.20").Udp(5000, 9000).Build();
  auto r = FrameBuilder().Vlan(11).Ipv4("198.18.2.20", "198.18.1.10").Udp(9000, 5000).Build();
  Out o = Run({q, r});
  ASSERT_EQ(o.sent.size(), 1u);
  EXPECT_EQ(o.sent[0], q);
  EXPECT_EQ(o.frames[1].verdict, Verdict::kDrop);  // no connection was committed
}

TEST_F(WorkerPathTest, UnknownServicesAndOtherTenantsServicesDrop) {
  // "nope" is registered for another tenant only; "ips" not at all.
  ServiceConfig c;
  c.tenant = "t2";
  c.name = "nope";
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(registry_->Set(c).ok());
  Out o = Run({Tcp(10, true, 40000, 9090, kTcpSyn, 1, 0), Tcp(10, true, 40001, 8080, kTcpSyn, 1, 0)});
  EXPECT_TRUE(o.sent.empty());
  EXPECT_EQ(o.redirects.unknown_service, 2u);
  EXPECT_EQ(o.redirects.failure_allowed, 0u);
  auto un = registry_->Unregistered();
  ASSERT_EQ(un.size(), 2u);  // t1/ips and t1/nope, named by the policy
  uint64_t total = 0;
  for (const auto& e : un) {
    EXPECT_EQ(e.config.tenant, "t1");
    total += e.redirected;
  }
  EXPECT_EQ(total, 2u);
  EXPECT_EQ(Listed("nope").redirected, 0u);
}

TEST_F(WorkerPathTest, DeletedServiceBecomesUnknown) {
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";
  c.on_failure = OnFailure::kAllow;
  ASSERT_TRUE(registry_->Set(c).ok());
  EXPECT_EQ(Run({Tcp(10, true, 40000, 8080, kTcpSyn, 1, 0)}).sent.size(), 1u);
  ASSERT_TRUE(registry_->Delete("t1", "ips").ok());
  EXPECT_EQ(registry_->Delete("t1", "ips").code(), absl::StatusCode::kNotFound);
  Out o = Run({Tcp(10, true, 40000, 8080, kTcpSyn, 1, 0)});
  EXPECT_TRUE(o.sent.empty());
  EXPECT_EQ(o.redirects.unknown_service, 1u);
}

TEST(ServiceRegistry, SetIsIdempotentAndAChangedFieldReplacesTheEntry) {
  auto e = Engine::Create({});
  ASSERT_TRUE(e.ok());
  ServiceRegistry r(**e);
  ServiceConfig c;
  c.tenant = "t1";
  c.name = "ips";
  auto t0 = r.Table();
  EXPECT_TRUE(*r.Set(c));
  auto t1 = r.Table();
  EXPECT_NE(t0, t1);
  EXPECT_FALSE(*r.Set(c));
  EXPECT_EQ(r.Table(), t1) << "an unchanged service published a new table";
  c.migration = MigrationMode::kSvm;
  EXPECT_TRUE(*r.Set(c));
  ASSERT_EQ(r.List().size(), 1u);
  EXPECT_EQ(r.List()[0].config.migration, MigrationMode::kSvm);
  const uint16_t id = r.List()[0].id;
  EXPECT_EQ(r.Table()->by_id[id], ServiceFallback::kDrop);
  ServiceConfig other = c;
  other.tenant = "t2";
  other.on_failure = OnFailure::kAllow;
  EXPECT_TRUE(*r.Set(other));
  ASSERT_EQ(r.List().size(), 2u);
  EXPECT_NE(r.List()[1].id, id);
  EXPECT_EQ(r.Table()->by_id[r.List()[1].id], ServiceFallback::kAllow);
  EXPECT_EQ(*(*e)->InternService("t2", "ips"), r.List()[1].id);
}

}  // namespace
}  // namespace rampart::fwd
