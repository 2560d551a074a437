// StreamServer: the controller's end of the controller <-> agent stream (docs/stream.md).
//
// It holds, per host, the host's current revision, a bounded history of the last deltas and
// either the rows the host should have (a records::RecordSet) or, when the owner gives it a
// snapshot source (StreamServerOptions::snapshot_source), only their count; it serves
// AgentStream.Connect
// (proto/rampart/agent.proto) to the agents: a registering agent that holds revision r gets the
// deltas after r when they are all still in the history, otherwise one snapshot; then every
// delta Publish()ed for its host. Acknowledgements are recorded per host; callers can wait for
// or be called back on "host acked >= r".
//
// Revisions: a host's revision is (epoch << 32) | sequence. The epoch is given by the owner of
// the server (rampart-controller takes a fresh one from a counter in the store each time it
// starts or takes over hosts), the sequence counts deltas from 1 within the epoch. So revisions
// only grow for a host across controller restarts and hand-overs, and an agent holding a
// revision of an older epoch always gets a snapshot (the new controller has no history of it).
//
// Identity: with TLS the agent must present a certificate signed by the CA whose CN equals the
// host it registers as, else the stream ends with PERMISSION_DENIED.
//
// Snapshot source: without one the server keeps a copy of every host's share, which at 1,000
// hosts is gigabytes of rows the controller's physical stage holds anyway. With one, a stream
// that needs a snapshot (registration with an unknown or old revision, fell behind the history,
// Reset) asks the source for the rows on one of the server's snapshot threads, never with the
// server's lock held, sends them at the revision the source reports, then the history deltas
// after it; when the history no longer reaches back to that revision it asks again.
//
// Thread-safety: every method may be called from any thread; streams are served on gRPC's
// callback threads and never block on a slow agent (each stream sends from the host's history
// at its own pace; an agent that falls behind the history gets a snapshot) nor on the snapshot
// source. Lock order: a caller's lock taken by the snapshot source may be held while calling
// Publish/Reset/Revision (the server never calls the source with its own lock held), but not
// while calling Shutdown() (it waits for running source calls).
#ifndef RAMPART_STREAM_STREAM_SERVER_H_
#define RAMPART_STREAM_STREAM_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "records/records.h"
#include "records/wire.h"
#include "stream/agent_client.h"

namespace rampart::stream {

struct StreamServerOptions {
  // Where to listen: "unix:/run/rampart/controller.sock", "127.0.0.1:7443", "127.0.0.1:0"
  // (any free port: see StreamServer::addresses()). At least one.
  std::vector<std::string> listen;
  // TLS: ca (verifies agents' certificates), cert + key (the controller's). Empty = plain.
  TlsFiles tls;
  // The high 32 bits of every revision this server assigns (>= 1).
  uint32_t epoch = 1;
  // History bound per host: at most this many deltas, and at most half as many rows in them as
  // the host's current share has (beyond that a snapshot is about as large as the deltas).
  size_t history_deltas = 1024;
  // Called for a registering host: empty = this server serves it; an address = answer Redirect
  // to that address (the owning controller's agent address).
  std::function<std::optional<std::string>(const std::string& host)> owner_address;
  // Called (on a gRPC thread, without the server's lock) after each acknowledgement that
  // advances a host's acked revision.
  std::function<void(const std::string& host, uint64_t revision)> on_ack;
  // Serve registrations for hosts never Publish()ed / Reset() (they get an empty snapshot).
  // False until SetReady(): rampart-controller loads the store first, so that a restarted
  // controller never sends an agent an empty snapshot before it has computed the host's rows.
  bool ready = true;
  // Where a host's share comes from when a stream needs a snapshot (see the top of this file).
  // Unset: the server keeps a records::RecordSet per host and snapshots from it. Set: it keeps
  // no rows, only each host's revision, acked revision, row count (maintained from Publish's
  // deltas and given to Reset, for the history bound) and delta history. The source returns
  // `snapshot` = true, `inserts` = the host's whole share, and `revision` = this server's
  // Revision(host) that the rows correspond to, read consistently with them: no Publish or
  // Reset of that host may run between computing the rows and reading the revision (hold the
  // lock your Publish path holds). Called on the server's snapshot threads, possibly for several
  // hosts at once. In this mode Publish's deltas must be exact (no insert of a present row, no
  // delete of an absent one): the server has no rows to filter them with.
  std::function<records::Delta(const std::string& host)> snapshot_source;
  // Source mode, the faster form: the host's share already in the stream's wire form
  // (records/wire.h: serialized Snapshot messages, each carrying the revision, which follows the
  // same consistency rule as snapshot_source's). The server sends the chunks as they are. When
  // both are set, streams use this one and Share() uses snapshot_source.
  std::function<records::EncodedSnapshot(const std::string& host)> encoded_snapshot_source;
  // Threads that call snapshot_source (source mode only; >= 1).
  int snapshot_threads = 2;
  // Source mode: at most this many streams hold a converted snapshot not yet handed to gRPC
  // (bounds the memory when many agents register at once, e.g. after a controller restart).
  int max_snapshots_in_flight = 8;
  // A stream whose snapshot is still not handed to gRPC after this long (its agent stopped
  // reading) stops counting against max_snapshots_in_flight, so stalled agents cannot hold
  // every other snapshot back (counter snapshots_stalled).
  std::chrono::milliseconds stalled_snapshot_after{5000};
};

// One host as seen by the server (for status pages and tests).
struct HostStreamStatus {
  std::string host;
  uint64_t revision = 0;  // current revision of the host's share
  uint64_t acked = 0;     // highest revision the agent acknowledged (this epoch's only)
  size_t rows = 0;  // rows of the share (kept; in source mode counted, exact from the first
                    // snapshot sent after a ResetFromSource with an estimate)
  size_t history = 0;     // deltas kept for resume
  int connected = 0;      // streams registered for this host (0 or 1, transiently 2)
  std::string peer;       // the connected agent's address
};

struct StreamServerCounters {
  uint64_t streams = 0;            // Connect calls
  uint64_t registrations = 0;
  uint64_t snapshots_sent = 0;
  uint64_t deltas_sent = 0;
  uint64_t resumes = 0;            // registrations served from the history (no snapshot)
  uint64_t redirects = 0;
  uint64_t refused_identity = 0;   // TLS CN != host
  uint64_t refused_protocol = 0;   // first message not Register, empty host, ...
  uint64_t acks = 0;
  uint64_t stale_acks = 0;         // ack of a revision not sent to that stream (ignored)
  uint64_t source_calls = 0;       // snapshot_source calls (source mode)
  uint64_t source_refetches = 0;   // source results older than the history reaches (asked again)
  uint64_t snapshots_stalled = 0;  // snapshots no longer counted in flight (stalled_snapshot_after)
  uint64_t source_cpu_ns = 0;      // snapshot threads' CPU in the source and building the messages
};

class StreamServer {
 public:
  // Binds and starts serving. Errors name the address or TLS file that failed.
  static absl::StatusOr<std::unique_ptr<StreamServer>> Start(StreamServerOptions options);
  ~StreamServer();  // Shutdown()s

  // Applies `rows` (deletes, then inserts; revision/snapshot fields ignored) to the host's share
  // and assigns the host's next revision, which it returns; connected agents receive it. An
  // empty change assigns nothing and returns the current revision.
  uint64_t Publish(const std::string& host, const records::Delta& rows);
  // Replaces the host's share with `rows` at the next revision, forgetting the history:
  // connected agents (and resuming ones) get a snapshot. Returns the revision. In source mode
  // only rows.rows().size() is used (prefer ResetFromSource).
  uint64_t Reset(const std::string& host, const records::RecordSet& rows);
  // Source mode: the host's share is now whatever the source returns for revisions >= the
  // returned one (`row_count` rows: an estimate is fine, the next snapshot corrects it; until
  // then it bounds the history); forgets the history, connected agents get a snapshot.
  // REQUIRES: options.snapshot_source is set (else it aborts: a programming error).
  uint64_t ResetFromSource(const std::string& host, size_t row_count);
  // Forgets a host (no longer served here): its connected agents are redirected to
  // `redirect_to` (or just disconnected when empty).
  void Drop(const std::string& host, const std::string& redirect_to);
  // Sets the epoch used for hosts created or Reset() from now on.
  void SetEpoch(uint32_t epoch);
  // Hosts never published are served from now on (see StreamServerOptions::ready).
  void SetReady();

  // The host's current revision (0 = unknown host).
  uint64_t Revision(const std::string& host) const;
  uint64_t AckedRevision(const std::string& host) const;
  // Blocks until the host acked >= revision, or the timeout passes (false).
  bool WaitForAck(const std::string& host, uint64_t revision, std::chrono::milliseconds timeout) const;
  // The host's current share (nullopt = unknown host). In source mode it calls the source
  // (without the server's lock), so it costs a snapshot; the result's revision() is 0.
  std::optional<records::RecordSet> Share(const std::string& host) const;
  // True when the server keeps no rows (StreamServerOptions::snapshot_source is set).
  bool source_mode() const;

  std::vector<HostStreamStatus> Status() const;
  StreamServerCounters counters() const;
  // The bound addresses in the form agents use ("unix:/p", "127.0.0.1:43121").
  std::vector<std::string> addresses() const;

  // Ends every stream (agents see the controller go away) and stops serving.
  void Shutdown();

  class Impl;

 private:
  explicit StreamServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Records per snapshot message (what an encoded_snapshot_source should chunk by).
inline constexpr size_t kSnapshotChunkRows = 4096;

// Revision helpers.
inline uint64_t MakeRevision(uint32_t epoch, uint32_t seq) { return (uint64_t{epoch} << 32) | seq; }
inline uint32_t RevisionEpoch(uint64_t revision) { return static_cast<uint32_t>(revision >> 32); }

}  // namespace rampart::stream

#endif  // RAMPART_STREAM_STREAM_SERVER_H_
