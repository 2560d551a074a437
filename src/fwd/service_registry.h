// rampart-fwd's service registry: the ServiceVMs (partner firewalls, SVMI) that `redirect:NAME`
// rules hand connections to, as configured through the FEI (`service.set` / `service.delete` /
// `service.list`, docs/fei.md "Services").
//
// A service is named by (tenant, name); a rule of an instance whose tenant is T redirecting to
// NAME means service (T, NAME). The engine gives every such pair a stable id
// (Engine::InternService) and puts it on each redirected frame (Frame::service_id).
//
// No partner process can attach yet (the SVMI is a later issue), so a redirected frame gets its
// service's failure behaviour: `on_failure: drop` (fail closed, the default) drops it,
// `on_failure: allow` (fail open) forwards it exactly as an allowed frame; a frame redirected to
// a service the registry does not hold is dropped and counted `redirect_unknown_service`. The
// other fields (check, nth, relay, same_host, migration) are stored, validated and reported for
// the SVMI and migration to use.
//
// Thread-safety: ServiceRegistry's methods run on the control thread (the FEI handlers). It
// publishes an immutable ServiceTable with one atomic swap (the engine's snapshot pattern);
// workers load it once per batch (Table()) and never block. Per-service counters are per
// worker, single-writer; List() sums them.
#ifndef RAMPART_FWD_SERVICE_REGISTRY_H_
#define RAMPART_FWD_SERVICE_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "nlohmann/json.hpp"

namespace rampart::fwd {

enum class OnFailure : uint8_t { kDrop = 0, kAllow = 1 };
enum class ServiceCheck : uint8_t { kCached = 0, kEveryPacket = 1, kEveryNth = 2 };
enum class SameHost : uint8_t { kBoth = 0, kSource = 1, kDestination = 2 };
enum class MigrationMode : uint8_t { kEngine = 0, kSvmReview = 1, kSvm = 2 };

const char* OnFailureName(OnFailure v);
const char* ServiceCheckName(ServiceCheck v);
const char* SameHostName(SameHost v);
const char* MigrationModeName(MigrationMode v);

// One service's configuration: the FEI's service.set params (the records' `Service` row).
struct ServiceConfig {
  std::string tenant;
  std::string name;
  OnFailure on_failure = OnFailure::kDrop;
  ServiceCheck check = ServiceCheck::kCached;
  uint32_t nth = 0;  // >= 2 for kEveryNth, else 0
  bool relay = false;
  SameHost same_host = SameHost::kBoth;
  MigrationMode migration = MigrationMode::kEngine;
  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

// service.set params -> config. Absent optional fields take the defaults above; a field of the
// wrong type, an unknown value or an unknown field is INVALID_ARGUMENT naming the field.
absl::StatusOr<ServiceConfig> ParseServiceConfig(const nlohmann::json& params);
// service.delete params -> (tenant, name).
absl::StatusOr<std::pair<std::string, std::string>> ParseServiceKey(const nlohmann::json& params);
// The config as service.set params (every field).
nlohmann::json ServiceConfigJson(const ServiceConfig& c);

// ---- Data plane.

// What a worker does with a frame redirected to service id i while no partner is attached.
enum class ServiceFallback : uint8_t { kUnknown = 0, kDrop = 1, kAllow = 2 };

// Immutable once published; indexed by engine service id.
struct ServiceTable {
  std::vector<ServiceFallback> by_id;
};

// Single-writer counter (the owning worker adds, anyone reads).
class WorkerCounter {
 public:
  void Add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct ServiceCounterCell {
  WorkerCounter redirected;       // frames redirected to the service (every outcome)
  WorkerCounter failure_dropped;  // dropped by on_failure: drop
  WorkerCounter failure_allowed;  // forwarded by on_failure: allow
};

// One worker's per-service counters, indexed by engine service id. Allocated once.
class WorkerServiceCounters {
 public:
  explicit WorkerServiceCounters(size_t max_services) : n_(max_services), cells_(new ServiceCounterCell[max_services]) {}
  size_t size() const { return n_; }
  ServiceCounterCell& operator[](size_t i) { return cells_[i]; }
  const ServiceCounterCell& operator[](size_t i) const { return cells_[i]; }

 private:
  size_t n_;
  std::unique_ptr<ServiceCounterCell[]> cells_;
};

// Redirect outcomes of one batch.
struct RedirectTotals {
  uint64_t redirected = 0;       // Verdict::kRedirect frames seen (none had a partner attached)
  uint64_t failure_dropped = 0;
  uint64_t failure_allowed = 0;
  uint64_t unknown_service = 0;  // service not in the registry (or no id): dropped
};

// Applies the failure behaviour to every redirected frame of a processed batch: its verdict
// becomes Verdict::kAllow (fail open: the caller forwards it like any allowed frame, with
// Frame::out_tag) or Verdict::kDrop, and the counters say which. Other frames are untouched.
// Data plane: no allocation, no lock. REQUIRES: on the thread that owns `counters`.
RedirectTotals ApplyServiceFailure(const ServiceTable& table, std::span<Frame> frames,
                                   WorkerServiceCounters& counters);

// ---- Control plane.

class ServiceRegistry {
 public:
  // `engine` interns the names (it outlives the registry); one counter set per engine worker.
  explicit ServiceRegistry(Engine& engine, size_t max_services = EngineOptions{}.max_services);

  // Adds or replaces the service; returns whether anything changed (an identical config
  // publishes nothing).
  absl::StatusOr<bool> Set(const ServiceConfig& config);
  // NOT_FOUND when absent.
  absl::Status Delete(const std::string& tenant, const std::string& name);

  struct Entry {
    ServiceConfig config;
    uint16_t id = 0;
    uint64_t redirected = 0;
    uint64_t failure_dropped = 0;
    uint64_t failure_allowed = 0;
  };
  // Registered services, by (tenant, name), with counters summed over workers.
  std::vector<Entry> List() const;
  // Names rules redirect to (interned by the engine) that the registry does not hold, with the
  // frames redirected to them (every one dropped as unknown).
  std::vector<Entry> Unregistered() const;

  // Data plane: the published table (load once per batch) and worker w's counters.
  std::shared_ptr<const ServiceTable> Table() const { return published_.load(std::memory_order_acquire); }
  WorkerServiceCounters& counters(int worker) { return *counters_[worker]; }

 private:
  void Publish();
  Entry Summed(uint16_t id) const;

  Engine& engine_;
  size_t max_services_;
  std::map<std::pair<std::string, std::string>, std::pair<ServiceConfig, uint16_t>> services_;
  std::vector<std::unique_ptr<WorkerServiceCounters>> counters_;
  std::atomic<std::shared_ptr<const ServiceTable>> published_;
};

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_SERVICE_REGISTRY_H_
