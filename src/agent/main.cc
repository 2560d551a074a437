// rampart-agent: programs this host's Open vSwitch and rampart-fwd.
// Static mode (until the controller streams records): --static-config FILE --host NAME.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "agent/static_agent.h"

namespace {
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rampart-agent: programs this host's Open vSwitch and rampart-fwd"};
  rampart::agent::StaticAgentOptions o;
  std::string config;
  bool once = false;
  double interval_s = 5;
  app.add_option("--static-config", config, "host configuration YAML (docs/agent.md)")->required();
  app.add_option("--host", o.host, "this host's name in the configuration")->required();
  app.add_option("--ovsdb", o.ovsdb, "OVSDB socket (unix:PATH or PATH)")->required();
  app.add_option("--openflow", o.openflow, "br-int management socket (PATH)")->required();
  app.add_option("--fwd-socket", o.fwd_socket, "rampart-fwd's FEI socket")->required();
  app.add_option("--fwd-interface", o.fwd_interface, "rampart-fwd's end of the firewall veth");
  app.add_flag("--once", once, "apply once and exit");
  app.add_option("--interval", interval_s, "seconds between re-applications (the file is re-read)");
  CLI11_PARSE(app, argc, argv);

  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGHUP, [](int) { g_reload = true; });

  auto agent = rampart::agent::StaticAgent::Connect(o);
  if (!agent.ok()) {
    std::fprintf(stderr, "rampart-agent: %s\n", std::string(agent.status().message()).c_str());
    return 1;
  }
  bool ok_once = false;
  while (!g_stop) {
    auto cfg = rampart::agent::LoadStaticConfig(config);
    if (!cfg.ok()) {
      std::fprintf(stderr, "rampart-agent: %s\n", std::string(cfg.status().message()).c_str());
    } else {
      auto r = (*agent)->Apply(*cfg);
      if (!r.ok()) {
        std::fprintf(stderr, "rampart-agent: apply: %s\n", std::string(r.status().message()).c_str());
      } else {
        ok_once = true;
        if (r->sync.sent || r->instances_created || r->policies_changed || r->tags_bound) {
          std::fprintf(stderr,
                       "rampart-agent: applied: %zu flows (+%zu ~%zu -%zu), %zu instance(s) created, %zu policy change(s), "
                       "%zu tag(s) bound, %zu local VM port(s) missing\n",
                       r->flows, r->sync.adds, r->sync.modifies, r->sync.deletes, r->instances_created, r->policies_changed,
                       r->tags_bound, r->vms_missing);
        }
      }
    }
    if (once) return ok_once ? 0 : 1;
    for (int i = 0; i < interval_s * 10 && !g_stop && !g_reload; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    g_reload = false;
  }
  return 0;
}
