// Private to rampart_conntrack: record layout, hashing, TCP tracking helpers.
#ifndef RAMPART_CONNTRACK_INTERNAL_H_
#define RAMPART_CONNTRACK_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <sys/mman.h>

#include "conntrack/conntrack.h"

namespace rampart::ct_internal {

// The part of a record shared by both families. Field order keeps 8-byte fields aligned and
// the key fields (ports, proto) next to the addresses that follow the body.
struct RecBody {
  uint64_t last_seen_ns;   // free records: next free index (kNoNext ends the list)
  uint64_t packets[2];
  uint64_t bytes[2];
  uint32_t rule_id;
  uint32_t generation;
  uint32_t first_seen_s;   // caller's clock, seconds
  uint16_t sport;          // original orientation
  uint16_t dport;
  uint8_t proto;
  uint8_t state;           // ConnState; kFree for a free record
  uint8_t action;          // Action
  uint8_t flags;           // kConnFlag*
  uint32_t td_end[2];
  uint32_t td_maxend[2];
  uint32_t td_maxwin[2];
  uint8_t td_scale[2];
  uint8_t td_flags[2];
};
static_assert(sizeof(RecBody) == 88);

struct RecV4 {
  RecBody b;
  uint32_t src;  // host order, original orientation
  uint32_t dst;
};
static_assert(sizeof(RecV4) == 96, "IPv4 record must stay 96 bytes (memory budget)");

struct RecV6 {
  RecBody b;
  Ip src;
  Ip dst;
  uint64_t pad_;
};
static_assert(sizeof(RecV6) == 128, "IPv6 record must stay 128 bytes");

constexpr uint32_t kV6Bit = 0x80000000u;
constexpr uint32_t kNoNext = 0xffffffffu;
constexpr uint64_t kEmptySlot = ~0ull;

inline uint64_t Mum(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

constexpr uint64_t kK0 = 0xa0761d6478bd642full;
constexpr uint64_t kK1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kK2 = 0x8ebc6af09c88c6e3ull;
constexpr uint64_t kK3 = 0x589965cc75374cc3ull;

// Symmetric hash of a 5-tuple: both orientations give the same value.
inline uint64_t HashV4(uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, uint8_t proto,
                       uint64_t seed) {
  uint64_t a = (static_cast<uint64_t>(s) << 16) | sp;
  uint64_t b = (static_cast<uint64_t>(d) << 16) | dp;
  uint64_t lo = a < b ? a : b;
  uint64_t hi = a < b ? b : a;
  uint64_t h = Mum(lo ^ kK0 ^ seed, hi ^ kK1 ^ (static_cast<uint64_t>(proto) << 56));
  return Mum(h ^ kK2, seed ^ kK3 ^ 4);
}

inline uint64_t HashV6(const Ip& s, const Ip& d, uint16_t sp, uint16_t dp, uint8_t proto,
                       uint64_t seed) {
  bool swap = (d < s) || (d == s && dp < sp);
  const Ip& a = swap ? d : s;
  const Ip& b = swap ? s : d;
  uint16_t pa = swap ? dp : sp;
  uint16_t pb = swap ? sp : dp;
  uint64_t h = Mum(a.hi ^ kK0 ^ seed, a.lo ^ kK1);
  h = Mum(h ^ b.hi ^ kK2, b.lo ^ kK3);
  h = Mum(h ^ ((static_cast<uint64_t>(pa) << 32) | (static_cast<uint64_t>(pb) << 16) | proto),
          seed ^ kK1 ^ 6);
  return h;
}

// Lookup key of a packet in its own orientation, family-tagged.
struct LKey {
  uint8_t family = 0;
  uint8_t proto = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  Ip src;
  Ip dst;
};

inline uint64_t HashKey(const LKey& k, uint64_t seed) {
  if (k.family == 4) return HashV4(k.src.V4Addr(), k.dst.V4Addr(), k.sport, k.dport, k.proto, seed);
  return HashV6(k.src, k.dst, k.sport, k.dport, k.proto, seed);
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <class T>
using AlignedArray = std::unique_ptr<T[], FreeDeleter>;

// Zeroed, cache-line aligned. Large arrays are 2 MiB aligned and advised for transparent huge
// pages: a random lookup in a 100 MB table otherwise pays a TLB miss (page walk) per access.
template <class T>
AlignedArray<T> AllocArray(size_t n) {
  constexpr size_t kHuge = size_t{2} << 20;
  size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  const bool huge = bytes >= 2 * kHuge;
  if (huge) bytes = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(huge ? kHuge : 64, bytes);
  if (p == nullptr) std::abort();
  if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // best effort; failure only costs speed
  std::memset(p, 0, bytes);
  return AlignedArray<T>(static_cast<T*>(p));
}

// TCP tracking (tcp.cc).
enum TcpIndex : uint8_t { kSynSet, kSynAckSet, kFinSet, kAckSet, kRstSet, kNoneSet };
TcpIndex TcpFlagIndex(uint8_t flags);
bool TcpFlagsValid(uint8_t flags);
// Next state per Linux tcp_conntracks (dir 0 original, 1 reply); returns kTcpInvalidMarker or
// kTcpIgnoreMarker for sIV / sIG.
constexpr uint8_t kTcpInvalidMarker = 0xfe;
constexpr uint8_t kTcpIgnoreMarker = 0xff;
uint8_t TcpNextState(int dir, TcpIndex index, ConnState old_state);

// Initializes the TCP fields of a new record from its first packet (SYN or, loose, mid-stream).
void TcpInitNew(RecBody& b, const ParsedPacket& pkt, bool loose);
// Runs the state machine and window check for a packet of an existing TCP entry; on success
// updates b and returns kNone; on failure leaves b untouched and returns the reason. Sets
// *reopen when a SYN asks to reuse a TIME_WAIT/CLOSE connection (caller deletes and reports
// kNew).
CtInvalid TcpTrack(RecBody& b, const ParsedPacket& pkt, int dir, bool* reopen);

}  // namespace rampart::ct_internal

namespace rampart {

struct ConnTable::Impl {
  ConnTableOptions opt;
  uint64_t seed = 0;

  // Records per family, indices into these arrays; the index stores (h32 << 32 | ref).
  ct_internal::AlignedArray<ct_internal::RecV4> v4;
  ct_internal::AlignedArray<ct_internal::RecV6> v6;
  uint32_t cap4 = 0, cap6 = 0;  // allocated
  uint32_t hw4 = 0, hw6 = 0;    // high-water marks (records >= hw never used)
  uint32_t free4 = ct_internal::kNoNext, free6 = ct_internal::kNoNext;

  ct_internal::AlignedArray<uint64_t> slots;
  uint32_t nslots = 0;
  uint32_t index_limit = 0;  // entries allowed before the index grows (<= 2/3 of nslots)

  uint64_t size = 0;
  uint64_t sweep_cursor = 0;
  ConnTableStats stats;

  ct_internal::RecBody& Body(uint32_t ref) {
    return (ref & ct_internal::kV6Bit) ? v6[ref & ~ct_internal::kV6Bit].b : v4[ref].b;
  }
  const ct_internal::RecBody& Body(uint32_t ref) const {
    return (ref & ct_internal::kV6Bit) ? v6[ref & ~ct_internal::kV6Bit].b : v4[ref].b;
  }
  // True if h names an allocated, non-free record (stale handles are tolerated, not trusted).
  bool Live(uint32_t h) const {
    const bool v6h = h & ct_internal::kV6Bit;
    const uint32_t i = h & ~ct_internal::kV6Bit;
    if (v6h ? i >= hw6 : i >= hw4) return false;
    return Body(h).state != static_cast<uint8_t>(ConnState::kFree);
  }
  uint32_t Home(uint32_t h32) const {
    return static_cast<uint32_t>((static_cast<uint64_t>(h32) * nslots) >> 32);
  }
  // Returns 0 if rec does not match k, 1 if k is the original orientation, 2 if reversed.
  int MatchRef(uint32_t ref, const ct_internal::LKey& k) const;
  // Finds the slot position of k; returns -1 if absent. *orient as MatchRef.
  int64_t FindSlot(const ct_internal::LKey& k, uint32_t h32, int* orient) const;
  int64_t FindSlotOfRef(uint32_t ref) const;
  ct_internal::LKey KeyOfRef(uint32_t ref) const;
  uint64_t HashRef(uint32_t ref) const;
  bool Expired(const ct_internal::RecBody& b, uint64_t now_ns) const;
  void RemoveAtSlot(int64_t pos, bool release_budget, bool expired);
  void RemoveRef(uint32_t ref, bool release_budget, bool expired);
  // Allocates a record (growing if allowed); returns kNoNext when at the allocation limit.
  uint32_t AllocRecord(uint8_t family);
  void InsertIndex(uint32_t h32, uint32_t ref);
  bool EnsureIndexRoom();
  void RebuildIndex(uint32_t new_limit);
  size_t Sweep(uint64_t now_ns, size_t budget, bool stop_at_first);
  ConnInfo Decode(uint32_t ref) const;
};

// Hot lookup helpers, inline for the per-packet path.
__attribute__((always_inline)) inline int ConnTable::Impl::MatchRef(uint32_t ref, const ct_internal::LKey& k) const {
  if (ref & ct_internal::kV6Bit) {
    if (k.family != 6) return 0;
    const auto& r = v6[ref & ~ct_internal::kV6Bit];
    if (r.b.proto != k.proto) return 0;
    if (r.src == k.src && r.dst == k.dst && r.b.sport == k.sport && r.b.dport == k.dport) return 1;
    if (r.src == k.dst && r.dst == k.src && r.b.sport == k.dport && r.b.dport == k.sport) return 2;
    return 0;
  }
  if (k.family != 4) return 0;
  const auto& r = v4[ref];
  if (r.b.proto != k.proto) return 0;
  const uint32_t s = k.src.V4Addr(), d = k.dst.V4Addr();
  if (r.src == s && r.dst == d && r.b.sport == k.sport && r.b.dport == k.dport) return 1;
  if (r.src == d && r.dst == s && r.b.sport == k.dport && r.b.dport == k.sport) return 2;
  return 0;
}

inline int64_t ConnTable::Impl::FindSlot(const ct_internal::LKey& k, uint32_t h32, int* orient) const {
  uint32_t p = Home(h32);
  for (;;) {
    const uint64_t s = slots[p];
    if (s == ct_internal::kEmptySlot) return -1;
    if (static_cast<uint32_t>(s >> 32) == h32) {
      int m = MatchRef(static_cast<uint32_t>(s), k);
      if (m) {
        *orient = m;
        return p;
      }
    }
    if (++p == nslots) p = 0;
  }
}

inline bool ConnTable::Impl::Expired(const ct_internal::RecBody& b, uint64_t now_ns) const {
  return now_ns > b.last_seen_ns &&
         now_ns - b.last_seen_ns > opt.timeouts.ns[b.state];
}

}  // namespace rampart

#endif  // RAMPART_CONNTRACK_INTERNAL_H_
