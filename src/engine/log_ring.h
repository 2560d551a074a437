// Per-worker ring of log records (rules with the log flag): single producer (the worker),
// single consumer (the control thread draining it). Fixed size, no allocation after
// construction; a record that finds the ring full is dropped and the worker counts
// "log-ring-full".
//
// Thread-safety: Push only from the owning worker, Drain only from one control thread at a time.
#ifndef RAMPART_ENGINE_LOG_RING_H_
#define RAMPART_ENGINE_LOG_RING_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine.h"

namespace rampart {

class LogRing {
 public:
  explicit LogRing(uint32_t entries) {
    uint32_t n = 2;
    while (n < entries) n <<= 1;
    slots_ = std::make_unique<LogRecord[]>(n);
    mask_ = n - 1;
  }

  bool Push(const LogRecord& r) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) > mask_) return false;
    slots_[head & mask_] = r;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  size_t Drain(std::vector<LogRecord>* out) {
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    size_t n = 0;
    for (; tail != head; ++tail, ++n) out->push_back(slots_[tail & mask_]);
    tail_.store(tail, std::memory_order_release);
    return n;
  }

 private:
  std::unique_ptr<LogRecord[]> slots_;
  uint64_t mask_ = 0;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_LOG_RING_H_
