// rampart-controller: the northbound REST API and the controller (logical + physical stages,
// agent stream) on one store. docs/controller.md.
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/api/api_server.h"
#include "controller/server/controller.h"
#include "nlohmann/json.hpp"
#include "store/store.h"

namespace {

// "unix:/run/rampart/controller.sock" -> create /run/rampart (0755) if missing.
void MakeSocketDir(const std::string& addr) {
  if (!absl::StartsWith(addr, "unix:")) return;
  std::filesystem::path p(addr.substr(5));
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
}

bool SplitHostPort(const std::string& s, std::string* host, int* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  *host = s.substr(0, colon);
  return absl::SimpleAtoi(s.substr(colon + 1), port) && *port >= 0 && *port < 65536 && !host->empty();
}

// GET /v1/status's "controller" part (docs/openapi.yaml).
std::string StatusJson(const rampart::controller::ControllerStatus& s) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& h : s.hosts)
    hosts.push_back({{"host", h.host}, {"owner", h.owner}, {"owned", h.owned}, {"revision", h.revision},
                     {"acked", h.acked}, {"connected", h.connected}, {"rows", h.rows}});
  const auto& c = s.stream;
  nlohmann::json j = {{"id", s.id}, {"epoch", s.epoch}, {"applied_revision", s.applied_revision},
                      {"controllers", s.controllers}, {"hosts", hosts},
                      {"batches", s.batches}, {"apply_errors", s.apply_errors},
                      {"allocations_adopted", s.allocations_adopted},
                      {"last_batch_ms", s.last_batch_ms}, {"max_batch_ms", s.max_batch_ms},
                      {"stream", {{"streams", c.streams}, {"registrations", c.registrations},
                                  {"snapshots_sent", c.snapshots_sent}, {"deltas_sent", c.deltas_sent},
                                  {"resumes", c.resumes}, {"redirects", c.redirects},
                                  {"refused_identity", c.refused_identity}, {"refused_protocol", c.refused_protocol},
                                  {"acks", c.acks}, {"stale_acks", c.stale_acks}}}};
  if (!s.restart_needed.empty()) j["restart_needed"] = s.restart_needed;
  return j.dump();
}

}  // namespace

int main(int argc, char** argv) {
  std::string store_url = "file:/var/lib/rampart";
  std::string api = "127.0.0.1:8443";
  std::vector<std::string> agents;
  std::string tls_dir;
  bool insecure = false;
  rampart::controller::ControllerOptions o;
  bool no_api = false;

  CLI::App app{"rampart-controller: northbound API, logical and physical stages, agent streams"};
  app.add_option("--store", store_url, "store URL: file:DIR, etcd://H:P[,H:P...], mem:")->capture_default_str();
  app.add_option("--api", api, "REST API listen address H:P")->capture_default_str();
  app.add_flag("--no-api", no_api, "do not serve the REST API (another controller does)");
  app.add_option("--agents", agents,
                 "agent stream listen address, repeatable: unix:/path or H:P (default unix:/run/rampart/controller.sock)");
  app.add_option("--advertise", o.advertise,
                 "agent address other controllers redirect this controller's hosts to (default: first --agents)");
  app.add_option("--tls-dir", tls_dir, "directory from `rampartctl certs init`: ca.pem, server.pem, server.key, tokens.yaml");
  app.add_flag("--insecure", insecure, "plain HTTP and plain gRPC without tokens (tests and the lab only)");
  app.add_option("--id", o.id, "controller id, unique among the controllers of one store (default: the host name)");
  app.add_option("--lease-ttl", o.lease_ttl_seconds, "membership lease in seconds")->check(CLI::Range(1, 3600))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // One connection (fd) per agent: lift the soft limit of open files to the hard one.
  {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  if (agents.empty()) agents.push_back("unix:/run/rampart/controller.sock");
  if (tls_dir.empty() && !insecure) {
    std::fprintf(stderr, "rampart-controller: give --tls-dir DIR (see `rampartctl certs init`) or --insecure for a test setup\n");
    return 2;
  }
  std::string api_host;
  int api_port = 0;
  if (!no_api && !SplitHostPort(api, &api_host, &api_port)) {
    std::fprintf(stderr, "rampart-controller: --api '%s': expected HOST:PORT\n", api.c_str());
    return 2;
  }
  rampart::controller::ApiOptions api_options;
  std::string cert, key;
  if (!tls_dir.empty()) {
    const std::string d = tls_dir + "/";
    for (const char* f : {"ca.pem", "server.pem", "server.key"}) {
      if (!std::filesystem::exists(d + f)) {
        std::fprintf(stderr, "rampart-controller: --tls-dir %s: missing %s (run `rampartctl certs init --dir %s`)\n",
                     tls_dir.c_str(), f, tls_dir.c_str());
        return 2;
      }
    }
    o.tls = {d + "ca.pem", d + "server.pem", d + "server.key"};
    cert = d + "server.pem";
    key = d + "server.key";
    if (std::filesystem::exists(d + "tokens.yaml")) api_options.tokens_file = d + "tokens.yaml";
  }
  for (const std::string& a : agents) MakeSocketDir(a);
  o.agents = agents;

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGUSR1);  // sent to itself: the controller must be restarted (below)
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto store = rampart::store::OpenStore(store_url);
  if (!store.ok()) {
    std::fprintf(stderr, "rampart-controller: --store %s: %s\n", store_url.c_str(), store.status().ToString().c_str());
    return 1;
  }
  // The API starts first (so that a spec can be applied while the controller loads); its status
  // endpoint reads the controller once there is one.
  static std::mutex running_mu;  // held while a status request reads the running controller
  static rampart::controller::Controller* running = nullptr;
  api_options.status_json = [] {
    std::lock_guard<std::mutex> l(running_mu);
    if (!running) return std::string(R"({"state":"starting","hosts":[]})");
    return StatusJson(running->Status());
  };
  std::unique_ptr<rampart::controller::ApiServer> api_server;
  if (!no_api) {
    api_server = std::make_unique<rampart::controller::ApiServer>(store->get(), api_options);
    absl::Status st = api_server->Start(api_host, api_port, cert, key);
    if (!st.ok()) {
      std::fprintf(stderr, "rampart-controller: --api %s: %s\n", api.c_str(), st.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "rampart-controller: REST API on %s://%s:%d\n", cert.empty() ? "http" : "https",
                 api_host.c_str(), api_server->port());
  }
  // A controller that can no longer follow the store (another controller persisted different
  // numbers for the same things: docs/controller.md, "Several controllers") is stopped and
  // started again here, which recomputes everything from the store; its agents keep enforcing
  // what they hold meanwhile and resume from a snapshot.
  o.on_restart_needed = [](const std::string&) { kill(getpid(), SIGUSR1); };
  while (true) {
    auto controller = rampart::controller::Controller::Start(store->get(), o);
    if (!controller.ok()) {
      std::fprintf(stderr, "rampart-controller: %s\n", controller.status().ToString().c_str());
      if (api_server) api_server->Stop();
      return 1;
    }
    {
      std::lock_guard<std::mutex> l(running_mu);
      running = controller->get();
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == SIGUSR1) {
      std::fprintf(stderr, "rampart-controller: restarting the controller (recomputing from the store)\n");
    } else {
      std::fprintf(stderr, "rampart-controller: signal %d, stopping\n", sig);
      if (api_server) api_server->Stop();  // no status request runs past this point
    }
    {
      std::lock_guard<std::mutex> l(running_mu);
      running = nullptr;
    }
    (*controller)->Stop();
    if (sig != SIGUSR1) return 0;
  }
}
