// Private to the classifier: the TupleMerge implementation behind Classifier::Build.
// See docs/classifier.md for the design and the measurements behind it.
//
// Structure of one snapshot:
//   tables  — one hash table per (relaxed) tuple: the prefix lengths and exact-match flags its
//             rules are hashed on. Sorted by the best (priority, id) they hold, so a lookup stops
//             at the first table that cannot beat what it already found.
//   shards  — each table is split by hash bits into 2^k immutable shards held by shared_ptr; a
//             change copies only the shards it touches, so snapshots share everything else.
//   buckets — within a shard, an open-addressed array of slots (hash → run of entries); the run
//             is sorted by (priority, id) and every entry is verified with RuleMatch::Matches, so
//             hashing only narrows the candidates and never decides an answer.
//   ids     — rule id → (table tuple, hash), 64 copy-on-write shards, for removals.
#ifndef RAMPART_CLASSIFIER_TUPLE_MERGE_H_
#define RAMPART_CLASSIFIER_TUPLE_MERGE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "classifier/classifier.h"
#include "classifier/match.h"

namespace rampart::classifier_internal {

// Tunables (see docs/classifier.md for how they were chosen).
struct TupleMergeOptions {
  int v4_grid = 16;       // a new table's IPv4 prefix lengths are rounded down to this grid
  int v6_grid = 16;       // the same for IPv6 prefix lengths
  size_t max_bucket = 32;  // a rule goes to a table only if its bucket stays below this
  size_t rules_per_shard = 64;
  // Exact-match flags a new table drops (bit 0 source port, bit 1 destination port, bit 2
  // protocol): fewer, larger tables; the dropped fields are still checked per entry.
  uint8_t relax_flags = 7;
  // LookupBatch pipelines (hash all, prefetch, probe) only above this snapshot size; below it
  // the data is cache-resident and a plain loop is faster.
  size_t pipeline_min_bytes = 512 * 1024;
};

// Key words: the 5 64-bit words a key (or a rule) hashes on.
struct Words {
  uint64_t w[5];
};

// One rule inside a bucket, laid out for a branch-free check: address words with their masks,
// port ranges, protocol value/mask, direction mask and family. Equivalent to RuleMatch::Matches
// for validated rules (prefixes carry no bits below their length).
struct Entry {
  uint64_t order;  // (priority << 32) | id
  uint64_t addr[4];  // src.hi, src.lo, dst.hi, dst.lo
  uint64_t mask[4];
  uint16_t sport_lo, sport_span;  // span = hi - lo
  uint16_t dport_lo, dport_span;
  uint8_t proto, proto_mask, direction_mask, family;
  uint32_t value;

  static Entry Make(uint64_t order, uint32_t value, const RuleMatch& m);
  bool Matches(const ClassKey& k) const {
    uint64_t a = ((k.src.hi ^ addr[0]) & mask[0]) | ((k.src.lo ^ addr[1]) & mask[1]) |
                 ((k.dst.hi ^ addr[2]) & mask[2]) | ((k.dst.lo ^ addr[3]) & mask[3]);
    bool ports = static_cast<uint16_t>(k.sport - sport_lo) <= sport_span &&
                 static_cast<uint16_t>(k.dport - dport_lo) <= dport_span;
    bool rest = ((k.proto ^ proto) & proto_mask) == 0 && ((uint32_t{direction_mask} >> (k.direction < 31 ? k.direction : 31)) & 1) &&
                (family == 0 || family == k.family);
    return (a == 0) & ports & rest;
  }
};

struct Slot {
  uint64_t hash;
  uint32_t begin;
  uint32_t count;  // 0 = empty slot
};

// A frozen shard: slots + entries, immutable once made.
struct Shard {
  std::vector<Slot> slots;  // power-of-two size, at most a quarter full
  std::vector<Entry> entries;
  uint64_t best = ~0ull;  // smallest order held
  size_t rules = 0;
  size_t Bytes() const { return sizeof(Shard) + slots.capacity() * sizeof(Slot) + entries.capacity() * sizeof(Entry); }
};

struct ShardRef {
  const Slot* slots;
  const Entry* entries;
  uint64_t slot_mask;
};

struct Table {
  uint32_t tuple = 0;  // packed: src_len | dst_len << 8 | flags << 16
  Words mask{};
  uint64_t best = ~0ull;
  size_t rules = 0;
  int shard_bits = 0;
  std::vector<std::shared_ptr<const Shard>> shards;
  std::vector<ShardRef> refs;
};

// What the lookup loop reads per table, contiguous.
struct HotTable {
  Words mask;
  uint64_t best;
  uint64_t shard_mask;
  const ShardRef* refs;
};

struct IdLoc {
  uint64_t hash;
  uint32_t tuple;
};
constexpr int kIdShards = 64;
using IdShard = absl::flat_hash_map<uint32_t, IdLoc>;

class TupleMergeClassifier final : public Classifier {
 public:
  static absl::StatusOr<std::shared_ptr<const TupleMergeClassifier>> Make(
      std::span<const ClassRule> rules, const TupleMergeOptions& options = {});

  absl::StatusOr<std::shared_ptr<const Classifier>> WithChanges(
      std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const override;
  uint32_t Lookup(const ClassKey& key) const override;
  void LookupBatch(const ClassKey* keys, size_t n, uint32_t* out) const override;
  ClassifierStats Stats() const override;

  // Diagnostics: the tables in lookup order as (packed tuple, rules, shards).
  struct TableInfo {
    uint32_t tuple;
    size_t rules;
    size_t shards;
    size_t max_bucket;
    uint64_t best;  // smallest (priority << 32 | id) held
  };
  std::vector<TableInfo> Tables() const;

  // Internal: use Make.
  TupleMergeClassifier() = default;

 private:
  friend class Changer;
  absl::StatusOr<std::shared_ptr<const TupleMergeClassifier>> Apply(
      std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const;
  const IdLoc* FindId(uint32_t id) const;
  void Finish();  // sorts tables_ and fills hot_

  TupleMergeOptions options_;
  std::vector<std::shared_ptr<const Table>> tables_;
  std::vector<HotTable> hot_;
  // Whether LookupBatch runs the prefetching pipeline: only when the tables are too big for the
  // caches; on small sets the plain per-key loop is faster (measured: 1k-rule ClassBench sets).
  bool pipeline_ = true;
  std::array<std::shared_ptr<const IdShard>, kIdShards> ids_;
  size_t rules_ = 0;
};

}  // namespace rampart::classifier_internal

#endif  // RAMPART_CLASSIFIER_TUPLE_MERGE_H_
