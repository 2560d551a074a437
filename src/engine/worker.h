// Private to the engine: the published snapshot and the per-worker state.
//
// Snapshot: everything a worker needs to map and classify a frame, immutable once published
// (the control thread builds a new one for every change and swaps it in with one atomic store;
// a worker loads it once per batch). The only mutable parts reachable from a snapshot are the
// per-worker rule hit cells of a PolicyState, each written by one worker only.
//
// Worker: per-thread state (connection tables, fragment table, counters, log ring, reply
// buffer). Written only by its thread, except under "workers quiesced" control operations;
// counters are single-writer relaxed atomics that the control thread sums.
#ifndef RAMPART_ENGINE_WORKER_H_
#define RAMPART_ENGINE_WORKER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "conntrack/conntrack.h"
#include "engine/engine.h"
#include "engine/fragment_table.h"
#include "engine/log_ring.h"
#include "packet/builder.h"
#include "packet/packet.h"

namespace rampart {

// Single-writer counter: the owner adds with a relaxed load+store (no locked instruction), any
// thread reads.
class Counter {
 public:
  void Add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }
  void Reset() { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct RuleHitCell {
  Counter packets;
  Counter bytes;
  Counter connections;
};

// One published policy of one instance, with its hit cells ([worker][rule index]).
struct PolicyState {
  std::shared_ptr<const CompiledPolicy> policy;
  uint32_t epoch = 0;  // engine-wide counter bumped by every SetPolicy; cached in CtVerdict
  size_t num_rules = 0;
  std::unique_ptr<RuleHitCell[]> hits;
  absl::flat_hash_map<uint32_t, uint32_t> index_of;  // rule id -> index in policy->rules
  std::vector<uint16_t> service_ids;                  // policy->services index -> engine id
  // Engine id of a rule's redirect target (kNoService when the policy names none there).
  uint16_t ServiceIdOf(const CompiledRule& r) const {
    return r.redirect_service < service_ids.size() ? service_ids[r.redirect_service] : kNoService;
  }

  RuleHitCell* HitsOf(int worker) const { return hits.get() + static_cast<size_t>(worker) * num_rules; }
};

struct InstanceState {
  InstanceInfo info;
  uint32_t slot = 0;
  uint64_t incarnation = 0;                  // unique per CreateInstance, never 0
  std::shared_ptr<InstanceBudget> budget;    // null = no instance limit
  std::shared_ptr<PolicyState> policy;       // null until SetPolicy
};

struct TagEntry {
  bool bound = false;
  uint32_t slot = 0;
  TagBinding binding;
};
using TagTable = std::array<TagEntry, kMaxVlanId + 1>;

struct Snapshot {
  uint64_t version = 0;
  std::shared_ptr<const TagTable> tags;
  std::vector<std::shared_ptr<const InstanceState>> slots;  // max_instances; null = free
  absl::flat_hash_map<InstanceId, uint32_t> slot_of;        // live instances
};

struct CounterSet {
  std::array<Counter, kReasonCount> by_reason;
  std::array<Counter, 4> packets_by_verdict;
  std::array<Counter, 4> bytes_by_verdict;
  void Reset() {
    for (auto& c : by_reason) c.Reset();
    for (auto& c : packets_by_verdict) c.Reset();
    for (auto& c : bytes_by_verdict) c.Reset();
  }
  void AddTo(InstanceCounters* out) const {
    for (int i = 0; i < kReasonCount; ++i) out->by_reason[i] += by_reason[i].Get();
    for (int i = 0; i < 4; ++i) {
      out->packets_by_verdict[i] += packets_by_verdict[i].Get();
      out->bytes_by_verdict[i] += bytes_by_verdict[i].Get();
    }
  }
};

// A worker's state for one instance slot.
struct WorkerSlot {
  std::atomic<uint64_t> incarnation{0};  // 0 = unused; else the InstanceState it belongs to
  CounterSet counters;
  std::shared_ptr<InstanceBudget> budget;  // keeps the budget alive for the tables
  absl::flat_hash_map<PortId, std::unique_ptr<ConnTable>> ports;
};

class Engine;

class Worker {
 public:
  Worker(int index, const EngineOptions& options);

  int index() const { return index_; }

  // ---- Everything below: the engine's (pipeline.cc, engine.cc).
  int index_;
  uint32_t max_instances_;
  std::unique_ptr<WorkerSlot[]> slots_;
  CounterSet engine_counters_;  // frames that reached no instance
  FragmentTable frags_;
  LogRing logs_;
  uint64_t seen_version_ = 0;
  // Round-robin expiry over this worker's tables.
  std::vector<ConnTable*> tables_;
  size_t expire_cursor_ = 0;
  // Per-batch scratch (fixed size, no allocation per batch).
  std::array<ParsedPacket, kMaxBatch> parsed_;
  std::unique_ptr<uint8_t[]> reply_buf_;  // kMaxBatch * kReplySlot
  static constexpr size_t kReplySlot = kMaxIcmpUnreachableLen > kMaxTcpResetLen ? kMaxIcmpUnreachableLen
                                                                                  : kMaxTcpResetLen;
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_WORKER_H_
