// Export/Import: round trip of every field, and rejection (with nothing imported) of truncated,
// corrupted, garbage and semantically bad blobs.
#include <algorithm>
#include <random>

#include <xxhash.h>

#include "conntrack/conntrack.h"
#include "gtest/gtest.h"
#include "test/conntrack/ct_test_util.h"

namespace rampart {
namespace {

using namespace ct_test;

constexpr uint64_t kNow = 5000 * kS;

// A table with TCP (v4/v6, various states, scaled windows), UDP, ICMP and other-protocol
// entries, verdicts and flags.
std::unique_ptr<ConnTable> Populated() {
  auto t = MakeTable();
  for (bool v6 : {false, true}) {
    TcpConv c(*t, v6, 41000);
    c.wscale_[0] = 5;
    c.wscale_[1] = 9;
    c.now_ = kNow - 100 * kS;
    c.Handshake();
    c.Send(0, kTcpAck | kTcpPsh, 500);
    c.Send(1, kTcpAck | kTcpPsh, 1400);
    TcpConv d(*t, v6, 42000);
    d.now_ = kNow - 50 * kS;
    d.Handshake();
    d.Send(1, kTcpFin | kTcpAck);
    auto h = t->Find(d.Key());
    t->SetFlags(*h, kConnFlagLogged | 0x40, 0);
    t->UpdateVerdict(*h, CtVerdict{99, Action::kRedirect, 123456});
  }
  for (int i = 0; i < 20; ++i) {
    const bool v6 = i % 2;
    Ip vm = v6 ? A("2001:db8::1") : A("198.18.0.1");
    Ip peer = v6 ? A("2001:db8::9") : A("198.19.0.9");
    ParsedPacket u = Udp(vm, static_cast<uint16_t>(6000 + i), peer, 53);
    t->Commit(u, i % 3 ? Direction::kFromVm : Direction::kToVm, kNow - i * kS,
              CtVerdict{static_cast<uint32_t>(i), Action::kAllow, 7});
    if (i % 4 == 0) {
      ParsedPacket back = Udp(peer, 53, vm, static_cast<uint16_t>(6000 + i));
      t->Track(back, Direction::kToVm, kNow - i * kS / 2);
    }
    ParsedPacket e = Echo(vm, peer, true, static_cast<uint16_t>(i));
    t->Commit(e, Direction::kFromVm, kNow - 3 * kS, Allow(1000 + i));
  }
  ParsedPacket gre = Base(A("198.18.0.1"), A("198.19.0.9"), 47);
  t->Commit(gre, Direction::kFromVm, kNow - 2 * kS, CtVerdict{5, Action::kDrop, 9});
  return t;
}

std::vector<ConnInfo> Sorted(std::vector<ConnInfo> v, bool strip_imported) {
  for (auto& c : v) {
    if (strip_imported) c.flags &= static_cast<uint8_t>(~kConnFlagImported);
  }
  std::sort(v.begin(), v.end(), [](const ConnInfo& a, const ConnInfo& b) {
    return std::tie(a.key.family, a.key.proto, a.key.src, a.key.dst, a.key.sport, a.key.dport) <
           std::tie(b.key.family, b.key.proto, b.key.src, b.key.dst, b.key.sport, b.key.dport);
  });
  return v;
}

void Reseal(std::vector<uint8_t>& blob) {
  const size_t body = blob.size() - 8;
  uint64_t h = XXH64(blob.data(), body, 0);
  for (int i = 0; i < 8; ++i) blob[body + i] = static_cast<uint8_t>(h >> (56 - 8 * i));
}

TEST(ConntrackExport, RoundTripPreservesEveryFieldV4AndV6) {
  auto src = Populated();
  ASSERT_GT(src->Size(), 40u);
  std::vector<uint8_t> blob = src->Export(kNow);
  EXPECT_EQ(blob.size(), 16 + 128 * src->Size() + 8);
  auto dst = MakeTable();
  auto st = dst->Import(blob, kNow);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->imported, src->Size());
  EXPECT_EQ(st->replaced, 0u);
  auto a = Sorted(src->List({}), false);
  auto b = Sorted(dst->List({}), true);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << a[i].key.ToString();
  for (const ConnInfo& c : dst->List({})) EXPECT_TRUE(c.flags & kConnFlagImported);
  {
    // Track reports imported entries until the engine revalidates them.
    ParsedPacket u = Udp(A("198.18.0.1"), 6002, A("198.19.0.9"), 53);
    TrackResult r = dst->Track(u, Direction::kFromVm, kNow);
    ASSERT_EQ(r.kind, TrackKind::kEstablished);
    EXPECT_TRUE(r.imported);
    dst->UpdateVerdict(r.handle, Allow(5, 77));
    r = dst->Track(u, Direction::kFromVm, kNow);
    EXPECT_FALSE(r.imported);
    EXPECT_EQ(r.verdict, Allow(5, 77));
    EXPECT_FALSE(src->Track(u, Direction::kFromVm, kNow).imported);
  }
  // The imported table keeps tracking: a TCP data segment of the first connection is valid.
  TcpConv c(*dst, false, 41000);
  ConnInfo info = c.Info();
  c.nxt_[0] = info.tcp[0].end;
  c.nxt_[1] = info.tcp[1].end;
  c.now_ = kNow;
  EXPECT_EQ(c.Send(0, kTcpAck | kTcpPsh, 100).kind, TrackKind::kEstablished);
  EXPECT_EQ(c.Send(c.Pkt(0, kTcpAck | kTcpPsh, 100, 50000000), 0).kind, TrackKind::kInvalid);
}

TEST(ConntrackExport, AgesAreRelativeSoAnotherClockWorks) {
  auto src = Populated();
  std::vector<uint8_t> blob = src->Export(kNow);
  auto dst = MakeTable();
  const uint64_t other_now = 777777 * kS;  // the destination's clock is unrelated
  ASSERT_TRUE(dst->Import(blob, other_now).ok());
  auto a = Sorted(src->List({}), false);
  auto b = Sorted(dst->List({}), true);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(kNow - a[i].last_seen_ns, other_now - b[i].last_seen_ns);
    EXPECT_EQ(kNow - a[i].first_seen_ns, other_now - b[i].first_seen_ns);
  }
}

TEST(ConntrackExport, ImportReplacesEntryWithSameConnection) {
  auto src = MakeTable();
  ParsedPacket u = Udp(A("198.18.0.1"), 5000, A("198.19.0.9"), 53);
  src->Commit(u, Direction::kFromVm, kNow, Allow(1));
  auto dst = MakeTable();
  // The destination saw the reply direction first: same connection, other orientation.
  ParsedPacket back = Udp(A("198.19.0.9"), 53, A("198.18.0.1"), 5000);
  dst->Commit(back, Direction::kToVm, kNow, Allow(2));
  dst->Commit(Udp(A("198.18.0.1"), 5001, A("198.19.0.9"), 53), Direction::kFromVm, kNow, Allow(3));
  auto st = dst->Import(src->Export(kNow), kNow);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->replaced, 1u);
  EXPECT_EQ(dst->Size(), 2u);
  ConnSide side;
  auto h = dst->Find(*ConnTable::PacketKey(u), &side);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(side, ConnSide::kOriginal);
  EXPECT_EQ(dst->Verdict(*h), Allow(1));
}

void ExpectRejectedUnchanged(ConnTable& dst, const std::vector<uint8_t>& blob, const char* needle) {
  auto before = Sorted(dst.List({}), false);
  auto st = dst.Import(blob, kNow);
  ASSERT_FALSE(st.ok()) << needle;
  EXPECT_NE(st.status().message().find(needle), std::string::npos) << st.status();
  EXPECT_EQ(Sorted(dst.List({}), false), before) << needle;
}

TEST(ConntrackExport, BadBlobsAreRejectedAndNothingIsImported) {
  auto src = Populated();
  const std::vector<uint8_t> good = src->Export(kNow);
  auto dst = MakeTable();
  dst->Commit(Udp(A("198.18.0.7"), 1, A("198.19.0.7"), 2), Direction::kFromVm, kNow, Allow());

  ExpectRejectedUnchanged(*dst, {}, "shorter");
  std::vector<uint8_t> b = good;
  b[0] = 'X';
  ExpectRejectedUnchanged(*dst, b, "magic");
  b = good;
  b[5] = 2;
  ExpectRejectedUnchanged(*dst, b, "version");
  b = good;
  b[7] = 64;
  ExpectRejectedUnchanged(*dst, b, "record size");
  for (size_t cut : {good.size() - 1, good.size() - 9, size_t{100}, size_t{30}}) {
    b.assign(good.begin(), good.begin() + cut);
    ExpectRejectedUnchanged(*dst, b, cut < 24 ? "shorter" : "length");
  }
  b = good;
  b.push_back(0);
  ExpectRejectedUnchanged(*dst, b, "length");
  // Every single-bit flip in the records or checksum is caught.
  std::mt19937 rng(1);
  for (int i = 0; i < 300; ++i) {
    b = good;
    size_t pos = 16 + rng() % (b.size() - 16);
    b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
    ExpectRejectedUnchanged(*dst, b, "checksum");
  }
  // Random garbage.
  for (int i = 0; i < 100; ++i) {
    b.resize(rng() % 600);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    auto st = dst->Import(b, kNow);
    EXPECT_FALSE(st.ok());
  }
  EXPECT_EQ(dst->Size(), 1u);
}

TEST(ConntrackExport, SemanticallyBadRecordsAreRejectedEvenWithValidChecksum) {
  auto src = Populated();
  const std::vector<uint8_t> good = src->Export(kNow);
  auto dst = MakeTable();
  const size_t r5 = 16 + 128 * 5;
  struct Case {
    size_t off;
    uint8_t val;
    const char* needle;
  } cases[] = {
      {r5 + 0, 5, "family"},        {r5 + 2, 200, "state"},
      {r5 + 4, 9, "action"},        {r5 + 9, 1, "reserved"},
      {r5 + 5, 15, "window scale"},
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    b[c.off] = c.val;
    Reseal(b);
    ExpectRejectedUnchanged(*dst, b, c.needle);
  }
  // A UDP state on a TCP record.
  std::vector<uint8_t> b = good;
  for (size_t i = 0; i < src->Size(); ++i) {
    if (b[16 + 128 * i + 1] == kProtoTcp) {
      b[16 + 128 * i + 2] = static_cast<uint8_t>(ConnState::kUdpReplied);
      break;
    }
  }
  Reseal(b);
  ExpectRejectedUnchanged(*dst, b, "not valid for protocol");
  // The same connection twice.
  b = good;
  std::copy(b.begin() + 16, b.begin() + 16 + 128, b.begin() + 16 + 128);
  Reseal(b);
  ExpectRejectedUnchanged(*dst, b, "duplicate");
  EXPECT_EQ(dst->Size(), 0u);
}

TEST(ConntrackExport, ImportBeyondLimitsIsRefusedWhole) {
  auto src = Populated();
  const std::vector<uint8_t> blob = src->Export(kNow);
  ConnTableOptions o;
  o.max_connections = static_cast<uint32_t>(src->Size() - 1);
  auto dst = MakeTable(o);
  ExpectRejectedUnchanged(*dst, blob, "do not fit");
  InstanceBudget budget(src->Size() - 1);
  ConnTableOptions o2;
  o2.instance_budget = &budget;
  auto dst2 = MakeTable(o2);
  ExpectRejectedUnchanged(*dst2, blob, "budget");
  EXPECT_EQ(budget.used(), 0u);
  InstanceBudget enough(src->Size());
  o2.instance_budget = &enough;
  auto dst3 = MakeTable(o2);
  ASSERT_TRUE(dst3->Import(blob, kNow).ok());
  EXPECT_EQ(enough.used(), src->Size());
}

TEST(ConntrackExport, EmptyTableExportsAndImports) {
  auto src = MakeTable();
  std::vector<uint8_t> blob = src->Export(kNow);
  EXPECT_EQ(blob.size(), 24u);
  auto dst = MakeTable();
  auto st = dst->Import(blob, kNow);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->imported, 0u);
}

}  // namespace
}  // namespace rampart
