// A scripted OVSDB server for unit tests: every client connection is one end of a socketpair,
// served by a thread that hands each received message to a handler and sends back what the
// handler returns. Tests can also push notifications and kill the connection (server crash).
#ifndef RAMPART_TEST_OVS_OVSDB_FAKE_SERVER_H_
#define RAMPART_TEST_OVS_OVSDB_FAKE_SERVER_H_

#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ovs/json_rpc.h"
#include "ovs/ovsdb_client.h"

namespace rampart::ovs::testing {

class FakeOvsdbServer {
 public:
  using Handler = std::function<std::vector<Json>(const JsonRpcMessage&)>;

  explicit FakeOvsdbServer(Handler handler) : handler_(std::move(handler)) {}
  ~FakeOvsdbServer() { KillConnection(); }

  TransportConnector Connector() {
    return [this]() -> absl::StatusOr<std::unique_ptr<Transport>> {
      if (refuse_.load()) return absl::UnavailableError("fake server refuses connections");
      int fds[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        return absl::InternalError("socketpair failed");
      }
      KillConnection();
      auto conn = std::make_shared<JsonRpcConnection>(FdTransport(fds[1]));
      {
        std::lock_guard<std::mutex> l(mu_);
        conn_ = conn;
        ++connections_;
      }
      stop_ = false;
      thread_ = std::thread([this, conn] { Serve(conn); });
      return FdTransport(fds[0]);
    };
  }

  // Sends a message to the connected client.
  void Push(const Json& message) {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_) (void)conn_->Send(message);
  }

  // Closes the server side of the current connection.
  void KillConnection() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> l(mu_);
    conn_.reset();
  }

  void set_refuse(bool r) { refuse_ = r; }
  int connections() {
    std::lock_guard<std::mutex> l(mu_);
    return connections_;
  }
  std::vector<JsonRpcMessage> received() {
    std::lock_guard<std::mutex> l(mu_);
    return received_;
  }

 private:
  void Serve(std::shared_ptr<JsonRpcConnection> conn) {
    while (!stop_) {
      absl::StatusOr<std::optional<JsonRpcMessage>> m = conn->Receive(absl::Milliseconds(20));
      if (!m.ok()) return;
      if (!m->has_value()) continue;
      std::lock_guard<std::mutex> l(mu_);
      received_.push_back(**m);
      for (const Json& out : handler_(**m)) (void)conn->Send(out);
    }
  }

  Handler handler_;
  std::mutex mu_;
  std::shared_ptr<JsonRpcConnection> conn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refuse_{false};
  int connections_ = 0;
  std::vector<JsonRpcMessage> received_;
};

}  // namespace rampart::ovs::testing

#endif  // RAMPART_TEST_OVS_OVSDB_FAKE_SERVER_H_
