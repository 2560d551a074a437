// The physical stage: see physical_stage.h and docs/physical-stage.md.
//
// Shape of one Apply:
//   1. mirror: the topology input tables the physical stage needs (Host, Router, RouterPort, Port,
//      PortHost, Firewall, VnicPolicy), kept up to date from their Topo* copies in the delta;
//   2. fallible part (every mutation logs an undo step): host declarations, logical port names
//      per datapath (reference counted: Port, RouterPort, Firewall, vNIC policy x member x port),
//      datapath span (DpHost: Datapath and PortKey rows, Host peers), VmPort rows, instances and
//      slices; numbers are acquired/released in allocators whose frees are deferred to the end
//      of the batch (so a thing removed and re-added in one batch keeps its number);
//   3. the allocation changes go to the store in one Txn; on any error the undo log runs;
//   4. infallible part: the 1:1 rows (host-specific Flow rows from PFlow, FwPort, Service) straight from
//      the delta;
//   5. per-host deltas from the touched rows and the fan-out, each with the host's next revision.
//
// Fan-out: a datapath's flows (LFlow) and an instance's rules and group addresses (InstRule,
// InstGroupAddr) are held once, compact, under the datapath / instance ("bags"), not once per
// host: a host's share of them is the join with the datapath's hosts (DpHost) / the instance's
// hosts (FwInstance), done here when a delta or a snapshot is built. Per datapath/instance, with
// L the rows and H the hosts before (old) and after (new) one Apply, the change of L x H is,
// without any pair counted twice:
//   - a deleted row leaves every host of H_old;
//   - a host that left (joined) loses (gets) the rows of L_old and L_new both;
//   - an inserted row reaches every host of H_new.
// Step 2 only records which hosts joined or left; step 4 (infallible) updates the bags and emits.

#include "controller/physical/physical_stage.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rampart::controller {
namespace {

using nlog::Row;
using records::Record;

struct RowCmp {
  bool operator()(const Row& a, const Row& b) const { return nlog::RowLess(a, b); }
};
using RowSet = std::set<Row, RowCmp>;

std::string S(const nlog::Value& v) { return v.ToString(); }

// Input tables mirrored (their rows are needed beyond what the outputs carry); their changes
// arrive as the program's Topo<Table> output copies.
constexpr const char* kMirrored[] = {"Host", "Router", "RouterPort", "Port", "PortHost", "Firewall", "VnicPolicy"};

enum Domain : int { kDp = 0, kPortKey, kTag, kInst, kEport, kDomains };
constexpr const char* kDomainName[kDomains] = {"dp", "port", "tag", "inst", "eport"};
constexpr int kScopeParts[kDomains] = {0, 2, 1, 1, 1};
constexpr int kKeyParts[kDomains] = {2, 1, 4, 2, 2};  // (t, dp) | name | (t, inst, side, dir) | (t, inst) | (t, port)
constexpr const char* kDomainWhat[kDomains] = {"datapath key", "logical port key", "slice tag",
                                               "engine instance id", "engine port id"};

// Parts are joined with \x1f inside the process; the store key escapes each part.
constexpr char kSep = '\x1f';
std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) out.emplace_back(); else out.back().push_back(c);
  }
  return out;
}
std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.push_back(sep);
    out += parts[i];
  }
  return out;
}
std::string J(std::initializer_list<std::string> parts) { return Join(std::vector<std::string>(parts), kSep); }

std::string Escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* kHex = "0123456789ABCDEF";
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (out.empty()) out.push_back('%');  // an empty part (distinguishable from no part)
  return out;
}
std::optional<std::string> Unescape(const std::string& s) {
  if (s == "%") return std::string();
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}
std::string EscapeJoined(const std::string& joined) {
  std::vector<std::string> parts;
  for (const std::string& p : Split(joined, kSep)) parts.push_back(Escape(p));
  return Join(parts, '/');
}

std::string StoreKey(int domain, const std::string& scope, const std::string& key) {
  std::string k = absl::StrCat(kAllocPrefix, kDomainName[domain], "/");
  if (kScopeParts[domain] > 0) absl::StrAppend(&k, EscapeJoined(scope), "/");
  absl::StrAppend(&k, EscapeJoined(key));
  return k;
}

// Human-readable key for errors ("A/fw attach from-vm").
std::string Readable(const std::string& joined) {
  std::vector<std::string> parts = Split(joined, kSep);
  if (parts.size() >= 2) {
    std::string out = parts[0] + "/" + parts[1];
    for (size_t i = 2; i < parts.size(); ++i) out += " " + parts[i];
    return out;
  }
  return joined;
}

struct Allocator {
  uint32_t hi = 0;  // numbers are 1..hi
  std::map<std::string, uint32_t> by_key;
  std::map<uint32_t, std::string> by_num;
  uint32_t cursor = 0;  // last number handed out: the next search starts after it (round robin)

  // The first free number after the cursor (wrapping), or 0 if all are taken.
  uint32_t FindFree() const {
    if (by_num.size() >= hi) return 0;
    auto probe = [&](uint32_t from, uint32_t to) -> uint32_t {  // first gap in [from, to]
      uint32_t want = from;
      for (auto it = by_num.lower_bound(from); it != by_num.end() && it->first <= to; ++it) {
        if (it->first != want) return want;
        if (want == to) return 0;
        ++want;
      }
      return want <= to ? want : 0;
    };
    if (cursor < hi) {
      if (uint32_t n = probe(cursor + 1, hi)) return n;
    }
    return probe(1, std::min(cursor, hi));
  }
};

// A host row in compact form: interned table name and values (kNone past the last column).
// Flow rows are most of a host's share and their strings repeat across hosts, so rows hold ids.
constexpr uint32_t kNone = 0xffffffffu;
constexpr size_t kMaxCols = 7;  // Slice, the widest table
struct CRow {
  std::array<uint32_t, kMaxCols + 1> v;
  bool operator==(const CRow& o) const { return v == o.v; }
  template <typename H>
  friend H AbslHashValue(H h, const CRow& r) {
    return H::combine_contiguous(std::move(h), r.v.data(), r.v.size());
  }
};
using HostRows = absl::flat_hash_map<CRow, int>;
using RowBag = absl::flat_hash_set<CRow>;
using NamePair = std::pair<std::string, std::string>;

// Process-local string interner for the compact rows (ids are never reused).
class Interner {
 public:
  uint32_t Id(const std::string& s) {
    auto [it, fresh] = ids_.try_emplace(s, static_cast<uint32_t>(strings_.size()));
    if (fresh) strings_.push_back(s);
    return it->second;
  }
  // nlog values: strings by their interned id, others by content (no text built on a hit).
  uint32_t Id(const nlog::Value& v) {
    auto it = values_.find(v);
    if (it != values_.end()) return it->second;
    uint32_t id = Id(v.ToString());
    values_.emplace(v, id);
    return id;
  }
  const std::string& Str(uint32_t id) const { return strings_[id]; }

 private:
  std::vector<std::string> strings_;
  absl::flat_hash_map<std::string, uint32_t> ids_;
  absl::flat_hash_map<nlog::Value, uint32_t> values_;
};

}  // namespace

struct PhysicalStage::State {
  // ---- mirrors of input tables
  std::map<std::string, RowSet> mirror;
  bool mirrored = false;

  // ---- derived indexes (tuples of strings; prefix iteration by lower_bound)
  std::map<std::string, std::string> underlay;                          // host -> underlay
  // (target, holder) -> datapaths they share, by interned host name; holders by target.
  absl::flat_hash_map<std::pair<uint32_t, uint32_t>, int> peers;
  absl::flat_hash_map<uint32_t, absl::flat_hash_set<uint32_t>> holders_of;
  std::map<std::tuple<std::string, std::string, std::string>, int> names;  // (t, dp, name) -> refs
  std::set<std::tuple<std::string, std::string, std::string>> dp_hosts;  // (t, dp, host)
  std::map<std::pair<std::string, std::string>, int> dp_refs;          // (t, dp) -> hosts
  std::map<std::pair<std::string, std::string>, std::string> dp_kind;  // (t, dp) -> kind as emitted
  std::set<std::tuple<std::string, std::string, std::string>> vnic_members;  // (t, V, P)
  std::set<std::tuple<std::string, std::string, std::string>> vnic_by_port;  // (t, P, V)
  std::map<std::tuple<std::string, std::string, std::string>, std::string> vnic_on;  // (t,P,V) -> sw
  std::map<std::pair<std::string, std::string>, std::pair<std::string, Record>> vm_rows;  // (t,P) -> (h, VmPort)
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::string, std::string>> inst;  // (h,t,i) -> (kind, default)
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> slices;  // (h,t,i,side) -> kind
  std::map<std::tuple<std::string, std::string, std::string>, int> eport_refs;  // (h, t, P)
  std::map<std::tuple<std::string, std::string, std::string>, std::set<Record>> slice_rows;  // (h,t,i)
  std::set<std::tuple<std::string, std::string, std::string>> host_dps;    // (h, t, dp)
  std::set<std::tuple<std::string, std::string, std::string>> inst_hosts;  // (t, i, h)

  // ---- fan-out rows, held once (node map: the sets stay put while the undo log points at them)
  absl::node_hash_map<NamePair, RowBag> dp_flows;   // (t, dp) -> Flow rows (from LFlow)
  absl::node_hash_map<NamePair, RowBag> inst_rows;  // (t, inst) -> FwRule and FwGroup rows
  // host -> its Service rows (from ServiceHost, 1:1). Kept apart from the compact rows: a
  // Service row has 8 values, one more than a CRow holds, and widening every CRow for a table
  // of a few rows per host would cost every Flow row 4 bytes.
  std::map<std::string, std::set<Record>> services;

  // ---- allocations: per domain, scope -> allocator ("" for the global datapath keys)
  std::map<std::string, Allocator> alloc[kDomains];
  // Loaded from the store and not yet claimed by an Apply: freed after the first Apply.
  std::set<std::tuple<int, std::string, std::string>> unclaimed;
  bool claim_pending = false;

  // ---- host rows (reference counted, compact) and revisions
  Interner strings;
  std::map<std::string, HostRows> rows;
  std::map<std::string, uint64_t> revision;

  // ---- batch (one Apply)
  std::vector<std::function<void()>> undo;
  // Typed undo logs of the two busiest structures (a first computation touches millions of
  // rows; a std::function with captures each would allocate). Independent of `undo`: they touch
  // nothing else, so each is replayed backwards on its own.
  std::vector<std::tuple<HostRows*, CRow, int>> row_undo;       // (host rows, row, count before)
  std::vector<std::tuple<uint32_t, uint32_t, int>> peer_undo;   // (target, holder, refs before)
  absl::flat_hash_map<std::pair<HostRows*, CRow>, bool> touched;  // -> present before the batch
  absl::flat_hash_map<const HostRows*, const std::string*> host_of;  // touched rows' host names
  std::map<std::tuple<int, std::string, std::string>, std::optional<uint32_t>> alloc_before;
  std::set<std::tuple<int, std::string, std::string>> pending_free;
  std::set<std::tuple<std::string, std::string, std::string>> dirty_slices;  // (h, t, i)
  std::set<std::pair<std::string, std::string>> dirty_vm;                    // (t, P)
  // Hosts that joined (+1) or left (-1) a datapath / an instance in this batch.
  std::vector<std::tuple<NamePair, std::string, int>> dp_moves, inst_moves;
  // Datapath and PortKey rows that came (+1) or went (-1) from a datapath's bag in this batch.
  std::vector<std::tuple<NamePair, CRow, int>> dp_rows;
  uint32_t flow_table_id = kNone;  // interned "Flow"
  PhysicalOptions opt;

  // ---- snapshot encoding cache (SnapshotEncoded): each bag's rows in the stream's wire form,
  // filled by snapshot threads on first use (under the mutex), dropped by FanOut when the bag
  // changes or goes (pointers into a node map: stable while the bag exists).
  struct EncodedBag {
    records::EncodedRows plain;  // rows every host of the bag gets
    // Flows whose whole action is a tunnel to a host: that host does not get them (ToSelf).
    std::vector<std::pair<std::string, records::EncodedRows>> to;
    size_t MemoryBytes() const {
      size_t n = sizeof(*this) + plain.MemoryBytes() + to.capacity() * sizeof(to[0]);
      for (const auto& [t, rows] : to) n += t.capacity() + rows.MemoryBytes();
      return n;
    }
  };
  mutable std::mutex bag_cache_mu;
  mutable absl::flat_hash_map<const RowBag*, std::shared_ptr<const EncodedBag>> bag_cache;
  void ForgetBag(const RowBag* b) {
    std::lock_guard<std::mutex> l(bag_cache_mu);
    bag_cache.erase(b);
  }
  void EncodeRow(const CRow& r, records::EncodedRows* out) const {
    std::array<std::string_view, kMaxCols> v;
    size_t n = 0;
    for (size_t i = 1; i < r.v.size() && r.v[i] != kNone; ++i) v[n++] = strings.Str(r.v[i]);
    out->Add(strings.Str(r.v[0]), v.data(), n);
  }
  std::shared_ptr<const EncodedBag> Encoded(const RowBag& bag) const {
    {
      std::lock_guard<std::mutex> l(bag_cache_mu);
      if (auto it = bag_cache.find(&bag); it != bag_cache.end()) return it->second;
    }
    // Built outside the lock (other threads encode other bags meanwhile); two threads that
    // miss the same bag both build it and the first one's copy is kept.
    auto e = std::make_shared<EncodedBag>();
    absl::flat_hash_map<std::string_view, size_t> target_index;
    for (const CRow& r : bag) {
      std::string_view t = TunnelTarget(r);
      if (t.empty()) {
        EncodeRow(r, &e->plain);
        continue;
      }
      auto [it, fresh] = target_index.try_emplace(t, e->to.size());
      if (fresh) e->to.emplace_back(std::string(t), records::EncodedRows());
      EncodeRow(r, &e->to[it->second].second);
    }
    std::lock_guard<std::mutex> l(bag_cache_mu);
    return bag_cache.try_emplace(&bag, std::move(e)).first->second;
  }

  // ================================================================= primitives (with undo)

  CRow ToC(const Record& r) {
    CRow c;
    c.v.fill(kNone);
    c.v[0] = strings.Id(r.table);
    for (size_t i = 0; i < r.values.size() && i < kMaxCols; ++i) c.v[i + 1] = strings.Id(r.values[i]);
    return c;
  }
  // An nlog output row as the record `table_id` (an interned name), without column `skip_col`
  // (a host column the record does not carry).
  CRow ToC(uint32_t table_id, const Row& r, size_t skip_col = SIZE_MAX) {
    CRow c;
    c.v.fill(kNone);
    c.v[0] = table_id;
    size_t j = 1;
    for (size_t col = 0; col < r.size() && j <= kMaxCols; ++col) {
      if (col != skip_col) c.v[j++] = strings.Id(r[col]);
    }
    return c;
  }
  Record FromC(const CRow& c) const {
    Record r{strings.Str(c.v[0]), {}};
    for (size_t i = 1; i < c.v.size() && c.v[i] != kNone; ++i) r.values.push_back(strings.Str(c.v[i]));
    return r;
  }

  // The host's rows (created empty if needed; std::map nodes stay put, so the pointer is stable
  // until the end-of-Apply cleanup).
  HostRows& RowsOf(const std::string& h) {
    auto it = rows.try_emplace(h).first;
    host_of.try_emplace(&it->second, &it->first);
    return it->second;
  }
  void AddRow(const std::string& h, const Record& rec, int d) { AddRow(RowsOf(h), ToC(rec), d); }
  void AddRow(HostRows& m, const CRow& r, int d) {
    auto it = m.find(r);
    int old = it == m.end() ? 0 : it->second;
    touched.emplace(std::make_pair(&m, r), old > 0);
    int now = old + d;
    if (now <= 0) {
      if (it != m.end()) m.erase(it);
    } else if (it == m.end()) {
      m.emplace(r, now);
    } else {
      it->second = now;
    }
    row_undo.emplace_back(&m, r, old);
  }

  template <class M, class K>
  int Bump(M& m, const K& k, int d) {
    auto it = m.find(k);
    int old = it == m.end() ? 0 : it->second;
    int now = old + d;
    if (now == 0) {
      if (it != m.end()) m.erase(it);
    } else {
      m[k] = now;
    }
    undo.push_back([&m, k, old] {
      if (old == 0) m.erase(k); else m[k] = old;
    });
    return now;
  }

  template <class C, class K>
  bool SetInsert(C& c, const K& k) {
    if (!c.insert(k).second) return false;
    undo.push_back([&c, k] { c.erase(k); });
    return true;
  }
  template <class C, class K>
  bool SetErase(C& c, const K& k) {
    if (!c.erase(k)) return false;
    undo.push_back([&c, k] { c.insert(k); });
    return true;
  }
  template <class M, class K, class V>
  void MapSet(M& m, const K& k, std::optional<V> v) {
    std::optional<V> old;
    if (auto it = m.find(k); it != m.end()) old = it->second;
    if (v) m[k] = *v; else m.erase(k);
    undo.push_back([&m, k, old] {
      if (old) m[k] = *old; else m.erase(k);
    });
  }

  Allocator& Alloc(int domain, const std::string& scope) {
    auto it = alloc[domain].find(scope);
    if (it != alloc[domain].end()) return it->second;
    Allocator a;
    a.hi = domain == kDp ? opt.max_datapath_key
         : domain == kPortKey ? opt.max_port_key
         : domain == kTag ? opt.max_tag
         : domain == kInst ? opt.max_instance_id : opt.max_engine_port;
    return alloc[domain].emplace(scope, std::move(a)).first->second;
  }
  void NoteBefore(int domain, const std::string& scope, const std::string& key) {
    auto id = std::make_tuple(domain, scope, key);
    if (alloc_before.count(id)) return;
    std::optional<uint32_t> before;
    auto& a = Alloc(domain, scope);
    if (auto it = a.by_key.find(key); it != a.by_key.end()) before = it->second;
    alloc_before.emplace(id, before);
  }
  void Assign(int domain, const std::string& scope, const std::string& key, uint32_t n) {
    NoteBefore(domain, scope, key);
    auto& a = Alloc(domain, scope);
    a.by_key[key] = n;
    a.by_num[n] = key;
    undo.push_back([this, domain, scope, key, n] {
      auto& aa = Alloc(domain, scope);
      aa.by_key.erase(key);
      aa.by_num.erase(n);
    });
  }
  void Unassign(int domain, const std::string& scope, const std::string& key) {
    NoteBefore(domain, scope, key);
    auto& a = Alloc(domain, scope);
    auto it = a.by_key.find(key);
    if (it == a.by_key.end()) return;
    uint32_t n = it->second;
    a.by_key.erase(it);
    a.by_num.erase(n);
    undo.push_back([this, domain, scope, key, n] {
      auto& aa = Alloc(domain, scope);
      aa.by_key[key] = n;
      aa.by_num[n] = key;
    });
  }

  // The number of `key`: kept if it has one (also when released earlier in this batch),
  // else the next free one; when none is free, one released in this batch is taken over.
  absl::StatusOr<uint32_t> Acquire(int domain, const std::string& scope, const std::string& key,
                                   const std::string& where) {
    auto id = std::make_tuple(domain, scope, key);
    pending_free.erase(id);  // batch-local: no undo needed
    if (claim_pending && unclaimed.count(id)) SetErase(unclaimed, id);
    auto& a = Alloc(domain, scope);
    if (auto it = a.by_key.find(key); it != a.by_key.end()) return it->second;
    uint32_t n = a.FindFree();
    if (n == 0) {
      // Take over a number released in this batch by another key of the same allocator.
      for (auto it = pending_free.begin(); it != pending_free.end(); ++it) {
        if (std::get<0>(*it) != domain || std::get<1>(*it) != scope) continue;
        auto other = *it;
        pending_free.erase(it);
        auto& aa = Alloc(domain, scope);
        n = aa.by_key.at(std::get<2>(other));
        Unassign(domain, scope, std::get<2>(other));
        break;
      }
    }
    if (n == 0) {
      return absl::ResourceExhaustedError(absl::StrCat(where, ": no free ", kDomainWhat[domain], " (all ",
                                                       a.hi, " in use) for ", Readable(key)));
    }
    Assign(domain, scope, key, n);
    uint32_t old_cursor = a.cursor;
    a.cursor = n;
    undo.push_back([this, domain, scope, old_cursor] { Alloc(domain, scope).cursor = old_cursor; });
    return n;
  }
  void Release(int domain, const std::string& scope, const std::string& key) {
    pending_free.insert(std::make_tuple(domain, scope, key));
  }
  uint32_t NumberOf(int domain, const std::string& scope, const std::string& key) const {
    auto it = alloc[domain].find(scope);
    if (it == alloc[domain].end()) return 0;
    auto k = it->second.by_key.find(key);
    return k == it->second.by_key.end() ? 0 : k->second;
  }

  // ================================================================= Host rows (peers)

  void SetUnderlay(const std::string& target, const std::optional<std::string>& u) {
    std::optional<std::string> old;
    if (auto it = underlay.find(target); it != underlay.end()) old = it->second;
    if (old == u) return;
    if (auto hs = holders_of.find(strings.Id(target)); hs != holders_of.end()) {
      for (uint32_t holder : hs->second) {
        if (old) AddRow(strings.Str(holder), Record{"Host", {target, *old}}, -1);
        if (u) AddRow(strings.Str(holder), Record{"Host", {target, *u}}, +1);
      }
    }
    MapSet(underlay, target, u);
  }
  void PeerRef(const std::string& holder, const std::string& target, int d) {
    const uint32_t t = strings.Id(target), h = strings.Id(holder);
    auto [it, fresh] = peers.try_emplace({t, h}, 0);
    const int old = it->second, now = old + d;
    peer_undo.emplace_back(t, h, old);
    if (now == 0) {
      peers.erase(it);
      holders_of[t].erase(h);
    } else {
      it->second = now;
      if (old == 0) holders_of[t].insert(h);
    }
    if ((old > 0) == (now > 0)) return;
    auto u = underlay.find(target);
    if (u == underlay.end()) return;
    AddRow(holder, Record{"Host", {target, u->second}}, now > 0 ? +1 : -1);
  }

  // ================================================================= names and datapaths

  absl::Status NameRef(const std::string& t, const std::string& dp, const std::string& name, int d) {
    int now = Bump(names, std::make_tuple(t, dp, name), d);
    int old = now - d;
    if ((old > 0) == (now > 0)) return absl::OkStatus();
    std::string scope = J({t, dp});
    uint32_t key = 0;
    if (now > 0) {
      auto k = Acquire(kPortKey, scope, name, absl::StrCat("datapath ", t, "/", dp));
      if (!k.ok()) return k.status();
      key = *k;
    } else {
      key = NumberOf(kPortKey, scope, name);
      Release(kPortKey, scope, name);
    }
    // Sent to every host of the datapath: a row of the datapath's bag (step 4).
    dp_rows.emplace_back(NamePair{t, dp}, ToC(Record{"PortKey", {t, dp, name, std::to_string(key)}}), now > 0 ? +1 : -1);
    return absl::OkStatus();
  }

  // Host h starts (d=+1) or stops (d=-1) running datapath (t, dp).
  absl::Status DpHostChange(const std::string& t, const std::string& dp, const std::string& h, int d,
                            bool is_router) {
    auto dk = std::make_pair(t, dp);
    if (d < 0 && !dp_hosts.count({t, dp, h})) return absl::OkStatus();
    if (d > 0 && dp_hosts.count({t, dp, h})) return absl::OkStatus();
    if (d < 0) {
      SetErase(dp_hosts, std::make_tuple(t, dp, h));
      SetErase(host_dps, std::make_tuple(h, t, dp));
    }
    dp_moves.emplace_back(dk, h, d);
    // Peers: every other host of the datapath.
    for (auto it = dp_hosts.lower_bound({t, dp, ""});
         it != dp_hosts.end() && std::get<0>(*it) == t && std::get<1>(*it) == dp; ++it) {
      const std::string& x = std::get<2>(*it);
      if (x == h) continue;
      PeerRef(h, x, d);
      PeerRef(x, h, d);
    }
    if (d > 0) {
      SetInsert(dp_hosts, std::make_tuple(t, dp, h));
      SetInsert(host_dps, std::make_tuple(h, t, dp));
    }
    std::string scope = J({t, dp});
    int now = Bump(dp_refs, dk, d);
    uint32_t key;
    std::string kind;
    if (d > 0) {
      auto k = Acquire(kDp, "", J({t, dp}), absl::StrCat("host ", h));
      if (!k.ok()) return k.status();
      key = *k;
      if (now == 1) MapSet(dp_kind, dk, std::optional<std::string>(is_router ? "router" : "switch"));
      kind = dp_kind.at(dk);
    } else {
      key = NumberOf(kDp, "", J({t, dp}));
      kind = dp_kind.at(dk);
      if (now == 0) {
        Release(kDp, "", J({t, dp}));
        MapSet(dp_kind, dk, std::optional<std::string>());
      }
    }
    // The Datapath row, like the PortKey rows, is the same on every host of the datapath: a row
    // of its bag while the datapath runs anywhere.
    if ((d > 0 && now == 1) || (d < 0 && now == 0)) {
      dp_rows.emplace_back(dk, ToC(Record{"Datapath", {t, dp, kind, std::to_string(key)}}), d);
    }
    return absl::OkStatus();
  }

  // ================================================================= mirror lookups

  // The mirrored row of `table` whose first columns equal `prefix` (key lookup).
  const Row* Find(const std::string& table, const Row& prefix) const {
    auto mt = mirror.find(table);
    if (mt == mirror.end()) return nullptr;
    auto it = mt->second.lower_bound(prefix);
    if (it == mt->second.end() || it->size() < prefix.size()) return nullptr;
    for (size_t i = 0; i < prefix.size(); ++i) {
      if ((*it)[i] != prefix[i]) return nullptr;
    }
    return &*it;
  }

  // vNIC policy V on port P of tenant t: name firewall:V:P in P's switch.
  absl::Status RefreshVnicOn(const std::string& t, const std::string& p, const std::string& v) {
    auto k = std::make_tuple(t, p, v);
    std::optional<std::string> want;
    if (vnic_members.count({t, v, p}) && Find("VnicPolicy", {nlog::Value::String(t), nlog::Value::String(v)})) {
      if (const Row* port = Find("Port", {nlog::Value::String(t), nlog::Value::String(p)})) want = S((*port)[2]);
    }
    std::optional<std::string> have;
    if (auto it = vnic_on.find(k); it != vnic_on.end()) have = it->second;
    if (want == have) return absl::OkStatus();
    std::string name = absl::StrCat("firewall:", v, ":", p);
    if (have) {
      if (auto st = NameRef(t, *have, name, -1); !st.ok()) return st;
    }
    if (want) {
      if (auto st = NameRef(t, *want, name, +1); !st.ok()) return st;
    }
    MapSet(vnic_on, k, want);
    return absl::OkStatus();
  }

  void RefreshVmPort(const std::string& t, const std::string& p) {
    auto k = std::make_pair(t, p);
    std::optional<std::pair<std::string, Record>> want;
    const Row* port = Find("Port", {nlog::Value::String(t), nlog::Value::String(p)});
    const Row* bound = Find("PortHost", {nlog::Value::String(t), nlog::Value::String(p)});
    if (port && bound) {
      want = std::make_pair(S((*bound)[2]),
                            Record{"VmPort", {t, p, S((*port)[2]), S((*port)[3]), absl::StrCat(t, "/", p)}});
    }
    std::optional<std::pair<std::string, Record>> have;
    if (auto it = vm_rows.find(k); it != vm_rows.end()) have = it->second;
    if (want == have) return;
    if (have) AddRow(have->first, have->second, -1);
    if (want) AddRow(want->first, want->second, +1);
    MapSet(vm_rows, k, want);
  }

  // ================================================================= instances and slices

  static std::vector<std::pair<std::string, std::string>> SliceTags(const std::string& kind, const std::string& side) {
    if (kind == "vnic") return {{side, "from-vm"}, {side, "to-vm"}};
    if (side == "router") return {{side, "to-vm"}};
    return {{side, "from-vm"}};
  }

  absl::Status SliceChange(const std::string& h, const std::string& t, const std::string& i,
                           const std::string& side, int d) {
    auto sk = std::make_tuple(h, t, i, side);
    std::string kind;
    if (d > 0) {
      if (slices.count(sk)) return absl::OkStatus();
      auto it = inst.find({h, t, i});
      if (it == inst.end()) {
        return absl::InternalError(absl::StrCat("host ", h, ": slice of ", t, "/", i, " without an instance"));
      }
      kind = it->second.first;
      MapSet(slices, sk, std::optional<std::string>(kind));
    } else {
      auto it = slices.find(sk);
      if (it == slices.end()) return absl::OkStatus();
      kind = it->second;
      MapSet(slices, sk, std::optional<std::string>());
    }
    for (const auto& [s, dir] : SliceTags(kind, side)) {
      std::string key = J({t, i, s, dir});
      if (d > 0) {
        auto n = Acquire(kTag, h, key, absl::StrCat("host ", h));
        if (!n.ok()) return n.status();
      } else {
        Release(kTag, h, key);
      }
    }
    if (kind == "vnic") {
      int now = Bump(eport_refs, std::make_tuple(h, t, side), d);
      if (d > 0 && now == 1) {
        auto n = Acquire(kEport, h, J({t, side}), absl::StrCat("host ", h));
        if (!n.ok()) return n.status();
      } else if (d < 0 && now == 0) {
        Release(kEport, h, J({t, side}));
      }
    }
    dirty_slices.insert({h, t, i});
    return absl::OkStatus();
  }

  void RefreshSliceRows(const std::string& h, const std::string& t, const std::string& i) {
    std::set<Record> want;
    auto tag = [&](const std::string& s, const std::string& dir) {
      return std::to_string(NumberOf(kTag, h, J({t, i, s, dir})));
    };
    std::map<std::string, std::string> sides;  // side -> kind
    for (auto it = slices.lower_bound({h, t, i, ""});
         it != slices.end() && std::get<0>(it->first) == h && std::get<1>(it->first) == t &&
         std::get<2>(it->first) == i;
         ++it) {
      sides[std::get<3>(it->first)] = it->second;
    }
    for (const auto& [side, kind] : sides) {
      if (kind == "vnic") {
        std::string k = std::to_string(NumberOf(kEport, h, J({t, side})));
        std::string x = tag(side, "from-vm"), y = tag(side, "to-vm");
        want.insert(Record{"Slice", {t, i, side, "from-vm", x, x, k}});
        want.insert(Record{"Slice", {t, i, side, "to-vm", y, y, k}});
      } else if (side == "switch" || side == "router") {
        // Inline: a frame allowed on one side's tag leaves on the other's.
        std::string a = tag("switch", "from-vm"), b = tag("router", "to-vm");
        bool both = sides.count("switch") && sides.count("router");
        if (side == "switch") want.insert(Record{"Slice", {t, i, "switch", "from-vm", a, both ? b : a, "1"}});
        else want.insert(Record{"Slice", {t, i, "router", "to-vm", b, both ? a : b, "1"}});
      } else {
        std::string x = tag(side, "from-vm");
        want.insert(Record{"Slice", {t, i, side, "from-vm", x, x, "1"}});
      }
    }
    auto key = std::make_tuple(h, t, i);
    std::set<Record> have;
    if (auto it = slice_rows.find(key); it != slice_rows.end()) have = it->second;
    if (want == have) return;
    for (const Record& r : have) {
      if (!want.count(r)) AddRow(h, r, -1);
    }
    for (const Record& r : want) {
      if (!have.count(r)) AddRow(h, r, +1);
    }
    MapSet(slice_rows, key, want.empty() ? std::optional<std::set<Record>>() : std::optional<std::set<Record>>(want));
  }

  void Rollback() {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    for (auto it = row_undo.rbegin(); it != row_undo.rend(); ++it) {
      auto& [m, r, old] = *it;
      if (old <= 0) m->erase(r); else (*m)[r] = old;
    }
    for (auto it = peer_undo.rbegin(); it != peer_undo.rend(); ++it) {
      auto [t, h, old] = *it;
      if (old == 0) {
        peers.erase({t, h});
        holders_of[t].erase(h);
      } else {
        peers[{t, h}] = old;
        holders_of[t].insert(h);
      }
    }
    ClearBatch();
  }
  void ClearBatch() {
    undo.clear();
    row_undo.clear();
    peer_undo.clear();
    touched.clear();
    host_of.clear();
    alloc_before.clear();
    pending_free.clear();
    dirty_slices.clear();
    dirty_vm.clear();
    dp_moves.clear();
    inst_moves.clear();
    dp_rows.clear();
  }

  // ================================================================= fan-out

  // A Flow row whose whole action is a tunnel to host X (`output(tunnel:X)`) is not sent to X
  // itself: X has the local form of that delivery in its own rows (docs/logical-stage.md, UPCP).
  std::string_view TunnelTarget(const CRow& r) const {
    if (r.v[0] != flow_table_id || r.v[6] == kNone) return {};
    std::string_view a = strings.Str(r.v[6]);
    constexpr std::string_view kPre = "output(tunnel:";
    if (a.size() <= kPre.size() + 1 || a.substr(0, kPre.size()) != kPre || a.back() != ')') return {};
    a = a.substr(kPre.size(), a.size() - kPre.size() - 1);
    return a.find_first_of(",;()") == std::string_view::npos ? a : std::string_view();
  }
  bool ToSelf(const std::string& h, const CRow& r) const {
    std::string_view x = TunnelTarget(r);
    return !x.empty() && x == h;
  }

  // Step 4 for one kind of bag: `bags` ((t, x) -> rows), `hosts` ((t, x, h) after the change),
  // the batch's host moves and row changes; emit(h, rows, d) receives every (host, row) change.
  using KeyRows = std::vector<std::pair<NamePair, CRow>>;
  template <class Emit>
  void FanOut(absl::node_hash_map<NamePair, RowBag>& bags,
              const std::set<std::tuple<std::string, std::string, std::string>>& hosts,
              const std::vector<std::tuple<NamePair, std::string, int>>& moves, const KeyRows& deleted,
              const KeyRows& inserted, Emit&& emit) {
    struct Change {
      std::vector<CRow> del, ins;
      std::set<std::string> joined, left;
    };
    std::map<NamePair, Change> by_key;
    for (const auto& [k, h, d] : moves) (d > 0 ? by_key[k].joined : by_key[k].left).insert(h);
    // Net row changes per key (a PortKey or Datapath row may go and come back in one batch).
    std::map<NamePair, absl::flat_hash_map<CRow, int>> net;
    for (const auto& [k, r] : deleted) --net[k][r];
    for (const auto& [k, r] : inserted) ++net[k][r];
    for (const auto& [k, rows] : net) {
      for (const auto& [r, n] : rows) {
        if (n < 0) by_key[k].del.push_back(r);
        if (n > 0) by_key[k].ins.push_back(r);
      }
    }
    for (auto& [k, c] : by_key) {
      std::vector<std::string> now;  // H_new
      for (auto it = hosts.lower_bound({k.first, k.second, ""});
           it != hosts.end() && std::get<0>(*it) == k.first && std::get<1>(*it) == k.second; ++it) {
        now.push_back(std::get<2>(*it));
      }
      RowBag& bag = bags[k];
      if (!c.del.empty() || !c.ins.empty()) ForgetBag(&bag);
      if (!c.del.empty()) {
        for (const std::string& h : now) {
          if (!c.joined.count(h)) emit(h, c.del, -1);
        }
        for (const std::string& h : c.left) emit(h, c.del, -1);
        for (const CRow& r : c.del) bag.erase(r);
      }
      if (!bag.empty()) {
        std::vector<CRow> kept(bag.begin(), bag.end());  // L_old and L_new both
        for (const std::string& h : c.left) emit(h, kept, -1);
        for (const std::string& h : c.joined) emit(h, kept, +1);
      }
      if (!c.ins.empty()) {
        for (const CRow& r : c.ins) bag.insert(r);
        for (const std::string& h : now) emit(h, c.ins, +1);
      }
      if (bag.empty()) {
        ForgetBag(&bag);
        bags.erase(k);
      }
    }
  }
};

PhysicalStage::PhysicalStage(store::Store* store, PhysicalOptions options)
    : store_(store), options_(options), state_(std::make_unique<State>()) {
  state_->opt = options_;
  state_->flow_table_id = state_->strings.Id(std::string("Flow"));
}
PhysicalStage::~PhysicalStage() = default;

absl::Status PhysicalStage::Load() {
  State& s = *state_;
  if (!s.rows.empty() || s.mirrored) {
    return absl::FailedPreconditionError("PhysicalStage::Load must run before the first Apply");
  }
  if (store_ == nullptr) return absl::OkStatus();
  auto range = store_->Range(kAllocPrefix);
  if (!range.ok()) {
    return absl::Status(range.status().code(),
                        absl::StrCat("reading allocations under ", kAllocPrefix, ": ", range.status().message()));
  }
  for (const store::KeyValue& kv : range->kvs) {
    auto bad = [&](const std::string& why) {
      return absl::DataLossError(absl::StrCat("allocation key ", kv.key, ": ", why));
    };
    if (kv.key.size() <= std::strlen(kAllocPrefix)) return bad("too short");
    std::vector<std::string> parts = Split(kv.key.substr(std::strlen(kAllocPrefix)), '/');
    int domain = -1;
    for (int d = 0; d < kDomains; ++d) {
      if (!parts.empty() && parts[0] == kDomainName[d]) domain = d;
    }
    if (domain < 0) return bad("unknown allocation kind");
    std::vector<std::string> dec;
    for (size_t i = 1; i < parts.size(); ++i) {
      auto u = Unescape(parts[i]);
      if (!u) return bad("malformed escape");
      dec.push_back(*u);
    }
    const size_t np = static_cast<size_t>(kScopeParts[domain]);
    if (dec.size() != np + static_cast<size_t>(kKeyParts[domain])) {
      return bad(absl::StrCat("expected ", np + kKeyParts[domain], " path parts after ", kDomainName[domain], "/, found ",
                              dec.size()));
    }
    std::string scope = Join(std::vector<std::string>(dec.begin(), dec.begin() + np), kSep);
    std::string key = Join(std::vector<std::string>(dec.begin() + np, dec.end()), kSep);
    uint32_t n = 0;
    Allocator& a = s.Alloc(domain, scope);
    if (!absl::SimpleAtoi(kv.value, &n) || n == 0 || n > a.hi) {
      return bad(absl::StrCat("value '", kv.value, "' is not a number in 1..", a.hi));
    }
    if (a.by_num.count(n)) return bad(absl::StrCat("number ", n, " is already taken by ", Readable(a.by_num[n])));
    a.by_key[key] = n;
    a.by_num[n] = key;
    a.cursor = std::max(a.cursor, n);
    s.unclaimed.insert({domain, scope, key});
  }
  s.claim_pending = true;
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, records::Delta>> PhysicalStage::Apply(const nlog::Engine& engine,
                                                                           const nlog::Delta& logical_delta) {
  return ApplyImpl(engine, logical_delta, /*with_rows=*/true);
}

absl::StatusOr<std::map<std::string, records::Delta>> PhysicalStage::ApplyForSnapshots(
    const nlog::Engine& engine, const nlog::Delta& logical_delta) {
  return ApplyImpl(engine, logical_delta, /*with_rows=*/false);
}

absl::StatusOr<std::map<std::string, records::Delta>> PhysicalStage::ApplyImpl(const nlog::Engine& engine,
                                                                               const nlog::Delta& logical_delta,
                                                                               bool with_rows) {
  State& s = *state_;
  s.ClearBatch();
  auto fail = [&](absl::Status st) {
    s.Rollback();
    return st;
  };

  // ---- 1. input changes: the program's Topo* copies of the mirrored input tables
  std::map<std::string, std::pair<std::vector<Row>, std::vector<Row>>> in;  // table -> (deleted, inserted)
  for (const char* table : kMirrored) {
    auto it = logical_delta.tables.find(absl::StrCat("Topo", table));
    if (it == logical_delta.tables.end()) continue;
    RowSet& m = s.mirror[table];
    auto& [del, ins] = in[table];
    for (const Row& r : it->second.deleted) {
      if (s.SetErase(m, r)) del.push_back(r);
    }
    for (const Row& r : it->second.inserted) {
      if (s.SetInsert(m, r)) ins.push_back(r);
    }
  }
  if (!s.mirrored) {
    s.mirrored = true;
    s.undo.push_back([&s] { s.mirrored = false; });
  }
  auto out_rows = [&](const char* table) -> const nlog::TableDelta* {
    auto it = logical_delta.tables.find(table);
    return it == logical_delta.tables.end() ? nullptr : &it->second;
  };

  // ---- 2. fallible part
  // Hosts.
  for (const Row& r : in["Host"].first) {
    s.SetUnderlay(S(r[0]), std::nullopt);
    s.PeerRef(S(r[0]), S(r[0]), -1);
  }
  for (const Row& r : in["Host"].second) {
    s.SetUnderlay(S(r[0]), S(r[1]));
    s.PeerRef(S(r[0]), S(r[0]), +1);
  }

  // Logical port names per datapath: deletions first (their numbers are released only at the
  // end of the batch, so a name removed and re-added keeps its key).
  std::set<std::pair<std::string, std::string>> vnic_ports;  // (t, P) whose vNIC names may change
  auto names_of = [&](const std::string& table, const Row& r, int d) -> absl::Status {
    const std::string t = S(r[0]);
    if (table == "Port") {
      vnic_ports.insert({t, S(r[1])});
      s.dirty_vm.insert({t, S(r[1])});
      return s.NameRef(t, S(r[2]), S(r[1]), d);
    }
    if (table == "PortHost") {
      s.dirty_vm.insert({t, S(r[1])});
      return absl::OkStatus();
    }
    if (table == "RouterPort") {
      if (auto st = s.NameRef(t, S(r[2]), absl::StrCat("rtr:", S(r[1])), d); !st.ok()) return st;
      return s.NameRef(t, S(r[1]), S(r[2]), d);
    }
    if (table == "Firewall") {
      const std::string f = S(r[1]), placement = S(r[2]);
      if (placement == "inline") {
        if (auto st = s.NameRef(t, S(r[4]), absl::StrCat("firewall:", f, ":switch"), d); !st.ok()) return st;
        return s.NameRef(t, S(r[3]), absl::StrCat("firewall:", f, ":router"), d);
      }
      return s.NameRef(t, S(r[3]), absl::StrCat("firewall:", f, ":attach"), d);
    }
    if (table == "VnicPolicy") {
      const std::string v = S(r[1]);
      for (auto it = s.vnic_members.lower_bound({t, v, ""});
           it != s.vnic_members.end() && std::get<0>(*it) == t && std::get<1>(*it) == v; ++it) {
        vnic_ports.insert({t, std::get<2>(*it)});
      }
    }
    return absl::OkStatus();
  };
  for (const char* table : {"Port", "PortHost", "RouterPort", "Firewall", "VnicPolicy"}) {
    for (const Row& r : in[table].first) {
      if (auto st = names_of(table, r, -1); !st.ok()) return fail(st);
    }
  }
  for (const char* table : {"Port", "PortHost", "RouterPort", "Firewall", "VnicPolicy"}) {
    for (const Row& r : in[table].second) {
      if (auto st = names_of(table, r, +1); !st.ok()) return fail(st);
    }
  }
  if (const nlog::TableDelta* md = out_rows("Member")) {
    for (const Row& r : md->deleted) {
      if (S(r[1]) != "vnic") continue;
      s.SetErase(s.vnic_members, std::make_tuple(S(r[0]), S(r[2]), S(r[3])));
      s.SetErase(s.vnic_by_port, std::make_tuple(S(r[0]), S(r[3]), S(r[2])));
      vnic_ports.insert({S(r[0]), S(r[3])});
    }
    for (const Row& r : md->inserted) {
      if (S(r[1]) != "vnic") continue;
      s.SetInsert(s.vnic_members, std::make_tuple(S(r[0]), S(r[2]), S(r[3])));
      s.SetInsert(s.vnic_by_port, std::make_tuple(S(r[0]), S(r[3]), S(r[2])));
      vnic_ports.insert({S(r[0]), S(r[3])});
    }
  }
  for (const auto& [t, p] : vnic_ports) {
    // Every policy that covers or covered P.
    std::set<std::string> policies;
    for (auto it = s.vnic_by_port.lower_bound({t, p, ""});
         it != s.vnic_by_port.end() && std::get<0>(*it) == t && std::get<1>(*it) == p; ++it) {
      policies.insert(std::get<2>(*it));
    }
    for (auto it = s.vnic_on.lower_bound({t, p, ""});
         it != s.vnic_on.end() && std::get<0>(it->first) == t && std::get<1>(it->first) == p; ++it) {
      policies.insert(std::get<2>(it->first));
    }
    for (const std::string& v : policies) {
      if (auto st = s.RefreshVnicOn(t, p, v); !st.ok()) return fail(st);
    }
  }

  // Datapath span.
  if (const nlog::TableDelta* dd = out_rows("DpHost")) {
    for (const Row& r : dd->deleted) {
      if (auto st = s.DpHostChange(S(r[0]), S(r[1]), S(r[2]), -1, false); !st.ok()) return fail(st);
    }
    for (const Row& r : dd->inserted) {
      bool is_router = s.Find("Router", {r[0], r[1]}) != nullptr;
      if (auto st = s.DpHostChange(S(r[0]), S(r[1]), S(r[2]), +1, is_router); !st.ok()) return fail(st);
    }
  }

  // VM ports bound to hosts.
  for (const auto& [t, p] : s.dirty_vm) s.RefreshVmPort(t, p);

  // Instances and slices: slice deletions, instance deletions, instance insertions, slice
  // insertions (a slice needs its instance's kind).
  const nlog::TableDelta* sd = out_rows("FwSlice");
  const nlog::TableDelta* id = out_rows("FwInstance");
  if (sd) {
    for (const Row& r : sd->deleted) {
      if (auto st = s.SliceChange(S(r[2]), S(r[0]), S(r[1]), S(r[3]), -1); !st.ok()) return fail(st);
    }
  }
  if (id) {
    for (const Row& r : id->deleted) {
      const std::string t = S(r[0]), i = S(r[1]), h = S(r[3]);
      auto k = std::make_tuple(h, t, i);
      auto it = s.inst.find(k);
      if (it == s.inst.end()) continue;
      uint32_t n = s.NumberOf(kInst, h, J({t, i}));
      s.AddRow(h, Record{"Instance", {t, i, it->second.first, it->second.second, std::to_string(n)}}, -1);
      s.Release(kInst, h, J({t, i}));
      s.MapSet(s.inst, k, std::optional<std::pair<std::string, std::string>>());
      s.SetErase(s.inst_hosts, std::make_tuple(t, i, h));
      s.inst_moves.emplace_back(NamePair{t, i}, h, -1);
    }
    for (const Row& r : id->inserted) {
      const std::string t = S(r[0]), i = S(r[1]), kind = S(r[2]), h = S(r[3]), def = S(r[4]);
      auto k = std::make_tuple(h, t, i);
      if (s.inst.count(k)) continue;
      auto n = s.Acquire(kInst, h, J({t, i}), absl::StrCat("host ", h));
      if (!n.ok()) return fail(n.status());
      s.AddRow(h, Record{"Instance", {t, i, kind, def, std::to_string(*n)}}, +1);
      s.MapSet(s.inst, k, std::optional<std::pair<std::string, std::string>>(std::make_pair(kind, def)));
      s.SetInsert(s.inst_hosts, std::make_tuple(t, i, h));
      s.inst_moves.emplace_back(NamePair{t, i}, h, +1);
    }
  }
  if (sd) {
    for (const Row& r : sd->inserted) {
      if (auto st = s.SliceChange(S(r[2]), S(r[0]), S(r[1]), S(r[3]), +1); !st.ok()) return fail(st);
    }
  }

  // Loaded allocations nobody claimed in the first Apply after Load that carries a logical
  // delta (the full current state) belong to things that no longer exist: free them.
  if (s.claim_pending && !logical_delta.empty()) {
    for (const auto& u : s.unclaimed) s.pending_free.insert(u);
    std::set<std::tuple<int, std::string, std::string>> old;
    old.swap(s.unclaimed);
    s.undo.push_back([&s, old] { s.unclaimed = old; });
    s.claim_pending = false;
    s.undo.push_back([&s] { s.claim_pending = true; });
  }

  // Deferred frees.
  for (const auto& [domain, scope, key] : s.pending_free) s.Unassign(domain, scope, key);
  // Slices whose tags changed (inline pairs) after the frees settle.
  for (const auto& [h, t, i] : s.dirty_slices) s.RefreshSliceRows(h, t, i);

  // ---- 3. persist
  store::Txn txn;
  for (const auto& [idt, before] : s.alloc_before) {
    const auto& [domain, scope, key] = idt;
    uint32_t now = s.NumberOf(domain, scope, key);
    std::optional<uint32_t> after = now ? std::optional<uint32_t>(now) : std::nullopt;
    if (after == before) continue;
    std::string sk = StoreKey(domain, scope, key);
    if (after) txn.ops.push_back(store::Op::Put(sk, std::to_string(*after)));
    else txn.ops.push_back(store::Op::Delete(sk));
  }
  if (store_ != nullptr && !txn.ops.empty()) {
    auto r = store_->Commit(txn);
    if (!r.ok()) {
      return fail(absl::Status(r.status().code(),
                               absl::StrCat("persisting allocations: ", r.status().message())));
    }
    if (!r->succeeded) return fail(absl::AbortedError("persisting allocations: store transaction refused"));
  }

  // ---- 4. deltas from the reference-counted rows, then the 1:1 rows
  std::map<std::string, records::Delta> out;
  for (const auto& [hr, was] : s.touched) {
    const auto& [m, r] = hr;
    bool now = m->contains(r);
    if (was == now) continue;
    const std::string& h = *s.host_of.at(m);
    (now ? out[h].inserts : out[h].deletes).push_back(s.FromC(r));
  }
  // Per-host lookups of the 1:1 tables cached by the host value (rows and out nodes are stable
  // for the rest of this call).
  absl::flat_hash_map<nlog::Value, std::pair<HostRows*, records::Delta*>> host_cache;
  auto direct = [&](const char* table, const char* record_table, size_t host_col) {
    const nlog::TableDelta* td = out_rows(table);
    if (!td) return;
    const uint32_t table_id = s.strings.Id(std::string(record_table));
    auto host = [&](const nlog::Value& hv) -> std::pair<HostRows*, records::Delta*>& {
      auto it = host_cache.find(hv);
      if (it != host_cache.end()) return it->second;
      std::string h = S(hv);
      return host_cache.emplace(hv, std::make_pair(&s.rows[h], &out[h])).first->second;
    };
    for (const Row& r : td->deleted) {
      auto& [hr, delta] = host(r[host_col]);
      CRow c = s.ToC(table_id, r, host_col);
      if (hr->erase(c)) delta->deletes.push_back(s.FromC(c));
    }
    for (const Row& r : td->inserted) {
      auto& [hr, delta] = host(r[host_col]);
      CRow c = s.ToC(table_id, r, host_col);
      if (hr->emplace(c, 1).second) delta->inserts.push_back(s.FromC(c));
    }
  };
  direct("PFlow", "Flow", 1);
  direct("FwPortBinding", "FwPort", 3);
  if (const nlog::TableDelta* td = out_rows("ServiceHost")) {
    auto record = [](const Row& r) {
      Record rec{"Service", {}};
      rec.values.reserve(r.size() - 1);
      for (size_t i = 0; i < r.size(); ++i)
        if (i != 1) rec.values.push_back(S(r[i]));  // column 1 is the host
      return rec;
    };
    for (const Row& r : td->deleted) {
      std::string h = S(r[1]);
      auto it = s.services.find(h);
      Record rec = record(r);
      if (it == s.services.end() || !it->second.erase(rec)) continue;
      if (it->second.empty()) s.services.erase(it);
      out[h].deletes.push_back(std::move(rec));
    }
    for (const Row& r : td->inserted) {
      std::string h = S(r[1]);
      Record rec = record(r);
      if (s.services[h].insert(rec).second) out[h].inserts.push_back(std::move(rec));
    }
  }
  // The fan-out (see the top). A (host, row) pair is emitted at most once: a row of a datapath or
  // instance differs from every other by its tenant/datapath/instance columns, and LFlow never
  // holds a host-specific PFlow row (those deliver to the VM's port, LFlow's to a tunnel).
  std::set<std::string> fanned_hosts;  // without rows: hosts whose fanned share changed
  auto emit = [&](const std::string& h, const std::vector<CRow>& rows, int d) {
    if (!with_rows) {
      for (const CRow& r : rows) {
        if (!s.ToSelf(h, r)) {
          fanned_hosts.insert(h);
          return;
        }
      }
      return;
    }
    records::Delta& delta = out[h];
    auto& v = d > 0 ? delta.inserts : delta.deletes;
    for (const CRow& r : rows) {
      if (!s.ToSelf(h, r)) v.push_back(s.FromC(r));
    }
  };
  auto keyed = [&](const char* table, const char* record_table) {
    State::KeyRows del, ins;
    const nlog::TableDelta* td = out_rows(table);
    if (!td) return std::make_pair(del, ins);
    const uint32_t table_id = s.strings.Id(std::string(record_table));
    for (const Row& r : td->deleted) del.emplace_back(NamePair{S(r[0]), S(r[1])}, s.ToC(table_id, r));
    for (const Row& r : td->inserted) ins.emplace_back(NamePair{S(r[0]), S(r[1])}, s.ToC(table_id, r));
    return std::make_pair(std::move(del), std::move(ins));
  };
  {
    auto [del, ins] = keyed("LFlow", "Flow");
    for (const auto& [k, r, d] : s.dp_rows) (d > 0 ? ins : del).emplace_back(k, r);
    s.FanOut(s.dp_flows, s.dp_hosts, s.dp_moves, del, ins, emit);
  }
  {
    auto [del, ins] = keyed("InstRule", "FwRule");
    auto [gdel, gins] = keyed("InstGroupAddr", "FwGroup");
    del.insert(del.end(), gdel.begin(), gdel.end());
    ins.insert(ins.end(), gins.begin(), gins.end());
    s.FanOut(s.inst_rows, s.inst_hosts, s.inst_moves, del, ins, emit);
  }
  if (!with_rows) {
    for (auto& [h, d] : out) {
      if (!d.deletes.empty() || !d.inserts.empty()) fanned_hosts.insert(h);
    }
    out.clear();
    for (const std::string& h : fanned_hosts) {
      records::Delta& d = out[h];
      d.snapshot = true;
      d.revision = ++s.revision[h];
    }
  }

  for (auto it = out.begin(); with_rows && it != out.end();) {
    records::Delta& d = it->second;
    if (d.deletes.empty() && d.inserts.empty()) {
      it = out.erase(it);
      continue;
    }
    std::sort(d.deletes.begin(), d.deletes.end());
    std::sort(d.inserts.begin(), d.inserts.end());
    d.revision = ++s.revision[it->first];
    ++it;
  }
  for (auto it = s.rows.begin(); it != s.rows.end();) {
    it = it->second.empty() ? s.rows.erase(it) : std::next(it);
  }
  for (auto& domain : s.alloc) {
    for (auto it = domain.begin(); it != domain.end();) {
      it = it->second.by_key.empty() && it->first != "" ? domain.erase(it) : std::next(it);
    }
  }
  s.ClearBatch();
  return out;
}

records::Delta PhysicalStage::SnapshotDelta(const std::string& host) const {
  records::Delta d;
  d.snapshot = true;
  const State& s = *state_;
  if (auto it = s.revision.find(host); it != s.revision.end()) d.revision = it->second;
  auto add = [&](const CRow& r) {
    records::Record& rec = d.inserts.emplace_back();
    rec.table = s.strings.Str(r.v[0]);
    size_t n = 1;
    while (n < r.v.size() && r.v[n] != kNone) ++n;
    rec.values.reserve(n - 1);
    for (size_t i = 1; i < n; ++i) rec.values.push_back(s.strings.Str(r.v[i]));
  };
  if (auto it = s.rows.find(host); it != s.rows.end()) {
    d.inserts.reserve(it->second.size());
    for (const auto& [r, n] : it->second) add(r);
  }
  if (auto it = s.services.find(host); it != s.services.end())
    d.inserts.insert(d.inserts.end(), it->second.begin(), it->second.end());
  auto add_bag = [&](const absl::node_hash_map<NamePair, RowBag>& bags, const NamePair& key) {
    auto it = bags.find(key);
    if (it == bags.end()) return;
    for (const CRow& r : it->second) {
      if (!s.ToSelf(host, r)) add(r);
    }
  };
  for (auto it = s.host_dps.lower_bound({host, "", ""}); it != s.host_dps.end() && std::get<0>(*it) == host; ++it) {
    add_bag(s.dp_flows, {std::get<1>(*it), std::get<2>(*it)});
  }
  for (auto it = s.inst.lower_bound({host, "", ""}); it != s.inst.end() && std::get<0>(it->first) == host; ++it) {
    add_bag(s.inst_rows, {std::get<1>(it->first), std::get<2>(it->first)});
  }
  return d;
}

records::EncodedSnapshot PhysicalStage::SnapshotEncoded(const std::string& host, uint64_t revision,
                                                         size_t chunk_rows) const {
  const State& s = *state_;
  records::SnapshotEncoder enc(revision, chunk_rows);
  if (auto it = s.rows.find(host); it != s.rows.end()) {
    records::EncodedRows own;  // the host's own rows: encoded per call
    for (const auto& [r, n] : it->second) s.EncodeRow(r, &own);
    enc.AddRows(own);
  }
  if (auto it = s.services.find(host); it != s.services.end()) {
    records::EncodedRows svc;
    for (const Record& r : it->second) svc.Add(r);
    enc.AddRows(svc);
  }
  auto add_bag = [&](const absl::node_hash_map<NamePair, RowBag>& bags, const NamePair& key) {
    auto it = bags.find(key);
    if (it == bags.end()) return;
    std::shared_ptr<const State::EncodedBag> e = s.Encoded(it->second);
    enc.AddRows(e->plain);
    for (const auto& [target, rows] : e->to) {
      if (target != host) enc.AddRows(rows);
    }
  };
  for (auto it = s.host_dps.lower_bound({host, "", ""}); it != s.host_dps.end() && std::get<0>(*it) == host; ++it) {
    add_bag(s.dp_flows, {std::get<1>(*it), std::get<2>(*it)});
  }
  for (auto it = s.inst.lower_bound({host, "", ""}); it != s.inst.end() && std::get<0>(it->first) == host; ++it) {
    add_bag(s.inst_rows, {std::get<1>(it->first), std::get<2>(it->first)});
  }
  return std::move(enc).Finish();
}

size_t PhysicalStage::SnapshotCacheBytes() const {
  const State& s = *state_;
  std::lock_guard<std::mutex> l(s.bag_cache_mu);
  size_t n = s.bag_cache.capacity() * (sizeof(const RowBag*) + sizeof(std::shared_ptr<const State::EncodedBag>));
  for (const auto& [b, e] : s.bag_cache) n += e->MemoryBytes();
  return n;
}

void PhysicalStage::DropSnapshotCache() {
  std::lock_guard<std::mutex> l(state_->bag_cache_mu);
  decltype(state_->bag_cache)().swap(state_->bag_cache);  // clear() would keep the table
}

records::RecordSet PhysicalStage::Snapshot(const std::string& host) const {
  records::RecordSet rs;
  rs.Apply(SnapshotDelta(host));
  return rs;
}

std::vector<std::string> PhysicalStage::Hosts() const {
  std::vector<std::string> out;
  for (const auto& [h, rows] : state_->rows) {
    if (!rows.empty()) out.push_back(h);
  }
  return out;
}

uint64_t PhysicalStage::Revision(const std::string& host) const {
  auto it = state_->revision.find(host);
  return it == state_->revision.end() ? 0 : it->second;
}

PhysicalStage::AllocationCounts PhysicalStage::Allocations() const {
  AllocationCounts c;
  size_t* slot[kDomains] = {&c.datapath_keys, &c.port_keys, &c.tags, &c.instance_ids, &c.engine_ports};
  for (int d = 0; d < kDomains; ++d) {
    for (const auto& [scope, a] : state_->alloc[d]) *slot[d] += a.by_key.size();
  }
  return c;
}

size_t PhysicalStage::RowCount() const {
  const State& s = *state_;
  size_t n = 0;
  for (const auto& [h, rows] : s.rows) n += rows.size();
  for (const auto& [h, rows] : s.services) n += rows.size();
  auto bag_size = [&s](const absl::node_hash_map<NamePair, RowBag>& bags, const NamePair& key,
                       const std::string& h) -> size_t {
    auto it = bags.find(key);
    if (it == bags.end()) return 0;
    size_t k = 0;
    for (const CRow& r : it->second) k += !s.ToSelf(h, r);
    return k;
  };
  for (const auto& [h, t, dp] : s.host_dps) n += bag_size(s.dp_flows, {t, dp}, h);
  for (const auto& [k, v] : s.inst) n += bag_size(s.inst_rows, {std::get<1>(k), std::get<2>(k)}, std::get<0>(k));
  return n;
}

}  // namespace rampart::controller
