// The firewall engine: instances (slices), tag bindings and the per-packet pipeline.
//
// One Engine per rampart-fwd (or per tool run). It owns N Workers, one per packet thread. A
// worker calls ProcessBatch with frames it received; each frame goes through
//   parse -> outer tag -> (instance, port, direction) -> fragment table / conntrack lookup ->
//   cached verdict for known connections, classifier (batched) for the rest -> action
// and leaves with a Verdict, a Reason, the deciding rule id, the tag to send it out with and,
// for reject, a reply frame built into the worker's own buffer.
//
// Thread-safety contract:
//  * ProcessBatch(w, ...) runs on the thread that owns Worker `w`; different workers run in
//    parallel without locks. Per packet there is no allocation, no lock, no exception and no
//    logging: per-worker state only; counters are single-writer relaxed atomics summed on read.
//  * Control methods (everything else) may be called from any one thread at a time (they take an
//    internal mutex) while workers run. They publish immutable snapshots (instances, tag table,
//    policies) with one atomic pointer swap; a worker loads the snapshot once per batch, so a
//    batch sees one rule set from its first frame to its last, and a swap is never torn.
//  * Methods that touch connection tables (ListConnections, Flush, ExportPort, ImportPort) are
//    marked "REQUIRES: workers quiesced": no ProcessBatch may run during the call (v1; the fwd
//    daemon pauses its workers around them).
//  * A worker allocates only on events that are not per packet: the first frame of a new
//    (instance, port) creates its connection table, and the first batch after an instance was
//    destroyed frees that instance's per-worker state.
#ifndef RAMPART_ENGINE_ENGINE_H_
#define RAMPART_ENGINE_ENGINE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/instance.h"
#include "engine/reasons.h"
#include "conntrack/conntrack.h"
#include "policy/compiled_policy.h"

namespace rampart {

constexpr uint32_t kNoRuleId = 0xffffffffu;  // the engine decided without a rule
constexpr size_t kMaxBatch = 256;            // ProcessBatch handles at most this many frames per call
constexpr uint16_t kNoService = 0xffff;      // Frame::service_id of a redirect whose service has no id

struct EngineOptions {
  int num_workers = 1;
  uint32_t max_instances = 1024;             // live instances at once
  uint32_t fragment_table_entries = 1024;    // per worker, power of two
  uint64_t fragment_timeout_ns = 30'000'000'000ull;
  uint32_t log_ring_entries = 4096;          // per worker, power of two
  uint32_t max_services = 4096;              // distinct (tenant, service name) ids, 1..65535
};

// One frame in a batch. Fill the "in" fields; ProcessBatch fills the "out" fields.
struct Frame {
  // In.
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  // Pre-bound frames (replay, tests, a port that is not tagged): skip the tag lookup and use
  // this (instance, port, direction). Such a frame must carry no 802.1Q tag at all: a tag in it
  // is the VM's own and the frame is dropped "inner-tag".
  bool prebound = false;
  InstanceId instance_id = 0;
  PortId port_id = 0;
  Direction direction = Direction::kFromVm;

  // Out.
  Verdict verdict = Verdict::kDrop;
  Reason reason = Reason::kOk;
  uint32_t rule_id = kNoRuleId;       // deciding rule (cached or looked up); kDefaultRuleId = default
  uint16_t out_tag = 0;               // VID to send the frame out with (allow/redirect)
  uint16_t reply_tag = 0;             // VID to send `reply` out with (the frame's own tag)
  uint16_t service = 0;               // redirect: CompiledPolicy::services index
  // Redirect: the engine-wide id of (instance tenant, service name), stable for the engine's life
  // (Engine::InternService); kNoService when the policy names no service at `service`.
  uint16_t service_id = kNoService;
  // Reject: the reply frame (TCP RST or ICMP/ICMPv6 unreachable, addressed to the sender, with
  // the frame's own VLAN tags copied); empty when none may be sent (packet/builder.h says when).
  // Points into the worker's buffer; valid until the worker's next ProcessBatch.
  const uint8_t* reply = nullptr;
  uint32_t reply_len = 0;
  bool new_connection = false;        // this frame committed a connection entry
};

// Counters of one instance (or of the engine, for frames that reached no instance).
struct InstanceCounters {
  std::array<uint64_t, kReasonCount> by_reason{};
  std::array<uint64_t, 4> packets_by_verdict{};  // indexed by Verdict
  std::array<uint64_t, 4> bytes_by_verdict{};
  uint64_t Of(rampart::Reason r) const { return by_reason[static_cast<int>(r)]; }
};

// Hits of one rule, keyed by its stable id, summed over workers and over every policy snapshot
// the rule was part of. Packets and bytes count every frame the rule decided, including frames
// of established connections whose cached verdict came from it.
struct RuleHits {
  uint32_t rule_id = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t connections = 0;  // connection entries committed by the rule
};

// One log record (rules with the log flag). Fixed size, no pointers.
struct LogRecord {
  uint64_t time_ns = 0;
  InstanceId instance_id = 0;
  PortId port_id = 0;
  uint32_t rule_id = 0;
  Ip src;
  Ip dst;
  uint16_t sport = 0;  // ICMP: type
  uint16_t dport = 0;  // ICMP: code
  uint16_t len = 0;
  uint8_t proto = 0;
  Direction direction = Direction::kFromVm;
  Verdict verdict = Verdict::kDrop;
  Reason reason = Reason::kOk;
};

// A connection entry of one port, as the control side sees it (ConnInfo: conntrack.h).
struct PortConnection {
  PortId port_id = 0;
  int worker = 0;  // the worker whose table holds it
  ConnInfo info;
};

class Worker;  // per-thread state (engine/worker.h, private)

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int num_workers() const;
  Worker& worker(int i);

  // ---- Data plane. REQUIRES: called on the thread owning `w`; frames.size() <= kMaxBatch.
  void ProcessBatch(Worker& w, std::span<Frame> frames, uint64_t now_ns);

  // ---- Control plane: instances, bindings, policies.
  // Fails on a duplicate id, a full engine, or options out of range.
  absl::Status CreateInstance(const InstanceInfo& info);
  // Unbinds its tags; workers drop its state (connections, counters) on their next batch.
  absl::Status DestroyInstance(InstanceId id);
  std::vector<InstanceInfo> ListInstances() const;
  absl::StatusOr<InstanceInfo> GetInstance(InstanceId id) const;

  // `vid` 1..4094. Fails if the instance does not exist or `vid` is bound already (unbind first).
  absl::Status BindTag(uint16_t vid, const TagBinding& binding);
  absl::Status UnbindTag(uint16_t vid);
  std::optional<TagBinding> GetBinding(uint16_t vid) const;

  // Publishes `policy` for the instance atomically. Connections already established keep their
  // cached verdict unless the instance has revalidate_on_change.
  absl::Status SetPolicy(InstanceId id, std::shared_ptr<const CompiledPolicy> policy);
  std::shared_ptr<const CompiledPolicy> GetPolicy(InstanceId id) const;

  // ---- Control plane: redirect services (docs/engine.md, "Redirect").
  // The id of `name` in `tenant`, made on first use; ids are dense from 0 and never reused, so a
  // data-plane table indexed by id (rampart-fwd's service registry) stays valid across policy
  // changes. SetPolicy interns every service its policy redirects to (in the instance's tenant).
  // Fails with RESOURCE_EXHAUSTED beyond EngineOptions::max_services distinct names.
  absl::StatusOr<uint16_t> InternService(std::string_view tenant, std::string_view name);
  struct ServiceName {
    std::string tenant;
    std::string name;
  };
  // Every interned name, indexed by id.
  std::vector<ServiceName> ServiceNames() const;

  // ---- Control plane: observation.
  absl::StatusOr<InstanceCounters> Counters(InstanceId id) const;
  InstanceCounters EngineCounters() const;  // frames that reached no instance
  // Every rule id that was hit or is in the current policy, sorted by id.
  absl::StatusOr<std::vector<RuleHits>> RuleCounters(InstanceId id);
  // Moves pending log records of every worker into `out`; returns how many.
  size_t DrainLogs(std::vector<LogRecord>* out);

  // ---- Control plane: connection tables. REQUIRES: workers quiesced.
  absl::StatusOr<std::vector<PortConnection>> ListConnections(InstanceId id, std::optional<PortId> port,
                                                              const ConnFilter& filter = {});
  // Removes the connections of one port (or of every port when `port` is empty).
  absl::Status Flush(InstanceId id, std::optional<PortId> port);
  // One port's connections in conntrack's versioned binary format (migration).
  absl::StatusOr<std::vector<uint8_t>> ExportPort(InstanceId id, PortId port, uint64_t now_ns);
  // Adds exported connections to the port (worker 0's table in v1, see docs/engine.md), then
  // re-classifies every imported entry under the instance's current policy: entries the policy
  // no longer allows are removed. Returns how many entries were kept.
  absl::StatusOr<size_t> ImportPort(InstanceId id, PortId port, std::span<const uint8_t> blob,
                                    uint64_t now_ns);

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_ENGINE_H_
