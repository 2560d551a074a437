// Connection tracking: the connections of one (firewall instance, VM port).
//
// A ConnTable maps the 5-tuple of a packet (family, protocol, addresses, ports; for ICMP/ICMPv6
// echo the echo id stands in for both ports) to one entry per connection, whichever direction
// the packet travels. An entry holds the protocol state (the TCP state machine with sequence
// window tracking in the manner of Linux nf_conntrack_proto_tcp.c; UDP/ICMP/other
// pseudo-states), packet/byte counters each way, first/last-seen times, the verdict cache
// (rule id, action, rule-set generation: seed 001 FIG. 7) and a few flag bits.
// See docs/conntrack.md for the design, the TCP window rules, timeouts and the export format.
//
// Engine flow per packet (or per batch with TrackBatch):
//   TrackResult r = table.Track(pkt, dir, now_ns);
//   kEstablished -> use r.verdict (revalidate with UpdateVerdict if r.verdict.generation is
//                   not the current rule-set generation); kRelated -> ICMP error about r.handle;
//   kNew         -> classify, then table.Commit(pkt, dir, now_ns, verdict) (may be refused);
//   kInvalid     -> drop and count r.invalid; kUntracked -> classify statelessly.
//
// Time is always passed in (now_ns, any monotonic clock, e.g. pcap capture time); nothing in
// this library reads a clock. Expiry is lazy (an expired entry found by a lookup is removed and
// the packet treated as unknown) plus a bounded incremental sweep, Expire(now_ns, budget).
//
// Thread-safety: a ConnTable is owned by ONE packet worker at a time: every method, const or
// not, must be called from that worker (single writer, no locks inside). Control-plane
// operations (List, Delete, Flush, Export, Import) are run by the owning worker on behalf of
// the control thread, or while the worker is quiesced. rampart-fwd shards connections across
// workers by SymmetricFlowHash, which gives both directions of a connection (and ICMP errors
// about it) the same value. InstanceBudget is the only object shared between workers; it is
// updated with atomics.
//
// Data-plane methods (Track, TrackBatch, Commit, UpdateVerdict, Expire) do not throw, lock,
// log, or allocate, except when Commit grows the table (bounded: capacity doubles up to
// ConnTableOptions::max_connections; pass initial_capacity == max_connections to never grow).
#ifndef RAMPART_CONNTRACK_CONNTRACK_H_
#define RAMPART_CONNTRACK_CONNTRACK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip.h"
#include "packet/packet.h"
#include "policy/policy.h"

namespace rampart {

// Every reason Track/Commit reports a packet as invalid. Declared once; counters are named
// from this list (X(enum_name, "counter-name")).
#define RAMPART_CONNTRACK_INVALID(X)                                     \
  X(kNone, "none")                                                       \
  X(kUnparsed, "unparsed-packet")                                        \
  X(kTcpNoConnection, "tcp-no-connection")                               \
  X(kTcpBadFlags, "tcp-bad-flags")                                       \
  X(kTcpInvalidTransition, "tcp-invalid-transition")                     \
  X(kTcpSeqAboveWindow, "tcp-seq-above-window")                          \
  X(kTcpSeqBelowWindow, "tcp-seq-below-window")                          \
  X(kTcpAckUnsentData, "tcp-ack-unsent-data")                            \
  X(kTcpAckTooOld, "tcp-ack-too-old")                                    \
  X(kTcpRstOutOfWindow, "tcp-rst-out-of-window")                         \
  X(kTcpSynAckMismatch, "tcp-synack-ack-mismatch")                       \
  X(kIcmpEchoReplyNoRequest, "icmp-echo-reply-no-request")               \
  X(kIcmpEchoWrongDirection, "icmp-echo-request-from-responder")         \
  X(kIcmpErrorNoConnection, "icmp-error-no-connection")                  \
  X(kIcmpErrorTruncated, "icmp-error-truncated")                         \
  X(kNotNew, "commit-not-new")

enum class CtInvalid : uint8_t {
#define RAMPART_X(name, str) name,
  RAMPART_CONNTRACK_INVALID(RAMPART_X)
#undef RAMPART_X
      kCount
};
const char* CtInvalidName(CtInvalid r);

// Protocol state of an entry. TCP states follow Linux's tcp_conntracks; the others are
// pseudo-states. Each state has its own timeout (CtTimeouts).
#define RAMPART_CONN_STATES(X)          \
  X(kFree, "free")                      \
  X(kTcpSynSent, "SYN_SENT")            \
  X(kTcpSynRecv, "SYN_RECV")            \
  X(kTcpEstablished, "ESTABLISHED")     \
  X(kTcpFinWait, "FIN_WAIT")            \
  X(kTcpCloseWait, "CLOSE_WAIT")        \
  X(kTcpLastAck, "LAST_ACK")            \
  X(kTcpTimeWait, "TIME_WAIT")          \
  X(kTcpClose, "CLOSE")                 \
  X(kTcpSynSent2, "SYN_SENT2")          \
  X(kUdpUnreplied, "UDP_UNREPLIED")     \
  X(kUdpReplied, "UDP_REPLIED")         \
  X(kUdpAssured, "UDP_ASSURED")         \
  X(kIcmpUnreplied, "ICMP_UNREPLIED")   \
  X(kIcmpReplied, "ICMP_REPLIED")       \
  X(kOtherUnreplied, "OTHER_UNREPLIED") \
  X(kOtherReplied, "OTHER_REPLIED")

enum class ConnState : uint8_t {
#define RAMPART_X(name, str) name,
  RAMPART_CONN_STATES(RAMPART_X)
#undef RAMPART_X
      kCount
};
const char* ConnStateName(ConnState s);

// Idle timeouts per state, in nanoseconds of the caller's clock. Defaults: docs/conntrack.md.
struct CtTimeouts {
  uint64_t ns[static_cast<size_t>(ConnState::kCount)];
  CtTimeouts();  // the documented defaults
  uint64_t& operator[](ConnState s) { return ns[static_cast<size_t>(s)]; }
  uint64_t operator[](ConnState s) const { return ns[static_cast<size_t>(s)]; }
};

// The verdict cache of an entry: which rule decided the connection, its action, and the
// rule-set generation it was decided under (the low 32 bits of CompiledPolicy::generation).
struct CtVerdict {
  uint32_t rule_id = 0;
  Action action = Action::kDrop;
  uint32_t generation = 0;
  friend bool operator==(const CtVerdict&, const CtVerdict&) = default;
};

// Entry flag bits (ConnInfo::flags).
constexpr uint8_t kConnFlagLogged = 0x01;       // the engine logged this connection
constexpr uint8_t kConnFlagLoosePickup = 0x02;  // created mid-stream (loose_pickup)
constexpr uint8_t kConnFlagImported = 0x04;     // came from Import; verdict must be revalidated
constexpr uint8_t kConnFlagOrigToVm = 0x08;     // the original direction was Direction::kToVm
constexpr uint8_t kConnFlagUserMask = 0xf0;     // free for the engine (SetUserFlags)

// Opaque reference to an entry. Stays valid across inserts, table growth and the removal of
// other entries; only the entry's own removal (expiry, Delete, Flush, Import replacing it)
// invalidates it, after which the number may be reused for another entry.
using ConnHandle = uint32_t;
constexpr ConnHandle kNoConn = 0xffffffffu;

enum class ConnSide : uint8_t {
  kOriginal = 0,  // sent by the initiator
  kReply = 1,
};

enum class TrackKind : uint8_t {
  kEstablished = 0,  // belongs to a tracked connection and is valid in its state (any state,
                     // e.g. a retransmitted SYN); the entry has been updated with it
  kNew = 1,          // no entry: classify and Commit to create one
  kRelated = 2,      // ICMP/ICMPv6 error about the tracked connection `handle`. The inner
                     // header is a packet of that connection sent by the error's receiver, so
                     // the error travels the opposite way: `side` is the side the error
                     // travels like (inner = original packet -> side kReply, and vice versa)
  kInvalid = 3,      // drop; `invalid` says why; no state was changed
  kUntracked = 4,    // not tracked (later fragment, ICMP informational/ND, ...): classify per packet
};

struct TrackResult {
  TrackKind kind = TrackKind::kInvalid;
  CtInvalid invalid = CtInvalid::kNone;
  ConnSide side = ConnSide::kOriginal;  // kEstablished/kRelated: the side the packet is from
  ConnState state = ConnState::kFree;   // the entry's state after this packet
  ConnHandle handle = kNoConn;          // kEstablished/kRelated
  CtVerdict verdict;                    // kEstablished/kRelated: the entry's cached verdict
  bool imported = false;                // the entry came from Import and its verdict has not
                                        // been revalidated here yet (kConnFlagImported): the
                                        // generation is another host's, re-classify
};

enum class CommitStatus : uint8_t {
  kCreated = 0,       // new entry made from this first packet
  kExists = 1,        // a live entry for this connection already exists (handle = it); unchanged
  kTableFull = 2,     // per-table limit reached and no expired entry to reclaim: refused
  kInstanceFull = 3,  // the shared InstanceBudget is exhausted: refused
  kNotNew = 4,        // this packet cannot start a connection (invalid says why): refused
};
const char* CommitStatusName(CommitStatus s);

struct CommitResult {
  CommitStatus status = CommitStatus::kNotNew;
  CtInvalid invalid = CtInvalid::kNone;
  ConnHandle handle = kNoConn;
};

// Per-instance connection budget shared by the tables of one firewall instance (possibly on
// several workers: atomic, lock-free). Must outlive every table that points to it.
class InstanceBudget {
 public:
  explicit InstanceBudget(uint64_t max_connections) : max_(max_connections) {}
  bool TryAcquire(uint64_t n = 1);
  void Release(uint64_t n = 1) { used_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t max() const { return max_; }

 private:
  const uint64_t max_;
  std::atomic<uint64_t> used_{0};
};

struct ConnTableOptions {
  uint32_t max_connections = 65536;  // per-table limit (per VM); at most 2^30
  uint32_t initial_capacity = 1024;  // records allocated up front (rounded up, <= max)
  bool loose_pickup = false;         // TCP: let a mid-stream segment create an entry
  CtTimeouts timeouts;
  InstanceBudget* instance_budget = nullptr;  // not owned; optional
  uint64_t hash_seed = 0x9e3779b97f4a7c15ull;  // per-table seed against hash flooding
};

// A connection's key in its original (initiator -> responder) orientation.
struct ConnKey {
  uint8_t family = 4;  // 4 or 6
  uint8_t proto = 0;
  Ip src;
  Ip dst;
  uint16_t sport = 0;  // ICMP echo: the echo id in both ports; other protocols: 0
  uint16_t dport = 0;
  friend bool operator==(const ConnKey&, const ConnKey&) = default;
  std::string ToString() const;
};

// TCP window tracking data of one direction (Linux ip_ct_tcp_state).
struct TcpWindow {
  uint32_t end = 0;     // max of seq + len sent
  uint32_t maxend = 0;  // max of ack + max(win, 1) received from the peer
  uint32_t maxwin = 0;  // max window advertised (scaled)
  uint8_t scale = 0;    // window scale factor of this sender
  uint8_t flags = 0;    // kTcpWin* bits
  friend bool operator==(const TcpWindow&, const TcpWindow&) = default;
};
constexpr uint8_t kTcpWinScaleSet = 0x01;   // sender sent a window-scale option
constexpr uint8_t kTcpWinSackPerm = 0x02;   // sender sent SACK-permitted
constexpr uint8_t kTcpWinCloseInit = 0x04;  // sender sent FIN/RST (Linux CLOSE_INIT)
constexpr uint8_t kTcpWinBeLiberal = 0x08;  // window unknown (loose pickup): accept, learn
constexpr uint8_t kTcpWinDataUnacked = 0x10;

// Everything about one entry, decoded (control plane; also what Export/Import carry).
struct ConnInfo {
  ConnKey key;
  ConnState state = ConnState::kFree;
  uint8_t flags = 0;
  CtVerdict verdict;
  uint64_t first_seen_ns = 0;  // second resolution (stored as seconds)
  uint64_t last_seen_ns = 0;
  uint64_t packets[2] = {};  // [ConnSide]
  uint64_t bytes[2] = {};    // IP bytes (l3_len) [ConnSide]
  TcpWindow tcp[2];          // [ConnSide], TCP only
  friend bool operator==(const ConnInfo&, const ConnInfo&) = default;
};

// Control-plane filter; an unset field matches everything. Fields apply to the original
// orientation unless either_direction is set (then the reversed key may match instead).
struct ConnFilter {
  std::optional<uint8_t> family;
  std::optional<uint8_t> proto;
  std::optional<Prefix> src;
  std::optional<Prefix> dst;
  std::optional<uint16_t> sport;
  std::optional<uint16_t> dport;
  bool either_direction = false;
  bool Matches(const ConnKey& k) const;
};

struct ConnTableStats {
  uint64_t connections = 0;
  uint64_t capacity = 0;         // records allocated
  uint64_t max_connections = 0;
  uint64_t index_slots = 0;
  uint64_t memory_bytes = 0;     // records + index
  uint64_t created = 0;
  uint64_t expired = 0;          // removed by timeout (lazily or by Expire)
  uint64_t deleted = 0;          // removed by Delete/Flush/TIME_WAIT reopen
  uint64_t refused_table_full = 0;
  uint64_t refused_instance_full = 0;
  uint64_t invalid[static_cast<size_t>(CtInvalid::kCount)] = {};
};

struct ImportStats {
  uint64_t imported = 0;  // entries in the blob
  uint64_t replaced = 0;  // of which replaced an existing entry with the same key
};

class ConnTable {
 public:
  static absl::StatusOr<std::unique_ptr<ConnTable>> Create(const ConnTableOptions& options);
  ~ConnTable();
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;

  // ---- data plane ----
  TrackResult Track(const ParsedPacket& pkt, Direction dir, uint64_t now_ns);
  // Same as Track on each packet in order, with hashing and prefetching done across the batch.
  void TrackBatch(const ParsedPacket* const* pkts, const Direction* dirs, size_t n,
                  uint64_t now_ns, TrackResult* out);
  // Creates the entry for a packet Track reported kNew, with the verdict the rules gave.
  CommitResult Commit(const ParsedPacket& pkt, Direction dir, uint64_t now_ns,
                      const CtVerdict& verdict);
  // Revalidation: the engine re-classified an entry under a new rule set. Clears Imported.
  // A handle whose entry is gone (or kNoConn) is ignored; a handle whose number was reused
  // by a newer entry would update that entry, so don't keep handles across other packets.
  void UpdateVerdict(ConnHandle h, const CtVerdict& verdict);
  // Sets/clears flag bits kConnFlagLogged and kConnFlagUserMask (stale handle: ignored).
  void SetFlags(ConnHandle h, uint8_t set, uint8_t clear);
  // Examines at most `budget` records from a rotating cursor, removes expired ones; returns
  // how many were removed.
  size_t Expire(uint64_t now_ns, size_t budget);

  // Lookup only (no state change, no expiry): the entry for this packet's connection.
  std::optional<ConnHandle> Find(const ConnKey& key, ConnSide* side = nullptr) const;
  // Verdict and decoded entry of a live handle (default values for a stale one).
  CtVerdict Verdict(ConnHandle h) const;
  ConnInfo Info(ConnHandle h) const;

  // ---- control plane ----
  void ForEach(const ConnFilter& filter,
               const std::function<void(ConnHandle, const ConnInfo&)>& fn) const;
  std::vector<ConnInfo> List(const ConnFilter& filter, size_t limit = SIZE_MAX) const;
  bool Delete(const ConnKey& key);  // either orientation; false if absent
  size_t DeleteMatching(const ConnFilter& filter);
  void Flush();
  size_t Size() const;
  ConnTableStats Stats() const;
  const ConnTableOptions& options() const;
  // Changes timeouts / loose_pickup of a live table (applies to existing entries at once).
  void SetTimeouts(const CtTimeouts& t);

  // Versioned, checksummed binary snapshot of every entry (format: docs/conntrack.md).
  // Times are stored as ages relative to now_ns.
  std::vector<uint8_t> Export(uint64_t now_ns) const;
  // Imports an Export blob, ages rebased on now_ns. On any error (magic, version, length,
  // checksum, record contents, not enough room under the limits) returns InvalidArgument /
  // ResourceExhausted and imports nothing. An imported entry replaces a local entry with the
  // same connection. Imported entries carry kConnFlagImported (verdict must be revalidated).
  absl::StatusOr<ImportStats> Import(std::span<const uint8_t> blob, uint64_t now_ns);

  // The key of the connection this packet belongs to in the packet's own orientation
  // (ICMP echo: id in both ports); nullopt for packets that are never tracked.
  static std::optional<ConnKey> PacketKey(const ParsedPacket& pkt);

  struct Impl;

 private:
  explicit ConnTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Same value for both directions of a connection, and for an ICMP/ICMPv6 error carrying that
// connection's header; independent of any table seed. Later fragments (no L4) hash on the
// addresses and protocol only. Used to pick a worker: SymmetricFlowHash(p) % workers.
uint64_t SymmetricFlowHash(const ParsedPacket& pkt);

}  // namespace rampart

#endif  // RAMPART_CONNTRACK_CONNTRACK_H_
