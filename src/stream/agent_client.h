// AgentClient: the agent's end of the controller <-> agent stream (docs/stream.md).
//
// It keeps one gRPC stream (proto/rampart/agent.proto) to the controller open: registers with
// the host name and the revision it holds, hands every Snapshot / Delta to the caller's
// callback as a records::Delta (delta.snapshot = true for a snapshot: its inserts are the
// complete share), sends the caller's acknowledgements, and on any disconnect reconnects with
// exponential backoff, resuming from the last revision it delivered (the controller then sends
// only the missing deltas, or a snapshot when it no longer has them). A Redirect from a
// controller that does not own the host makes it reconnect to the owner at once.
//
// Thread-safety: Start/Stop from one owning thread; Ack, connected(), counters() and the other
// accessors from any thread. The callback runs on the client's own thread, one call at a time,
// in revision order; while it runs no further message is read (back-pressure reaches the
// controller). The callback may call Ack (and should, once the rows are applied).
#ifndef RAMPART_STREAM_AGENT_CLIENT_H_
#define RAMPART_STREAM_AGENT_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "records/records.h"

namespace rampart::stream {

// PEM files for TLS. All empty = plain (insecure) connection, for tests and the lab only.
struct TlsFiles {
  std::string ca;    // CA certificate that signed the peer's certificate
  std::string cert;  // own certificate (an agent's: CN = its host name)
  std::string key;   // own private key
  bool enabled() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

struct AgentClientOptions {
  std::string host;    // this host's name, as in the northbound Host object
  // "unix:/run/rampart/controller.sock" or "127.0.0.1:7443"; several controllers separated by
  // commas ("unix:/a.sock,unix:/b.sock"): tried in turn when one fails (any of them redirects
  // the agent to its host's owner).
  std::string target;
  TlsFiles tls;
  // The name the controller's certificate is checked against (its CN/SAN), whatever the target.
  // `rampartctl certs init` puts DNS:localhost and IP:127.0.0.1 into server.pem.
  std::string server_name = "localhost";
  // The revision whose rows the caller already holds (e.g. restored from disk), 0 = none.
  uint64_t held_revision = 0;
  std::string agent_version = "rampart-agent";
  // Reconnect backoff: starts at min, doubles per failed attempt up to max (with +-20% jitter),
  // back to min once a stream delivered its first message.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Keep-alive pings on an idle stream, so a dead controller is noticed (0 = off).
  std::chrono::milliseconds keepalive{10000};
};

// Monotonic counters (since construction).
struct AgentClientCounters {
  uint64_t connect_attempts = 0;
  uint64_t streams_established = 0;  // streams that delivered at least one message
  uint64_t disconnects = 0;          // established streams that ended
  uint64_t snapshots = 0;
  uint64_t deltas = 0;
  uint64_t rows_received = 0;  // snapshot rows + delta deletes + delta inserts
  uint64_t acks_sent = 0;
  uint64_t redirects = 0;
  uint64_t errors = 0;  // Error messages and failed streams
  uint64_t protocol_errors = 0;  // messages out of order (e.g. a delta not following held_revision)
};

class AgentClient {
 public:
  // The delta is the client's and discarded after the call: the callback may move rows out of
  // it (a callback taking `const records::Delta&` works as well).
  using DeltaCallback = std::function<void(records::Delta&)>;

  explicit AgentClient(AgentClientOptions options);
  ~AgentClient();  // Stop()s
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // Starts the client thread. Error if already started, or options are unusable (empty host or
  // target, unreadable TLS files: the message names the option and the file).
  absl::Status Start(DeltaCallback on_delta);
  // The caller has applied everything up to `revision`. Sent on the current stream (dropped
  // when disconnected: after reconnecting, the resume itself tells the controller what is held).
  void Ack(uint64_t revision);
  // Ends the stream and joins the client thread; no callback runs after it returns.
  void Stop();

  // A stream is up and has delivered its first message since the last (re)connect.
  bool connected() const { return connected_.load(); }
  // The last revision handed to the callback (or options.held_revision).
  uint64_t held_revision() const { return held_revision_.load(); }
  // The address of the controller in use (differs from options.target after a Redirect).
  std::string current_target() const;
  // The reason the last stream ended or was refused (OK while none did).
  absl::Status last_error() const;
  AgentClientCounters counters() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> held_revision_{0};
};

}  // namespace rampart::stream

#endif  // RAMPART_STREAM_AGENT_CLIENT_H_
