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
  auto& bucket = ix.buckets[RowKeyHash(ix, RowAt(id))];
  if (ix.pos.size() <= id) ix.pos.resize(size_t{id} + 1);
  ix.pos[id] = static_cast<uint32_t>(bucket.size());
  bucket.push_back(id);
}

void Relation::IndexErase(Index& ix, uint32_t id) {
  auto it = ix.buckets.find(RowKeyHash(ix, RowAt(id)));
  if (it == ix.buckets.end()) std::abort();  // index out of sync: a bug, crash loudly
  auto& bucket = it->second;
  uint32_t p = ix.pos[id];
  uint32_t last = bucket.back();
  bucket[p] = last;
  ix.pos[last] = p;
  bucket.pop_back();
  if (bucket.empty()) ix.buckets.erase(it);
}

int Relation::AddIndex(const std::vector<int>& cols) {
  for (size_t i = 0; i < indexes_.size(); ++i) {
    if (indexes_[i].cols == cols) return static_cast<int>(i);
  }
  indexes_.push_back(Index{cols, {}, {}});
  for (uint32_t id : rows_) IndexInsert(indexes_.back(), id);
  return static_cast<int>(indexes_.size() - 1);
}

int64_t Relation::Count(const Value* row) const {
  auto it = rows_.find(RowView{row});
  return it == rows_.end() ? 0 : counts_[*it];
}

int64_t Relation::AddCount(const Value* row, int64_t delta) {
  auto it = rows_.find(RowView{row});
  if (it == rows_.end()) {
    if (delta < 0) std::abort();  // negative support count: a bug, crash loudly
    if (delta == 0) return 0;
    uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      std::copy(row, row + arity_, values_.begin() + size_t{id} * arity_);
    } else {
      id = static_cast<uint32_t>(counts_.size());
      values_.insert(values_.end(), row, row + arity_);
      counts_.push_back(0);
      hashes_.push_back(0);
    }
    hashes_[id] = HashRow(row);
    counts_[id] = delta;
    rows_.insert(id);
    for (Index& ix : indexes_) IndexInsert(ix, id);
    return 0;
  }
  uint32_t id = *it;
  int64_t old = counts_[id];
  int64_t now = old + delta;
  if (now < 0) std::abort();
  counts_[id] = now;
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

size_t Relation::MemoryBytes() const {
  size_t b = sizeof(*this) + values_.capacity() * sizeof(Value) + counts_.capacity() * sizeof(int64_t) + hashes_.capacity() * sizeof(uint64_t) +
             free_.capacity() * sizeof(uint32_t) + rows_.capacity() * (sizeof(uint32_t) + 1);
  for (const Index& ix : indexes_) {
    b += ix.pos.capacity() * sizeof(uint32_t) +
         ix.buckets.capacity() * (sizeof(uint64_t) + sizeof(std::vector<uint32_t>) + 1);
    for (const auto& [h, v] : ix.buckets) b += v.capacity() * sizeof(uint32_t);
  }
  return b;
}

}  // namespace rampart::nlog
