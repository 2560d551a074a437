// Per-worker table that lets later IP fragments follow their first fragment's verdict.
//
// Only a first fragment carries the L4 header, so only it can be classified by ports and
// tracked. The engine records its decision here under (instance slot, port, direction, src, dst,
// proto, fragment id); later fragments of the same datagram look it up. Entries expire after a
// timeout (then a late fragment counts as "fragment-without-first"). Fixed size, open
// addressing with a bounded probe: no allocation after construction; when every slot of a probe
// window is live, Insert fails and the caller counts "fragment-table-full".
//
// Thread-safety: none; one table per worker.
#ifndef RAMPART_ENGINE_FRAGMENT_TABLE_H_
#define RAMPART_ENGINE_FRAGMENT_TABLE_H_

#include <cstdint>
#include <memory>

#include "common/ip.h"
#include "engine/reasons.h"

namespace rampart {

struct FragKey {
  Ip src;
  Ip dst;
  uint32_t frag_id = 0;
  uint32_t slot = 0;      // instance slot
  uint32_t port_id = 0;
  uint8_t proto = 0;
  uint8_t direction = 0;
  uint8_t pad_[2] = {};
  friend bool operator==(const FragKey&, const FragKey&) = default;
};

struct FragDecision {
  Verdict verdict = Verdict::kDrop;
  uint16_t service = 0;
  uint16_t service_id = 0xffff;  // kNoService
  uint32_t rule_id = 0;
  uint64_t incarnation = 0;  // of the instance slot; a reused slot never matches old entries
};

class FragmentTable {
 public:
  static constexpr int kProbe = 8;

  // `entries` is rounded up to a power of two (at least kProbe).
  FragmentTable(uint32_t entries, uint64_t timeout_ns);

  // Records (or refreshes) the decision for a datagram. Returns false when no slot is free.
  bool Insert(const FragKey& key, const FragDecision& d, uint64_t now_ns);
  // The live decision for `key`, or nullptr (absent or expired). Sets *expired when an entry was
  // found but had expired.
  const FragDecision* Find(const FragKey& key, uint64_t now_ns, bool* expired) const;

  uint32_t capacity() const { return mask_ + 1; }

 private:
  struct Entry {
    FragKey key;
    FragDecision decision;
    uint64_t expires_ns = 0;  // 0 = empty
  };
  static uint64_t Hash(const FragKey& k);

  std::unique_ptr<Entry[]> entries_;
  uint32_t mask_ = 0;
  uint64_t timeout_ns_ = 0;
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_FRAGMENT_TABLE_H_
