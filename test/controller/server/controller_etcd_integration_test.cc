// Two rampart-controller processes on a real etcd (/usr/bin/etcd on free loopback ports in a
// temp dir): each streams the hosts it owns; kill -9 one, its membership lease expires, the other
// takes its hosts over and their agents (in this process) converge there.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "controller/api/api_server.h"
#include "controller/server/controller.h"
#include "nlohmann/json.hpp"
#include "store/store.h"
#include "test/stream/test_agent.h"

namespace rampart::controller {
namespace {

using stream::testing::Eventually;
using stream::testing::TempDir;
using stream::testing::TestAgent;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed or killed test
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

void Kill(pid_t pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  int st;
  waitpid(pid, &st, 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class EtcdControllers : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/etcd", X_OK) != 0) GTEST_SKIP() << "/usr/bin/etcd not installed";
    const int client = FreePort(), peer = FreePort();
    endpoint_ = "127.0.0.1:" + std::to_string(client);
    etcd_ = Spawn({"/usr/bin/etcd", "--name", "t", "--data-dir", dir_.File("etcd"), "--listen-client-urls",
                   "http://" + endpoint_, "--advertise-client-urls", "http://" + endpoint_, "--listen-peer-urls",
                   "http://127.0.0.1:" + std::to_string(peer), "--initial-advertise-peer-urls",
                   "http://127.0.0.1:" + std::to_string(peer), "--initial-cluster",
                   "t=http://127.0.0.1:" + std::to_string(peer)},
                  dir_.File("etcd.log"));
    // Wait for etcd to answer.
    ASSERT_TRUE(Eventually(
        [&] {
          auto s = store::OpenStore("etcd://" + endpoint_);
          if (!s.ok()) return false;
          if (absl::IsUnimplemented(s.status())) return true;
          return (*s)->CurrentRevision().ok();
        },
        std::chrono::seconds(20)))
        << ReadFile(dir_.File("etcd.log"));
    auto s = store::OpenStore("etcd://" + endpoint_);
    if (!s.ok() && absl::IsUnimplemented(s.status())) GTEST_SKIP() << "etcd store backend: " << s.status();
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
  }
  void TearDown() override {
    for (pid_t p : controllers_) Kill(p, SIGKILL);
    Kill(etcd_, SIGKILL);
  }

  pid_t StartController(const std::string& id) {
    const std::string sock = "unix:" + dir_.File(id + ".sock");
    pid_t p = Spawn({RAMPART_CONTROLLER_BIN, "--store", "etcd://" + endpoint_, "--no-api", "--insecure", "--agents", sock,
                     "--id", id, "--lease-ttl", "2"},
                    dir_.File(id + ".log"));
    controllers_.push_back(p);
    return p;
  }

  TempDir dir_;
  std::string endpoint_;
  pid_t etcd_ = -1;
  std::vector<pid_t> controllers_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(EtcdControllers, KilledControllersHostsMoveToTheOther) {
  const pid_t c1 = StartController("c1");
  StartController("c2");
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = store_->Range(kControllersPrefix);
        return r.ok() && r->kvs.size() == 2;
      },
      std::chrono::seconds(20)))
      << ReadFile(dir_.File("c1.log")) << ReadFile(dir_.File("c2.log"));

  ApiOptions ao;
  ao.tokens.push_back({"t", "admin", "datacenter-admin", ""});
  ApiServer api(store_.get(), ao);
  ASSERT_TRUE(api.Start("127.0.0.1", 0).ok());
  ApiRequest req;
  req.method = "POST";
  req.path = "/v1/apply";
  req.authorization = "Bearer t";
  req.files.push_back({"seed.yaml", ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/seed-attached.yaml")});
  ApiResponse resp = api.Handle(req);
  ASSERT_EQ(resp.status, 200) << resp.body;

  const std::string targets = "unix:" + dir_.File("c1.sock") + ",unix:" + dir_.File("c2.sock");
  std::vector<std::string> hosts = {"h1", "h2", "h3", "h4", "h5", "h6"};
  std::map<std::string, std::unique_ptr<TestAgent>> agents;
  for (const auto& h : hosts) {
    stream::AgentClientOptions o;
    o.host = h;
    o.target = targets;
    o.min_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(300);
    agents[h] = std::make_unique<TestAgent>(o);
    ASSERT_TRUE(agents[h]->Start().ok());
  }
  auto has_vm = [&](const std::string& h, const std::string& vm) {
    const records::RecordSet rows = agents[h]->rows();  // a copy: rows() returns by value
    for (const auto& r : rows.rows()) {
      if (r.table == "VmPort" && r.values.size() > 1 && r.values[1] == vm) return true;
    }
    return false;
  };
  auto owner_of = [&](const std::string& h) { return RendezvousOwner(h, {"c1", "c2"}); };
  ASSERT_TRUE(Eventually([&] { return has_vm("h1", "vm1") && has_vm("h2", "vm2"); }, std::chrono::seconds(30)));
  for (const auto& h : hosts) {
    ASSERT_TRUE(Eventually([&] { return agents[h]->client().connected(); }, std::chrono::seconds(20))) << h;
    EXPECT_EQ(agents[h]->client().current_target(), "unix:" + dir_.File(owner_of(h) + ".sock")) << h;
  }

  // kill -9 c1: no lease revoke; c2 takes over when the lease (2 s) expires.
  Kill(c1, SIGKILL);
  controllers_.erase(controllers_.begin());
  for (const auto& h : hosts) {
    ASSERT_TRUE(Eventually(
        [&] { return agents[h]->client().connected() && agents[h]->client().current_target() == "unix:" + dir_.File("c2.sock"); },
        std::chrono::seconds(30)))
        << h << "\n" << ReadFile(dir_.File("c2.log"));
  }
  EXPECT_TRUE(has_vm("h1", "vm1"));
  EXPECT_TRUE(has_vm("h2", "vm2"));
  // A change after the takeover reaches the moved hosts.
  ApiRequest del;
  del.method = "DELETE";
  del.path = "/v1/objects/Port/A/vm1";
  del.authorization = "Bearer t";
  ASSERT_EQ(api.Handle(del).status, 200);
  EXPECT_TRUE(Eventually([&] { return !has_vm("h1", "vm1"); }, std::chrono::seconds(20))) << ReadFile(dir_.File("c2.log"));
  api.Stop();
}

}  // namespace
}  // namespace rampart::controller
