// Engine pipeline tests on real frames (FrameBuilder -> the real parser, conntrack, classifier).
#include "engine/engine.h"

#include <atomic>
#include <set>
#include <thread>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "packet/builder.h"
#include "packet/parser.h"

namespace rampart {
namespace {

using testing::EngineHarness;
using testing::kPeer;
using testing::kPeer6;
using testing::kTagFrom;
using testing::kTagTo;
using testing::kVm;
using testing::kVm6;
using testing::M;
using testing::MakePolicy;
using testing::TcpConn;
using testing::TRule;

// Web from the VM allowed (rule 10); DNS to 198.18.9.9 allowed (rule 20); port 23 dropped
// (rule 30), port 25 rejected (rule 40, logged), UDP 5000 rejected (rule 41), port 8080 redirected
// (rule 50, service 1), UDP 7000 stateless allow (rule 60); default drop.
std::shared_ptr<const CompiledPolicy> WebPolicy(uint64_t gen = 1) {
  return MakePolicy({
                        {10, M().Proto(kProtoTcp).Dport(80).FromVm().m, Action::kAllow},
                        {20, M().Proto(kProtoUdp).Dport(53).FromVm().m, Action::kAllow},
                        {30, M().Proto(kProtoTcp).Dport(23).m, Action::kDrop},
                        {40, M().Proto(kProtoTcp).Dport(25).m, Action::kReject, false, true},
                        {41, M().Proto(kProtoUdp).Dport(5000).m, Action::kReject},
                        {50, M().Proto(kProtoTcp).Dport(8080).m, Action::kRedirect, false, false, 1},
                        {60, M().Proto(kProtoUdp).Dport(7000).m, Action::kAllow, true},
                        {70, M().Proto(kProtoIcmp).FromVm().m, Action::kAllow},
                    },
                    Action::kDrop, gen);
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(h_.engine->SetPolicy(1, WebPolicy()).ok()); }
  InstanceCounters C() { return *h_.engine->Counters(1); }
  EngineHarness h_;
};

TEST_F(EngineTest, AllowedConnectionAndItsRepliesPass) {
  TcpConn c;
  Frame f = h_.One(c.Syn());
  EXPECT_EQ(f.verdict, Verdict::kAllow);
  EXPECT_EQ(f.reason, Reason::kAllowNew);
  EXPECT_EQ(f.rule_id, 10u);
  EXPECT_TRUE(f.new_connection);
  EXPECT_EQ(f.out_tag, kTagFrom);
  // The reply direction matches no allow rule, but belongs to the connection.
  f = h_.One(c.SynAck());
  EXPECT_EQ(f.verdict, Verdict::kAllow);
  EXPECT_EQ(f.reason, Reason::kAllowEstablished);
  EXPECT_EQ(f.rule_id, 10u);
  EXPECT_EQ(f.out_tag, kTagTo);
  f = h_.One(c.Ack());
  EXPECT_EQ(f.reason, Reason::kAllowEstablished);
  f = h_.One(c.DataFromVm());
  EXPECT_EQ(f.reason, Reason::kAllowEstablished);
  auto conns = h_.engine->ListConnections(1, 1);
  ASSERT_TRUE(conns.ok());
  ASSERT_EQ(conns->size(), 1u);
  EXPECT_EQ((*conns)[0].info.verdict.rule_id, 10u);
  // The same ports towards the VM, not part of the connection: no rule allows it.
  TcpConn in{kVm, kPeer, 80, 40001};
  f = h_.One(in.ToVm(kTcpSyn, 1, 0));
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_EQ(f.reason, Reason::kRuleDrop);
  EXPECT_EQ(f.rule_id, kDefaultRuleId);
}

TEST_F(EngineTest, HandshakeInOneBatchEqualsOneByOne) {
  TcpConn c;
  auto fs = h_.Run({c.Syn(), c.SynAck(), c.Ack(), c.DataFromVm()});
  EXPECT_EQ(fs[0].reason, Reason::kAllowNew);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(fs[i].reason, Reason::kAllowEstablished) << i;
}

TEST(EngineStrictness, MidStreamSegmentIsInvalidWhenStrictAndPickedUpWhenLoose) {
  TcpConn c;
  EngineHarness strict;
  ASSERT_TRUE(strict.engine->SetPolicy(1, WebPolicy()).ok());
  Frame f = strict.One(c.DataFromVm());
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_TRUE(IsInvalidReason(f.reason)) << ReasonName(f.reason);
  EXPECT_EQ(strict.engine->ListConnections(1, 1)->size(), 0u);

  InstanceOptions lo;
  lo.loose_tcp = true;
  EngineHarness loose(lo);
  ASSERT_TRUE(loose.engine->SetPolicy(1, WebPolicy()).ok());
  f = loose.One(c.DataFromVm());
  EXPECT_EQ(f.verdict, Verdict::kAllow);
  EXPECT_EQ(f.reason, Reason::kAllowNew);
  EXPECT_EQ(loose.engine->ListConnections(1, 1)->size(), 1u);
}

TEST_F(EngineTest, DropRuleDropsAndCommitsNothing) {
  TcpConn c{kVm, kPeer, 40000, 23};
  Frame f = h_.One(c.Syn());
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_EQ(f.reason, Reason::kRuleDrop);
  EXPECT_EQ(f.rule_id, 30u);
  EXPECT_EQ(h_.engine->ListConnections(1, 1)->size(), 0u);
}

TEST_F(EngineTest, RejectBuildsResetOutTheSameTag) {
  TcpConn c{kVm, kPeer, 40000, 25};
  auto syn = c.Syn();
  Frame f = h_.One(syn);
  EXPECT_EQ(f.verdict, Verdict::kReject);
  EXPECT_EQ(f.reason, Reason::kRuleReject);
  EXPECT_EQ(f.rule_id, 40u);
  ASSERT_NE(f.reply, nullptr);
  EXPECT_EQ(f.reply_tag, kTagFrom);
  ParsedPacket r;
  ASSERT_EQ(ParsePacket(f.reply, f.reply_len, &r), ParseError::kOk);
  EXPECT_EQ(r.num_vlans, 1);
  EXPECT_EQ(r.vlan_tci[0] & 0xfff, kTagFrom);
  EXPECT_EQ(r.proto, kProtoTcp);
  EXPECT_TRUE(r.tcp_flags & kTcpRst);
  EXPECT_EQ(r.src, *Ip::Parse(kPeer));
  EXPECT_EQ(r.dst, *Ip::Parse(kVm));
  EXPECT_EQ(r.sport, 25);
  EXPECT_EQ(r.dport, 40000);
  EXPECT_EQ(r.tcp_ack, 1001u);  // SYN without ACK: RST|ACK acking seq + 1
}

TEST_F(EngineTest, RejectOfUdpBuildsIcmpUnreachable) {
  auto frame = FrameBuilder().Vlan(kTagTo).Ipv4(kPeer, kVm).Udp(3333, 5000).Payload(20).Build();
  Frame f = h_.One(frame);
  EXPECT_EQ(f.verdict, Verdict::kReject);
  EXPECT_EQ(f.rule_id, 41u);
  ASSERT_NE(f.reply, nullptr);
  EXPECT_EQ(f.reply_tag, kTagTo);
  ParsedPacket r;
  ASSERT_EQ(ParsePacket(f.reply, f.reply_len, &r), ParseError::kOk);
  EXPECT_EQ(r.proto, kProtoIcmp);
  EXPECT_EQ(r.icmp_type, 3);
  EXPECT_EQ(r.icmp_code, kIcmpUnreachAdminProhibited);
  EXPECT_EQ(r.dst, *Ip::Parse(kPeer));
  ASSERT_TRUE(r.has_inner);
  EXPECT_EQ(r.inner.dport, 5000);
}

TEST_F(EngineTest, IcmpErrorAboutKnownConnectionIsRelatedAndUnrelatedOneIsDropped) {
  TcpConn c;
  auto syn = c.Syn();
  h_.Run({syn, c.SynAck(), c.Ack()});
  // A router on the way answers the VM's segment: the error travels to the VM.
  auto data = c.DataFromVm(200);
  auto err = FrameBuilder().Vlan(kTagTo).Ipv4("198.18.3.1", kVm).IcmpErrorAbout(data, 3, 4, SIZE_MAX, 1400).Build();
  Frame f = h_.One(err);
  EXPECT_EQ(f.verdict, Verdict::kAllow);
  EXPECT_EQ(f.reason, Reason::kAllowRelated);
  EXPECT_EQ(f.rule_id, 10u);
  // The same error about a connection nobody opened.
  TcpConn other{kVm, kPeer, 41000, 80};
  auto err2 = FrameBuilder().Vlan(kTagTo).Ipv4("198.18.3.1", kVm).IcmpErrorAbout(other.DataFromVm(), 3, 4).Build();
  f = h_.One(err2);
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_NE(f.reason, Reason::kAllowRelated);
}

TEST_F(EngineTest, StatelessRuleAllowsEveryPacketWithoutConntrack) {
  auto a = FrameBuilder().Vlan(kTagTo).Ipv4(kPeer, kVm).Udp(1000, 7000).Build();
  for (int i = 0; i < 3; ++i) {
    Frame f = h_.One(a);
    EXPECT_EQ(f.verdict, Verdict::kAllow);
    EXPECT_EQ(f.reason, Reason::kAllowStateless);
    EXPECT_EQ(f.rule_id, 60u);
  }
  EXPECT_EQ(h_.engine->ListConnections(1, 1)->size(), 0u);
  // The reply is not allowed by anything: stateless means no connection to belong to.
  auto b = FrameBuilder().Vlan(kTagFrom).Ipv4(kVm, kPeer).Udp(7000, 1000).Build();
  EXPECT_EQ(h_.One(b).verdict, Verdict::kDrop);
}

TEST_F(EngineTest, RedirectVerdictCarriesServiceIndex) {
  TcpConn c{kVm, kPeer, 40000, 8080};
  Frame f = h_.One(c.Syn());
  EXPECT_EQ(f.verdict, Verdict::kRedirect);
  EXPECT_EQ(f.reason, Reason::kRuleRedirect);
  EXPECT_EQ(f.service, 1);
  EXPECT_EQ(f.rule_id, 50u);
}

TEST_F(EngineTest, StatefulRedirectCommitsAConnectionWhoseRepliesRedirectToTheSameService) {
  auto svc = h_.engine->InternService("", "svc-b");  // tenant "": the harness's instance has none
  ASSERT_TRUE(svc.ok());
  TcpConn c{kVm, kPeer, 40000, 8080};
  Frame f = h_.One(c.Syn());
  EXPECT_EQ(f.verdict, Verdict::kRedirect);
  EXPECT_EQ(f.reason, Reason::kRuleRedirect);
  EXPECT_TRUE(f.new_connection);
  EXPECT_EQ(f.service_id, *svc);
  EXPECT_EQ(f.out_tag, kTagFrom);
  // The reply matches no rule towards the VM, but belongs to the redirected connection.
  for (const auto& frame : {c.SynAck(), c.Ack(), c.DataFromVm()}) {
    f = h_.One(frame);
    EXPECT_EQ(f.verdict, Verdict::kRedirect);
    EXPECT_EQ(f.reason, Reason::kRedirectEstablished);
    EXPECT_EQ(f.service, 1);
    EXPECT_EQ(f.service_id, *svc);
    EXPECT_EQ(f.rule_id, 50u);
  }
  auto conns = h_.engine->ListConnections(1, 1);
  ASSERT_TRUE(conns.ok());
  ASSERT_EQ(conns->size(), 1u);
  EXPECT_EQ((*conns)[0].info.verdict.action, Action::kRedirect);
  EXPECT_EQ(C().Of(Reason::kRedirectEstablished), 3u);
}

TEST(EngineRedirect, ServiceIdsAreStablePerTenantAndName) {
  auto e = Engine::Create({});
  ASSERT_TRUE(e.ok());
  Engine& eng = **e;
  ASSERT_TRUE(eng.CreateInstance(InstanceInfo{1, "a", {}, "t1"}).ok());
  ASSERT_TRUE(eng.CreateInstance(InstanceInfo{2, "b", {}, "t2"}).ok());
  ASSERT_TRUE(eng.BindTag(10, TagBinding{1, 1, Direction::kFromVm}).ok());
  ASSERT_TRUE(eng.BindTag(20, TagBinding{2, 1, Direction::kFromVm}).ok());
  ASSERT_TRUE(eng.SetPolicy(1, testing::MakePolicy({{50, M().Proto(kProtoTcp).m, Action::kRedirect, false, false, 1}})).ok());
  ASSERT_TRUE(eng.SetPolicy(2, testing::MakePolicy({{50, M().Proto(kProtoTcp).m, Action::kRedirect, false, false, 1}})).ok());
  auto names = eng.ServiceNames();
  ASSERT_EQ(names.size(), 4u);  // svc-a and svc-b of each tenant, in SetPolicy order
  EXPECT_EQ(*eng.InternService("t1", "svc-b"), 1u);
  EXPECT_EQ(*eng.InternService("t2", "svc-b"), 3u);
  EXPECT_EQ(names[3].tenant, "t2");
  EXPECT_EQ(names[3].name, "svc-b");
  auto frame = [](uint16_t tag) {
    return FrameBuilder().Vlan(tag).Ipv4(kVm, kPeer).Tcp(40000, 22, kTcpSyn, 1, 0).Build();
  };
  auto run = [&](const std::vector<uint8_t>& b) {
    Frame f;
    f.data = b.data();
    f.len = static_cast<uint32_t>(b.size());
    eng.ProcessBatch(eng.worker(0), std::span<Frame>(&f, 1), 1'000'000'000);
    return f;
  };
  auto a = frame(10), b = frame(20);
  EXPECT_EQ(run(a).service_id, 1u);
  EXPECT_EQ(run(b).service_id, 3u);
  // A new policy with the services in another order keeps the ids.
  auto p = testing::MakePolicy({{50, M().Proto(kProtoTcp).m, Action::kRedirect, false, false, 0}});
  auto q = std::make_shared<CompiledPolicy>(*p);
  q->services = {"svc-b", "svc-a"};
  ASSERT_TRUE(eng.SetPolicy(1, q).ok());
  auto a2 = FrameBuilder().Vlan(10).Ipv4(kVm, kPeer).Tcp(40001, 22, kTcpSyn, 1, 0).Build();
  EXPECT_EQ(run(a2).service_id, 1u);
  EXPECT_EQ(eng.ServiceNames().size(), 4u);
  // A policy naming a service index it does not have: no id, the caller treats it as unknown.
  auto r = std::make_shared<CompiledPolicy>(*p);
  r->services.clear();
  ASSERT_TRUE(eng.SetPolicy(1, r).ok());
  auto a3 = FrameBuilder().Vlan(10).Ipv4(kVm, kPeer).Tcp(40002, 22, kTcpSyn, 1, 0).Build();
  Frame f3 = run(a3);
  EXPECT_EQ(f3.verdict, Verdict::kRedirect);
  EXPECT_EQ(f3.service_id, kNoService);
}

TEST(EngineRedirect, MaxServicesIsEnforced) {
  EngineOptions eo;
  eo.max_services = 1;
  auto e = Engine::Create(eo);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->CreateInstance(InstanceInfo{1, "a", {}, "t"}).ok());
  auto st = (*e)->SetPolicy(1, testing::MakePolicy({}));  // names svc-a and svc-b
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ((*e)->GetPolicy(1), nullptr);  // nothing published
}

TEST_F(EngineTest, RedirectedConnectionWhoseRuleStopsRedirectingIsReclassified) {
  TcpConn c{kVm, kPeer, 40000, 8080};
  EXPECT_EQ(h_.One(c.Syn()).verdict, Verdict::kRedirect);
  // Rule 50 now allows (same id, other action): the next packet takes the new rule's verdict.
  auto p = MakePolicy({{50, M().Proto(kProtoTcp).Dport(8080).m, Action::kAllow}});
  ASSERT_TRUE(h_.engine->SetPolicy(1, p).ok());
  Frame f = h_.One(c.SynAck());
  EXPECT_EQ(f.verdict, Verdict::kAllow) << ReasonName(f.reason);
  EXPECT_EQ(f.reason, Reason::kAllowEstablished);
  EXPECT_EQ(C().Of(Reason::kEvRevalidated), 1u);
  // Rule 50 gone altogether: the connection is re-classified, the default drops and forgets it.
  TcpConn d{kVm, kPeer, 40001, 8080};
  ASSERT_TRUE(h_.engine->SetPolicy(1, WebPolicy(2)).ok());
  EXPECT_EQ(h_.One(d.Syn()).verdict, Verdict::kRedirect);
  ASSERT_TRUE(h_.engine->SetPolicy(1, MakePolicy({})).ok());
  f = h_.One(d.SynAck());
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_EQ(f.reason, Reason::kRevalidateDrop);
}

TEST_F(EngineTest, StatelessRedirectCommitsNothing) {
  ASSERT_TRUE(h_.engine->SetPolicy(1, MakePolicy({{50, M().Proto(kProtoTcp).Dport(8080).m, Action::kRedirect, true, false, 0}})).ok());
  TcpConn c{kVm, kPeer, 40000, 8080};
  Frame f = h_.One(c.Syn());
  EXPECT_EQ(f.verdict, Verdict::kRedirect);
  EXPECT_FALSE(f.new_connection);
  EXPECT_EQ(h_.engine->ListConnections(1, 1)->size(), 0u);
  EXPECT_EQ(h_.One(c.SynAck()).verdict, Verdict::kDrop);  // nothing to belong to
}

TEST_F(EngineTest, ImportKeepsRedirectedConnections) {
  TcpConn c{kVm, kPeer, 40000, 8080};
  EXPECT_EQ(h_.One(c.Syn()).verdict, Verdict::kRedirect);
  auto blob = h_.engine->ExportPort(1, 1, 2'000'000'000);
  ASSERT_TRUE(blob.ok());
  testing::EngineHarness other;
  ASSERT_TRUE(other.engine->SetPolicy(1, WebPolicy()).ok());
  auto kept = other.engine->ImportPort(1, 1, *blob, 2'000'000'000);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, 1u);
  Frame f = other.One(c.SynAck(), 2'000'000'000);
  EXPECT_EQ(f.verdict, Verdict::kRedirect);
  EXPECT_EQ(f.reason, Reason::kRedirectEstablished);
}

std::vector<uint8_t> UdpFrag(bool v6, uint16_t tag, uint16_t dport, uint16_t off8, bool more, uint32_t id) {
  FrameBuilder b;
  b.Vlan(tag);
  if (v6) b.Ipv6(kVm6, kPeer6); else b.Ipv4(kVm, kPeer);
  b.Fragment(off8, more, id);
  if (off8 == 0) b.Udp(5353, dport).Payload(40); else b.Proto(kProtoUdp).Payload(48);
  return b.Build();
}

class FragmentTest : public ::testing::TestWithParam<bool> {};

TEST_P(FragmentTest, LaterFragmentsFollowTheFirst) {
  const bool v6 = GetParam();
  EngineHarness h;
  ASSERT_TRUE(h.engine->SetPolicy(1, MakePolicy({{20, M().Proto(kProtoUdp).Dport(53).FromVm().m, Action::kAllow}})).ok());
  // In order: first (allowed by ports), then two later ones.
  auto fs = h.Run({UdpFrag(v6, kTagFrom, 53, 0, true, 7), UdpFrag(v6, kTagFrom, 53, 6, true, 7),
                   UdpFrag(v6, kTagFrom, 53, 12, false, 7)});
  EXPECT_EQ(fs[0].reason, Reason::kAllowNew);
  EXPECT_EQ(fs[1].verdict, Verdict::kAllow);
  EXPECT_EQ(fs[1].reason, Reason::kAllowFragment);
  EXPECT_EQ(fs[1].rule_id, 20u);
  EXPECT_EQ(fs[2].reason, Reason::kAllowFragment);
  // A datagram to a port the rules drop: its later fragment is dropped too.
  fs = h.Run({UdpFrag(v6, kTagFrom, 99, 0, true, 8), UdpFrag(v6, kTagFrom, 99, 6, false, 8)});
  EXPECT_EQ(fs[0].verdict, Verdict::kDrop);
  EXPECT_EQ(fs[1].verdict, Verdict::kDrop);
  EXPECT_EQ(fs[1].reason, Reason::kFragmentDrop);
  // Later fragment before its first: dropped, counted; the first still passes on its own.
  fs = h.Run({UdpFrag(v6, kTagFrom, 53, 6, false, 9), UdpFrag(v6, kTagFrom, 53, 0, true, 9)});
  EXPECT_EQ(fs[0].verdict, Verdict::kDrop);
  EXPECT_EQ(fs[0].reason, Reason::kFragmentWithoutFirst);
  EXPECT_EQ(fs[1].verdict, Verdict::kAllow);
  // After the timeout the entry is gone.
  Frame late = h.Run({UdpFrag(v6, kTagFrom, 53, 12, false, 7)}, 1'000'000'000 + 31'000'000'000ull)[0];
  EXPECT_EQ(late.reason, Reason::kFragmentWithoutFirst);
  auto c = *h.engine->Counters(1);
  EXPECT_EQ(c.Of(Reason::kFragmentWithoutFirst), 2u);
  EXPECT_EQ(c.Of(Reason::kEvFragmentExpired), 1u);
}

TEST_P(FragmentTest, ClassifyPolicyLetsLoneLaterFragmentsUseAddressRules) {
  const bool v6 = GetParam();
  InstanceOptions o;
  o.fragment_policy = FragmentPolicy::kClassify;
  EngineHarness h(o);
  ASSERT_TRUE(h.engine->SetPolicy(1, MakePolicy({{5, M().Proto(kProtoUdp).FromVm().m, Action::kAllow}})).ok());
  Frame f = h.One(UdpFrag(v6, kTagFrom, 53, 6, false, 9));
  EXPECT_EQ(f.verdict, Verdict::kAllow);
  EXPECT_EQ(f.rule_id, 5u);
}

INSTANTIATE_TEST_SUITE_P(V4AndV6, FragmentTest, ::testing::Bool());

TEST_F(EngineTest, TagsDecideInstanceAndDirection) {
  TcpConn c;
  // Unknown tag.
  c.tag_from = 300;
  EXPECT_EQ(h_.One(c.Syn()).reason, Reason::kUnknownTag);
  // No tag at all.
  auto untagged = FrameBuilder().Ipv4(kVm, kPeer).Tcp(40000, 80, kTcpSyn, 1).Build();
  EXPECT_EQ(h_.One(untagged).reason, Reason::kNoTag);
  // The VM's own tag inside ours: a VM must never choose a slice.
  auto inner = FrameBuilder().Vlan(kTagFrom).Vlan(7).Ipv4(kVm, kPeer).Tcp(40000, 80, kTcpSyn, 1).Build();
  Frame f = h_.One(inner);
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_EQ(f.reason, Reason::kInnerTag);
  EXPECT_EQ(h_.engine->EngineCounters().Of(Reason::kUnknownTag), 1u);
  EXPECT_EQ(h_.engine->EngineCounters().Of(Reason::kNoTag), 1u);
  EXPECT_EQ(C().Of(Reason::kInnerTag), 1u);
  // Direction comes from the tag: the same SYN "to the VM" matches no from-VM rule.
  TcpConn rev = TcpConn{};
  rev.tag_from = kTagTo;
  EXPECT_EQ(h_.One(rev.Syn()).reason, Reason::kRuleDrop);
  // Unbind: now unknown.
  ASSERT_TRUE(h_.engine->UnbindTag(kTagFrom).ok());
  EXPECT_EQ(h_.One(TcpConn{}.Syn()).reason, Reason::kUnknownTag);
  EXPECT_FALSE(h_.engine->BindTag(kTagTo, TagBinding{1, 1, Direction::kToVm}).ok());  // bound already
  EXPECT_FALSE(h_.engine->BindTag(5, TagBinding{99, 1, Direction::kToVm}).ok());     // no instance
}

TEST(EngineInline, InlineFirewallReturnsFrameWithOtherSidesTag) {
  auto e = *Engine::Create({});
  ASSERT_TRUE(e->CreateInstance({7, "inline", {}}).ok());
  ASSERT_TRUE(e->SetPolicy(7, MakePolicy({{1, M().Proto(kProtoTcp).Dport(80).FromVm().m, Action::kAllow}})).ok());
  // Side A (switch side, "from") tag 200 <-> side B (router side, "to") tag 201.
  ASSERT_TRUE(e->BindTag(200, TagBinding{7, 1, Direction::kFromVm, 201}).ok());
  ASSERT_TRUE(e->BindTag(201, TagBinding{7, 1, Direction::kToVm, 200}).ok());
  TcpConn c;
  c.tag_from = 200;
  c.tag_to = 201;
  auto syn = c.Syn();
  auto synack = c.SynAck();
  std::vector<Frame> fs(2);
  fs[0].data = syn.data();
  fs[0].len = syn.size();
  fs[1].data = synack.data();
  fs[1].len = synack.size();
  e->ProcessBatch(e->worker(0), fs, 1);
  EXPECT_EQ(fs[0].verdict, Verdict::kAllow);
  EXPECT_EQ(fs[0].out_tag, 201);
  EXPECT_EQ(fs[1].verdict, Verdict::kAllow);
  EXPECT_EQ(fs[1].out_tag, 200);
}

TEST(EngineIsolation, TwoInstancesWithOverlappingAddressesStayApart) {
  auto e = *Engine::Create({});
  ASSERT_TRUE(e->CreateInstance({1, "tenant-a", {}}).ok());
  ASSERT_TRUE(e->CreateInstance({2, "tenant-b", {}}).ok());
  ASSERT_TRUE(e->SetPolicy(1, MakePolicy({{1, M().Proto(kProtoTcp).Dport(80).FromVm().m, Action::kAllow}})).ok());
  ASSERT_TRUE(e->SetPolicy(2, MakePolicy({})).ok());  // default drop
  ASSERT_TRUE(e->BindTag(100, {1, 1, Direction::kFromVm}).ok());
  ASSERT_TRUE(e->BindTag(101, {1, 1, Direction::kToVm}).ok());
  ASSERT_TRUE(e->BindTag(110, {2, 1, Direction::kFromVm}).ok());
  ASSERT_TRUE(e->BindTag(111, {2, 1, Direction::kToVm}).ok());
  TcpConn a;                                 // tenant A's VM
  TcpConn b;                                 // tenant B's VM: same addresses and ports
  b.tag_from = 110;
  b.tag_to = 111;
  auto run = [&](const std::vector<uint8_t>& fr) {
    Frame f;
    f.data = fr.data();
    f.len = fr.size();
    e->ProcessBatch(e->worker(0), std::span<Frame>(&f, 1), 1);
    return f;
  };
  EXPECT_EQ(run(a.Syn()).verdict, Verdict::kAllow);
  // B's "reply" must not ride on A's connection.
  EXPECT_EQ(run(b.SynAck()).verdict, Verdict::kDrop);
  EXPECT_EQ(run(b.Syn()).verdict, Verdict::kDrop);
  EXPECT_EQ(run(a.SynAck()).verdict, Verdict::kAllow);
  EXPECT_EQ(e->ListConnections(1, std::nullopt)->size(), 1u);
  EXPECT_EQ(e->ListConnections(2, std::nullopt)->size(), 0u);
  EXPECT_EQ(e->Counters(1)->packets_by_verdict[0], 2u);
  EXPECT_EQ(e->Counters(2)->packets_by_verdict[1], 2u);
}

TEST(EngineInstances, DestroyForgetsStateAndRecreateStartsClean) {
  EngineHarness h;
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
  TcpConn c;
  EXPECT_EQ(h.One(c.Syn()).reason, Reason::kAllowNew);
  ASSERT_TRUE(h.engine->DestroyInstance(1).ok());
  EXPECT_FALSE(h.engine->Counters(1).ok());
  EXPECT_EQ(h.One(c.SynAck()).reason, Reason::kUnknownTag);  // its tags went with it
  ASSERT_TRUE(h.engine->CreateInstance({1, "again", {}}).ok());
  ASSERT_TRUE(h.engine->BindTag(kTagFrom, {1, 1, Direction::kFromVm}).ok());
  ASSERT_TRUE(h.engine->BindTag(kTagTo, {1, 1, Direction::kToVm}).ok());
  EXPECT_EQ(h.One(c.SynAck()).reason, Reason::kNoPolicy);
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
  // The old connection is gone: the SYN-ACK cannot start one.
  EXPECT_EQ(h.One(c.SynAck()).verdict, Verdict::kDrop);
  auto cnt = *h.engine->Counters(1);
  EXPECT_EQ(cnt.Of(Reason::kAllowNew), 0u);
  EXPECT_EQ(cnt.Of(Reason::kNoPolicy), 1u);
  EXPECT_FALSE(h.engine->CreateInstance({1, "dup", {}}).ok());
}

TEST(EngineRevalidation, OffKeepsCachedVerdictOnKeepsOrDropsPerNewRules) {
  for (bool revalidate : {false, true}) {
    SCOPED_TRACE(revalidate);
    InstanceOptions o;
    o.revalidate_on_change = revalidate;
    EngineHarness h(o);
    ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
    TcpConn c;
    TcpConn c2{kVm, kPeer, 40002, 80};
    h.Run({c.Syn(), c.SynAck(), c.Ack(), c2.Syn(), c2.SynAck(), c2.Ack()});
    // New rules: port 80 only from source port 40002 (rule 12); everything else dropped.
    auto p3 = MakePolicy({{12, [] { auto x = M().Proto(kProtoTcp).Dport(80).FromVm().m; x.sport = {40002, 40002}; return x; }(),
                           Action::kAllow}},
                         Action::kDrop, 3);
    ASSERT_TRUE(h.engine->SetPolicy(1, p3).ok());
    Frame f1 = h.One(c.DataFromVm());
    Frame f2 = h.One(c2.DataFromVm());
    if (!revalidate) {
      EXPECT_EQ(f1.reason, Reason::kAllowEstablished);
      EXPECT_EQ(f1.rule_id, 10u);
      EXPECT_EQ(f2.rule_id, 10u);
      EXPECT_EQ(h.engine->ListConnections(1, 1)->size(), 2u);
    } else {
      EXPECT_EQ(f1.verdict, Verdict::kDrop);
      EXPECT_EQ(f1.reason, Reason::kRevalidateDrop);
      EXPECT_EQ(f2.verdict, Verdict::kAllow);
      EXPECT_EQ(f2.rule_id, 12u);  // cached rule id updated
      auto conns = *h.engine->ListConnections(1, 1);
      ASSERT_EQ(conns.size(), 1u);
      EXPECT_EQ(conns[0].info.verdict.rule_id, 12u);
      EXPECT_EQ(h.engine->Counters(1)->Of(Reason::kRevalidateDrop), 1u);
      EXPECT_EQ(h.engine->Counters(1)->Of(Reason::kEvRevalidated), 1u);
      // The dropped connection's entry is gone: its next segment is mid-stream, invalid.
      EXPECT_TRUE(IsInvalidReason(h.One(c.DataFromVm()).reason));
    }
  }
}

TEST(EngineRevalidation, AReplyIsJudgedByItsConnectionsOriginalDirection) {
  InstanceOptions o;
  o.revalidate_on_change = true;
  EngineHarness h(o);
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
  TcpConn c;
  h.Run({c.Syn(), c.SynAck(), c.Ack()});
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy(2)).ok());  // same rules, new epoch
  // The first packet after the change is a reply (peer:80 -> VM): rule 10 (to port 80 from the
  // VM) still covers the connection, so it stays.
  Frame f = h.One(c.ToVm(kTcpAck | kTcpPsh, 5001, 1001, 10));
  EXPECT_EQ(f.verdict, Verdict::kAllow) << ReasonName(f.reason);
  EXPECT_EQ(f.rule_id, 10u);
  EXPECT_EQ(h.engine->Counters(1)->Of(Reason::kEvRevalidated), 1u);
}

TEST(EngineLimits, PortAndInstanceLimits) {
  InstanceOptions o;
  o.max_conns_per_port = 2;
  o.max_conns_per_instance = 3;
  EngineHarness h(o);
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
  ASSERT_TRUE(h.engine->BindTag(102, {1, 2, Direction::kFromVm}).ok());
  std::vector<Reason> got;
  for (uint16_t sp = 1; sp <= 3; ++sp) got.push_back(h.One(TcpConn{kVm, kPeer, sp, 80}.Syn()).reason);
  EXPECT_EQ(got, (std::vector<Reason>{Reason::kAllowNew, Reason::kAllowNew, Reason::kConnLimit}));
  got.clear();
  for (uint16_t sp = 1; sp <= 2; ++sp) {
    TcpConn c{kVm, kPeer, sp, 80};
    c.tag_from = 102;
    got.push_back(h.One(c.Syn()).reason);
  }
  // Port 2 has room for 2, but the instance only for one more.
  EXPECT_EQ(got, (std::vector<Reason>{Reason::kAllowNew, Reason::kConnLimit}));
  EXPECT_EQ(h.engine->Counters(1)->Of(Reason::kConnLimit), 2u);
}

TEST_F(EngineTest, CountersPerRuleAndReasonSurviveRuleSetSwaps) {
  TcpConn c;
  auto syn = c.Syn();
  h_.Run({syn, c.SynAck(), c.Ack()});
  TcpConn d{kVm, kPeer, 40000, 23};
  h_.Run({d.Syn()});
  h_.Run({TcpConn{kVm, kPeer, 40001, 25}.Syn()});
  ASSERT_TRUE(h_.engine->SetPolicy(1, WebPolicy(2)).ok());  // same rule ids, new snapshot
  auto data = c.DataFromVm(100);
  h_.Run({data});
  auto rc = *h_.engine->RuleCounters(1);
  auto find = [&](uint32_t id) {
    for (auto& r : rc) if (r.rule_id == id) return r;
    return RuleHits{};
  };
  EXPECT_EQ(find(10).packets, 4u);
  EXPECT_EQ(find(10).connections, 1u);
  EXPECT_EQ(find(10).bytes, syn.size() + c.SynAck().size() + c.Ack().size() + data.size());
  EXPECT_EQ(find(30).packets, 1u);
  EXPECT_EQ(find(40).packets, 1u);
  EXPECT_EQ(find(20).packets, 0u);
  auto cnt = C();
  EXPECT_EQ(cnt.Of(Reason::kAllowNew), 1u);
  EXPECT_EQ(cnt.Of(Reason::kAllowEstablished), 3u);
  EXPECT_EQ(cnt.Of(Reason::kRuleDrop), 1u);
  EXPECT_EQ(cnt.Of(Reason::kRuleReject), 1u);
  EXPECT_EQ(cnt.Of(Reason::kEvConnCommitted), 1u);
  EXPECT_EQ(cnt.packets_by_verdict[static_cast<int>(Verdict::kAllow)], 4u);
  // Rule 40 has the log flag.
  std::vector<LogRecord> logs;
  EXPECT_EQ(h_.engine->DrainLogs(&logs), 1u);
  EXPECT_EQ(logs[0].rule_id, 40u);
  EXPECT_EQ(logs[0].dport, 25);
  EXPECT_EQ(logs[0].verdict, Verdict::kReject);
  EXPECT_EQ(h_.engine->DrainLogs(&logs), 0u);
}

TEST_F(EngineTest, ParseErrorsAreCountedUnderTheirPacketNames) {
  auto bad = FrameBuilder().Vlan(kTagFrom).Ipv4(kVm, kPeer).Tcp(1, 80, kTcpSyn).BadIpv4Checksum().Build();
  Frame f = h_.One(bad);
  EXPECT_EQ(f.verdict, Verdict::kDrop);
  EXPECT_EQ(f.reason, ReasonOf(ParseError::kBadIpv4Checksum));
  EXPECT_STREQ(ReasonName(f.reason), "bad-ipv4-checksum");
  EXPECT_EQ(C().Of(Reason::kBadIpv4Checksum), 1u);
  std::vector<uint8_t> runt = {1, 2, 3};
  EXPECT_EQ(h_.One(runt).reason, Reason::kTruncatedEthernet);
  EXPECT_EQ(h_.engine->EngineCounters().Of(Reason::kTruncatedEthernet), 1u);
}

TEST(EngineMigration, ExportImportThroughTheEngine) {
  EngineHarness src;
  ASSERT_TRUE(src.engine->SetPolicy(1, WebPolicy()).ok());
  TcpConn c;
  TcpConn c2{kVm, kPeer, 40002, 80};
  src.Run({c.Syn(), c.SynAck(), c.Ack(), c2.Syn(), c2.SynAck(), c2.Ack()});
  auto blob = src.engine->ExportPort(1, 1, 2'000'000'000);
  ASSERT_TRUE(blob.ok()) << blob.status();

  // Destination with the same rules: both connections continue.
  EngineHarness dst;
  ASSERT_TRUE(dst.engine->SetPolicy(1, WebPolicy()).ok());
  auto kept = dst.engine->ImportPort(1, 1, *blob, 2'000'000'000);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, 2u);
  Frame f = dst.One(c.DataFromVm(), 2'100'000'000);
  EXPECT_EQ(f.reason, Reason::kAllowEstablished);
  EXPECT_EQ(f.rule_id, 10u);

  // Destination whose rules allow only source port 40002: the other entry is not imported.
  EngineHarness dst2;
  auto only = MakePolicy({{12, [] { auto x = M().Proto(kProtoTcp).Dport(80).FromVm().m; x.sport = {40002, 40002}; return x; }(),
                           Action::kAllow}});
  ASSERT_TRUE(dst2.engine->SetPolicy(1, only).ok());
  kept = dst2.engine->ImportPort(1, 1, *blob, 2'000'000'000);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, 1u);
  EXPECT_EQ(dst2.One(c2.DataFromVm(), 2'100'000'000).rule_id, 12u);
  EXPECT_NE(dst2.One(c.DataFromVm(), 2'100'000'000).verdict, Verdict::kAllow);
  // Garbage is refused with an error naming the instance and port.
  std::vector<uint8_t> junk = {1, 2, 3, 4};
  auto bad = dst2.engine->ImportPort(1, 1, junk, 0);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("instance 1 port 1"), std::string::npos);
}

TEST_F(EngineTest, Ipv6ConnectionRejectAndRelatedError) {
  TcpConn c{kVm6, kPeer6, 40000, 80};
  auto fs = h_.Run({c.Syn(), c.SynAck(), c.Ack()});
  EXPECT_EQ(fs[0].reason, Reason::kAllowNew);
  EXPECT_EQ(fs[1].reason, Reason::kAllowEstablished);
  // Packet too big about the VM's segment, towards the VM: related.
  auto data = c.DataFromVm(300);
  auto ptb = FrameBuilder().Vlan(kTagTo).Ipv6("2001:db8:3::1", kVm6).IcmpErrorAbout(data, 2, 0, SIZE_MAX, 1280).Build();
  EXPECT_EQ(h_.One(ptb).reason, Reason::kAllowRelated);
  // UDP to a rejected port: ICMPv6 administratively prohibited back to the sender.
  auto udp = FrameBuilder().Vlan(kTagTo).Ipv6(kPeer6, kVm6).Udp(3333, 5000).Payload(8).Build();
  Frame f = h_.One(udp);
  EXPECT_EQ(f.verdict, Verdict::kReject);
  ASSERT_NE(f.reply, nullptr);
  ParsedPacket r;
  ASSERT_EQ(ParsePacket(f.reply, f.reply_len, &r), ParseError::kOk);
  EXPECT_EQ(r.proto, kProtoIcmpV6);
  EXPECT_EQ(r.icmp_type, 1);
  EXPECT_EQ(r.icmp_code, kIcmp6UnreachAdminProhibited);
  EXPECT_EQ(r.dst, *Ip::Parse(kPeer6));
}

TEST(EngineWorkers, CountersAreSummedOverWorkers) {
  EngineHarness h({}, 2);
  ASSERT_TRUE(h.engine->SetPolicy(1, WebPolicy()).ok());
  TcpConn a;
  TcpConn b{kVm, kPeer, 40010, 80};
  // Each worker owns its own connections (the I/O layer steers by flow).
  auto fa = h.Run({a.Syn(), a.SynAck()}, 1, 0);
  auto fb = h.Run({b.Syn(), b.SynAck()}, 1, 1);
  EXPECT_EQ(fa[1].reason, Reason::kAllowEstablished);
  EXPECT_EQ(fb[1].reason, Reason::kAllowEstablished);
  auto c = *h.engine->Counters(1);
  EXPECT_EQ(c.Of(Reason::kAllowNew), 2u);
  EXPECT_EQ(c.Of(Reason::kAllowEstablished), 2u);
  auto conns = *h.engine->ListConnections(1, 1);
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_NE(conns[0].worker, conns[1].worker);
  const auto rules = *h.engine->RuleCounters(1);
  for (auto& r : rules) {
    if (r.rule_id == 10) {
      EXPECT_EQ(r.packets, 4u);
      EXPECT_EQ(r.connections, 2u);
    }
  }
  // A port spread over two workers cannot be exported as one table (v1), and says so.
  auto blob = h.engine->ExportPort(1, 1, 1);
  EXPECT_FALSE(blob.ok());
}

// A rule-set swap while another thread processes batches: every batch must see exactly one
// snapshot. Policy A allows everything with rule 1, policy B drops everything with rule 2; both
// stateless so every frame is classified. A batch mixing rule 1 and rule 2 would be a torn swap.
TEST(EngineConcurrency, RuleSetSwapIsNeverTornWithinABatch) {
  EngineHarness h;
  auto pa = MakePolicy({{1, M().m, Action::kAllow, true}});
  auto pb = MakePolicy({{2, M().m, Action::kDrop, true}});
  ASSERT_TRUE(h.engine->SetPolicy(1, pa).ok());
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 200; ++i) {
    frames.push_back(FrameBuilder().Vlan(kTagTo).Ipv4(kPeer, kVm).Udp(1000 + i, 9000).Build());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> swaps{0};
  std::thread control([&] {
    for (int i = 0; !stop.load(); ++i) {
      ASSERT_TRUE(h.engine->SetPolicy(1, i % 2 ? pa : pb).ok());
      swaps.fetch_add(1);
    }
  });
  int torn = 0;
  int batches = 0;
  std::set<uint32_t> seen;
  for (; batches < 1000 || swaps.load() < 100; ++batches) {
    auto fs = h.Run(frames, 1'000'000'000 + batches);
    for (auto& f : fs) {
      seen.insert(f.rule_id);
      if (f.rule_id != fs[0].rule_id) ++torn;
    }
    if (batches > 200000) break;
  }
  stop.store(true);
  control.join();
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(seen, (std::set<uint32_t>{1, 2}));  // both snapshots were really used
  auto rc = *h.engine->RuleCounters(1);
  uint64_t total = 0;
  for (auto& r : rc) total += r.packets;
  EXPECT_EQ(total, static_cast<uint64_t>(batches) * frames.size());
}

}  // namespace
}  // namespace rampart
