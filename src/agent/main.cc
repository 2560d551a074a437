// rampart-agent: programs this host's Open vSwitch and rampart-fwd (docs/agent.md).
//   --static-config FILE --host NAME     static mode (hosts.yaml)
//   --records FILE --host NAME           a host's records from a file (re-read every --interval / SIGHUP)
//   --controller ADDR --host NAME        the controller's stream (snapshot, deltas, acks; resumable)
#include <signal.h>

#include <atomic>
#include <cstdarg>
#include <ctime>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "agent/records_agent.h"
#include "agent/records_io.h"
#include "agent/static_agent.h"
#ifdef RAMPART_AGENT_HAS_STREAM
#include "stream/agent_client.h"
#endif

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// One log line on stderr: UTC timestamp (as rampart-controller's), the program, the message.
[[gnu::format(printf, 1, 2)]] void Log(const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03dZ rampart-agent: %s\n", ts, ms, msg);
}

void Sleep(double seconds) {
  for (int i = 0; i < seconds * 10 && !g_stop && !g_reload; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  g_reload = false;
}

void LogApply(const rampart::agent::RecordsApplyReport& r, uint64_t revision) {
  for (const auto& p : r.fei.problems) Log("revision %llu: skipped %s", static_cast<unsigned long long>(revision), p.c_str());
  if (!r.sync.sent && r.fei.mutations() == 0) return;
  Log(
               "applied revision %llu: %zu flows (+%zu ~%zu -%zu), fei: %zu instance(s) created, %zu deleted, "
               "%zu policy set(s), %zu tag(s) bound, %zu unbound, %zu service(s) set, %zu deleted; %zu VM port(s) on br-int",
               static_cast<unsigned long long>(revision), r.flows, r.sync.adds, r.sync.modifies, r.sync.deletes,
               r.fei.instances_created, r.fei.instances_deleted, r.fei.policies_set, r.fei.tags_bound, r.fei.tags_unbound,
               r.fei.services_set, r.fei.services_deleted, r.vm_ports);
}

int RunStatic(const rampart::agent::StaticAgentOptions& o, const std::string& config, bool once, double interval_s) {
  auto agent = rampart::agent::StaticAgent::Connect(o);
  if (!agent.ok()) {
    Log("%s", Msg(agent.status()).c_str());
    return 1;
  }
  bool ok_once = false;
  while (!g_stop) {
    auto cfg = rampart::agent::LoadStaticConfig(config);
    if (!cfg.ok()) {
      Log("%s", Msg(cfg.status()).c_str());
    } else {
      auto r = (*agent)->Apply(*cfg);
      if (!r.ok()) {
        Log("apply: %s", Msg(r.status()).c_str());
      } else {
        ok_once = true;
        if (r->sync.sent || r->instances_created || r->policies_changed || r->tags_bound) {
          Log(
                       "applied: %zu flows (+%zu ~%zu -%zu), %zu instance(s) created, %zu policy change(s), "
                       "%zu tag(s) bound, %zu local VM port(s) missing",
                       r->flows, r->sync.adds, r->sync.modifies, r->sync.deletes, r->instances_created, r->policies_changed,
                       r->tags_bound, r->vms_missing);
        }
      }
    }
    if (once) return ok_once ? 0 : 1;
    Sleep(interval_s);
  }
  return 0;
}

// --records FILE: re-read the file every interval (and on SIGHUP); apply when it or the ports
// changed.
int RunRecordsFile(const rampart::agent::RecordsAgentOptions& o, const std::string& file, bool once, double interval_s) {
  auto agent = rampart::agent::RecordsAgent::Connect(o);
  if (!agent.ok()) {
    Log("%s", Msg(agent.status()).c_str());
    return 1;
  }
  bool ok_once = false;
  std::optional<rampart::records::RecordSet> applied;
  std::string last_error;
  while (!g_stop) {
    auto rs = rampart::agent::LoadRecordsFile(file, o.host);
    std::string err;
    if (!rs.ok()) {
      err = Msg(rs.status());
    } else {
      auto changed = (*agent)->PortsChanged();
      if (!changed.ok()) {
        err = "ovsdb: " + Msg(changed.status());
      } else if (!applied || applied->rows() != rs->rows() || *changed) {
        auto r = (*agent)->Apply(*rs);
        if (!r.ok()) {
          err = "apply: " + Msg(r.status());
        } else {
          ok_once = true;
          applied = *rs;
          LogApply(*r, rs->revision());
        }
      }
    }
    if (!err.empty() && err != last_error) Log("%s", err.c_str());
    last_error = err;
    if (once) return ok_once ? 0 : 1;
    Sleep(interval_s);
  }
  return 0;
}

#ifdef RAMPART_AGENT_HAS_STREAM
// --controller ADDR: the stream. Each delta is applied, persisted to the state file, then
// acknowledged. A restarted agent re-applies its state file (nothing changes on the switch or
// in rampart-fwd) and resumes the stream from the revision it holds.
int RunController(const rampart::agent::RecordsAgentOptions& o, rampart::stream::AgentClientOptions co,
                  const std::string& state_file, double interval_s) {
  auto agent = rampart::agent::RecordsAgent::Connect(o);
  if (!agent.ok()) {
    Log("%s", Msg(agent.status()).c_str());
    return 1;
  }
  std::mutex mu;
  rampart::records::RecordSet held;
  bool pending = false;  // held rows not yet applied (an apply failed): retried, then acked
  if (auto st = rampart::agent::LoadState(state_file); st.ok()) {
    held = std::move(*st);
    auto r = (*agent)->Apply(held);
    if (!r.ok()) {
      Log("re-applying state file %s: %s", state_file.c_str(), Msg(r.status()).c_str());
      pending = true;
    } else {
      LogApply(*r, held.revision());
    }
  } else if (!absl::IsNotFound(st.status())) {
    Log("%s (starting from a snapshot)", Msg(st.status()).c_str());
  }
  co.held_revision = held.revision();
  rampart::stream::AgentClient client(co);
  auto apply_and_ack = [&]() {  // REQUIRES: mu held
    auto r = (*agent)->Apply(held);
    if (!r.ok()) {
      Log("apply revision %llu: %s (retrying)",
                   static_cast<unsigned long long>(held.revision()), Msg(r.status()).c_str());
      pending = true;
      return;
    }
    LogApply(*r, held.revision());
    if (auto st = rampart::agent::SaveState(state_file, held); !st.ok()) {
      Log("%s", Msg(st).c_str());
    }
    pending = false;
    client.Ack(held.revision());
  };
  auto st = client.Start([&](const rampart::records::Delta& d) {
    std::lock_guard<std::mutex> l(mu);
    // Asked to stop: apply nothing more and ack nothing (the controller resends it on the next
    // connection), so an agent being stopped never changes the switch or rampart-fwd.
    if (g_stop) return;
    held.Apply(d);
    apply_and_ack();
  });
  if (!st.ok()) {
    Log("%s", Msg(st).c_str());
    return 1;
  }
  // Stream events for the log (polled with the port check): connects, ends, redirects.
  rampart::stream::AgentClientCounters seen;
  auto log_stream = [&] {
    const rampart::stream::AgentClientCounters c = client.counters();
    if (c.redirects > seen.redirects) Log("redirected to controller %s", client.current_target().c_str());
    if (c.disconnects > seen.disconnects) {
      const absl::Status e = client.last_error();
      Log("stream to the controller ended%s%s; reconnecting (enforcing revision %llu meanwhile)", e.ok() ? "" : ": ",
          e.ok() ? "" : Msg(e).c_str(), static_cast<unsigned long long>(client.held_revision()));
    }
    if (c.streams_established > seen.streams_established)
      Log("stream to controller %s established (held revision %llu; %llu snapshot(s), %llu delta(s) so far)",
          client.current_target().c_str(), static_cast<unsigned long long>(client.held_revision()),
          static_cast<unsigned long long>(c.snapshots), static_cast<unsigned long long>(c.deltas));
    if (c.protocol_errors > seen.protocol_errors) Log("stream protocol error: %s", Msg(client.last_error()).c_str());
    seen = c;
  };
  while (!g_stop) {
    Sleep(std::min(interval_s, 1.0));
    log_stream();
    std::lock_guard<std::mutex> l(mu);
    auto changed = (*agent)->PortsChanged();
    if (pending || (changed.ok() && *changed)) apply_and_ack();
  }
  client.Stop();
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rampart-agent: programs this host's Open vSwitch and rampart-fwd"};
  rampart::agent::StaticAgentOptions o;
  rampart::agent::RecordsAgentOptions ro;
  std::string config, records_file, controller, state_file, tls_ca, tls_cert, tls_key, server_name;
  bool once = false;
  double interval_s = 5;
  auto* static_opt = app.add_option("--static-config", config, "host configuration YAML (docs/agent.md)");
  auto* records_opt = app.add_option("--records", records_file, "a file of this host's records (JSON lines {table, values})");
  auto* controller_opt = app.add_option("--controller", controller, "controller stream address (unix:PATH or HOST:PORT)");
  static_opt->excludes(records_opt)->excludes(controller_opt);
  records_opt->excludes(controller_opt);
  app.add_option("--host", o.host, "this host's name")->required();
  app.add_option("--ovsdb", o.ovsdb, "OVSDB socket (unix:PATH or PATH)")->required();
  app.add_option("--openflow", o.openflow, "br-int management socket (PATH)")->required();
  app.add_option("--fwd-socket", o.fwd_socket, "rampart-fwd's FEI socket")->required();
  app.add_option("--fwd-interface", o.fwd_interface, "rampart-fwd's end of the firewall veth");
  app.add_option("--bridge", ro.bridge, "integration bridge (records modes)");
  app.add_option("--firewall-port", ro.firewall_port, "OVS end of rampart-fwd's veth (records modes)");
  app.add_option("--tunnel-port", ro.tunnel_port, "the flow-based Geneve port (records modes)");
  app.add_option("--state-file", state_file, "where --controller mode keeps the applied revision and rows")
      ->default_val("/var/lib/rampart/agent-state.json");
  app.add_option("--tls-ca", tls_ca, "CA certificate of the controller (PEM)");
  app.add_option("--tls-cert", tls_cert, "this host's certificate (PEM, CN = host name)");
  app.add_option("--tls-key", tls_key, "this host's private key (PEM)");
  app.add_option("--server-name", server_name, "name checked in the controller's certificate");
  app.add_flag("--once", once, "apply once and exit (static and --records modes)");
  app.add_option("--interval", interval_s, "seconds between re-reads of the file / port checks");
  CLI11_PARSE(app, argc, argv);

  signal(SIGINT, [](int) { g_stop = true; });
  signal(SIGTERM, [](int) { g_stop = true; });
  signal(SIGHUP, [](int) { g_reload = true; });

  ro.host = o.host;
  ro.ovsdb = o.ovsdb;
  ro.openflow = o.openflow;
  ro.fwd_socket = o.fwd_socket;
  ro.fwd_interface = o.fwd_interface;
  if (!config.empty()) return RunStatic(o, config, once, interval_s);
  if (!records_file.empty()) return RunRecordsFile(ro, records_file, once, interval_s);
  if (!controller.empty()) {
#ifdef RAMPART_AGENT_HAS_STREAM
    rampart::stream::AgentClientOptions co;
    co.host = o.host;
    co.target = controller;
    co.tls = {tls_ca, tls_cert, tls_key};
    if (!server_name.empty()) co.server_name = server_name;
    return RunController(ro, co, state_file, interval_s);
#else
    Log("this build has no stream client (rampart_stream)");
    return 2;
#endif
  }
  Log("one of --static-config, --records or --controller is required");
  return 2;
}
