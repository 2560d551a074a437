// The controller's physical stage: turns the logical stage's output (docs/logical-stage.md) into
// each host's records (docs/records.md): every abstract thing gets a number, every row goes only
// to the hosts in its span, the host column is dropped. docs/physical-stage.md describes the
// allocation rules, the persistence under /rampart/alloc/ and the incremental algorithm.
//
//   PhysicalStage stage(store);              // store may be nullptr (allocations in memory only)
//   RETURN_IF_ERROR(stage.Load());           // previous allocations, so numbers survive restarts
//   auto delta = logical->SetSpec(spec);     // nlog::Delta
//   auto per_host = stage.Apply(logical->engine(), *delta);   // host -> records::Delta
//   records::RecordSet rs = stage.Snapshot("h1");             // a registering agent's share
//
// Numbers: datapath keys (global, 1..2^24-1), logical port keys (per datapath, 1..32767), slice
// tags (per host, 1..4094), engine instance ids (per host, 1..2^31-1), engine port ids (per
// host per vNIC-protected VM port, 1..65535). Stable while the thing exists (also across a
// restart on the same store), freed when it goes, reused later (round robin, not at once).
//
// Thread-safety: one thread at a time (the controller's apply loop); Snapshot/Hosts are const
// and may run concurrently with each other but not with Apply/Load.
#ifndef RAMPART_CONTROLLER_PHYSICAL_PHYSICAL_STAGE_H_
#define RAMPART_CONTROLLER_PHYSICAL_PHYSICAL_STAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlog/engine.h"
#include "records/records.h"
#include "records/wire.h"
#include "store/store.h"

namespace rampart::controller {

// Key prefix of the persisted allocations (one key per allocated number).
inline constexpr char kAllocPrefix[] = "/rampart/alloc/";

struct PhysicalOptions {
  // Upper bounds of the number spaces (the defaults are the real limits; tests lower them to
  // reach exhaustion quickly).
  uint32_t max_datapath_key = (1u << 24) - 1;
  uint32_t max_port_key = 32767;
  uint32_t max_tag = 4094;
  uint32_t max_instance_id = 0x7fffffffu;
  uint32_t max_engine_port = 65535;
};

class PhysicalStage {
 public:
  explicit PhysicalStage(store::Store* store = nullptr, PhysicalOptions options = {});
  ~PhysicalStage();
  PhysicalStage(const PhysicalStage&) = delete;
  PhysicalStage& operator=(const PhysicalStage&) = delete;

  // Reads the allocations a previous controller persisted under kAllocPrefix. Call once, before
  // the first Apply. A malformed key or value is an error naming the key. The first Apply with
  // a non-empty logical delta after Load must carry the whole current state (the logical stage
  // computed from empty): loaded numbers it does not use are freed at its end.
  absl::Status Load();

  // The per-host record changes implied by `logical_delta` (the output changes the logical
  // stage's engine just produced; `engine` is that engine, after the change). Cost follows the
  // delta: the topology inputs the stage needs arrive as the program's Topo* output copies.
  // New and freed allocations are committed to the store in one Txn before returning.
  // Only hosts whose share changed appear; each delta carries the host's next revision.
  // On error (tags of a host exhausted, store failure) nothing here changes: the caller must
  // restore the logical stage to its previous spec and must not feed that rollback's delta here.
  absl::StatusOr<std::map<std::string, records::Delta>> Apply(const nlog::Engine& engine,
                                                              const nlog::Delta& logical_delta);
  // As Apply, but builds no rows: every host whose share changed gets its next revision and an
  // entry with snapshot = true and no rows (the caller sends it Snapshot(host)). For a first
  // computation (a controller starting on a full store), where per-host deltas would hold the
  // whole deployment's rows once more: 13 M records at 1,000 hosts / 50,000 rules.
  absl::StatusOr<std::map<std::string, records::Delta>> ApplyForSnapshots(const nlog::Engine& engine,
                                                                          const nlog::Delta& logical_delta);

  // The host's full current share, with its current revision (empty for an unknown host).
  records::RecordSet Snapshot(const std::string& host) const;
  // The same as a snapshot delta (snapshot = true, the host's revision, inserts in no particular
  // order): what a stream sends, without building a sorted RecordSet first (sorting was 40% of
  // building all 1,000 hosts' snapshots at 50,000 rules).
  records::Delta SnapshotDelta(const std::string& host) const;
  // The same rows in the stream's wire form (records/wire.h): serialized agent.v1.Snapshot
  // messages of at most `chunk_rows` records each, every one carrying `revision` (the stream's
  // revision for the host; the caller reads it consistently with the rows). Decodes to exactly
  // SnapshotDelta(host).inserts (as a multiset; order unspecified). The rows of each datapath's
  // and instance's bag are encoded once and reused by every host and snapshot until the bag
  // changes (a cache, filled on first use, dropped per bag by Apply); the host's own rows are
  // encoded per call. Const and thread-safe like SnapshotDelta.
  records::EncodedSnapshot SnapshotEncoded(const std::string& host, uint64_t revision, size_t chunk_rows) const;
  // Heap bytes of that cache, and a way to free it (it refills on the next snapshot).
  size_t SnapshotCacheBytes() const;
  void DropSnapshotCache();

  // Hosts that currently hold at least one row, sorted.
  std::vector<std::string> Hosts() const;
  // The revision of the host's last delta (0 = none yet).
  uint64_t Revision(const std::string& host) const;

  // Number of allocated numbers of each kind (for tests, benchmarks and stats).
  struct AllocationCounts {
    size_t datapath_keys = 0, port_keys = 0, tags = 0, instance_ids = 0, engine_ports = 0;
  };
  AllocationCounts Allocations() const;
  // Rows held across all hosts.
  size_t RowCount() const;

 private:
  struct State;
  absl::StatusOr<std::map<std::string, records::Delta>> ApplyImpl(const nlog::Engine& engine,
                                                                  const nlog::Delta& logical_delta, bool with_rows);
  store::Store* store_;
  PhysicalOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_PHYSICAL_PHYSICAL_STAGE_H_
