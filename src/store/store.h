// The store: one interface, two backends (shared/DESIGN.md §5).
//   embedded  (default): a durable append-only log with snapshots in a data directory.
//   etcd v3:  the real etcd server (Debian's etcd-server), over its gRPC API.
// Keys and values are byte strings; every change gets the next store-wide revision (as in
// etcd), and each key remembers its create and mod revisions, so callers can make updates
// conditional ("only if nobody changed this since I read it") and can watch from a revision.
//
// Thread-safety: every method may be called from any thread. Watch callbacks run on a thread
// of the store's, one callback at a time per watch, in revision order.
#ifndef RAMPART_STORE_STORE_H_
#define RAMPART_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rampart::store {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;  // number of puts since creation
  int64_t lease = 0;    // 0 = none
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the store's revision the read saw
};

// A condition of a transaction. kModRevision with mod_revision 0 means "the key does not exist".
struct Compare {
  enum class Target { kModRevision, kValue };
  std::string key;
  Target target = Target::kModRevision;
  int64_t mod_revision = 0;
  std::string value;
  static Compare Absent(std::string key) { return {std::move(key), Target::kModRevision, 0, {}}; }
  static Compare ModRevision(std::string key, int64_t rev) { return {std::move(key), Target::kModRevision, rev, {}}; }
  static Compare ValueIs(std::string key, std::string value) { return {std::move(key), Target::kValue, 0, std::move(value)}; }
};

struct Op {
  enum class Kind { kPut, kDelete, kDeletePrefix };
  Kind kind = Kind::kPut;
  std::string key;    // the prefix for kDeletePrefix
  std::string value;  // kPut
  int64_t lease = 0;  // kPut: attach to this lease (deleted when it expires)
  static Op Put(std::string k, std::string v, int64_t lease = 0) { return {Kind::kPut, std::move(k), std::move(v), lease}; }
  static Op Delete(std::string k) { return {Kind::kDelete, std::move(k), {}, 0}; }
  static Op DeletePrefix(std::string p) { return {Kind::kDeletePrefix, std::move(p), {}, 0}; }
};

// All compares hold -> all ops applied at one new revision; otherwise nothing changes.
struct Txn {
  std::vector<Compare> compares;
  std::vector<Op> ops;
};
struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // the new revision when succeeded, else the current one
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (= the deleting revision) only
};

// Alive while held; destroying it cancels the watch (no callback runs after the destructor).
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

// Events of one revision arrive in one call. `error` is called once if the watch ends on its
// own (store closed, revision compacted away: the caller must re-read and re-watch).
struct WatchCallbacks {
  std::function<void(const std::vector<WatchEvent>&)> events;
  std::function<void(const absl::Status&)> error;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual absl::StatusOr<std::optional<KeyValue>> Get(std::string_view key) = 0;
  // Every key starting with `prefix` ("" = all), sorted by key.
  virtual absl::StatusOr<RangeResult> Range(std::string_view prefix) = 0;
  // Unconditional writes; return the new revision.
  virtual absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0) = 0;
  virtual absl::StatusOr<int64_t> Delete(std::string_view key) = 0;
  virtual absl::StatusOr<TxnResult> Commit(const Txn& txn) = 0;
  // Events for keys under `prefix` with revision >= start_revision (0 = from now on).
  virtual absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(std::string_view prefix, int64_t start_revision,
                                                             WatchCallbacks callbacks) = 0;

  // Leases: keys put with a lease are deleted when it expires (a missed keep-alive for `ttl`).
  virtual absl::StatusOr<int64_t> GrantLease(int64_t ttl_seconds) = 0;
  virtual absl::Status KeepAlive(int64_t lease) = 0;
  virtual absl::Status RevokeLease(int64_t lease) = 0;

  // The store's current revision.
  virtual absl::StatusOr<int64_t> CurrentRevision() = 0;
  // A one-line description for logs ("embedded /var/lib/rampart (rev 42)", "etcd 127.0.0.1:2379").
  virtual std::string Describe() const = 0;
};

// Opens a store from a URL:
//   "file:DIR" or a plain path  embedded store in DIR (created if missing)
//   "etcd://H:P[,H:P...]"       etcd v3 cluster members (plain gRPC on loopback in tests)
//   "mem:"                      embedded, not durable (tests, benchmarks)
absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url);

}  // namespace rampart::store

#endif  // RAMPART_STORE_STORE_H_
