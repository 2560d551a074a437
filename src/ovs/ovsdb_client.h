// OVSDB client (RFC 7047) over JSON-RPC on a unix socket: list_dbs, get_schema, transact,
// monitor (+ "update" notifications), echo (answers the server's keep-alive), reconnect.
//
// Synchronous and single-threaded by design: every call sends one request and reads until its
// reply arrives, answering server echo requests and queueing "update" notifications on the way;
// PollUpdates() hands the queued and newly arriving updates to the caller. The agent drives it
// from its control loop. The byte stream comes from an injected connector, so tests run it
// against a fake server on a socketpair.
//
// Reconnect: after a transport error the client is disconnected; the next call (or
// Reconnect()) connects again with bounded backoff and re-issues every active monitor. The
// fresh initial contents of each monitor are queued as a MonitorUpdate with initial = true: the
// caller must replace (not patch) its copy of those tables. A transact that failed because the
// connection dropped is NOT retried (it may or may not have committed); the caller decides.
//
// Thread-safety: not thread-safe; one thread owns an OvsdbClient.
#ifndef RAMPART_OVS_OVSDB_CLIENT_H_
#define RAMPART_OVS_OVSDB_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ovs/json_rpc.h"
#include "ovs/ovsdb_datum.h"

namespace rampart::ovs {

using TransportConnector = std::function<absl::StatusOr<std::unique_ptr<Transport>>()>;

struct OvsdbClientOptions {
  // Used when `connector` is empty: "/path/db.sock" or "unix:/path/db.sock".
  std::string socket_path;
  TransportConnector connector;
  absl::Duration call_timeout = absl::Seconds(10);
  // Reconnect: attempts per call, first delay (doubled each time, capped at 2 s).
  int reconnect_attempts = 5;
  absl::Duration reconnect_backoff = absl::Milliseconds(50);
  JsonSplitterLimits limits;
};

// One row change of a monitored table. For an insert old_row is null; for a delete new_row is
// null; for a modify old_row holds the previous values of the changed columns only and new_row
// the full new row (RFC 7047 §4.1.6).
struct RowUpdate {
  std::string table;
  std::string uuid;
  Json old_row;
  Json new_row;

  bool IsInsert() const { return old_row.is_null() && !new_row.is_null(); }
  bool IsDelete() const { return new_row.is_null(); }
};

struct MonitorUpdate {
  std::string monitor_id;
  bool initial = false;  // the monitor's full initial contents (also after a reconnect)
  std::vector<RowUpdate> rows;
};

// table -> columns to monitor (empty = all columns).
using MonitorRequests = std::map<std::string, std::vector<std::string>>;

// Parses the <table-updates> object of a monitor reply or "update" notification.
absl::StatusOr<std::vector<RowUpdate>> ParseTableUpdates(const Json& table_updates);

// Maps an OVSDB error object ({"error": "...", "details": "..."}) to a Status. "timed out" (a
// failed wait) -> Aborted; "constraint violation", "referential integrity violation" ->
// FailedPrecondition; "resources exhausted" -> ResourceExhausted; "not owner" ->
// PermissionDenied; others -> Internal. The message carries `context`, error and details.
absl::Status OvsdbErrorToStatus(const Json& error, std::string_view context);

class OvsdbClient {
 public:
  // Connects once (no retry); fails with Unavailable naming the socket.
  static absl::StatusOr<std::unique_ptr<OvsdbClient>> Connect(OvsdbClientOptions options);

  absl::StatusOr<std::vector<std::string>> ListDbs();
  absl::StatusOr<Json> GetSchema(std::string_view db);

  // Runs `ops` atomically; returns one result per op. An op error fails the call with the op's
  // index, kind and table in the message (nothing was committed).
  absl::StatusOr<std::vector<Json>> Transact(std::string_view db, std::vector<Json> ops);

  // Starts monitor `monitor_id` and returns the initial contents. Later changes arrive through
  // PollUpdates().
  absl::StatusOr<MonitorUpdate> Monitor(std::string_view db, std::string_view monitor_id,
                                        const MonitorRequests& requests);
  absl::Status MonitorCancel(std::string_view monitor_id);

  // Returns queued updates at once, else waits up to `timeout` for at least one (echo requests
  // are answered meanwhile). Empty on timeout. Reconnects first when disconnected.
  absl::StatusOr<std::vector<MonitorUpdate>> PollUpdates(absl::Duration timeout);

  // Round trip to the server (liveness check).
  absl::Status Echo();

  // Drops the current connection (if any) and connects again, re-issuing the monitors.
  absl::Status Reconnect();

  bool connected() const { return conn_ != nullptr; }
  uint64_t reconnects() const { return reconnects_; }
  uint64_t echo_requests_answered() const { return echoes_answered_; }

 private:
  struct ActiveMonitor {
    std::string db;
    MonitorRequests requests;
  };

  explicit OvsdbClient(OvsdbClientOptions options) : options_(std::move(options)) {}
  absl::Status ConnectOnce();
  absl::Status EnsureConnected();
  // Sends a request and waits for its response, handling whatever else arrives meanwhile.
  absl::StatusOr<Json> Call(std::string_view method, Json params);
  absl::StatusOr<Json> CallConnected(std::string_view method, const Json& params);
  // Handles a message that is not the awaited response: echo, update, stray responses.
  absl::Status HandleUnsolicited(const JsonRpcMessage& m);
  absl::StatusOr<MonitorUpdate> StartMonitor(const std::string& db, const std::string& id,
                                             const MonitorRequests& requests);
  void Disconnect() { conn_.reset(); }

  OvsdbClientOptions options_;
  std::unique_ptr<JsonRpcConnection> conn_;
  uint64_t next_id_ = 1;
  uint64_t reconnects_ = 0;
  uint64_t echoes_answered_ = 0;
  bool reissuing_monitors_ = false;
  std::map<std::string, ActiveMonitor> monitors_;
  std::vector<MonitorUpdate> queued_;
};

}  // namespace rampart::ovs

#endif  // RAMPART_OVS_OVSDB_CLIENT_H_
