// The byte stream under the OpenFlow client, behind a small interface so tests can put a fake
// switch on a socketpair: an OfConnector makes connections, an OfTransport is one connection.
//
// Thread-safety: Write may be called from several threads (the client serialises them itself);
// Read from one thread at a time; Shutdown from any thread, and it wakes a blocked Read.
#ifndef RAMPART_OVS_OPENFLOW_TRANSPORT_H_
#define RAMPART_OVS_OPENFLOW_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace rampart::ofp {

class OfTransport {
 public:
  virtual ~OfTransport() = default;
  // Writes all of `bytes` or fails (Unavailable when the peer is gone, or stopped reading: the
  // fd implementation gives up after 15 s without progress).
  virtual absl::Status Write(absl::Span<const uint8_t> bytes) = 0;
  // Waits up to `timeout` for data. Returns the number of bytes read (0 on timeout);
  // Unavailable on end of stream, error or after Shutdown.
  virtual absl::StatusOr<size_t> Read(uint8_t* buf, size_t cap, absl::Duration timeout) = 0;
  // Ends the connection; a blocked Read returns. Idempotent.
  virtual void Shutdown() = 0;
};

class OfConnector {
 public:
  virtual ~OfConnector() = default;
  // Opens a new connection. Unavailable when the switch is not there (yet).
  virtual absl::StatusOr<std::unique_ptr<OfTransport>> Connect() = 0;
  // For logs and error messages, e.g. "unix:/run/openvswitch/br-int.mgmt".
  virtual std::string Describe() const = 0;
};

// Connector for a stream unix socket (the bridge's <rundir>/<bridge>.mgmt).
std::unique_ptr<OfConnector> UnixSocketConnector(std::string path);

// Wraps a connected stream socket; takes ownership of `fd`.
std::unique_ptr<OfTransport> FdTransport(int fd);

}  // namespace rampart::ofp

#endif  // RAMPART_OVS_OPENFLOW_TRANSPORT_H_
