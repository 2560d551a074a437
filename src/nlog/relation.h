// Relation: the storage of one nlog table inside an Engine — rows in an arena (ids stable while
// the row lives), a support count per row, a hash set for exact lookups and hash indexes on the
// column subsets the join plans probe.
//
// Private to nlog. Not thread-safe.
#ifndef RAMPART_NLOG_RELATION_H_
#define RAMPART_NLOG_RELATION_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "nlog/value.h"

namespace rampart::nlog {

class Relation {
 public:
  explicit Relation(int arity);
  Relation(const Relation&) = delete;
  Relation& operator=(const Relation&) = delete;

  int arity() const { return arity_; }
  size_t size() const { return rows_.size(); }

  // Returns the id of an index on `cols` (creating it if needed; existing rows are indexed).
  int AddIndex(const std::vector<int>& cols);
  const std::vector<int>& IndexColumns(int index) const { return indexes_[index].cols; }
  int num_indexes() const { return static_cast<int>(indexes_.size()); }

  // Support count of `row` (0 if absent).
  int64_t Count(const Value* row) const;
  // Adds `delta` to the row's count, inserting or removing it; returns the old count.
  // REQUIRES: the new count is not negative.
  int64_t AddCount(const Value* row, int64_t delta);

  const Value* RowAt(uint32_t id) const { return &values_[size_t{id} * arity_]; }
  int64_t CountAt(uint32_t id) const { return counts_[id]; }
  // Support counts are 32-bit: a count past this is a crash (2^31 derivations of one row).
  static constexpr int64_t kMaxCount = 0x7fffffff;

  // Calls f(id) for every row whose index columns equal key[0..cols.size()).
  template <typename F>
  void ForEachMatch(int index, const Value* key, F&& f) const {
    const Index& ix = indexes_[index];
    auto it = ix.heads.find(KeyView{key});
    if (it == ix.heads.end()) return;
    for (uint32_t id = *it; id != kNil;) {
      const uint32_t next = ix.next[id];  // read before f runs (f never changes this relation)
      f(id);
      id = next;
    }
  }
  template <typename F>
  void ForEach(F&& f) const {
    for (uint32_t id : rows_) f(id);
  }
  std::vector<Row> Rows() const;

  // Hash of a whole row as used by the row set; also a good hash for Row keys elsewhere.
  static uint64_t HashValues(const Value* row, size_t n);

  // Bytes held, by part (capacity-based: vector capacities, hash table slots and control bytes).
  struct Memory {
    size_t values = 0;       // row values (the arena, free slots included)
    size_t counts = 0;       // support counts
    size_t free_list = 0;    // ids of freed arena slots
    size_t row_set = 0;      // the hash set of row ids
    size_t index_heads = 0;  // every index's set of chain heads
    size_t index_links = 0;  // every index's next/prev arrays
    size_t Total() const { return values + counts + free_list + row_set + index_heads + index_links; }
  };
  Memory MemoryUsage() const;
  size_t MemoryBytes() const;

 private:
  // A hash index: rows with the same key form a doubly linked list threaded through two arrays
  // by row id (8 bytes per row); a set of row ids, hashed and compared by their key columns,
  // holds each list's head (5 bytes a slot). (A std::vector per key cost ~80 bytes per row for
  // near-unique keys; a key-hash -> head map 17 bytes a slot.)
  static constexpr uint32_t kNil = 0xffffffffu;
  struct KeyView {
    const Value* key;  // the index columns' values, in index column order
  };
  struct IndexHash {
    using is_transparent = void;
    const Relation* rel;
    int index;
    size_t operator()(uint32_t id) const { return RowKeyHash(rel->indexes_[index], rel->RowAt(id)); }
    size_t operator()(KeyView k) const { return KeyHash(rel->indexes_[index], k.key); }
  };
  struct IndexEq {
    using is_transparent = void;
    const Relation* rel;
    int index;
    bool operator()(uint32_t a, uint32_t b) const {
      const Value *x = rel->RowAt(a), *y = rel->RowAt(b);
      for (int c : rel->indexes_[index].cols) {
        if (x[c] != y[c]) return false;
      }
      return true;
    }
    bool operator()(uint32_t a, KeyView k) const {
      const Value* x = rel->RowAt(a);
      const std::vector<int>& cols = rel->indexes_[index].cols;
      for (size_t i = 0; i < cols.size(); ++i) {
        if (x[cols[i]] != k.key[i]) return false;
      }
      return true;
    }
    bool operator()(KeyView k, uint32_t a) const { return (*this)(a, k); }
  };
  struct Index {
    std::vector<int> cols;
    absl::flat_hash_set<uint32_t, IndexHash, IndexEq> heads;  // first row id of each key's list
    std::vector<uint32_t> next, prev;                         // by row id
  };
  struct RowView {
    const Value* p;
  };
  struct Hash {
    using is_transparent = void;
    const Relation* rel;
    size_t operator()(uint32_t id) const { return rel->HashRow(rel->RowAt(id)); }
    size_t operator()(RowView v) const { return rel->HashRow(v.p); }
  };
  struct Eq {
    using is_transparent = void;
    const Relation* rel;
    bool Same(const Value* a, const Value* b) const {
      for (int i = 0; i < rel->arity_; ++i) {
        if (a[i] != b[i]) return false;
      }
      return true;
    }
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(RowView a, RowView b) const { return Same(a.p, b.p); }
    bool operator()(uint32_t a, RowView b) const { return Same(rel->RowAt(a), b.p); }
    bool operator()(RowView a, uint32_t b) const { return Same(a.p, rel->RowAt(b)); }
  };

  uint64_t HashRow(const Value* row) const;
  static uint64_t KeyHash(const Index& ix, const Value* key);
  static uint64_t RowKeyHash(const Index& ix, const Value* row);
  void IndexInsert(Index& ix, uint32_t id);
  void IndexErase(Index& ix, uint32_t id);

  int arity_;
  std::vector<Value> values_;
  std::vector<int32_t> counts_;  // by row id; no stored row hash: rehashing the set rehashes rows
  std::vector<uint32_t> free_;
  absl::flat_hash_set<uint32_t, Hash, Eq> rows_;
  std::vector<Index> indexes_;
};

}  // namespace rampart::nlog

#endif  // RAMPART_NLOG_RELATION_H_
