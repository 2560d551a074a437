#include "nlog/relation.h"

#include <cstdlib>

namespace rampart::nlog {

Relation::Relation(int arity) : arity_(arity), rows_(0, Hash{this}, Eq{this}) {}

uint64_t Relation::HashValues(const Value* row, size_t n) {
  uint64_t h = 0x243f6a8885a308d3ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ row[i].FastHash()) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 31);
}

uint64_t Relation::HashRow(const Value* row) const { return HashValues(row, arity_); }

uint64_t Relation::KeyHash(const Index& ix, const Value* key) {
  uint64_t h = 0x13198a2e03707344ull;
  for (size_t i = 0; i < ix.cols.size(); ++i) h = (h ^ key[i].FastHash()) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 31);
}

uint64_t Relation::RowKeyHash(const Index& ix, const Value* row) {
  uint64_t h = 0x13198a2e03707344ull;
  for (int c : ix.cols) h = (h ^ row[c].FastHash()) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 31);
}

void Relation::IndexInsert(Index& ix, uint32_t id) {
  if (ix.next.size() <= id) {
    ix.next.resize(size_t{id} + 1, kNil);
    ix.prev.resize(size_t{id} + 1, kNil);
  }
  auto [it, fresh] = ix.heads.insert(id);
  if (fresh) {
    ix.next[id] = ix.prev[id] = kNil;
    return;
  }
  // The key has a list: the row goes second, so the head (the set's element) stays.
  const uint32_t head = *it, n = ix.next[head];
  ix.next[id] = n;
  ix.prev[id] = head;
  if (n != kNil) ix.prev[n] = id;
  ix.next[head] = id;
}

void Relation::IndexErase(Index& ix, uint32_t id) {
  const uint32_t n = ix.next[id], p = ix.prev[id];
  if (p != kNil) {
    ix.next[p] = n;
    if (n != kNil) ix.prev[n] = p;
  } else {
    auto it = ix.heads.find(id);  // the head of id's key (compared by key)
    if (it == ix.heads.end() || *it != id) std::abort();  // index out of sync: a bug, crash loudly
    if (n != kNil) {
      // The next row (same key, so same hash and equal in the set) heads the list now: the
      // slot's id is replaced in place, no rehash and no tombstone.
      ix.prev[n] = kNil;
      const_cast<uint32_t&>(*it) = n;
    } else {
      ix.heads.erase(it);
    }
  }
  ix.next[id] = ix.prev[id] = kNil;
}

int Relation::AddIndex(const std::vector<int>& cols) {
  for (size_t i = 0; i < indexes_.size(); ++i) {
    if (indexes_[i].cols == cols) return static_cast<int>(i);
  }
  const int n = static_cast<int>(indexes_.size());
  indexes_.push_back(Index{cols, decltype(Index::heads)(0, IndexHash{this, n}, IndexEq{this, n}), {}, {}});
  for (uint32_t id : rows_) IndexInsert(indexes_.back(), id);
  return n;
}

int64_t Relation::Count(const Value* row) const {
  auto it = rows_.find(RowView{row});
  return it == rows_.end() ? 0 : counts_[*it];
}

int64_t Relation::AddCount(const Value* row, int64_t delta) {
  if (delta > kMaxCount) std::abort();
  decltype(rows_)::iterator it;
  if (delta > 0) {
    // One probe (one row hash) finds the row or makes its slot.
    bool fresh = false;
    it = rows_.lazy_emplace(RowView{row}, [&](const auto& construct) {
      uint32_t id;
      if (!free_.empty()) {
        id = free_.back();
        free_.pop_back();
        std::copy(row, row + arity_, values_.begin() + size_t{id} * arity_);
      } else {
        id = static_cast<uint32_t>(counts_.size());
        values_.insert(values_.end(), row, row + arity_);
        counts_.push_back(0);
      }
      counts_[id] = static_cast<int32_t>(delta);
      construct(id);
      fresh = true;
    });
    if (fresh) {
      for (Index& ix : indexes_) IndexInsert(ix, *it);
      return 0;
    }
  } else {
    it = rows_.find(RowView{row});
    if (it == rows_.end()) {
      if (delta < 0) std::abort();  // negative support count: a bug, crash loudly
      return 0;
    }
  }
  uint32_t id = *it;
  int64_t old = counts_[id];
  int64_t now = old + delta;
  if (now < 0 || now > kMaxCount) std::abort();  // negative or 32-bit overflow: crash loudly
  counts_[id] = static_cast<int32_t>(now);
  if (now == 0) {
    for (Index& ix : indexes_) IndexErase(ix, id);
    rows_.erase(it);
    free_.push_back(id);
  }
  return old;
}

std::vector<Row> Relation::Rows() const {
  std::vector<Row> out;
  out.reserve(rows_.size());
  for (uint32_t id : rows_) out.emplace_back(RowAt(id), RowAt(id) + arity_);
  return out;
}

Relation::Memory Relation::MemoryUsage() const {
  // A flat_hash_set/map slot array has one control byte per slot (plus a group's worth).
  Memory m;
  m.values = values_.capacity() * sizeof(Value);
  m.counts = counts_.capacity() * sizeof(counts_[0]);
  m.free_list = free_.capacity() * sizeof(uint32_t);
  m.row_set = rows_.capacity() * (sizeof(uint32_t) + 1);
  for (const Index& ix : indexes_) {
    m.index_links += (ix.next.capacity() + ix.prev.capacity()) * sizeof(uint32_t);
    m.index_heads += ix.heads.capacity() * (sizeof(uint32_t) + 1);
  }
  return m;
}

size_t Relation::MemoryBytes() const { return sizeof(*this) + MemoryUsage().Total(); }

}  // namespace rampart::nlog
