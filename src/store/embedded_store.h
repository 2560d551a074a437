// The embedded store backend: an ordered in-memory map plus, unless in-memory only, a durable
// append-only log with snapshots in a data directory (docs/store.md). OpenStore("file:DIR") and
// OpenStore("mem:") return one of these; open it directly to set options (snapshot threshold,
// watch history size) or to read the recovery report.
//
// Thread-safety: as Store. Writers are serialized; each write is fdatasync'ed before it is
// applied, so a reader never sees a revision that could be lost by a crash. Readers do not wait
// for a writer's fsync. One process at a time may open a directory (flock on DIR/LOCK).
#ifndef RAMPART_STORE_EMBEDDED_STORE_H_
#define RAMPART_STORE_EMBEDDED_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace rampart::store {

struct EmbeddedOptions {
  std::string dir;                               // empty: in memory only ("mem:")
  uint64_t snapshot_log_bytes = 64ull << 20;     // snapshot when the log grows past this
  size_t history_events = 100000;                // watch history kept for watches from the past
  size_t history_bytes = 64u << 20;              // ... and at most this many key+value bytes
  bool sync = true;                              // fdatasync every commit (off: benchmarks only)
};

class EmbeddedStore : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedStore>> Open(const EmbeddedOptions& options);
  // What recovery had to do when this store was opened ("" = the files were clean): a torn
  // tail truncated, a damaged snapshot skipped. Also printed to stderr as a warning.
  virtual std::string recovery_report() const = 0;
  // Snapshots now (tests; also used when the log passes the threshold). No-op for "mem:".
  virtual absl::Status SnapshotNow() = 0;
};

}  // namespace rampart::store

#endif  // RAMPART_STORE_EMBEDDED_STORE_H_
