#include "classifier/tuple_merge.h"

#include <algorithm>
#include <bit>

#include "absl/strings/str_cat.h"
#include "classifier/validate.h"

namespace rampart::classifier_internal {

namespace {

constexpr uint8_t kSportExact = 1;
constexpr uint8_t kDportExact = 2;
constexpr uint8_t kProtoExact = 4;
constexpr uint8_t kFamilyExact = 8;
constexpr int kMaxShardBits = 16;

uint32_t PackTuple(int src_len, int dst_len, uint8_t flags) {
  return static_cast<uint32_t>(src_len) | static_cast<uint32_t>(dst_len) << 8 |
         static_cast<uint32_t>(flags) << 16;
}
int TupleSrc(uint32_t t) { return static_cast<int>(t & 0xff); }
int TupleDst(uint32_t t) { return static_cast<int>((t >> 8) & 0xff); }
uint8_t TupleFlags(uint32_t t) { return static_cast<uint8_t>(t >> 16); }

uint8_t FlagsOf(const RuleMatch& m) {
  uint8_t f = 0;
  if (m.sport.lo == m.sport.hi) f |= kSportExact;
  if (m.dport.lo == m.dport.hi) f |= kDportExact;
  if (m.proto_mask == 0xff) f |= kProtoExact;
  if (m.family != 0) f |= kFamilyExact;
  return f;
}

// The tuple a rule fits exactly.
uint32_t NaturalTuple(const RuleMatch& m) { return PackTuple(m.src.len, m.dst.len, FlagsOf(m)); }

// A table with tuple `table` can hold a rule whose natural tuple is `rule`: it hashes on a subset
// of the bits the rule fixes.
bool Compatible(uint32_t table, uint32_t rule) {
  return TupleSrc(table) <= TupleSrc(rule) && TupleDst(table) <= TupleDst(rule) &&
         (TupleFlags(table) & ~TupleFlags(rule)) == 0;
}

int Relax(int len, const TupleMergeOptions& o) {
  if (len >= 96) {  // IPv4 (mapped): round the IPv4 length down to the grid
    int v4 = len - 96;
    return 96 + v4 - v4 % o.v4_grid;
  }
  return len - len % o.v6_grid;
}

// Tuples for a new table made for a rule, most relaxed first: shorter prefixes and fewer exact
// fields, so that later rules fit too. When the most relaxed table exists (and was full for this
// rule), the next, finer one is tried, ending with the rule's own tuple.
std::vector<uint32_t> NewTableTuples(const RuleMatch& m, const TupleMergeOptions& o) {
  std::vector<uint32_t> out;
  const uint8_t flags = FlagsOf(m);
  for (int g4 = o.v4_grid, g6 = o.v6_grid; g4 >= 1 && g6 >= 1; g4 /= 2, g6 /= 2) {
    TupleMergeOptions fine = o;
    fine.v4_grid = g4;
    fine.v6_grid = g6;
    int src = m.src.len == 0 ? 0 : Relax(m.src.len, fine);
    int dst = m.dst.len == 0 ? 0 : Relax(m.dst.len, fine);
    out.push_back(PackTuple(src, dst, static_cast<uint8_t>(flags & ~o.relax_flags)));
    out.push_back(PackTuple(src, dst, flags));
    if (g4 == 1 && g6 == 1) break;
  }
  out.push_back(NaturalTuple(m));
  return out;
}

uint64_t HiMask(int len) {
  if (len <= 0) return 0;
  if (len >= 64) return ~0ull;
  return ~0ull << (64 - len);
}
uint64_t LoMask(int len) {
  if (len <= 64) return 0;
  if (len >= 128) return ~0ull;
  return ~0ull << (128 - len);
}

Words MaskFor(uint32_t tuple) {
  uint8_t f = TupleFlags(tuple);
  uint64_t misc = 0;
  if (f & kSportExact) misc |= 0xffffull << 48;
  if (f & kDportExact) misc |= 0xffffull << 32;
  if (f & kProtoExact) misc |= 0xffull << 8;
  if (f & kFamilyExact) misc |= 0xffull;
  return Words{{HiMask(TupleSrc(tuple)), LoMask(TupleSrc(tuple)), HiMask(TupleDst(tuple)),
                LoMask(TupleDst(tuple)), misc}};
}

inline uint64_t Misc(uint16_t sport, uint16_t dport, uint8_t proto, uint8_t family) {
  return uint64_t{sport} << 48 | uint64_t{dport} << 32 | uint64_t{proto} << 8 | family;
}

Words RuleWords(const RuleMatch& m) {
  return Words{{m.src.addr.hi, m.src.addr.lo, m.dst.addr.hi, m.dst.addr.lo,
                Misc(m.sport.lo, m.dport.lo, m.proto, m.family)}};
}

inline Words KeyWords(const ClassKey& k) {
  return Words{{k.src.hi, k.src.lo, k.dst.hi, k.dst.lo, Misc(k.sport, k.dport, k.proto, k.family)}};
}

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Any function of the masked words works for correctness (entries are verified); this one only
// has to spread them well and be cheap.
inline uint64_t Hash(const Words& k, const Words& m) {
  uint64_t h = ((k.w[0] & m.w[0]) * 0x9E3779B97F4A7C15ull) ^
               Rotl((k.w[1] & m.w[1]) * 0xC2B2AE3D27D4EB4Full, 31) ^
               Rotl((k.w[2] & m.w[2]) * 0x165667B19E3779F9ull, 17) ^
               Rotl((k.w[3] & m.w[3]) * 0xD6E8FEB86659FD93ull, 47) ^
               ((k.w[4] & m.w[4]) + 0x27D4EB2F165667C5ull) * 0xFF51AFD7ED558CCDull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 29;
  return h;
}

inline uint64_t ShardIndex(uint64_t h, uint64_t shard_mask) { return (h >> 40) & shard_mask; }

}  // namespace

Entry Entry::Make(uint64_t order, uint32_t value, const RuleMatch& m) {
  Entry e{};
  e.order = order;
  e.value = value;
  e.mask[0] = HiMask(m.src.len);
  e.mask[1] = LoMask(m.src.len);
  e.mask[2] = HiMask(m.dst.len);
  e.mask[3] = LoMask(m.dst.len);
  e.addr[0] = m.src.addr.hi & e.mask[0];
  e.addr[1] = m.src.addr.lo & e.mask[1];
  e.addr[2] = m.dst.addr.hi & e.mask[2];
  e.addr[3] = m.dst.addr.lo & e.mask[3];
  e.sport_lo = m.sport.lo;
  e.sport_span = static_cast<uint16_t>(m.sport.hi - m.sport.lo);
  e.dport_lo = m.dport.lo;
  e.dport_span = static_cast<uint16_t>(m.dport.hi - m.dport.lo);
  e.proto = m.proto;
  e.proto_mask = m.proto_mask;
  e.direction_mask = m.direction_mask;
  e.family = m.family;
  return e;
}

namespace {

using Bucket = std::vector<Entry>;
using ShardBuilder = absl::flat_hash_map<uint64_t, Bucket>;

const std::shared_ptr<const Shard>& EmptyShard() {
  static const std::shared_ptr<const Shard> empty = [] {
    auto s = std::make_shared<Shard>();
    s->slots.assign(1, Slot{0, 0, 0});
    return std::shared_ptr<const Shard>(std::move(s));
  }();
  return empty;
}

std::shared_ptr<const Shard> Freeze(const ShardBuilder& b) {
  size_t buckets = 0, rules = 0;
  for (const auto& [h, bucket] : b) {
    if (!bucket.empty()) {
      ++buckets;
      rules += bucket.size();
    }
  }
  if (buckets == 0) return EmptyShard();
  auto s = std::make_shared<Shard>();
  size_t cap = std::bit_ceil(std::max<size_t>(2, buckets * 4));  // at most 1/4 full: misses are the common case
  s->slots.assign(cap, Slot{0, 0, 0});
  s->entries.reserve(rules);
  uint64_t mask = cap - 1;
  for (const auto& [h, bucket] : b) {
    if (bucket.empty()) continue;
    uint64_t i = h & mask;
    while (s->slots[i].count != 0) i = (i + 1) & mask;
    s->slots[i] = Slot{h, static_cast<uint32_t>(s->entries.size()), static_cast<uint32_t>(bucket.size())};
    s->entries.insert(s->entries.end(), bucket.begin(), bucket.end());
    s->best = std::min(s->best, bucket.front().order);
  }
  s->rules = rules;
  return s;
}

void ThawInto(const Shard& s, ShardBuilder* b) {
  for (const Slot& sl : s.slots) {
    if (sl.count == 0) continue;
    Bucket& bucket = (*b)[sl.hash];
    bucket.insert(bucket.end(), s.entries.begin() + sl.begin, s.entries.begin() + sl.begin + sl.count);
  }
}

const Slot* FindSlot(const Shard& s, uint64_t h) {
  uint64_t mask = s.slots.size() - 1;
  for (uint64_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& sl = s.slots[i];
    if (sl.count == 0) return nullptr;
    if (sl.hash == h) return &sl;
  }
}

void InsertSorted(Bucket& b, const Entry& e) {
  auto it = std::lower_bound(b.begin(), b.end(), e.order,
                             [](const Entry& x, uint64_t o) { return x.order < o; });
  b.insert(it, e);
}

int ShardBitsFor(size_t rules, const TupleMergeOptions& o) {
  size_t shards = std::bit_ceil(std::max<size_t>(1, rules / std::max<size_t>(1, o.rules_per_shard)));
  return std::min(kMaxShardBits, std::countr_zero(shards));
}

size_t IdShardOf(uint32_t id) { return (id * 0x9E3779B1u) >> 26; }  // top 6 bits: 64 shards
static_assert(kIdShards == 64);

}  // namespace

// The mutable working state of one change: tables touched so far and their thawed shards.
class Changer {
 public:
  Changer(const TupleMergeClassifier& base) : base_(base), o_(base.options_) {
    work_.reserve(base.tables_.size() + 8);
    for (const auto& t : base.tables_) {
      WorkTable w;
      w.tuple = t->tuple;
      w.mask = t->mask;
      w.base = t;
      w.shard_bits = t->shard_bits;
      w.rules = t->rules;
      by_tuple_[w.tuple] = work_.size();
      work_.push_back(std::move(w));
    }
    ids_ = base.ids_;
  }

  void Remove(uint32_t id) {
    const IdLoc* loc = base_.FindId(id);  // validated: present
    WorkTable& w = work_[by_tuple_.at(loc->tuple)];
    ShardBuilder& b = BuilderFor(w, loc->hash);
    auto it = b.find(loc->hash);
    Bucket& bucket = it->second;
    for (auto e = bucket.begin(); e != bucket.end(); ++e) {
      if (static_cast<uint32_t>(e->order) == id) {
        bucket.erase(e);
        break;
      }
    }
    if (bucket.empty()) b.erase(it);
    --w.rules;
    MutableIds(id).erase(id);
  }

  void Add(const ClassRule& r) {
    uint32_t natural = NaturalTuple(r.match);
    Words words = RuleWords(r.match);
    // TupleMerge: the most specific existing table that can hold the rule without its bucket
    // reaching the bound; otherwise a new table with a relaxed tuple.
    size_t chosen = SIZE_MAX;
    int chosen_spec = -1;
    uint64_t chosen_hash = 0;
    for (size_t i = 0; i < work_.size(); ++i) {
      WorkTable& w = work_[i];
      if (!Compatible(w.tuple, natural)) continue;
      int spec = TupleSrc(w.tuple) + TupleDst(w.tuple) + std::popcount(TupleFlags(w.tuple)) * 16;
      if (spec <= chosen_spec) continue;
      uint64_t h = Hash(words, w.mask);
      if (BucketSize(w, h) + 1 >= o_.max_bucket) continue;
      chosen = i;
      chosen_spec = spec;
      chosen_hash = h;
    }
    if (chosen == SIZE_MAX) {
      uint32_t tuple = natural;
      for (uint32_t t : NewTableTuples(r.match, o_)) {
        if (!by_tuple_.contains(t)) {
          tuple = t;
          break;
        }
      }
      auto it = by_tuple_.find(tuple);
      if (it != by_tuple_.end()) {
        chosen = it->second;  // every candidate table is crowded: the bucket grows past the bound
      } else {
        WorkTable w;
        w.tuple = tuple;
        w.mask = MaskFor(tuple);
        chosen = work_.size();
        by_tuple_[tuple] = chosen;
        work_.push_back(std::move(w));
      }
      chosen_hash = Hash(words, work_[chosen].mask);
    }
    WorkTable& w = work_[chosen];
    Entry e = Entry::Make(OrderKey(r), r.value, r.match);
    InsertSorted(BuilderFor(w, chosen_hash)[chosen_hash], e);
    ++w.rules;
    MutableIds(r.id)[r.id] = IdLoc{chosen_hash, w.tuple};
  }

  std::shared_ptr<TupleMergeClassifier> Finish() {
    auto out = std::make_shared<TupleMergeClassifier>();
    out->options_ = o_;
    size_t rules = 0;
    for (WorkTable& w : work_) {
      rules += w.rules;
      if (w.rules == 0) continue;
      if (w.base && w.thawed.empty()) {
        out->tables_.push_back(w.base);
        continue;
      }
      out->tables_.push_back(FreezeTable(w));
    }
    out->rules_ = rules;
    for (int i = 0; i < kIdShards; ++i) {
      if (mutable_ids_[i]) ids_[i] = std::move(mutable_ids_[i]);
    }
    out->ids_ = std::move(ids_);
    out->Finish();
    return out;
  }

 private:
  struct WorkTable {
    uint32_t tuple = 0;
    Words mask{};
    std::shared_ptr<const Table> base;  // null for a table this change creates
    int shard_bits = 0;
    size_t rules = 0;
    absl::flat_hash_map<uint64_t, ShardBuilder> thawed;  // shard index → builder (tables with base)
    ShardBuilder all;                                    // every rule of a new table
  };

  ShardBuilder& BuilderFor(WorkTable& w, uint64_t h) {
    if (!w.base) return w.all;
    uint64_t idx = ShardIndex(h, (uint64_t{1} << w.shard_bits) - 1);
    auto [it, inserted] = w.thawed.try_emplace(idx);
    if (inserted) ThawInto(*w.base->shards[idx], &it->second);
    return it->second;
  }

  size_t BucketSize(WorkTable& w, uint64_t h) {
    const ShardBuilder* b = nullptr;
    if (!w.base) {
      b = &w.all;
    } else {
      uint64_t idx = ShardIndex(h, (uint64_t{1} << w.shard_bits) - 1);
      auto it = w.thawed.find(idx);
      if (it == w.thawed.end()) {
        const Slot* sl = FindSlot(*w.base->shards[idx], h);
        return sl ? sl->count : 0;
      }
      b = &it->second;
    }
    auto it = b->find(h);
    return it == b->end() ? 0 : it->second.size();
  }

  std::shared_ptr<const Table> FreezeTable(WorkTable& w) {
    auto t = std::make_shared<Table>();
    t->tuple = w.tuple;
    t->mask = w.mask;
    t->rules = w.rules;
    bool reshard = !w.base || (w.shard_bits < kMaxShardBits &&
                               w.rules > (size_t{4} << w.shard_bits) * o_.rules_per_shard);
    if (reshard) {
      // A new table, or one that outgrew its shards: (re)distribute every rule. For a grown table
      // this costs O(table) once per 4x growth, i.e. amortized O(1) per added rule.
      if (w.base) {
        for (size_t i = 0; i < w.base->shards.size(); ++i) {
          auto it = w.thawed.find(i);
          if (it != w.thawed.end()) {
            for (auto& [h, bucket] : it->second) w.all[h] = std::move(bucket);
          } else {
            ThawInto(*w.base->shards[i], &w.all);
          }
        }
      }
      t->shard_bits = ShardBitsFor(w.rules, o_);
      uint64_t smask = (uint64_t{1} << t->shard_bits) - 1;
      std::vector<ShardBuilder> parts(size_t{1} << t->shard_bits);
      for (auto& [h, bucket] : w.all) parts[ShardIndex(h, smask)][h] = std::move(bucket);
      t->shards.reserve(parts.size());
      for (const ShardBuilder& p : parts) t->shards.push_back(Freeze(p));
    } else {
      t->shard_bits = w.shard_bits;
      t->shards = w.base->shards;
      for (auto& [idx, b] : w.thawed) t->shards[idx] = Freeze(b);
    }
    t->refs.reserve(t->shards.size());
    for (const auto& s : t->shards) {
      t->best = std::min(t->best, s->best);
      t->refs.push_back(ShardRef{s->slots.data(), s->entries.data(), s->slots.size() - 1});
    }
    return t;
  }

  IdShard& MutableIds(uint32_t id) {
    size_t s = IdShardOf(id);
    if (!mutable_ids_[s]) mutable_ids_[s] = std::make_shared<IdShard>(ids_[s] ? *ids_[s] : IdShard());
    return *mutable_ids_[s];
  }

  const TupleMergeClassifier& base_;
  TupleMergeOptions o_;
  std::vector<WorkTable> work_;
  absl::flat_hash_map<uint32_t, size_t> by_tuple_;
  std::array<std::shared_ptr<const IdShard>, kIdShards> ids_;
  std::array<std::shared_ptr<IdShard>, kIdShards> mutable_ids_;
};

const IdLoc* TupleMergeClassifier::FindId(uint32_t id) const {
  const auto& shard = ids_[IdShardOf(id)];
  if (!shard) return nullptr;
  auto it = shard->find(id);
  return it == shard->end() ? nullptr : &it->second;
}

void TupleMergeClassifier::Finish() {
  std::sort(tables_.begin(), tables_.end(),
            [](const auto& a, const auto& b) { return a->best < b->best; });
  hot_.clear();
  hot_.reserve(tables_.size());
  for (const auto& t : tables_) {
    hot_.push_back(HotTable{t->mask, t->best, (uint64_t{1} << t->shard_bits) - 1, t->refs.data()});
  }
  pipeline_ = Stats().memory_bytes >= options_.pipeline_min_bytes;
}

absl::StatusOr<std::shared_ptr<const TupleMergeClassifier>> TupleMergeClassifier::Make(
    std::span<const ClassRule> rules, const TupleMergeOptions& options) {
  if (absl::Status s = ValidateRules(rules); !s.ok()) return s;
  TupleMergeClassifier empty;
  empty.options_ = options;
  return empty.Apply(rules, {});
}

absl::StatusOr<std::shared_ptr<const TupleMergeClassifier>> TupleMergeClassifier::Apply(
    std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const {
  Changer c(*this);
  for (uint32_t id : remove_ids) c.Remove(id);
  // Best rules first: they land in the most specific tables, which helps early exit.
  std::vector<const ClassRule*> sorted;
  sorted.reserve(add.size());
  for (const ClassRule& r : add) sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(),
            [](const ClassRule* a, const ClassRule* b) { return OrderKey(*a) < OrderKey(*b); });
  for (const ClassRule* r : sorted) c.Add(*r);
  return std::shared_ptr<const TupleMergeClassifier>(c.Finish());
}

absl::StatusOr<std::shared_ptr<const Classifier>> TupleMergeClassifier::WithChanges(
    std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const {
  if (absl::Status s = ValidateChanges(add, remove_ids,
                                       [this](uint32_t id) { return FindId(id) != nullptr; });
      !s.ok()) {
    return s;
  }
  auto next = Apply(add, remove_ids);
  if (!next.ok()) return next.status();
  return std::shared_ptr<const Classifier>(*std::move(next));
}

uint32_t TupleMergeClassifier::Lookup(const ClassKey& key) const {
  const Words k = KeyWords(key);
  uint64_t best = ~0ull;
  uint32_t value = kNoMatch;
  for (const HotTable& t : hot_) {
    if (t.best >= best) break;  // tables are sorted by their best rule: none later can win
    uint64_t h = Hash(k, t.mask);
    const ShardRef& s = t.refs[ShardIndex(h, t.shard_mask)];
    for (uint64_t i = h & s.slot_mask;; i = (i + 1) & s.slot_mask) {
      const Slot& sl = s.slots[i];
      if (sl.count == 0) break;
      if (sl.hash != h) continue;
      const Entry* e = s.entries + sl.begin;
      const Entry* end = e + sl.count;
      for (; e != end && e->order < best; ++e) {
        if (e->Matches(key)) {
          best = e->order;
          value = e->value;
          break;
        }
      }
      break;
    }
  }
  return value;
}

void TupleMergeClassifier::LookupBatch(const ClassKey* keys, size_t n, uint32_t* out) const {
  if (!pipeline_) {
    for (size_t i = 0; i < n; ++i) out[i] = Lookup(keys[i]);
    return;
  }
  constexpr size_t kChunk = 32;
  Words k[kChunk];
  uint64_t best[kChunk];
  uint64_t hash[kChunk];
  const ShardRef* ref[kChunk];
  const Slot* slot[kChunk];
  uint8_t active[kChunk];
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    const ClassKey* ck = keys + base;
    uint32_t* o = out + base;
    for (size_t i = 0; i < m; ++i) {
      k[i] = KeyWords(ck[i]);
      best[i] = ~0ull;
      o[i] = kNoMatch;
    }
    for (const HotTable& t : hot_) {
      // Pass 1: hash the keys this table can still improve, prefetch their home slots.
      size_t na = 0;
      for (size_t i = 0; i < m; ++i) {
        if (t.best >= best[i]) continue;
        uint64_t h = Hash(k[i], t.mask);
        const ShardRef* s = &t.refs[ShardIndex(h, t.shard_mask)];
        hash[i] = h;
        ref[i] = s;
        __builtin_prefetch(&s->slots[h & s->slot_mask]);
        active[na++] = static_cast<uint8_t>(i);
      }
      if (na == 0) break;  // no key can improve here, nor in any later table
      // Pass 2: find each key's slot, prefetch its entries.
      size_t nf = 0;
      for (size_t j = 0; j < na; ++j) {
        size_t i = active[j];
        const ShardRef& s = *ref[i];
        const uint64_t h = hash[i];
        for (uint64_t x = h & s.slot_mask;; x = (x + 1) & s.slot_mask) {
          const Slot& sl = s.slots[x];
          if (sl.count == 0) break;
          if (sl.hash != h) continue;
          slot[i] = &sl;
          __builtin_prefetch(s.entries + sl.begin);
          active[nf++] = static_cast<uint8_t>(i);
          break;
        }
      }
      // Pass 3: verify candidates in (priority, id) order.
      for (size_t j = 0; j < nf; ++j) {
        size_t i = active[j];
        const Entry* e = ref[i]->entries + slot[i]->begin;
        const Entry* end = e + slot[i]->count;
        for (; e != end && e->order < best[i]; ++e) {
          if (e->Matches(ck[i])) {
            best[i] = e->order;
            o[i] = e->value;
            break;
          }
        }
      }
    }
  }
}

ClassifierStats TupleMergeClassifier::Stats() const {
  ClassifierStats s;
  s.rules = rules_;
  s.tables = tables_.size();
  size_t bytes = sizeof(*this) + hot_.capacity() * sizeof(HotTable) +
                 tables_.capacity() * sizeof(tables_[0]);
  for (const auto& t : tables_) {
    bytes += sizeof(Table) + t->shards.capacity() * sizeof(t->shards[0]) +
             t->refs.capacity() * sizeof(ShardRef);
    for (const auto& sh : t->shards) {
      if (sh != EmptyShard()) bytes += sh->Bytes();
    }
  }
  for (const auto& ids : ids_) {
    if (ids) bytes += sizeof(IdShard) + ids->capacity() * (sizeof(IdShard::value_type) + 1);
  }
  s.memory_bytes = bytes;
  return s;
}

std::vector<TupleMergeClassifier::TableInfo> TupleMergeClassifier::Tables() const {
  std::vector<TableInfo> out;
  for (const auto& t : tables_) {
    size_t max_bucket = 0;
    for (const auto& sh : t->shards) {
      for (const Slot& sl : sh->slots) max_bucket = std::max<size_t>(max_bucket, sl.count);
    }
    out.push_back(TableInfo{t->tuple, t->rules, t->shards.size(), max_bucket, t->best});
  }
  return out;
}

}  // namespace rampart::classifier_internal

namespace rampart {

absl::StatusOr<std::shared_ptr<const Classifier>> Classifier::Build(std::span<const ClassRule> rules) {
  auto c = classifier_internal::TupleMergeClassifier::Make(rules);
  if (!c.ok()) return c.status();
  return std::shared_ptr<const Classifier>(*std::move(c));
}

}  // namespace rampart
