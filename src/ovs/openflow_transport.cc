#include "ovs/openflow_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rampart::ofp {
namespace {

constexpr absl::Duration kStallLimit = absl::Seconds(15);

class FdTransportImpl : public OfTransport {
 public:
  explicit FdTransportImpl(int fd) : fd_(fd) {}
  ~FdTransportImpl() override { ::close(fd_); }

  absl::Status Write(absl::Span<const uint8_t> bytes) override {
    // Non-blocking sends with a bound on time without progress, so a switch that stops
    // reading cannot wedge the writer (and with it the client's I/O thread) forever.
    size_t done = 0;
    absl::Time last_progress = absl::Now();
    while (done < bytes.size()) {
      if (shutdown_.load()) return absl::UnavailableError("connection shut down");
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          if (absl::Now() - last_progress > kStallLimit) {
            return absl::UnavailableError(absl::StrCat(
                "write: the switch read nothing for ", absl::FormatDuration(kStallLimit)));
          }
          pollfd p{fd_, POLLOUT, 0};
          ::poll(&p, 1, 100);
          continue;
        }
        return absl::UnavailableError(absl::StrCat("write: ", std::strerror(errno)));
      }
      done += static_cast<size_t>(n);
      last_progress = absl::Now();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(uint8_t* buf, size_t cap, absl::Duration timeout) override {
    if (shutdown_.load()) return absl::UnavailableError("connection shut down");
    int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, ms < 0 ? 0 : ms);
    if (r < 0) {
      if (errno == EINTR) return size_t{0};
      return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (shutdown_.load()) return absl::UnavailableError("connection shut down");
    if (r == 0) return size_t{0};
    ssize_t n = ::recv(fd_, buf, cap, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
      return absl::UnavailableError(absl::StrCat("read: ", std::strerror(errno)));
    }
    if (n == 0) return absl::UnavailableError("connection closed by the switch");
    return static_cast<size_t>(n);
  }

  void Shutdown() override {
    shutdown_.store(true);
    ::shutdown(fd_, SHUT_RDWR);
  }

 private:
  int fd_;
  std::atomic<bool> shutdown_{false};
};

class UnixConnector : public OfConnector {
 public:
  explicit UnixConnector(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::unique_ptr<OfTransport>> Connect() override {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unix socket path too long (", path_.size(), " bytes): ", path_));
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("connect ", Describe(), ": ", std::strerror(e)));
    }
    return FdTransport(fd);
  }

  std::string Describe() const override { return absl::StrCat("unix:", path_); }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<OfConnector> UnixSocketConnector(std::string path) {
  return std::make_unique<UnixConnector>(std::move(path));
}

std::unique_ptr<OfTransport> FdTransport(int fd) { return std::make_unique<FdTransportImpl>(fd); }

}  // namespace rampart::ofp
