// ConnTable: index + records, packet tracking, limits, expiry, control-plane operations.
//
// Layout: records live in two arrays (96-byte IPv4 records, 128-byte IPv6 records) addressed by
// a 32-bit ref (bit 31 = IPv6). The index is an open-addressing, linear-probing array of 8-byte
// slots (h32 << 32 | ref) kept at most 2/3 full; the home slot is fastrange(h32, nslots), so a
// slot's own h32 tells where it belongs and deletion can shift entries back (no tombstones).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "conntrack/internal.h"

namespace rampart {

using ct_internal::kEmptySlot;
using ct_internal::kNoNext;
using ct_internal::kV6Bit;
using ct_internal::LKey;
using ct_internal::RecBody;

namespace {

constexpr uint64_t kSec = 1000000000ull;
constexpr uint64_t kFlowHashSeed = 0x5bd1e9955bd1e995ull;
constexpr size_t kReclaimBudget = 256;  // records examined to reclaim an expired one at the limit

enum class PktKind : uint8_t { kTrack, kIcmpError, kUntracked, kUnparsed };

bool IsIcmp(uint8_t family, uint8_t proto) {
  return (family == 4 && proto == kProtoIcmp) || (family == 6 && proto == kProtoIcmpV6);
}
bool IsEchoRequest(uint8_t family, uint8_t type) {
  return family == 4 ? type == 8 : type == 128;
}
bool IsEchoReply(uint8_t family, uint8_t type) { return family == 4 ? type == 0 : type == 129; }

// Sorts a packet and fills the key it is tracked under (for ICMP errors: the inner header's
// key in the inner packet's orientation). kIcmpError with family == 0 in *k: no usable inner.
PktKind Classify(const ParsedPacket& p, LKey* k) {
  if (p.error != ParseError::kOk) return PktKind::kUnparsed;
  if (p.family != 4 && p.family != 6) return PktKind::kUntracked;
  if (!p.has_l4) return PktKind::kUntracked;  // later fragment
  if (IsIcmp(p.family, p.proto)) {
    if (p.icmp_is_error) {
      k->family = 0;
      if (!p.has_inner) return PktKind::kIcmpError;
      const InnerHeader& in = p.inner;
      if (in.src.IsV4() != (p.family == 4) || in.dst.IsV4() != (p.family == 4)) {
        return PktKind::kIcmpError;
      }
      const bool ports_needed = in.proto == kProtoTcp || in.proto == kProtoUdp ||
                                IsIcmp(p.family, in.proto);
      if (ports_needed && !in.has_ports) return PktKind::kIcmpError;
      k->family = p.family;
      k->proto = in.proto;
      k->src = in.src;
      k->dst = in.dst;
      k->sport = ports_needed ? in.sport : 0;
      k->dport = ports_needed ? in.dport : 0;
      return PktKind::kIcmpError;
    }
    if (!IsEchoRequest(p.family, p.icmp_type) && !IsEchoReply(p.family, p.icmp_type)) {
      return PktKind::kUntracked;  // informational ICMP, neighbour discovery, ...
    }
    k->family = p.family;
    k->proto = p.proto;
    k->src = p.src;
    k->dst = p.dst;
    k->sport = k->dport = p.icmp_id;
    return PktKind::kTrack;
  }
  k->family = p.family;
  k->proto = p.proto;
  k->src = p.src;
  k->dst = p.dst;
  if (p.proto == kProtoTcp || p.proto == kProtoUdp) {
    k->sport = p.sport;
    k->dport = p.dport;
  } else {
    k->sport = k->dport = 0;
  }
  return PktKind::kTrack;
}

LKey FromConnKey(const ConnKey& c) {
  LKey k;
  k.family = c.family;
  k.proto = c.proto;
  k.src = c.src;
  k.dst = c.dst;
  k.sport = c.sport;
  k.dport = c.dport;
  return k;
}

inline uint32_t H32(uint64_t h) { return static_cast<uint32_t>(h >> 32); }

const char* const kInvalidNames[] = {
#define RAMPART_X(name, str) str,
    RAMPART_CONNTRACK_INVALID(RAMPART_X)
#undef RAMPART_X
};
const char* const kStateNames[] = {
#define RAMPART_X(name, str) str,
    RAMPART_CONN_STATES(RAMPART_X)
#undef RAMPART_X
};

}  // namespace

const char* CtInvalidName(CtInvalid r) {
  auto i = static_cast<size_t>(r);
  return i < static_cast<size_t>(CtInvalid::kCount) ? kInvalidNames[i] : "unknown";
}

const char* ConnStateName(ConnState s) {
  auto i = static_cast<size_t>(s);
  return i < static_cast<size_t>(ConnState::kCount) ? kStateNames[i] : "unknown";
}

const char* CommitStatusName(CommitStatus s) {
  switch (s) {
    case CommitStatus::kCreated: return "created";
    case CommitStatus::kExists: return "exists";
    case CommitStatus::kTableFull: return "table-full";
    case CommitStatus::kInstanceFull: return "instance-full";
    case CommitStatus::kNotNew: return "not-new";
  }
  return "unknown";
}

CtTimeouts::CtTimeouts() {
  for (auto& v : ns) v = 30 * kSec;
  (*this)[ConnState::kFree] = 0;
  (*this)[ConnState::kTcpSynSent] = 30 * kSec;
  (*this)[ConnState::kTcpSynRecv] = 30 * kSec;
  (*this)[ConnState::kTcpEstablished] = 4 * 3600 * kSec;
  (*this)[ConnState::kTcpFinWait] = 120 * kSec;
  (*this)[ConnState::kTcpCloseWait] = 60 * kSec;
  (*this)[ConnState::kTcpLastAck] = 30 * kSec;
  (*this)[ConnState::kTcpTimeWait] = 120 * kSec;
  (*this)[ConnState::kTcpClose] = 10 * kSec;
  (*this)[ConnState::kTcpSynSent2] = 30 * kSec;
  (*this)[ConnState::kUdpUnreplied] = 30 * kSec;
  (*this)[ConnState::kUdpReplied] = 60 * kSec;
  (*this)[ConnState::kUdpAssured] = 180 * kSec;
  (*this)[ConnState::kIcmpUnreplied] = 30 * kSec;
  (*this)[ConnState::kIcmpReplied] = 30 * kSec;
  (*this)[ConnState::kOtherUnreplied] = 60 * kSec;
  (*this)[ConnState::kOtherReplied] = 600 * kSec;
}

bool InstanceBudget::TryAcquire(uint64_t n) {
  uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    if (cur + n > max_) return false;
  } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
  return true;
}

std::string ConnKey::ToString() const {
  const char* p = proto == kProtoTcp    ? "tcp"
                  : proto == kProtoUdp  ? "udp"
                  : proto == kProtoIcmp ? "icmp"
                  : proto == kProtoIcmpV6 ? "icmpv6" : nullptr;
  std::string ps = p ? p : absl::StrCat("proto ", proto);
  auto ep = [&](const Ip& a, uint16_t port) {
    return family == 6 ? absl::StrCat("[", a.ToString(), "]:", port) : absl::StrCat(a.ToString(), ":", port);
  };
  return absl::StrCat(ps, " ", ep(src, sport), " -> ", ep(dst, dport));
}

bool ConnFilter::Matches(const ConnKey& k) const {
  if (family && *family != k.family) return false;
  if (proto && *proto != k.proto) return false;
  auto one = [&](const Ip& s, const Ip& d, uint16_t sp, uint16_t dp) {
    if (src && !src->Contains(s)) return false;
    if (dst && !dst->Contains(d)) return false;
    if (sport && *sport != sp) return false;
    if (dport && *dport != dp) return false;
    return true;
  };
  if (one(k.src, k.dst, k.sport, k.dport)) return true;
  return either_direction && one(k.dst, k.src, k.dport, k.sport);
}

// ---------------------------------------------------------------- Impl: index and records

LKey ConnTable::Impl::KeyOfRef(uint32_t ref) const {
  LKey k;
  const RecBody& b = Body(ref);
  k.proto = b.proto;
  k.sport = b.sport;
  k.dport = b.dport;
  if (ref & kV6Bit) {
    k.family = 6;
    k.src = v6[ref & ~kV6Bit].src;
    k.dst = v6[ref & ~kV6Bit].dst;
  } else {
    k.family = 4;
    k.src = Ip::V4(v4[ref].src);
    k.dst = Ip::V4(v4[ref].dst);
  }
  return k;
}

uint64_t ConnTable::Impl::HashRef(uint32_t ref) const {
  if (ref & kV6Bit) {
    const auto& r = v6[ref & ~kV6Bit];
    return ct_internal::HashV6(r.src, r.dst, r.b.sport, r.b.dport, r.b.proto, seed);
  }
  const auto& r = v4[ref];
  return ct_internal::HashV4(r.src, r.dst, r.b.sport, r.b.dport, r.b.proto, seed);
}

int64_t ConnTable::Impl::FindSlotOfRef(uint32_t ref) const {
  uint32_t p = Home(H32(HashRef(ref)));
  for (;;) {
    const uint64_t s = slots[p];
    if (s == kEmptySlot) return -1;
    if (static_cast<uint32_t>(s) == ref) return p;
    if (++p == nslots) p = 0;
  }
}

void ConnTable::Impl::RemoveAtSlot(int64_t pos, bool release_budget, bool expired) {
  const uint32_t ref = static_cast<uint32_t>(slots[pos]);
  RecBody& b = Body(ref);
  b.state = static_cast<uint8_t>(ConnState::kFree);
  if (ref & kV6Bit) {
    b.last_seen_ns = free6;
    free6 = ref & ~kV6Bit;
  } else {
    b.last_seen_ns = free4;
    free4 = ref;
  }
  // Backward-shift deletion (Knuth 6.4 Algorithm R).
  uint32_t i = static_cast<uint32_t>(pos);
  uint32_t j = i;
  slots[i] = kEmptySlot;
  for (;;) {
    if (++j == nslots) j = 0;
    const uint64_t s = slots[j];
    if (s == kEmptySlot) break;
    const uint32_t k = Home(H32(s));
    const bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      slots[i] = s;
      slots[j] = kEmptySlot;
      i = j;
    }
  }
  --size;
  if (release_budget && opt.instance_budget != nullptr) opt.instance_budget->Release(1);
  if (expired) {
    ++stats.expired;
  } else {
    ++stats.deleted;
  }
}

void ConnTable::Impl::RemoveRef(uint32_t ref, bool release_budget, bool expired) {
  int64_t pos = FindSlotOfRef(ref);
  if (pos < 0) std::abort();  // index and records disagree: a bug
  RemoveAtSlot(pos, release_budget, expired);
}

uint32_t ConnTable::Impl::AllocRecord(uint8_t family) {
  if (family == 4) {
    if (free4 != kNoNext) {
      uint32_t r = free4;
      free4 = static_cast<uint32_t>(v4[r].b.last_seen_ns);
      return r;
    }
    if (hw4 == cap4) {
      if (cap4 >= opt.max_connections) return kNoNext;
      uint32_t nc = std::min<uint64_t>(opt.max_connections, std::max<uint64_t>(16, 2ull * cap4));
      auto n = ct_internal::AllocArray<ct_internal::RecV4>(nc);
      if (hw4) std::memcpy(n.get(), v4.get(), sizeof(ct_internal::RecV4) * hw4);
      v4 = std::move(n);
      cap4 = nc;
    }
    return hw4++;
  }
  if (free6 != kNoNext) {
    uint32_t r = free6;
    free6 = static_cast<uint32_t>(v6[r].b.last_seen_ns);
    return r | kV6Bit;
  }
  if (hw6 == cap6) {
    if (cap6 >= opt.max_connections) return kNoNext;
    uint32_t nc = std::min<uint64_t>(opt.max_connections, std::max<uint64_t>(16, 2ull * cap6));
    auto n = ct_internal::AllocArray<ct_internal::RecV6>(nc);
    if (hw6) std::memcpy(n.get(), v6.get(), sizeof(ct_internal::RecV6) * hw6);
    v6 = std::move(n);
    cap6 = nc;
  }
  return (hw6++) | kV6Bit;
}

void ConnTable::Impl::InsertIndex(uint32_t h32, uint32_t ref) {
  uint32_t p = Home(h32);
  while (slots[p] != kEmptySlot) {
    if (++p == nslots) p = 0;
  }
  slots[p] = (static_cast<uint64_t>(h32) << 32) | ref;
}

void ConnTable::Impl::RebuildIndex(uint32_t new_limit) {
  index_limit = new_limit;
  nslots = std::max<uint32_t>(16, new_limit + new_limit / 2 + 1);
  slots = ct_internal::AllocArray<uint64_t>(nslots);
  std::fill(slots.get(), slots.get() + nslots, kEmptySlot);
  for (uint32_t i = 0; i < hw4; ++i) {
    if (v4[i].b.state != static_cast<uint8_t>(ConnState::kFree)) InsertIndex(H32(HashRef(i)), i);
  }
  for (uint32_t i = 0; i < hw6; ++i) {
    if (v6[i].b.state != static_cast<uint8_t>(ConnState::kFree)) {
      InsertIndex(H32(HashRef(i | kV6Bit)), i | kV6Bit);
    }
  }
}

bool ConnTable::Impl::EnsureIndexRoom() {
  if (size + 1 <= index_limit) return true;
  if (index_limit >= opt.max_connections) return false;
  RebuildIndex(std::min<uint64_t>(opt.max_connections, 2ull * index_limit));
  return true;
}

size_t ConnTable::Impl::Sweep(uint64_t now_ns, size_t budget, bool stop_at_first) {
  const uint64_t total = static_cast<uint64_t>(hw4) + hw6;
  if (total == 0) return 0;
  size_t removed = 0;
  const size_t n = std::min<uint64_t>(budget, total);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t pos = sweep_cursor++ % total;
    const uint32_t ref = pos < hw4 ? static_cast<uint32_t>(pos)
                                   : static_cast<uint32_t>(pos - hw4) | kV6Bit;
    const RecBody& b = Body(ref);
    if (b.state != static_cast<uint8_t>(ConnState::kFree) && Expired(b, now_ns)) {
      RemoveRef(ref, true, true);
      ++removed;
      if (stop_at_first) break;
    }
  }
  return removed;
}

ConnInfo ConnTable::Impl::Decode(uint32_t ref) const {
  ConnInfo c;
  const RecBody& b = Body(ref);
  LKey k = KeyOfRef(ref);
  c.key.family = k.family;
  c.key.proto = k.proto;
  c.key.src = k.src;
  c.key.dst = k.dst;
  c.key.sport = k.sport;
  c.key.dport = k.dport;
  c.state = static_cast<ConnState>(b.state);
  c.flags = b.flags;
  c.verdict.rule_id = b.rule_id;
  c.verdict.action = static_cast<Action>(b.action);
  c.verdict.generation = b.generation;
  c.first_seen_ns = static_cast<uint64_t>(b.first_seen_s) * kSec;
  c.last_seen_ns = b.last_seen_ns;
  for (int d = 0; d < 2; ++d) {
    c.packets[d] = b.packets[d];
    c.bytes[d] = b.bytes[d];
    c.tcp[d].end = b.td_end[d];
    c.tcp[d].maxend = b.td_maxend[d];
    c.tcp[d].maxwin = b.td_maxwin[d];
    c.tcp[d].scale = b.td_scale[d];
    c.tcp[d].flags = b.td_flags[d];
  }
  return c;
}

// ---------------------------------------------------------------- ConnTable

ConnTable::ConnTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnTable::~ConnTable() {
  if (impl_ && impl_->opt.instance_budget != nullptr && impl_->size > 0) {
    impl_->opt.instance_budget->Release(impl_->size);
  }
}

absl::StatusOr<std::unique_ptr<ConnTable>> ConnTable::Create(const ConnTableOptions& options) {
  constexpr uint32_t kMaxMax = 1u << 30;
  if (options.max_connections == 0 || options.max_connections > kMaxMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conntrack: max_connections must be in 1..", kMaxMax, " (got ", options.max_connections, ")"));
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->seed = options.hash_seed;
  uint32_t init = std::clamp<uint32_t>(options.initial_capacity, 16, options.max_connections);
  init = std::min(init, options.max_connections);
  impl->v4 = ct_internal::AllocArray<ct_internal::RecV4>(init);
  impl->cap4 = init;
  impl->RebuildIndex(init);
  impl->stats.max_connections = options.max_connections;
  return std::unique_ptr<ConnTable>(new ConnTable(std::move(impl)));
}

namespace {

// The per-packet work once the key and hash are known.
TrackResult TrackImpl(ConnTable::Impl& t, const ParsedPacket& p, Direction dir, uint64_t now,
                      PktKind kind, const LKey& k, uint64_t h) {
  TrackResult res;
  auto invalid = [&](CtInvalid why) {
    res.kind = TrackKind::kInvalid;
    res.invalid = why;
    ++t.stats.invalid[static_cast<size_t>(why)];
    return res;
  };
  switch (kind) {
    case PktKind::kUnparsed:
      return invalid(CtInvalid::kUnparsed);
    case PktKind::kUntracked:
      res.kind = TrackKind::kUntracked;
      return res;
    case PktKind::kIcmpError: {
      if (k.family == 0) return invalid(CtInvalid::kIcmpErrorTruncated);
      int orient = 0;
      int64_t pos = t.FindSlot(k, H32(h), &orient);
      if (pos >= 0 && t.Expired(t.Body(static_cast<uint32_t>(t.slots[pos])), now)) {
        t.RemoveAtSlot(pos, true, true);
        pos = -1;
      }
      if (pos < 0) return invalid(CtInvalid::kIcmpErrorNoConnection);
      const uint32_t ref = static_cast<uint32_t>(t.slots[pos]);
      const RecBody& b = t.Body(ref);
      res.kind = TrackKind::kRelated;
      // The inner header was sent by the error's receiver; the error travels the other way.
      res.side = orient == 1 ? ConnSide::kReply : ConnSide::kOriginal;
      res.handle = ref;
      res.state = static_cast<ConnState>(b.state);
      res.verdict = CtVerdict{b.rule_id, static_cast<Action>(b.action), b.generation};
      res.imported = b.flags & kConnFlagImported;
      return res;
    }
    case PktKind::kTrack:
      break;
  }

  int orient = 0;
  int64_t pos = t.FindSlot(k, H32(h), &orient);
  if (pos >= 0 && t.Expired(t.Body(static_cast<uint32_t>(t.slots[pos])), now)) {
    t.RemoveAtSlot(pos, true, true);
    pos = -1;
  }
  const uint8_t proto = k.proto;
  if (pos < 0) {
    if (proto == kProtoTcp) {
      if (!ct_internal::TcpFlagsValid(p.tcp_flags)) return invalid(CtInvalid::kTcpBadFlags);
      const auto idx = ct_internal::TcpFlagIndex(p.tcp_flags);
      if (idx == ct_internal::kSynSet || (t.opt.loose_pickup && idx == ct_internal::kAckSet)) {
        res.kind = TrackKind::kNew;
        return res;
      }
      return invalid(CtInvalid::kTcpNoConnection);
    }
    if (IsIcmp(k.family, proto) && IsEchoReply(k.family, p.icmp_type)) {
      return invalid(CtInvalid::kIcmpEchoReplyNoRequest);
    }
    res.kind = TrackKind::kNew;
    return res;
  }

  const uint32_t ref = static_cast<uint32_t>(t.slots[pos]);
  RecBody& b = t.Body(ref);
  const int side = orient == 1 ? 0 : 1;
  const auto st = static_cast<ConnState>(b.state);
  if (proto == kProtoTcp) {
    bool reopen = false;
    CtInvalid r = ct_internal::TcpTrack(b, p, side, &reopen);
    if (reopen) {
      t.RemoveAtSlot(pos, true, false);
      res.kind = TrackKind::kNew;
      return res;
    }
    if (r != CtInvalid::kNone) return invalid(r);
  } else if (IsIcmp(k.family, proto)) {
    const bool request = IsEchoRequest(k.family, p.icmp_type);
    if (request != (side == 0)) {
      return invalid(request ? CtInvalid::kIcmpEchoWrongDirection
                             : CtInvalid::kIcmpEchoReplyNoRequest);
    }
    if (side == 1) b.state = static_cast<uint8_t>(ConnState::kIcmpReplied);
  } else if (proto == kProtoUdp) {
    if (side == 1 && st == ConnState::kUdpUnreplied) {
      b.state = static_cast<uint8_t>(ConnState::kUdpReplied);
    } else if (side == 0 && st == ConnState::kUdpReplied) {
      b.state = static_cast<uint8_t>(ConnState::kUdpAssured);
    }
  } else if (side == 1) {
    b.state = static_cast<uint8_t>(ConnState::kOtherReplied);
  }
  if (now > b.last_seen_ns) b.last_seen_ns = now;
  b.packets[side] += 1;
  b.bytes[side] += p.l3_len;
  res.kind = TrackKind::kEstablished;
  res.side = static_cast<ConnSide>(side);
  res.state = static_cast<ConnState>(b.state);
  res.handle = ref;
  res.verdict = CtVerdict{b.rule_id, static_cast<Action>(b.action), b.generation};
  res.imported = b.flags & kConnFlagImported;
  (void)dir;
  return res;
}

}  // namespace

TrackResult ConnTable::Track(const ParsedPacket& pkt, Direction dir, uint64_t now_ns) {
  LKey k;
  PktKind kind = Classify(pkt, &k);
  uint64_t h = k.family ? ct_internal::HashKey(k, impl_->seed) : 0;
  return TrackImpl(*impl_, pkt, dir, now_ns, kind, k, h);
}

void ConnTable::TrackBatch(const ParsedPacket* const* pkts, const Direction* dirs, size_t n,
                           uint64_t now_ns, TrackResult* out) {
  // Software pipeline over the batch: packet i is hashed (and its home index slot prefetched)
  // at step i, probed (and its record prefetched) at step i + kDist, tracked at step
  // i + 2 * kDist. The distance keeps about 3 * kDist cache-line fills in flight: enough to
  // hide memory latency, few enough not to overflow the core's fill buffers (prefetches
  // beyond that are dropped).
  constexpr size_t kDist = 8;
  constexpr size_t kRing = 4 * kDist;  // > 2 * kDist, power of two
  Impl& t = *impl_;
  LKey keys[kRing];
  uint64_t hashes[kRing];
  PktKind kinds[kRing];
  for (size_t step = 0; step < n + 2 * kDist; ++step) {
    if (step < n) {
      const size_t i = step % kRing;
      kinds[i] = Classify(*pkts[step], &keys[i]);
      hashes[i] = keys[i].family ? ct_internal::HashKey(keys[i], t.seed) : 0;
      if (keys[i].family) __builtin_prefetch(&t.slots[t.Home(H32(hashes[i]))]);
    }
    if (step >= kDist && step - kDist < n) {
      const size_t i = (step - kDist) % kRing;
      if (keys[i].family) {
        const uint32_t h32 = H32(hashes[i]);
        uint32_t p = t.Home(h32);
        for (;;) {
          const uint64_t s = t.slots[p];
          if (s == kEmptySlot) break;
          if (H32(s) == h32) {
            const uint32_t ref = static_cast<uint32_t>(s);
            const char* rec = (ref & kV6Bit) ? reinterpret_cast<const char*>(&t.v6[ref & ~kV6Bit])
                                             : reinterpret_cast<const char*>(&t.v4[ref]);
            __builtin_prefetch(rec, 1);
            __builtin_prefetch(rec + 95, 1);
            break;
          }
          if (++p == t.nslots) p = 0;
        }
      }
    }
    if (step >= 2 * kDist) {
      const size_t j = step - 2 * kDist;
      const size_t i = j % kRing;
      out[j] = TrackImpl(t, *pkts[j], dirs[j], now_ns, kinds[i], keys[i], hashes[i]);
    }
  }
}

CommitResult ConnTable::Commit(const ParsedPacket& pkt, Direction dir, uint64_t now_ns,
                               const CtVerdict& verdict) {
  Impl& t = *impl_;
  CommitResult res;
  auto refuse = [&](CtInvalid why) {
    res.status = CommitStatus::kNotNew;
    res.invalid = why;
    return res;
  };
  LKey k;
  PktKind kind = Classify(pkt, &k);
  if (kind == PktKind::kUnparsed) return refuse(CtInvalid::kUnparsed);
  if (kind != PktKind::kTrack) return refuse(CtInvalid::kNotNew);

  // The state the first packet puts the connection in.
  ConnState init;
  bool loose = false;
  if (k.proto == kProtoTcp) {
    if (!ct_internal::TcpFlagsValid(pkt.tcp_flags)) return refuse(CtInvalid::kTcpBadFlags);
    const auto idx = ct_internal::TcpFlagIndex(pkt.tcp_flags);
    if (idx == ct_internal::kSynSet) {
      init = ConnState::kTcpSynSent;
    } else if (t.opt.loose_pickup && idx == ct_internal::kAckSet) {
      init = ConnState::kTcpEstablished;
      loose = true;
    } else {
      return refuse(CtInvalid::kTcpNoConnection);
    }
  } else if (IsIcmp(k.family, k.proto)) {
    if (!IsEchoRequest(k.family, pkt.icmp_type)) return refuse(CtInvalid::kIcmpEchoReplyNoRequest);
    init = ConnState::kIcmpUnreplied;
  } else if (k.proto == kProtoUdp) {
    init = ConnState::kUdpUnreplied;
  } else {
    init = ConnState::kOtherUnreplied;
  }

  const uint64_t h = ct_internal::HashKey(k, t.seed);
  const uint32_t h32 = H32(h);
  int orient = 0;
  int64_t pos = t.FindSlot(k, h32, &orient);
  if (pos >= 0) {
    const uint32_t ref = static_cast<uint32_t>(t.slots[pos]);
    const RecBody& b = t.Body(ref);
    const auto st = static_cast<ConnState>(b.state);
    if (t.Expired(b, now_ns)) {
      t.RemoveAtSlot(pos, true, true);
    } else if (init == ConnState::kTcpSynSent &&
               (st == ConnState::kTcpTimeWait || st == ConnState::kTcpClose)) {
      t.RemoveAtSlot(pos, true, false);
    } else {
      res.status = CommitStatus::kExists;
      res.handle = ref;
      return res;
    }
  }

  if (t.size >= t.opt.max_connections) {
    t.Sweep(now_ns, kReclaimBudget, /*stop_at_first=*/true);
    if (t.size >= t.opt.max_connections) {
      ++t.stats.refused_table_full;
      res.status = CommitStatus::kTableFull;
      return res;
    }
  }
  InstanceBudget* budget = t.opt.instance_budget;
  if (budget != nullptr && !budget->TryAcquire(1)) {
    if (t.Sweep(now_ns, kReclaimBudget, /*stop_at_first=*/true) == 0 || !budget->TryAcquire(1)) {
      ++t.stats.refused_instance_full;
      res.status = CommitStatus::kInstanceFull;
      return res;
    }
  }
  t.EnsureIndexRoom();
  const uint32_t ref = t.AllocRecord(k.family);
  if (ref == kNoNext) std::abort();  // size < max_connections guarantees a record

  RecBody& b = t.Body(ref);
  std::memset(&b, 0, sizeof(b));
  if (ref & kV6Bit) {
    auto& r = t.v6[ref & ~kV6Bit];
    r.src = k.src;
    r.dst = k.dst;
    r.pad_ = 0;
  } else {
    auto& r = t.v4[ref];
    r.src = k.src.V4Addr();
    r.dst = k.dst.V4Addr();
  }
  b.sport = k.sport;
  b.dport = k.dport;
  b.proto = k.proto;
  b.state = static_cast<uint8_t>(init);
  b.rule_id = verdict.rule_id;
  b.action = static_cast<uint8_t>(verdict.action);
  b.generation = verdict.generation;
  b.flags = (dir == Direction::kToVm ? kConnFlagOrigToVm : 0) | (loose ? kConnFlagLoosePickup : 0);
  b.first_seen_s = static_cast<uint32_t>(now_ns / kSec);
  b.last_seen_ns = now_ns;
  b.packets[0] = 1;
  b.bytes[0] = pkt.l3_len;
  if (k.proto == kProtoTcp) ct_internal::TcpInitNew(b, pkt, loose);
  t.InsertIndex(h32, ref);
  ++t.size;
  ++t.stats.created;
  res.status = CommitStatus::kCreated;
  res.handle = ref;
  return res;
}

void ConnTable::UpdateVerdict(ConnHandle h, const CtVerdict& v) {
  if (!impl_->Live(h)) return;  // stale handle: nothing to update
  RecBody& b = impl_->Body(h);
  b.rule_id = v.rule_id;
  b.action = static_cast<uint8_t>(v.action);
  b.generation = v.generation;
  b.flags &= static_cast<uint8_t>(~kConnFlagImported);
}

void ConnTable::SetFlags(ConnHandle h, uint8_t set, uint8_t clear) {
  constexpr uint8_t kAllowed = kConnFlagLogged | kConnFlagUserMask;
  if (!impl_->Live(h)) return;
  RecBody& b = impl_->Body(h);
  b.flags = static_cast<uint8_t>((b.flags & ~(clear & kAllowed)) | (set & kAllowed));
}

size_t ConnTable::Expire(uint64_t now_ns, size_t budget) {
  return impl_->Sweep(now_ns, budget, /*stop_at_first=*/false);
}

std::optional<ConnHandle> ConnTable::Find(const ConnKey& key, ConnSide* side) const {
  LKey k = FromConnKey(key);
  if (k.family != 4 && k.family != 6) return std::nullopt;
  if (k.family == 4 && (!k.src.IsV4() || !k.dst.IsV4())) return std::nullopt;
  int orient = 0;
  int64_t pos = impl_->FindSlot(k, H32(ct_internal::HashKey(k, impl_->seed)), &orient);
  if (pos < 0) return std::nullopt;
  if (side) *side = orient == 1 ? ConnSide::kOriginal : ConnSide::kReply;
  return static_cast<ConnHandle>(impl_->slots[pos]);
}

CtVerdict ConnTable::Verdict(ConnHandle h) const {
  if (!impl_->Live(h)) return CtVerdict{};
  const RecBody& b = impl_->Body(h);
  return CtVerdict{b.rule_id, static_cast<Action>(b.action), b.generation};
}

ConnInfo ConnTable::Info(ConnHandle h) const {
  return impl_->Live(h) ? impl_->Decode(h) : ConnInfo{};
}

void ConnTable::ForEach(const ConnFilter& filter,
                        const std::function<void(ConnHandle, const ConnInfo&)>& fn) const {
  const Impl& t = *impl_;
  for (uint32_t i = 0; i < t.hw4 + t.hw6; ++i) {
    const uint32_t ref = i < t.hw4 ? i : ((i - t.hw4) | kV6Bit);
    if (t.Body(ref).state == static_cast<uint8_t>(ConnState::kFree)) continue;
    ConnInfo c = t.Decode(ref);
    if (filter.Matches(c.key)) fn(ref, c);
  }
}

std::vector<ConnInfo> ConnTable::List(const ConnFilter& filter, size_t limit) const {
  std::vector<ConnInfo> out;
  ForEach(filter, [&](ConnHandle, const ConnInfo& c) {
    if (out.size() < limit) out.push_back(c);
  });
  return out;
}

bool ConnTable::Delete(const ConnKey& key) {
  LKey k = FromConnKey(key);
  if (k.family != 4 && k.family != 6) return false;
  if (k.family == 4 && (!k.src.IsV4() || !k.dst.IsV4())) return false;
  int orient = 0;
  int64_t pos = impl_->FindSlot(k, H32(ct_internal::HashKey(k, impl_->seed)), &orient);
  if (pos < 0) return false;
  impl_->RemoveAtSlot(pos, true, false);
  return true;
}

size_t ConnTable::DeleteMatching(const ConnFilter& filter) {
  std::vector<ConnHandle> victims;
  ForEach(filter, [&](ConnHandle h, const ConnInfo&) { victims.push_back(h); });
  for (ConnHandle h : victims) impl_->RemoveRef(h, true, false);
  return victims.size();
}

void ConnTable::Flush() {
  Impl& t = *impl_;
  if (t.opt.instance_budget != nullptr && t.size > 0) t.opt.instance_budget->Release(t.size);
  t.stats.deleted += t.size;
  t.size = 0;
  t.hw4 = t.hw6 = 0;
  t.free4 = t.free6 = kNoNext;
  std::fill(t.slots.get(), t.slots.get() + t.nslots, kEmptySlot);
}

size_t ConnTable::Size() const { return impl_->size; }

ConnTableStats ConnTable::Stats() const {
  const Impl& t = *impl_;
  ConnTableStats s = t.stats;
  s.connections = t.size;
  s.capacity = static_cast<uint64_t>(t.cap4) + t.cap6;
  s.max_connections = t.opt.max_connections;
  s.index_slots = t.nslots;
  s.memory_bytes = static_cast<uint64_t>(t.cap4) * sizeof(ct_internal::RecV4) +
                   static_cast<uint64_t>(t.cap6) * sizeof(ct_internal::RecV6) +
                   static_cast<uint64_t>(t.nslots) * sizeof(uint64_t);
  return s;
}

const ConnTableOptions& ConnTable::options() const { return impl_->opt; }

void ConnTable::SetTimeouts(const CtTimeouts& timeouts) { impl_->opt.timeouts = timeouts; }

std::optional<ConnKey> ConnTable::PacketKey(const ParsedPacket& pkt) {
  LKey k;
  PktKind kind = Classify(pkt, &k);
  if (kind != PktKind::kTrack) return std::nullopt;
  ConnKey c;
  c.family = k.family;
  c.proto = k.proto;
  c.src = k.src;
  c.dst = k.dst;
  c.sport = k.sport;
  c.dport = k.dport;
  return c;
}

uint64_t SymmetricFlowHash(const ParsedPacket& pkt) {
  LKey k;
  PktKind kind = Classify(pkt, &k);
  if (k.family == 0) {
    // Untracked / unparsed / unusable ICMP error: addresses and protocol only.
    if (pkt.family != 4 && pkt.family != 6) return 0;
    k = LKey{};
    k.family = pkt.family;
    k.proto = pkt.proto;
    k.src = pkt.src;
    k.dst = pkt.dst;
  } else if (kind == PktKind::kUntracked) {
    k.sport = k.dport = 0;
  }
  return ct_internal::HashKey(k, kFlowHashSeed);
}

}  // namespace rampart
