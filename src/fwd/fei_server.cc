#include "fwd/fei_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fwd/fei_codec.h"

namespace rampart::fwd {

namespace {

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long (", path.size(), " bytes): ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 5000) <= 0) return false;
      continue;
    }
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

nlohmann::json ErrorResponse(const nlohmann::json& id, const absl::Status& s) {
  return {{"id", id},
          {"error", {{"code", absl::StatusCodeToString(s.code())}, {"message", std::string(s.message())}}}};
}

absl::StatusCode CodeFromString(const std::string& s) {
  for (int c = 0; c <= 16; ++c) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(c)) == s) return static_cast<absl::StatusCode>(c);
  }
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FeiServer>> FeiServer::Listen(const std::string& path) {
  auto addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  std::unique_ptr<FeiServer> s(new FeiServer());
  s->path_ = path;
  s->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) return Errno("socket(AF_UNIX)");
  unlink(path.c_str());
  if (bind(s->listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) return Errno(absl::StrCat("bind ", path));
  chmod(path.c_str(), 0600);
  if (listen(s->listen_fd_, 16) < 0) return Errno("listen");
  s->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0) return Errno("eventfd");
  return s;
}

FeiServer::~FeiServer() {
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

void FeiServer::Stop() {
  stop_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(wake_fd_, &one, sizeof(one));
}

nlohmann::json FeiServer::Dispatch(const nlohmann::json& req) {
  nlohmann::json id = req.contains("id") ? req["id"] : nlohmann::json(nullptr);
  if (!req.contains("method") || !req["method"].is_string()) {
    return ErrorResponse(id, absl::InvalidArgumentError("request has no string field 'method'"));
  }
  const std::string method = req["method"].get<std::string>();
  auto it = handlers_.find(method);
  if (it == handlers_.end()) return ErrorResponse(id, absl::UnimplementedError(absl::StrCat("unknown method '", method, "'")));
  nlohmann::json params = req.contains("params") ? req["params"] : nlohmann::json::object();
  if (!params.is_object()) return ErrorResponse(id, absl::InvalidArgumentError("field 'params' is not an object"));
  absl::StatusOr<nlohmann::json> result = [&]() -> absl::StatusOr<nlohmann::json> {
    try {
      return it->second(params);
    } catch (const nlohmann::json::exception& e) {
      // A handler reading a field of the wrong type: the request was malformed.
      return absl::InvalidArgumentError(absl::StrCat(method, ": ", e.what()));
    }
  }();
  if (!result.ok()) return ErrorResponse(id, result.status());
  return {{"id", id}, {"result", *result}};
}

void FeiServer::Run() {
  struct Conn {
    int fd;
    FeiDecoder decoder;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  while (!stop_.load()) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& c : conns) fds.push_back({c->fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    if (stop_.load()) break;
    if (fds[1].revents & POLLIN) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) conns.push_back(std::make_unique<Conn>(Conn{fd, {}}));
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Conn& c = *conns[i - 2];
      char buf[65536];
      bool close_it = false;
      ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        close_it = !(n < 0 && (errno == EAGAIN || errno == EINTR));
      } else {
        c.decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
        while (true) {
          auto msg = c.decoder.Next();
          if (!msg.ok()) {
            WriteAll(c.fd, [&] { std::string out; EncodeFeiMessage(ErrorResponse(nullptr, msg.status()), &out); return out; }());
            close_it = true;
            break;
          }
          if (!msg->has_value()) break;
          std::string out;
          EncodeFeiMessage(Dispatch(**msg), &out);
          if (!WriteAll(c.fd, out)) {
            close_it = true;
            break;
          }
        }
      }
      if (close_it) {
        close(c.fd);
        c.fd = -1;
      }
    }
    std::erase_if(conns, [](const auto& c) { return c->fd < 0; });
  }
  for (auto& c : conns) close(c->fd);
}

absl::StatusOr<std::unique_ptr<FeiClient>> FeiClient::Connect(const std::string& path, int timeout_ms) {
  auto addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  std::unique_ptr<FeiClient> c(new FeiClient());
  c->timeout_ms_ = timeout_ms;
  c->fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd_ < 0) return Errno("socket(AF_UNIX)");
  if (connect(c->fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) {
    return Errno(absl::StrCat("connect to rampart-fwd at ", path));
  }
  return c;
}

FeiClient::~FeiClient() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<nlohmann::json> FeiClient::Call(const std::string& method, const nlohmann::json& params) {
  uint64_t id = next_id_++;
  std::string out;
  EncodeFeiMessage({{"id", id}, {"method", method}, {"params", params}}, &out);
  if (!WriteAll(fd_, out)) return Errno("FEI send");
  FeiDecoder dec;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  while (true) {
    auto msg = dec.Next();
    if (!msg.ok()) return msg.status();
    if (msg->has_value()) {
      const nlohmann::json& resp = **msg;
      if (!resp.contains("id") || resp["id"] != id) continue;  // not ours (should not happen: one call at a time)
      if (resp.contains("error")) {
        const auto& e = resp["error"];
        return absl::Status(CodeFromString(e.value("code", "UNKNOWN")), e.value("message", ""));
      }
      return resp.value("result", nlohmann::json::object());
    }
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if (left <= 0) return absl::DeadlineExceededError(absl::StrCat("FEI call '", method, "' timed out"));
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n == 0) return absl::UnavailableError("rampart-fwd closed the FEI connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("FEI recv");
    }
    dec.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace rampart::fwd
