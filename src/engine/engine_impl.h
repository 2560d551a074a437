// Private to the engine: Engine::Impl, shared by engine.cc (control) and pipeline.cc (data).
#ifndef RAMPART_ENGINE_ENGINE_IMPL_H_
#define RAMPART_ENGINE_ENGINE_IMPL_H_

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/engine.h"
#include "engine/worker.h"

namespace rampart {

struct Engine::Impl {
  EngineOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::shared_ptr<const Snapshot>> published;

  // Control side, guarded by mu.
  mutable std::mutex mu;
  std::shared_ptr<const Snapshot> current;  // what `published` holds
  uint64_t next_incarnation = 1;
  uint32_t next_epoch = 1;
  struct RuleTotals {
    absl::flat_hash_map<uint32_t, RuleHits> folded;       // from snapshots no worker can hold
    std::vector<std::shared_ptr<PolicyState>> retired;   // replaced, maybe still held
  };
  absl::flat_hash_map<InstanceId, RuleTotals> rule_totals;
  // Redirect service names by engine id, and the reverse (InternService).
  std::vector<ServiceName> service_names;
  std::map<std::pair<std::string, std::string>, uint16_t> service_ids;

  // REQUIRES: mu held.
  absl::StatusOr<uint16_t> InternLocked(std::string_view tenant, std::string_view name);

  // Publishes a copy of `current` changed by `edit`. REQUIRES: mu held.
  template <typename F>
  void Publish(F&& edit) {
    auto next = std::make_shared<Snapshot>(*current);
    next->version = current->version + 1;
    edit(*next);
    current = next;
    published.store(current, std::memory_order_release);
  }

  // Worker-side helpers (pipeline.cc); also used by control ops while workers are quiesced.
  static void Reconcile(Worker& w, const Snapshot& snap);
  static WorkerSlot& EnsureSlot(Worker& w, const InstanceState& inst);
  static ConnTable* TableFor(Worker& w, WorkerSlot& ws, const InstanceState& inst, PortId port);
  static ConnTableOptions TableOptions(const InstanceState& inst);
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_ENGINE_IMPL_H_
