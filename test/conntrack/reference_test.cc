// Randomized differential test: ConnTable against a simple std::map reference for sequences of
// track / commit / find / delete / expire / flush with an explicit clock, IPv4 and IPv6, with
// and without a connection limit, starting from a small capacity so the table grows.
#include <map>
#include <random>
#include <tuple>

#include "conntrack/conntrack.h"
#include "gtest/gtest.h"
#include "test/conntrack/ct_test_util.h"

namespace rampart {
namespace {

using namespace ct_test;

struct Flow {
  ParsedPacket fwd;  // original orientation
  ParsedPacket rev;
  ConnKey key;
};

struct RefEntry {
  ConnKey key;
  ConnState state;
  uint64_t last_seen;
  uint64_t packets[2];
  uint64_t bytes[2];
  CtVerdict verdict;
};

using CanonKey = std::tuple<uint8_t, uint8_t, Ip, uint16_t, Ip, uint16_t>;

CanonKey Canon(const ConnKey& k) {
  auto a = std::make_tuple(k.src, k.sport);
  auto b = std::make_tuple(k.dst, k.dport);
  if (b < a) std::swap(a, b);
  return {k.family, k.proto, std::get<0>(a), std::get<1>(a), std::get<0>(b), std::get<1>(b)};
}

class Reference {
 public:
  explicit Reference(const CtTimeouts& t) : t_(t) {}
  bool Expired(const RefEntry& e, uint64_t now) const {
    return now > e.last_seen && now - e.last_seen > t_[e.state];
  }
  // The live entry for k, purging an expired one (the table does the same lazily).
  RefEntry* Live(const ConnKey& k, uint64_t now) {
    auto it = m_.find(Canon(k));
    if (it == m_.end()) return nullptr;
    if (Expired(it->second, now)) {
      m_.erase(it);
      return nullptr;
    }
    return &it->second;
  }
  // Entries not yet expired. Expired ones stay: the table may not have swept them yet.
  size_t LiveCount(uint64_t now) const {
    size_t n = 0;
    for (const auto& [k, e] : m_) n += !Expired(e, now);
    return n;
  }
  // After a full Expire() the table holds no expired entry either.
  void PurgeExpired(uint64_t now) {
    std::erase_if(m_, [&](const auto& kv) { return Expired(kv.second, now); });
  }
  std::map<CanonKey, RefEntry> m_;
  CtTimeouts t_;
};

void RunRandom(uint32_t seed, uint32_t max_connections, int ops) {
  std::mt19937_64 rng(seed);
  ConnTableOptions o;
  o.max_connections = max_connections;
  o.initial_capacity = 16;
  o.hash_seed = rng();
  o.timeouts[ConnState::kUdpUnreplied] = 5 * kS;
  o.timeouts[ConnState::kUdpReplied] = 10 * kS;
  o.timeouts[ConnState::kUdpAssured] = 20 * kS;
  o.timeouts[ConnState::kOtherUnreplied] = 4 * kS;
  o.timeouts[ConnState::kOtherReplied] = 15 * kS;
  auto t = MakeTable(o);
  Reference ref(o.timeouts);

  std::vector<Flow> flows;
  for (int i = 0; i < 300; ++i) {
    const bool v6 = i % 3 == 0;
    Ip a = v6 ? A("2001:db8::") : A("198.18.0.0");
    Ip b = v6 ? A("2001:db8:1::") : A("198.19.0.0");
    a.lo += rng() % 64;
    b.lo += rng() % 4;
    const uint8_t proto = (i % 7 == 0) ? 47 : kProtoUdp;
    const uint16_t sp = proto == kProtoUdp ? static_cast<uint16_t>(rng() % 8) : 0;
    const uint16_t dp = proto == kProtoUdp ? static_cast<uint16_t>(rng() % 8) : 0;
    Flow f;
    f.fwd = proto == kProtoUdp ? Udp(a, sp, b, dp) : Base(a, b, proto);
    f.rev = proto == kProtoUdp ? Udp(b, dp, a, sp) : Base(b, a, proto);
    f.key = *ConnTable::PacketKey(f.fwd);
    bool dup = false;
    for (const Flow& g : flows) dup |= Canon(g.key) == Canon(f.key);
    if (!dup) flows.push_back(f);
  }

  uint64_t now = 1000 * kS;
  for (int op = 0; op < ops; ++op) {
    now += rng() % (2 * kS);
    const Flow& f = flows[rng() % flows.size()];
    const bool reversed = rng() % 2;
    const ParsedPacket& p = reversed ? f.rev : f.fwd;
    const ConnKey pk = *ConnTable::PacketKey(p);
    const uint32_t what = rng() % 100;
    if (what < 60) {
      TrackResult r = t->Track(p, Direction::kFromVm, now);
      RefEntry* e = ref.Live(pk, now);
      if (e) {
        ASSERT_EQ(r.kind, TrackKind::kEstablished) << op;
        const int side = (e->key == pk) ? 0 : 1;
        ASSERT_EQ(static_cast<int>(r.side), side) << op;
        ASSERT_EQ(r.verdict, e->verdict) << op;
        if (pk.proto == kProtoUdp) {
          if (side == 1 && e->state == ConnState::kUdpUnreplied) e->state = ConnState::kUdpReplied;
          else if (side == 0 && e->state == ConnState::kUdpReplied) e->state = ConnState::kUdpAssured;
        } else if (side == 1) {
          e->state = ConnState::kOtherReplied;
        }
        ASSERT_EQ(r.state, e->state) << op;
        if (now > e->last_seen) e->last_seen = now;
        e->packets[side]++;
        e->bytes[side] += p.l3_len;
        continue;
      }
      ASSERT_EQ(r.kind, TrackKind::kNew) << op;
      if (rng() % 5 == 0) continue;
      CtVerdict v{static_cast<uint32_t>(rng() % 1000), static_cast<Action>(rng() % 4),
                  static_cast<uint32_t>(rng())};
      CommitResult c = t->Commit(p, Direction::kFromVm, now, v);
      if (ref.LiveCount(now) >= max_connections) {
        ASSERT_EQ(c.status, CommitStatus::kTableFull) << op;
        continue;
      }
      ASSERT_EQ(c.status, CommitStatus::kCreated) << op;
      RefEntry ne{pk, pk.proto == kProtoUdp ? ConnState::kUdpUnreplied : ConnState::kOtherUnreplied,
                  now, {1, 0}, {p.l3_len, 0}, v};
      ref.m_[Canon(pk)] = ne;
    } else if (what < 70) {
      // Find never expires anything.
      ConnSide side;
      auto h = t->Find(pk, &side);
      auto it = ref.m_.find(Canon(pk));
      if (it == ref.m_.end()) {
        ASSERT_FALSE(h.has_value()) << op;
      } else if (!ref.Expired(it->second, now)) {
        ASSERT_TRUE(h.has_value()) << op;
        ASSERT_EQ(side, it->second.key == pk ? ConnSide::kOriginal : ConnSide::kReply) << op;
        ConnInfo info = t->Info(*h);
        ASSERT_EQ(info.key, it->second.key) << op;
        ASSERT_EQ(info.packets[0], it->second.packets[0]) << op;
        ASSERT_EQ(info.packets[1], it->second.packets[1]) << op;
      }
    } else if (what < 80) {
      bool deleted = t->Delete(pk);
      auto it = ref.m_.find(Canon(pk));
      if (it == ref.m_.end()) {
        ASSERT_FALSE(deleted) << op;
      } else {
        // An expired entry may or may not have been swept already.
        if (!ref.Expired(it->second, now)) {
          ASSERT_TRUE(deleted) << op;
        }
        ref.m_.erase(it);
      }
    } else if (what < 90) {
      const size_t budget = rng() % 40;
      ASSERT_LE(t->Expire(now, budget), budget);
    } else if (what < 99) {
      t->Expire(now, 1u << 20);
      ref.PurgeExpired(now);
      const size_t live = ref.LiveCount(now);
      ASSERT_EQ(t->Size(), live) << op;
      std::vector<ConnInfo> got = t->List({});
      ASSERT_EQ(got.size(), live);
      for (const ConnInfo& c : got) {
        auto it = ref.m_.find(Canon(c.key));
        ASSERT_NE(it, ref.m_.end()) << c.key.ToString();
        const RefEntry& e = it->second;
        ASSERT_EQ(c.key, e.key);
        ASSERT_EQ(c.state, e.state);
        ASSERT_EQ(c.last_seen_ns, e.last_seen);
        ASSERT_EQ(c.packets[0], e.packets[0]);
        ASSERT_EQ(c.packets[1], e.packets[1]);
        ASSERT_EQ(c.bytes[0], e.bytes[0]);
        ASSERT_EQ(c.bytes[1], e.bytes[1]);
        ASSERT_EQ(c.verdict, e.verdict);
      }
    } else {
      t->Flush();
      ref.m_.clear();
    }
  }
}

TEST(ConntrackReference, RandomOperationsMatchMapReferenceUnlimited) {
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    SCOPED_TRACE(seed);
    RunRandom(seed, 100000, 20000);
    if (HasFatalFailure()) return;
  }
}

TEST(ConntrackReference, RandomOperationsMatchMapReferenceAtTheLimit) {
  for (uint32_t seed = 11; seed <= 14; ++seed) {
    SCOPED_TRACE(seed);
    RunRandom(seed, 40, 20000);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace rampart
