// The FEI server: rampart-fwd's local control API on a unix stream socket (framing in
// fei_codec.h, methods in docs/fei.md). Handlers run on the thread that calls Run(), one request
// at a time, so they may touch control-plane state without further locking.
//
// FeiClient is the blocking client used by rampart-agent and rampartctl.
#ifndef RAMPART_FWD_FEI_SERVER_H_
#define RAMPART_FWD_FEI_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rampart::fwd {

using FeiHandler = std::function<absl::StatusOr<nlohmann::json>(const nlohmann::json& params)>;

class FeiServer {
 public:
  // Binds `path` (an existing socket file is replaced), mode 0600.
  static absl::StatusOr<std::unique_ptr<FeiServer>> Listen(const std::string& path);
  ~FeiServer();

  // REQUIRES: before Run().
  void Handle(const std::string& method, FeiHandler handler) { handlers_[method] = std::move(handler); }

  // Serves until Stop() is called (from any thread). Unknown methods, malformed requests and
  // handler errors get an error response; a malformed frame closes that connection only.
  void Run();
  void Stop();

  const std::string& path() const { return path_; }

 private:
  FeiServer() = default;
  nlohmann::json Dispatch(const nlohmann::json& request);

  std::string path_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() wakes poll()
  std::atomic<bool> stop_{false};
  std::map<std::string, FeiHandler> handlers_;
};

class FeiClient {
 public:
  static absl::StatusOr<std::unique_ptr<FeiClient>> Connect(const std::string& path, int timeout_ms = 5000);
  ~FeiClient();
  // Sends one request and waits for its response. A response carrying "error" becomes a Status
  // with that code and message.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const nlohmann::json& params = nlohmann::json::object());

 private:
  FeiClient() = default;
  int fd_ = -1;
  int timeout_ms_ = 5000;
  uint64_t next_id_ = 1;
};

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_FEI_SERVER_H_
