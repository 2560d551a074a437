// JSON-RPC 1.0 over a byte stream, as OVSDB uses it (RFC 7047 §4): JSON objects written
// back-to-back on a socket with no delimiter. Three layers, each usable alone:
//
//  - JsonStreamSplitter: finds the boundaries of complete top-level JSON values in a stream
//    fed in arbitrary pieces (strings and escapes handled), with limits on size and nesting.
//  - JsonRpcMessage + DecodeJsonRpc/Encode*: one message <-> text.
//  - Transport + JsonRpcConnection: a blocking byte pipe (unix socket or any fd; tests use a
//    socketpair) and the framed message connection on top of it.
//
// Thread-safety: none of these classes is thread-safe; one owner thread at a time.
#ifndef RAMPART_OVS_JSON_RPC_H_
#define RAMPART_OVS_JSON_RPC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rampart::ovs {

using Json = nlohmann::json;

struct JsonSplitterLimits {
  size_t max_value_bytes = 64u << 20;  // one message (OVSDB schemas are ~100 KiB)
  int max_depth = 128;                 // nesting of objects/arrays
};

// Splits a stream of concatenated JSON values. Top-level values must be objects or arrays
// (JSON-RPC messages are objects); whitespace between values is skipped. The splitter only
// checks structure (brackets, strings, escapes); a value it returns may still be invalid JSON
// (e.g. a bad number) and is rejected by the parser afterwards.
class JsonStreamSplitter {
 public:
  explicit JsonStreamSplitter(JsonSplitterLimits limits = {}) : limits_(limits) {}

  // Consumes `bytes`, appending each completed value's text to `out`. On malformed or
  // oversized input returns InvalidArgument / ResourceExhausted and stays failed until Reset()
  // (the stream position is lost, so the connection must be dropped).
  absl::Status Feed(std::string_view bytes, std::vector<std::string>* out);

  // Bytes of an incomplete value held so far.
  size_t buffered() const { return current_.size(); }
  bool failed() const { return !error_.ok(); }
  void Reset();

 private:
  absl::Status Fail(absl::Status s);

  JsonSplitterLimits limits_;
  std::string current_;
  std::vector<char> stack_;  // expected closers: '}' or ']'
  bool in_string_ = false;
  bool escape_ = false;
  absl::Status error_;
};

struct JsonRpcMessage {
  enum class Kind { kRequest, kNotification, kResponse };
  Kind kind = Kind::kRequest;
  std::string method;          // requests and notifications
  Json params = Json::array();  // requests and notifications
  Json result;                 // responses (null when error is set)
  Json error;                  // responses: null on success
  Json id;                     // null for notifications

  bool IsError() const { return kind == Kind::kResponse && !error.is_null(); }
};

// Parses and classifies one message. Errors name what is wrong ("JSON-RPC message: 'params'
// must be an array").
absl::StatusOr<JsonRpcMessage> DecodeJsonRpc(std::string_view text);
absl::StatusOr<JsonRpcMessage> DecodeJsonRpcValue(const Json& value);

Json MakeRequest(std::string_view method, Json params, Json id);
Json MakeNotification(std::string_view method, Json params);
Json MakeResponse(Json result, Json id);
Json MakeErrorResponse(Json error, Json id);

// A connected byte stream. Blocking with timeouts; implementations own their fd.
class Transport {
 public:
  virtual ~Transport() = default;
  // Writes all of `bytes` (or fails with Unavailable when the peer is gone).
  virtual absl::Status Write(std::string_view bytes) = 0;
  // Waits up to `timeout` for data; returns the bytes read, 0 on timeout, Unavailable on EOF
  // or error.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t len, absl::Duration timeout) = 0;
};

// Connects to a unix stream socket ("/run/openvswitch/db.sock" or "unix:/path").
absl::StatusOr<std::unique_ptr<Transport>> ConnectUnix(std::string_view path);
// Wraps an already connected stream fd (takes ownership; e.g. one end of a socketpair).
std::unique_ptr<Transport> FdTransport(int fd);

// Framed JSON-RPC messages over a Transport.
class JsonRpcConnection {
 public:
  explicit JsonRpcConnection(std::unique_ptr<Transport> transport,
                             JsonSplitterLimits limits = {})
      : transport_(std::move(transport)), splitter_(limits) {}

  absl::Status Send(const Json& message);
  // Next message, waiting up to `timeout`; nullopt on timeout. Malformed input and EOF are
  // errors (after one, the connection is unusable).
  absl::StatusOr<std::optional<JsonRpcMessage>> Receive(absl::Duration timeout);

 private:
  std::unique_ptr<Transport> transport_;
  JsonStreamSplitter splitter_;
  std::vector<std::string> pending_;  // complete values not yet returned
  size_t next_pending_ = 0;
};

}  // namespace rampart::ovs

#endif  // RAMPART_OVS_JSON_RPC_H_
