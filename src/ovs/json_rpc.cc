#include "ovs/json_rpc.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ovs/ovsdb_util.h"

namespace rampart::ovs {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string Errno(int e) { return std::strerror(e); }

int PollMs(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return -1;
  if (timeout <= absl::ZeroDuration()) return 0;
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1)));
  return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

class FdTransportImpl final : public Transport {
 public:
  explicit FdTransportImpl(int fd) : fd_(fd) {}
  ~FdTransportImpl() override {
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        int r = poll(&p, 1, 10'000);
        if (r == 0) return absl::DeadlineExceededError("socket write: peer not reading for 10 s");
        continue;
      }
      return absl::UnavailableError(internal::Cat("socket write: ", Errno(errno)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(char* buf, size_t len, absl::Duration timeout) override {
    pollfd p{fd_, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, PollMs(timeout));
    } while (r < 0 && errno == EINTR);
    if (r < 0) return absl::UnavailableError(internal::Cat("socket poll: ", Errno(errno)));
    if (r == 0) return size_t{0};
    ssize_t n;
    do {
      n = recv(fd_, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0) return absl::UnavailableError("connection closed by peer");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
      return absl::UnavailableError(internal::Cat("socket read: ", Errno(errno)));
    }
    return static_cast<size_t>(n);
  }

 private:
  int fd_;
};

std::string Dump(const Json& j) {
  // Replace invalid UTF-8 rather than throw: names may come from users.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

// ---- JsonStreamSplitter ----------------------------------------------------------------------

absl::Status JsonStreamSplitter::Fail(absl::Status s) {
  error_ = s;
  current_.clear();
  stack_.clear();
  return s;
}

void JsonStreamSplitter::Reset() {
  current_.clear();
  stack_.clear();
  in_string_ = false;
  escape_ = false;
  error_ = absl::OkStatus();
}

absl::Status JsonStreamSplitter::Feed(std::string_view bytes, std::vector<std::string>* out) {
  if (!error_.ok()) return error_;
  size_t i = 0;
  while (i < bytes.size()) {
    if (stack_.empty()) {
      // Between values: skip whitespace, expect an object or array.
      char c = bytes[i++];
      if (IsJsonSpace(c)) continue;
      if (c != '{' && c != '[') {
        return Fail(absl::InvalidArgumentError(internal::Cat(
            "JSON stream: expected '{' or '[' to start a message, got byte 0x",
            absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2))));
      }
      current_.push_back(c);
      stack_.push_back(c == '{' ? '}' : ']');
      continue;
    }
    // Inside a value: copy a run of bytes, tracking only the structural characters.
    size_t start = i;
    bool done = false;
    for (; i < bytes.size(); ++i) {
      char c = bytes[i];
      if (in_string_) {
        if (escape_) {
          escape_ = false;
        } else if (c == '\\') {
          escape_ = true;
        } else if (c == '"') {
          in_string_ = false;
        }
        continue;
      }
      if (c == '"') {
        in_string_ = true;
      } else if (c == '{' || c == '[') {
        if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
          return Fail(absl::InvalidArgumentError(
              internal::Cat("JSON stream: nesting deeper than ", limits_.max_depth)));
        }
        stack_.push_back(c == '{' ? '}' : ']');
      } else if (c == '}' || c == ']') {
        if (stack_.back() != c) {
          return Fail(absl::InvalidArgumentError(internal::Cat(
              "JSON stream: '", std::string(1, c), "' where '", std::string(1, stack_.back()),
              "' was expected")));
        }
        stack_.pop_back();
        if (stack_.empty()) {
          ++i;
          done = true;
          break;
        }
      }
    }
    if (current_.size() + (i - start) > limits_.max_value_bytes) {
      return Fail(absl::ResourceExhaustedError(internal::Cat(
          "JSON stream: message larger than ", limits_.max_value_bytes, " bytes")));
    }
    current_.append(bytes.data() + start, i - start);
    if (done) {
      out->push_back(std::move(current_));
      current_.clear();
    }
  }
  return absl::OkStatus();
}

// ---- messages --------------------------------------------------------------------------------

absl::StatusOr<JsonRpcMessage> DecodeJsonRpc(std::string_view text) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        internal::Cat("JSON-RPC message is not valid JSON: ", std::string(text.substr(0, 80))));
  }
  return DecodeJsonRpcValue(j);
}

absl::StatusOr<JsonRpcMessage> DecodeJsonRpcValue(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("JSON-RPC message: not an object");
  JsonRpcMessage m;
  auto id = j.find("id");
  if (auto method = j.find("method"); method != j.end()) {
    if (!method->is_string()) {
      return absl::InvalidArgumentError("JSON-RPC message: 'method' must be a string");
    }
    m.method = method->get<std::string>();
    auto params = j.find("params");
    if (params == j.end() || !params->is_array()) {
      return absl::InvalidArgumentError(
          internal::Cat("JSON-RPC ", m.method, ": 'params' must be an array"));
    }
    m.params = *params;
    if (id == j.end() || id->is_null()) {
      m.kind = JsonRpcMessage::Kind::kNotification;
    } else {
      m.kind = JsonRpcMessage::Kind::kRequest;
      m.id = *id;
    }
    return m;
  }
  auto result = j.find("result");
  auto error = j.find("error");
  if (result == j.end() && error == j.end()) {
    return absl::InvalidArgumentError(
        "JSON-RPC message: neither 'method' (request) nor 'result'/'error' (response)");
  }
  if (id == j.end()) return absl::InvalidArgumentError("JSON-RPC response: missing 'id'");
  m.kind = JsonRpcMessage::Kind::kResponse;
  m.id = *id;
  if (result != j.end()) m.result = *result;
  if (error != j.end()) m.error = *error;
  return m;
}

Json MakeRequest(std::string_view method, Json params, Json id) {
  return Json{{"method", std::string(method)}, {"params", std::move(params)}, {"id", std::move(id)}};
}
Json MakeNotification(std::string_view method, Json params) {
  return Json{{"method", std::string(method)}, {"params", std::move(params)}, {"id", nullptr}};
}
Json MakeResponse(Json result, Json id) {
  return Json{{"result", std::move(result)}, {"error", nullptr}, {"id", std::move(id)}};
}
Json MakeErrorResponse(Json error, Json id) {
  return Json{{"result", nullptr}, {"error", std::move(error)}, {"id", std::move(id)}};
}

// ---- transport -------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Transport>> ConnectUnix(std::string_view path) {
  if (path.substr(0, 5) == "unix:") path.remove_prefix(5);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(internal::Cat(
        "unix socket path '", std::string(path), "' is empty or longer than ", sizeof(addr.sun_path) - 1,
        " bytes"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(internal::Cat("socket(): ", Errno(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    close(fd);
    return absl::UnavailableError(internal::Cat("connect to ", std::string(path), ": ", Errno(e)));
  }
  return std::unique_ptr<Transport>(new FdTransportImpl(fd));
}

std::unique_ptr<Transport> FdTransport(int fd) { return std::make_unique<FdTransportImpl>(fd); }

// ---- connection ------------------------------------------------------------------------------

absl::Status JsonRpcConnection::Send(const Json& message) {
  return transport_->Write(Dump(message));
}

absl::StatusOr<std::optional<JsonRpcMessage>> JsonRpcConnection::Receive(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (next_pending_ >= pending_.size()) {
    pending_.clear();
    next_pending_ = 0;
    char buf[65536];
    absl::Duration left = deadline - absl::Now();
    if (left < absl::ZeroDuration()) left = absl::ZeroDuration();
    absl::StatusOr<size_t> n = transport_->Read(buf, sizeof(buf), left);
    if (!n.ok()) return n.status();
    if (*n == 0) {
      if (absl::Now() >= deadline) return std::optional<JsonRpcMessage>();
      continue;
    }
    if (absl::Status s = splitter_.Feed(std::string_view(buf, *n), &pending_); !s.ok()) return s;
  }
  absl::StatusOr<JsonRpcMessage> m = DecodeJsonRpc(pending_[next_pending_++]);
  if (!m.ok()) return m.status();
  return std::optional<JsonRpcMessage>(*std::move(m));
}

}  // namespace rampart::ovs
