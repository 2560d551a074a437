// Controller: the heart of rampart-controller (docs/controller.md). It wires
//
//   store (/rampart/nb/ objects, watched from the revision it loaded)
//     -> per changed object, its nlog input rows (ObjectRows) diffed against the old ones
//     -> ONE nlog transaction into the logical stage's engine (logical.nlog)
//     -> PhysicalStage::Apply -> records::Delta per host
//     -> StreamServer::Publish for the hosts this controller owns
//
// The stream server keeps no rows: a stream that needs a snapshot asks the physical stage
// (PhysicalStage::Snapshot) under apply_mu_, a shared mutex the apply path holds exclusively
// while it runs PhysicalStage::Apply and publishes, so the rows and the revision read with them
// match (writer-preferring: a waiting apply holds new snapshot reads off). Lock order:
// apply_mu_ -> the stream server's lock; apply_mu_ -> mu_; the stream server's lock -> mu_
// (owner_address).
//
// and keeps the controller registered under /rampart/controllers/<id> with a lease. Hosts are
// assigned to the live controllers by rendezvous hashing of the host name over their ids; every
// controller computes the logical and physical stages (all watch the same store), only a host's
// owner streams to it, and the others answer its agent with a Redirect to the owner. When the
// membership changes (a controller starts, or its lease expires), the hosts move: the old owner
// redirects their agents, the new owner takes a fresh epoch from the store
// (/rampart/stream/epoch) and serves them a snapshot at a higher revision.
//
// The REST API (controller/api/api_server.h) is separate: rampart-controller's main runs both
// on one store.
//
// Thread-safety: Start/Stop from one thread; Status/WaitApplied from any thread. Store changes
// are processed on one worker thread of the controller's, in revision order.
#ifndef RAMPART_CONTROLLER_SERVER_CONTROLLER_H_
#define RAMPART_CONTROLLER_SERVER_CONTROLLER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"
#include "stream/agent_client.h"
#include "stream/stream_server.h"

namespace rampart::controller {

inline constexpr char kControllersPrefix[] = "/rampart/controllers/";
inline constexpr char kStreamEpochKey[] = "/rampart/stream/epoch";

struct ControllerOptions {
  // Agent stream listen addresses ("unix:/run/rampart/controller.sock", "127.0.0.1:7443").
  std::vector<std::string> agents;
  // The agent address other controllers redirect this controller's hosts to (default: the
  // first bound agent address).
  std::string advertise;
  // Stream TLS: ca.pem (agents' CA), the controller's certificate and key. Empty = plain.
  stream::TlsFiles tls;
  // Unique id among the controllers sharing a store (default: the host name; two controllers on
  // one machine need explicit ids).
  std::string id;
  // Membership lease: a controller that misses keep-alives this long is considered dead.
  int64_t lease_ttl_seconds = 5;
  // Stream history per host (see StreamServerOptions::history_deltas).
  size_t history_deltas = 1024;
  // False (default): the stream server keeps no copy of the hosts' shares; a stream that needs
  // a snapshot gets it from the physical stage (StreamServerOptions::snapshot_source). True: the
  // stream server keeps a records::RecordSet per owned host as well (the old way: for memory
  // comparisons in `rampart-bench controller --keep-shares`, and tests of both modes).
  bool stream_keeps_shares = false;
  // Without stream_keeps_shares: true (default) sends snapshots in the stream's wire form built
  // from the physical stage's per-datapath encoded blocks (PhysicalStage::SnapshotEncoded,
  // StreamServerOptions::encoded_snapshot_source); false builds records::Record strings and
  // protobuf Records per host (the way before; `rampart-bench controller --record-snapshots`).
  bool encoded_snapshots = true;
  // A batch whose logical delta has at least this many rows reaches the hosts it changes as
  // snapshots from the physical stage (PhysicalStage::ApplyForSnapshots + a stream Reset)
  // instead of per-host deltas, which would hold every affected host's rows once more. A
  // one-rule change is one row (InstRule); a whole deployment of 200 hosts / 2,000 ports / 2,000
  // rules ~46,000. Not with stream_keeps_shares (that server needs the rows).
  size_t snapshot_batch_rows = 10000;
  // Log lines (default: stderr with a timestamp).
  std::function<void(const std::string&)> log;
  // After each processed batch: the last store revision it covered and, per host this
  // controller published to, the stream revision (for benchmarks and tests).
  std::function<void(int64_t store_revision, const std::map<std::string, uint64_t>& published)> on_published;
  // Each acknowledgement that advances a host's acked revision (on a gRPC thread).
  std::function<void(const std::string& host, uint64_t revision)> on_ack;
  // Called once (on the worker thread) when this controller can no longer follow the store and
  // must be restarted (Stop, then Start on the same store): another controller persisted
  // different numbers for the same things (AllocationGuard; docs/controller.md, "Several
  // controllers"). From then on the controller publishes nothing more; its agents keep what
  // they hold. rampart-controller restarts itself; unset, the reason is only logged.
  std::function<void(const std::string& reason)> on_restart_needed;
};

struct ControllerStatus {
  std::string id;
  uint32_t epoch = 0;
  int64_t applied_revision = 0;  // store revision whose changes are published
  std::vector<std::string> controllers;  // live controller ids, sorted
  struct Host {
    std::string host;
    std::string owner;  // controller id
    bool owned = false;
    uint64_t revision = 0;  // stream revision (owned hosts)
    uint64_t acked = 0;
    int connected = 0;
    size_t rows = 0;
  };
  std::vector<Host> hosts;
  uint64_t batches = 0;        // processed watch batches
  uint64_t apply_errors = 0;   // batches refused (bad stored object, allocation exhausted)
  double last_batch_ms = 0;    // watch event -> published, last batch
  double max_batch_ms = 0;
  // Where the last batch's time went: ObjectRows + row diff, nlog transaction, physical stage,
  // StreamServer::Publish of the owned hosts.
  double last_rows_ms = 0, last_logical_ms = 0, last_physical_ms = 0, last_publish_ms = 0;
  stream::StreamServerCounters stream;
  size_t snapshot_cache_bytes = 0;  // PhysicalStage::SnapshotCacheBytes()
  // Set when the controller stopped following the store (see on_restart_needed).
  std::string restart_needed;
  size_t allocations_adopted = 0;  // allocation keys another controller had written the same
};

// Rendezvous (highest random weight) owner of `host` among `controller_ids` ("" if none).
std::string RendezvousOwner(const std::string& host, const std::vector<std::string>& controller_ids);

class Controller {
 public:
  // Loads the store (allocations, NB objects), computes every host's share, registers in the
  // membership, starts the agent stream and watches the store. `store` is borrowed and must
  // outlive the controller. Errors name what failed (store, a stored object, an address).
  static absl::StatusOr<std::unique_ptr<Controller>> Start(store::Store* store, ControllerOptions options);
  ~Controller();  // Stop()s
  // Ends the agent streams, revokes the membership lease (other controllers take the hosts
  // over at once) and stops watching.
  void Stop();

  ControllerStatus Status() const;
  // Waits until the changes up to store revision `revision` are published (false on timeout).
  bool WaitApplied(int64_t revision, std::chrono::milliseconds timeout) const;
  // The agent addresses the stream server bound.
  std::vector<std::string> agent_addresses() const;
  const std::string& id() const;
  stream::StreamServer& streams();

  class Impl;

 private:
  explicit Controller(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_SERVER_CONTROLLER_H_
