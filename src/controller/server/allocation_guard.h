// Private to rampart_server: the store as the physical stage sees it, with its allocations
// committed by compare-and-swap.
//
// Every controller on a shared store runs the physical stage and persists the numbers it chose
// (datapath keys, port keys, slice tags, instance and engine-port ids) under kAllocPrefix. Two
// controllers that batch the same northbound changes differently could choose differently; the
// physical stage writes its choices unconditionally, so the last writer's numbers would win in
// the store while the other controller's hosts keep its own: a datapath key, which must be the
// same on every host, could differ between hosts of different controllers.
//
// AllocationGuard forwards everything to the real store, remembers the allocation keys' values
// as this controller last read or wrote them, and turns the physical stage's allocation
// transaction (only puts/deletes under kAllocPrefix, no compares) into a compare-and-swap: each
// key must still hold the value this controller last saw (or be absent). When another controller
// changed a key in between:
//   - it wrote what this controller is writing (the usual case: both make the same decisions):
//     that key needs no write;
//   - it wrote something else: a conflict. The transaction is refused (the physical stage then
//     fails and changes nothing), conflict() names the key and both values, and the controller
//     must recompute from the store (docs/controller.md, "Several controllers").
//
// Thread-safety: one thread at a time for Range/Commit (the controller's apply loop); the other
// calls are forwarded as they are.
#ifndef RAMPART_CONTROLLER_SERVER_ALLOCATION_GUARD_H_
#define RAMPART_CONTROLLER_SERVER_ALLOCATION_GUARD_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "store/store.h"

namespace rampart::controller {

class AllocationGuard : public store::Store {
 public:
  explicit AllocationGuard(store::Store* inner) : inner_(inner) {}

  absl::StatusOr<std::optional<store::KeyValue>> Get(std::string_view key) override { return inner_->Get(key); }
  // A read of the allocation prefix (PhysicalStage::Load) also fills the remembered values.
  absl::StatusOr<store::RangeResult> Range(std::string_view prefix) override;
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0) override {
    return inner_->Put(key, value, lease);
  }
  absl::StatusOr<int64_t> Delete(std::string_view key) override { return inner_->Delete(key); }
  // An allocation transaction (ops under kAllocPrefix only, no compares) is committed by
  // compare-and-swap as described above; any other transaction is forwarded.
  absl::StatusOr<store::TxnResult> Commit(const store::Txn& txn) override;
  absl::StatusOr<std::unique_ptr<store::WatchHandle>> Watch(std::string_view prefix, int64_t start_revision,
                                                            store::WatchCallbacks callbacks) override {
    return inner_->Watch(prefix, start_revision, std::move(callbacks));
  }
  absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds) override { return inner_->GrantLease(ttl_seconds); }
  absl::Status KeepAlive(int64_t lease) override { return inner_->KeepAlive(lease); }
  absl::Status RevokeLease(int64_t lease) override { return inner_->RevokeLease(lease); }
  absl::StatusOr<int64_t> CurrentRevision() override { return inner_->CurrentRevision(); }
  std::string Describe() const override { return inner_->Describe(); }

  // The first conflict seen ("key: the store holds X, this controller chose Y"), if any.
  std::optional<std::string> conflict() const;
  // Allocation keys another controller had already written as this one was about to (no write
  // needed), and transactions retried because of them: for tests and stats.
  size_t adopted() const { return adopted_.load(std::memory_order_relaxed); }

 private:
  store::Store* inner_;
  absl::flat_hash_map<std::string, std::string> seen_;  // allocation key -> value last read/written
  mutable std::mutex mu_;                               // guards conflict_
  std::optional<std::string> conflict_;
  std::atomic<size_t> adopted_{0};
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_SERVER_ALLOCATION_GUARD_H_
