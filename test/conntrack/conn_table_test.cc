// ConnTable: UDP/ICMP pseudo-connections, related ICMP errors, timeouts, limits, control-plane
// operations, symmetric hash, batch = single lookups.
#include <set>

#include "conntrack/conntrack.h"
#include "gtest/gtest.h"
#include "test/conntrack/ct_test_util.h"

namespace rampart {
namespace {

using namespace ct_test;

TEST(ConntrackUdp, UnrepliedThenRepliedThenAssured) {
  auto t = MakeTable();
  ParsedPacket out = Udp(A("198.18.0.1"), 5000, A("198.18.9.9"), 53, 20);
  ParsedPacket back = Udp(A("198.18.9.9"), 53, A("198.18.0.1"), 5000, 80);
  EXPECT_EQ(t->Track(out, Direction::kFromVm, kS).kind, TrackKind::kNew);
  CommitResult c = t->Commit(out, Direction::kFromVm, kS, Allow());
  ASSERT_EQ(c.status, CommitStatus::kCreated);
  EXPECT_EQ(t->Info(c.handle).state, ConnState::kUdpUnreplied);
  TrackResult r = t->Track(back, Direction::kToVm, 2 * kS);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.side, ConnSide::kReply);
  EXPECT_EQ(r.state, ConnState::kUdpReplied);
  EXPECT_EQ(r.handle, c.handle);
  r = t->Track(out, Direction::kFromVm, 3 * kS);
  EXPECT_EQ(r.side, ConnSide::kOriginal);
  EXPECT_EQ(r.state, ConnState::kUdpAssured);
  ConnInfo i = t->Info(c.handle);
  EXPECT_EQ(i.packets[0], 2u);
  EXPECT_EQ(i.packets[1], 1u);
  EXPECT_EQ(i.bytes[0], 2u * out.l3_len);
  EXPECT_EQ(i.bytes[1], back.l3_len);
  EXPECT_EQ(i.first_seen_ns, kS);
  EXPECT_EQ(i.last_seen_ns, 3 * kS);
  // A second Commit for the same flow finds the entry.
  EXPECT_EQ(t->Commit(back, Direction::kToVm, 3 * kS, Allow()).status, CommitStatus::kExists);
}

TEST(ConntrackIcmp, EchoRequestAndReplyV4AndV6) {
  for (bool v6 : {false, true}) {
    auto t = MakeTable();
    Ip vm = v6 ? A("2001:db8::1") : A("198.18.0.1");
    Ip peer = v6 ? A("2001:db8::9") : A("198.18.0.9");
    ParsedPacket req = Echo(vm, peer, true, 77);
    ParsedPacket rep = Echo(peer, vm, false, 77);
    ParsedPacket rep_other_id = Echo(peer, vm, false, 78);
    EXPECT_EQ(t->Track(rep, Direction::kToVm, kS).invalid, CtInvalid::kIcmpEchoReplyNoRequest);
    EXPECT_EQ(t->Track(req, Direction::kFromVm, kS).kind, TrackKind::kNew);
    ASSERT_EQ(t->Commit(req, Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
    TrackResult r = t->Track(rep, Direction::kToVm, kS);
    EXPECT_EQ(r.kind, TrackKind::kEstablished);
    EXPECT_EQ(r.side, ConnSide::kReply);
    EXPECT_EQ(r.state, ConnState::kIcmpReplied);
    EXPECT_EQ(t->Track(rep_other_id, Direction::kToVm, kS).invalid,
              CtInvalid::kIcmpEchoReplyNoRequest);
    // A request from the responder with the same id is not part of this exchange.
    EXPECT_EQ(t->Track(Echo(peer, vm, true, 77), Direction::kToVm, kS).invalid,
              CtInvalid::kIcmpEchoWrongDirection);
    EXPECT_EQ(t->Commit(rep, Direction::kToVm, kS, Allow()).status, CommitStatus::kNotNew);
  }
}

TEST(ConntrackIcmp, InformationalIcmpIsUntracked) {
  auto t = MakeTable();
  ParsedPacket ns = Base(A("fe80::1"), A("ff02::1:ff00:2"), kProtoIcmpV6);
  ns.icmp_type = 135;  // neighbour solicitation
  EXPECT_EQ(t->Track(ns, Direction::kFromVm, kS).kind, TrackKind::kUntracked);
  ParsedPacket frag = Udp(A("198.18.0.1"), 1, A("198.18.0.2"), 2);
  frag.has_l4 = false;
  frag.is_fragment = true;
  frag.frag_offset = 100;
  EXPECT_EQ(t->Track(frag, Direction::kFromVm, kS).kind, TrackKind::kUntracked);
  ParsedPacket bad = frag;
  bad.error = ParseError::kTruncatedUdp;
  EXPECT_EQ(t->Track(bad, Direction::kFromVm, kS).invalid, CtInvalid::kUnparsed);
}

// Related ICMP errors. The inner header is a packet of the connection sent by the error's
// receiver, so an error about an original-direction packet travels in the reply direction.
struct RelatedCase {
  const char* name;
  bool v6;
  uint8_t proto;
};

class ConntrackRelated : public ::testing::TestWithParam<RelatedCase> {};

TEST_P(ConntrackRelated, IcmpErrorIsRelatedBothWays) {
  const RelatedCase& tc = GetParam();
  auto t = MakeTable();
  const Ip vm = tc.v6 ? A("2001:db8::1") : A("198.18.0.1");
  const Ip srv = tc.v6 ? A("2001:db8:5::5") : A("198.19.0.5");
  const Ip router = tc.v6 ? A("2001:db8:ff::1") : A("198.18.255.1");
  ParsedPacket orig, reply;
  if (tc.proto == kProtoTcp) {
    orig = Tcp(vm, 40000, srv, 443, kTcpSyn, 1000, 0);
    reply = Tcp(srv, 443, vm, 40000, kTcpSyn | kTcpAck, 9000, 1001);
  } else if (tc.proto == kProtoUdp) {
    orig = Udp(vm, 40000, srv, 53);
    reply = Udp(srv, 53, vm, 40000);
  } else {
    orig = Echo(vm, srv, true, 4242);
    reply = Echo(srv, vm, false, 4242);
  }
  ASSERT_EQ(t->Commit(orig, Direction::kFromVm, kS, Allow(3)).status, CommitStatus::kCreated);
  ASSERT_EQ(t->Track(reply, Direction::kToVm, kS).kind, TrackKind::kEstablished);
  const uint64_t before = t->Info(*t->Find(*ConnTable::PacketKey(orig))).packets[0];

  // A router on the way to the server cannot deliver the VM's packet: error to the VM.
  TrackResult r = t->Track(IcmpErrorAbout(router, vm, orig), Direction::kToVm, 2 * kS);
  EXPECT_EQ(r.kind, TrackKind::kRelated);
  EXPECT_EQ(r.side, ConnSide::kReply);
  EXPECT_EQ(r.verdict, Allow(3));
  EXPECT_EQ(r.handle, *t->Find(*ConnTable::PacketKey(orig)));
  // The VM's own stack reports the server's packet as undeliverable: error to the server.
  r = t->Track(IcmpErrorAbout(vm, srv, reply), Direction::kFromVm, 2 * kS);
  EXPECT_EQ(r.kind, TrackKind::kRelated);
  EXPECT_EQ(r.side, ConnSide::kOriginal);
  // Related packets do not count as connection traffic.
  EXPECT_EQ(t->Info(r.handle).packets[0], before);

  // An error about a different flow is unrelated.
  ParsedPacket other = orig;
  other.dst = tc.v6 ? A("2001:db8:5::6") : A("198.19.0.6");
  TrackResult u = t->Track(IcmpErrorAbout(router, vm, other), Direction::kToVm, 2 * kS);
  EXPECT_EQ(u.kind, TrackKind::kInvalid);
  EXPECT_EQ(u.invalid, CtInvalid::kIcmpErrorNoConnection);
  // Without a quoted header nothing can be related.
  ParsedPacket trunc = IcmpErrorAbout(router, vm, orig);
  trunc.has_inner = false;
  EXPECT_EQ(t->Track(trunc, Direction::kToVm, 2 * kS).invalid, CtInvalid::kIcmpErrorTruncated);
  // An ICMP error can never create a connection.
  EXPECT_EQ(t->Commit(IcmpErrorAbout(router, vm, other), Direction::kToVm, 2 * kS, Allow()).status,
            CommitStatus::kNotNew);
}

INSTANTIATE_TEST_SUITE_P(
    All, ConntrackRelated,
    ::testing::Values(RelatedCase{"TcpV4", false, kProtoTcp}, RelatedCase{"TcpV6", true, kProtoTcp},
                      RelatedCase{"UdpV4", false, kProtoUdp}, RelatedCase{"UdpV6", true, kProtoUdp},
                      RelatedCase{"IcmpV4", false, kProtoIcmp},
                      RelatedCase{"IcmpV6", true, kProtoIcmpV6}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConntrackTimeouts, UdpEntryExpiresLazilyOnLookup) {
  auto t = MakeTable();
  ParsedPacket out = Udp(A("198.18.0.1"), 5000, A("198.18.9.9"), 53);
  ASSERT_EQ(t->Commit(out, Direction::kFromVm, 100 * kS, Allow()).status, CommitStatus::kCreated);
  EXPECT_EQ(t->Track(out, Direction::kFromVm, 129 * kS).kind, TrackKind::kEstablished);
  EXPECT_EQ(t->Track(out, Direction::kFromVm, 159 * kS).kind, TrackKind::kEstablished);
  EXPECT_EQ(t->Track(out, Direction::kFromVm, 190 * kS).kind, TrackKind::kNew);
  EXPECT_EQ(t->Size(), 0u);
  EXPECT_EQ(t->Stats().expired, 1u);
}

TEST(ConntrackTimeouts, ExpireSweepRemovesOnlyExpiredAndRespectsBudget) {
  ConnTableOptions o;
  o.timeouts[ConnState::kUdpUnreplied] = 10 * kS;
  auto t = MakeTable(o);
  for (int i = 0; i < 100; ++i) {
    ParsedPacket p = Udp(A("198.18.0.1"), static_cast<uint16_t>(1000 + i), A("198.18.9.9"), 53);
    // Even ports are old, odd ones recent.
    ASSERT_EQ(t->Commit(p, Direction::kFromVm, (i % 2 ? 50 : 1) * kS, Allow()).status,
              CommitStatus::kCreated);
  }
  EXPECT_LE(t->Expire(55 * kS, 10), 10u);
  size_t total = 0;
  for (int round = 0; round < 20; ++round) total += t->Expire(55 * kS, 10);
  EXPECT_EQ(t->Size(), 50u);
  for (const ConnInfo& c : t->List({})) EXPECT_EQ(c.key.sport % 2, 1) << c.key.ToString();
  EXPECT_EQ(t->Stats().expired, 50u);
  EXPECT_EQ(t->Expire(55 * kS, 1000), 0u);
  EXPECT_EQ(t->Expire(61 * kS, 1000), 50u);
  EXPECT_EQ(t->Size(), 0u);
  (void)total;
}

TEST(ConntrackTimeouts, ClockGoingBackwardsDoesNotExpireOrRewind) {
  auto t = MakeTable();
  ParsedPacket out = Udp(A("198.18.0.1"), 5000, A("198.18.9.9"), 53);
  CommitResult c = t->Commit(out, Direction::kFromVm, 100 * kS, Allow());
  EXPECT_EQ(t->Track(out, Direction::kFromVm, 50 * kS).kind, TrackKind::kEstablished);
  EXPECT_EQ(t->Info(c.handle).last_seen_ns, 100 * kS);
}

ParsedPacket UdpN(int i, bool v6 = false) {
  if (v6) {
    Ip s = A("2001:db8::1");
    s.lo += static_cast<uint64_t>(i) >> 16;
    return Udp(s, static_cast<uint16_t>(i), A("2001:db8:1::1"), 53);
  }
  return Udp(Ip::V4(0xC6120000u + (static_cast<uint32_t>(i) >> 16)), static_cast<uint16_t>(i),
             A("198.19.0.1"), 53);
}

TEST(ConntrackLimits, TableLimitRefusesNewAndKeepsLiveEntries) {
  ConnTableOptions o;
  o.max_connections = 4;
  auto t = MakeTable(o);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(t->Commit(UdpN(i), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
  }
  CommitResult c = t->Commit(UdpN(4), Direction::kFromVm, 2 * kS, Allow());
  EXPECT_EQ(c.status, CommitStatus::kTableFull);
  EXPECT_EQ(t->Stats().refused_table_full, 1u);
  EXPECT_EQ(t->Size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(t->Track(UdpN(i), Direction::kFromVm, 2 * kS).kind, TrackKind::kEstablished) << i;
  }
}

TEST(ConntrackLimits, ExpiredEntriesAreReclaimedAtTheLimit) {
  ConnTableOptions o;
  o.max_connections = 4;
  auto t = MakeTable(o);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(t->Commit(UdpN(i), Direction::kFromVm, (i == 2 ? 1 : 100) * kS, Allow()).status,
              CommitStatus::kCreated);
  }
  // Entry 2 is idle for 100 s (> 30 s UDP timeout); the others are fresh.
  CommitResult c = t->Commit(UdpN(4), Direction::kFromVm, 101 * kS, Allow());
  EXPECT_EQ(c.status, CommitStatus::kCreated);
  EXPECT_EQ(t->Size(), 4u);
  EXPECT_FALSE(t->Find(*ConnTable::PacketKey(UdpN(2))).has_value());
  for (int i : {0, 1, 3, 4}) EXPECT_TRUE(t->Find(*ConnTable::PacketKey(UdpN(i))).has_value()) << i;
}

TEST(ConntrackLimits, InstanceBudgetIsSharedAcrossTables) {
  InstanceBudget budget(3);
  ConnTableOptions o;
  o.instance_budget = &budget;
  auto a = MakeTable(o);
  auto b = MakeTable(o);
  ASSERT_EQ(a->Commit(UdpN(0), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
  ASSERT_EQ(a->Commit(UdpN(1), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
  ASSERT_EQ(b->Commit(UdpN(2), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
  EXPECT_EQ(budget.used(), 3u);
  EXPECT_EQ(b->Commit(UdpN(3), Direction::kFromVm, kS, Allow()).status, CommitStatus::kInstanceFull);
  EXPECT_EQ(b->Stats().refused_instance_full, 1u);
  EXPECT_TRUE(a->Delete(*ConnTable::PacketKey(UdpN(0))));
  EXPECT_EQ(budget.used(), 2u);
  EXPECT_EQ(b->Commit(UdpN(3), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
  b->Flush();
  EXPECT_EQ(budget.used(), 1u);
  a.reset();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(ConntrackLimits, CreateRejectsBadLimits) {
  ConnTableOptions o;
  o.max_connections = 0;
  auto t = ConnTable::Create(o);
  EXPECT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("max_connections"), std::string::npos);
}

TEST(ConntrackTable, GrowsFromSmallCapacityAndFindsEverything) {
  ConnTableOptions o;
  o.initial_capacity = 16;
  o.max_connections = 200000;
  auto t = MakeTable(o);
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(t->Commit(UdpN(i, i % 3 == 0), Direction::kFromVm, kS, Allow(i)).status,
              CommitStatus::kCreated);
  }
  EXPECT_EQ(t->Size(), 100000u);
  for (int i = 0; i < 100000; ++i) {
    TrackResult r = t->Track(UdpN(i, i % 3 == 0), Direction::kFromVm, kS);
    ASSERT_EQ(r.kind, TrackKind::kEstablished) << i;
    ASSERT_EQ(r.verdict.rule_id, static_cast<uint32_t>(i));
  }
  ConnTableStats s = t->Stats();
  EXPECT_GE(s.capacity, 100000u);
  EXPECT_LE(s.connections * 3, s.index_slots * 2 + 3);
}

TEST(ConntrackTable, ListFilterDeleteFlush) {
  auto t = MakeTable();
  for (int i = 0; i < 10; ++i) t->Commit(UdpN(i), Direction::kFromVm, kS, Allow());
  for (int i = 0; i < 5; ++i) t->Commit(UdpN(i, true), Direction::kFromVm, kS, Allow());
  ConnFilter f;
  f.family = 6;
  EXPECT_EQ(t->List(f).size(), 5u);
  f = {};
  f.sport = 3;
  EXPECT_EQ(t->List(f).size(), 2u);
  f = {};
  f.dport = 3;  // only matches the reversed orientation
  EXPECT_EQ(t->List(f).size(), 0u);
  f.either_direction = true;
  f.dst = Prefix::Parse("198.18.0.0/15");
  EXPECT_EQ(t->List(f).size(), 1u);
  EXPECT_EQ(t->List({}, 3).size(), 3u);
  // Delete by the reply orientation's key.
  ConnKey k = *ConnTable::PacketKey(UdpN(7));
  std::swap(k.src, k.dst);
  std::swap(k.sport, k.dport);
  EXPECT_TRUE(t->Delete(k));
  EXPECT_FALSE(t->Delete(k));
  f = {};
  f.family = 6;
  EXPECT_EQ(t->DeleteMatching(f), 5u);
  EXPECT_EQ(t->Size(), 9u);
  t->Flush();
  EXPECT_EQ(t->Size(), 0u);
  EXPECT_EQ(t->Track(UdpN(1), Direction::kFromVm, kS).kind, TrackKind::kNew);
  EXPECT_EQ(t->Commit(UdpN(1), Direction::kFromVm, kS, Allow()).status, CommitStatus::kCreated);
}

TEST(ConntrackTable, VerdictRevalidationAndFlags) {
  auto t = MakeTable();
  CommitResult c = t->Commit(UdpN(1), Direction::kToVm, kS, CtVerdict{5, Action::kAllow, 10});
  EXPECT_TRUE(t->Info(c.handle).flags & kConnFlagOrigToVm);
  t->UpdateVerdict(c.handle, CtVerdict{6, Action::kDrop, 11});
  TrackResult r = t->Track(UdpN(1), Direction::kToVm, kS);
  EXPECT_EQ(r.verdict, (CtVerdict{6, Action::kDrop, 11}));
  t->SetFlags(c.handle, kConnFlagLogged | 0x10 | kConnFlagLoosePickup, 0);
  EXPECT_EQ(t->Info(c.handle).flags & (kConnFlagLogged | 0x10 | kConnFlagLoosePickup),
            kConnFlagLogged | 0x10);  // LoosePickup is not the engine's to set
  t->SetFlags(c.handle, 0, kConnFlagLogged);
  EXPECT_FALSE(t->Info(c.handle).flags & kConnFlagLogged);
}

TEST(ConntrackHash, SymmetricFlowHashIsTheSameBothWaysAndForRelatedErrors) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const bool v6 = i % 2;
    Ip a = v6 ? A("2001:db8::1") : A("198.18.0.1");
    Ip b = v6 ? A("2001:db8::2") : A("198.19.0.2");
    a.lo += static_cast<uint64_t>(i) * 7919;
    b.lo += static_cast<uint64_t>(i) * 104729 % 65521;
    const uint16_t sp = static_cast<uint16_t>(i * 31 + 1), dp = static_cast<uint16_t>(i * 17 + 2);
    ParsedPacket f = (i % 3 == 0) ? Udp(a, sp, b, dp) : Tcp(a, sp, b, dp, kTcpAck, 1, 2);
    ParsedPacket r = (i % 3 == 0) ? Udp(b, dp, a, sp) : Tcp(b, dp, a, sp, kTcpAck, 2, 1);
    EXPECT_EQ(SymmetricFlowHash(f), SymmetricFlowHash(r)) << i;
    EXPECT_EQ(SymmetricFlowHash(f), SymmetricFlowHash(IcmpErrorAbout(b, a, f))) << i;
    EXPECT_EQ(SymmetricFlowHash(f), SymmetricFlowHash(IcmpErrorAbout(a, b, r))) << i;
    seen.insert(SymmetricFlowHash(f));
  }
  EXPECT_EQ(seen.size(), 2000u);  // distinct flows spread out
  ParsedPacket e1 = Echo(A("198.18.0.1"), A("198.18.0.2"), true, 9);
  ParsedPacket e2 = Echo(A("198.18.0.2"), A("198.18.0.1"), false, 9);
  EXPECT_EQ(SymmetricFlowHash(e1), SymmetricFlowHash(e2));
}

TEST(ConntrackBatch, TrackBatchEqualsTrackOneByOne) {
  ConnTableOptions o;
  o.max_connections = 5000;
  auto a = MakeTable(o);
  auto b = MakeTable(o);
  std::vector<ParsedPacket> pkts;
  std::vector<Direction> dirs;
  for (int i = 0; i < 3000; ++i) {
    ParsedPacket p = UdpN(i % 700, i % 5 == 0);
    if (i % 4 == 1) {
      std::swap(p.src, p.dst);
      std::swap(p.sport, p.dport);
    }
    if (i % 11 == 0) p = Echo(A("198.18.0.1"), A("198.18.0.2"), i % 2, static_cast<uint16_t>(i));
    if (i % 13 == 0) p = IcmpErrorAbout(A("198.18.255.1"), A("198.18.0.1"), UdpN(i % 300));
    pkts.push_back(p);
    dirs.push_back(i % 2 ? Direction::kToVm : Direction::kFromVm);
  }
  for (int i = 0; i < 500; ++i) {
    a->Commit(UdpN(i, i % 5 == 0), Direction::kFromVm, kS, Allow(i));
    b->Commit(UdpN(i, i % 5 == 0), Direction::kFromVm, kS, Allow(i));
  }
  std::vector<const ParsedPacket*> ptrs;
  for (auto& p : pkts) ptrs.push_back(&p);
  std::vector<TrackResult> batch(pkts.size());
  for (size_t off = 0; off < pkts.size(); off += 37) {
    size_t n = std::min<size_t>(37, pkts.size() - off);
    a->TrackBatch(ptrs.data() + off, dirs.data() + off, n, 2 * kS, batch.data() + off);
  }
  for (size_t i = 0; i < pkts.size(); ++i) {
    TrackResult r = b->Track(pkts[i], dirs[i], 2 * kS);
    ASSERT_EQ(batch[i].kind, r.kind) << i;
    ASSERT_EQ(batch[i].invalid, r.invalid) << i;
    ASSERT_EQ(batch[i].side, r.side) << i;
    ASSERT_EQ(batch[i].state, r.state) << i;
    ASSERT_EQ(batch[i].handle, r.handle) << i;
    ASSERT_EQ(batch[i].verdict, r.verdict) << i;
  }
}

}  // namespace
}  // namespace rampart

namespace rampart {
namespace {
using namespace ct_test;

TEST(ConntrackTable, StaleHandlesAreHarmless) {
  auto t = MakeTable();
  CommitResult a = t->Commit(UdpN(1), Direction::kFromVm, kS, Allow(1));
  ASSERT_TRUE(t->Delete(*ConnTable::PacketKey(UdpN(1))));
  t->UpdateVerdict(a.handle, Allow(2));  // entry gone: ignored, free list intact
  t->SetFlags(a.handle, kConnFlagLogged, 0);
  t->UpdateVerdict(kNoConn, Allow(2));
  EXPECT_EQ(t->Info(kNoConn).state, ConnState::kFree);
  EXPECT_EQ(t->Verdict(a.handle), CtVerdict{});
  for (int i = 2; i < 40; ++i) {
    ASSERT_EQ(t->Commit(UdpN(i), Direction::kFromVm, kS, Allow(i)).status, CommitStatus::kCreated);
  }
  EXPECT_EQ(t->Size(), 38u);
  for (int i = 2; i < 40; ++i) {
    EXPECT_EQ(t->Track(UdpN(i), Direction::kFromVm, kS).verdict, Allow(i));
  }
}

}  // namespace
}  // namespace rampart
