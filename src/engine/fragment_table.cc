#include "engine/fragment_table.h"

namespace rampart {
namespace {
uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}
}  // namespace

FragmentTable::FragmentTable(uint32_t entries, uint64_t timeout_ns) : timeout_ns_(timeout_ns) {
  uint32_t n = kProbe;
  while (n < entries) n <<= 1;
  entries_ = std::make_unique<Entry[]>(n);
  mask_ = n - 1;
}

uint64_t FragmentTable::Hash(const FragKey& k) {
  uint64_t h = Mix(k.src.hi, k.src.lo);
  h = Mix(h, k.dst.hi);
  h = Mix(h, k.dst.lo);
  h = Mix(h, (uint64_t{k.frag_id} << 32) | k.slot);
  h = Mix(h, (uint64_t{k.port_id} << 16) | (uint64_t{k.proto} << 8) | k.direction);
  return h;
}

bool FragmentTable::Insert(const FragKey& key, const FragDecision& d, uint64_t now_ns) {
  const uint64_t h = Hash(key);
  Entry* free_slot = nullptr;
  for (int i = 0; i < kProbe; ++i) {
    Entry& e = entries_[(h + i) & mask_];
    const bool live = e.expires_ns != 0 && e.expires_ns > now_ns;
    if (live && e.key == key) {
      free_slot = &e;
      break;
    }
    if (!live && free_slot == nullptr) free_slot = &e;
  }
  if (free_slot == nullptr) return false;
  free_slot->key = key;
  free_slot->decision = d;
  free_slot->expires_ns = now_ns + timeout_ns_ + 1;  // never 0
  return true;
}

const FragDecision* FragmentTable::Find(const FragKey& key, uint64_t now_ns, bool* expired) const {
  *expired = false;
  const uint64_t h = Hash(key);
  for (int i = 0; i < kProbe; ++i) {
    const Entry& e = entries_[(h + i) & mask_];
    if (e.expires_ns == 0 || !(e.key == key)) continue;
    if (e.expires_ns > now_ns) return &e.decision;
    *expired = true;
  }
  return nullptr;
}

}  // namespace rampart
