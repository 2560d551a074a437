#include "test/store/etcd_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "etcd/rpc.grpc.pb.h"

namespace rampart::store {
namespace {

// A port the kernel just handed out on 127.0.0.1 (closed again; a tiny race we accept in tests).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

absl::StatusOr<etcdserverpb::StatusResponse> MemberStatus(const std::string& endpoint) {
  auto stub = etcdserverpb::Maintenance::NewStub(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  etcdserverpb::StatusResponse resp;
  grpc::Status s = stub->Status(&ctx, etcdserverpb::StatusRequest(), &resp);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat(endpoint, ": ", s.error_message()));
  return resp;
}

}  // namespace

bool EtcdCluster::Available() { return ::access(kEtcdBinary, X_OK) == 0; }

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(int members) {
  std::unique_ptr<EtcdCluster> c(new EtcdCluster());
  // Data on tmpfs when there is one: etcd fsyncs every write, and on a busy shared disk a stalled
  // fsync can freeze a member for seconds (seen as "Deadline Exceeded" on a loaded build machine).
  std::filesystem::path base = ::access("/dev/shm", W_OK) == 0 ? std::filesystem::path("/dev/shm")
                                                                : std::filesystem::temp_directory_path();
  std::string tmpl = (base / "rampart-etcd-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  c->dir_ = tmpl;
  std::string token = absl::StrCat("rampart-test-", ::getpid(), "-", std::filesystem::path(tmpl).filename().string());
  std::vector<int> client_ports, peer_ports;
  std::vector<std::string> initial;
  for (int i = 0; i < members; ++i) {
    client_ports.push_back(FreePort());
    peer_ports.push_back(FreePort());
    if (client_ports.back() < 0 || peer_ports.back() < 0) return absl::InternalError("no free loopback port");
    initial.push_back(absl::StrCat(token, "-m", i, "=http://127.0.0.1:", peer_ports.back()));
  }
  std::string initial_cluster = absl::StrJoin(initial, ",");
  for (int i = 0; i < members; ++i) {
    std::string name = absl::StrCat(token, "-m", i);
    std::string client = absl::StrCat("http://127.0.0.1:", client_ports[i]);
    std::string peer = absl::StrCat("http://127.0.0.1:", peer_ports[i]);
    std::vector<std::string> args = {
        kEtcdBinary,
        "--name", name,
        "--data-dir", absl::StrCat(c->dir_, "/m", i),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", token,
        "--heartbeat-interval", "50",
        "--election-timeout", "500",
        // Controller applies are large txns: the limits a deployment needs (docs/store.md).
        "--max-txn-ops", "100000",
        "--max-request-bytes", "33554432",
        "--log-level", "error",
        "--logger", "zap",
    };
    std::string log = absl::StrCat(c->dir_, "/m", i, ".log");
    pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError("fork failed");
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::setpgid(0, 0);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(kEtcdBinary, argv.data());
      ::_exit(127);
    }
    c->pids_.push_back(pid);
    c->endpoints_.push_back(absl::StrCat("127.0.0.1:", client_ports[i]));
  }
  // Ready when every member answers and one of them is the leader.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    bool all = true;
    for (const std::string& ep : c->endpoints_) {
      absl::StatusOr<etcdserverpb::StatusResponse> s = MemberStatus(ep);
      if (!s.ok() || s->leader() == 0) all = false;
    }
    if (all) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("etcd cluster in ", c->dir_, " did not come up in 30 s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return c;
}

int EtcdCluster::Leader() const {
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (pids_[i] <= 0) continue;
    absl::StatusOr<etcdserverpb::StatusResponse> s = MemberStatus(endpoints_[i]);
    if (s.ok() && s->leader() != 0 && s->leader() == s->header().member_id()) return static_cast<int>(i);
  }
  return -1;
}

void EtcdCluster::Kill(int member) {
  if (pids_[member] <= 0) return;
  ::kill(pids_[member], SIGKILL);
  ::waitpid(pids_[member], nullptr, 0);
  pids_[member] = 0;
}

EtcdCluster::~EtcdCluster() {
  for (size_t i = 0; i < pids_.size(); ++i) Kill(static_cast<int>(i));
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace rampart::store
