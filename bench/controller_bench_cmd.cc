// rampart-bench controller: one controller (Controller on a "mem:" store) and N simulated agents
// (AgentClient instances that apply what they receive to a records::RecordSet and ack it) over a
// unix socket. The agents run in a forked child process, so the controller's memory (this
// process) and the agents' (the child) are measured apart; the fork happens before either side
// starts gRPC.
//
//   full convergence  every object of a generated spec (bench/support/nb_generator.h) committed
//                     in one store transaction (what `rampartctl apply -f` commits) -> the last
//                     agent acked its share. Reported: commit -> controller published, commit ->
//                     last ack.
//   single rule       --changes K times: one firewall gets one more rule (its stored object
//                     re-put with the rule appended); time from the store commit to the last
//                     affected agent's ack (acks seen by the controller); p50/p99/max.
//                     --via-api: the changed firewall goes through the REST API's apply instead
//                     (ApiServer::Handle in this process, as `rampartctl apply -f` of its JSON,
//                     without HTTP/TLS): validation + commit are then inside the timed span, which
//                     becomes "apply -> last ack".
//   memory            controller RSS (this process; before the controller started and after
//                     convergence and the single-rule changes), the agents' process RSS per agent, and the record memory of
//                     the largest and the average agent (rows, estimated heap bytes of its set).
//                     --keep-shares: the stream server keeps a copy of every host's share (the
//                     way before the snapshot source; ControllerOptions::stream_keeps_shares),
//                     to compare the controller's memory of both ways on one binary.
//                     --record-snapshots: snapshots built as records::Record strings and
//                     protobuf Records per host (ControllerOptions::encoded_snapshots = false,
//                     the way before the encoded per-datapath blocks), to compare both on one binary.
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_command.h"
#include "bench/support/nb_generator.h"
#include "controller/api/api_server.h"
#include "controller/api/nb_objects.h"
#include "controller/nb_spec.h"
#include "controller/server/controller.h"
#include "store/store.h"
#include "stream/agent_client.h"

namespace rampart::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// CPU time of this process (the controller; the agents run in the child) in ms: on a shared
// machine wall times include waiting for a core, CPU times do not.
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// CPU time (user + system) of another process, from /proc/PID/stat, in ms (-1 if unreadable).
double ProcessCpuMs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 3.. after "pid (comm)"
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return (utime + stime) * 1e3 / sysconf(_SC_CLK_TCK);
}

size_t StatusField(const std::string& status_path, const char* field) {
  std::ifstream in(status_path);
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::strtoull(line.c_str() + n, nullptr, 10) * 1024;
  }
  return 0;
}
// "1-min 5-min 15-min" from /proc/loadavg (the machine is shared: say how busy it was).
std::string LoadAverage() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  double a = 0, b = 0, c = 0;
  const int n = std::fscanf(f, "%lf %lf %lf", &a, &b, &c);
  std::fclose(f);
  if (n != 3) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}
size_t RssOf(const std::string& status_path) { return StatusField(status_path, "VmRSS:"); }
// Peak RSS of this process so far (the kernel's high-water mark).
size_t PeakRssOf(const std::string& status_path) { return StatusField(status_path, "VmHWM:"); }

size_t StringHeap(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

// Heap bytes of a RecordSet: std::set node (3 pointers + color, rounded: 32) + the Record, plus
// out-of-line string and vector storage.
size_t RecordSetBytes(const records::RecordSet& rs) {
  size_t n = 0;
  for (const records::Record& r : rs.rows()) {
    n += 32 + sizeof(records::Record) + StringHeap(r.table) + r.values.capacity() * sizeof(std::string);
    for (const std::string& v : r.values) n += StringHeap(v);
  }
  return n;
}

struct Options {
  int hosts = 1000, ports = 10000, rules = 50000, tenants = 100, changes = 50;
  uint64_t seed = 1;
  bool json = false;
  bool keep_shares = false;
  bool record_snapshots = false;
  bool via_api = false;
  bool settle = true;
  int timeout_s = 600;
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](int* v) {
      if (i + 1 >= argc) return false;
      *v = std::atoi(argv[++i]);
      return *v >= 0;
    };
    bool ok = true;
    if (a == "--hosts") ok = next(&o->hosts);
    else if (a == "--ports") ok = next(&o->ports);
    else if (a == "--rules") ok = next(&o->rules);
    else if (a == "--tenants") ok = next(&o->tenants);
    else if (a == "--changes") ok = next(&o->changes);
    else if (a == "--timeout") ok = next(&o->timeout_s);
    else if (a == "--json") o->json = true;
    else if (a == "--keep-shares") o->keep_shares = true;
    else if (a == "--record-snapshots") o->record_snapshots = true;
    else if (a == "--via-api") o->via_api = true;
    else if (a == "--no-settle") o->settle = false;
    else {
      std::fprintf(stderr,
                   "usage: rampart-bench controller [--hosts N] [--ports N] [--rules N] [--tenants N] [--changes K] "
                   "[--timeout S] [--keep-shares] [--record-snapshots] [--via-api] [--no-settle] [--json]\nunknown argument '%s'\n",
                   a.c_str());
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "rampart-bench controller: %s needs a number >= 0\n", a.c_str());
      return false;
    }
  }
  if (o->hosts < 2 || o->tenants < 1) {
    std::fprintf(stderr, "rampart-bench controller: --hosts >= 2 and --tenants >= 1\n");
    return false;
  }
  return true;
}

// ---- the agents' process ---------------------------------------------------------------------

// Runs `hosts` agents until `stop_fd` is closed by the parent, then writes its statistics as one
// JSON line to `out_fd`.
int RunAgents(const std::string& target, const std::vector<std::string>& hosts, int stop_fd, int out_fd) {
  struct Agent {
    std::unique_ptr<stream::AgentClient> client;
    std::mutex mu;
    records::RecordSet rows;
  };
  std::vector<std::unique_ptr<Agent>> agents;
  agents.reserve(hosts.size());
  for (const std::string& h : hosts) {
    auto a = std::make_unique<Agent>();
    stream::AgentClientOptions o;
    o.host = h;
    o.target = target;
    o.min_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(1000);
    a->client = std::make_unique<stream::AgentClient>(o);
    Agent* raw = a.get();
    absl::Status st = a->client->Start([raw](records::Delta& d) {
      const uint64_t revision = d.revision;
      {
        std::lock_guard<std::mutex> l(raw->mu);
        raw->rows.Apply(std::move(d));  // the client's delta: rows moved, not copied
      }
      raw->client->Ack(revision);
    });
    if (!st.ok()) {
      std::fprintf(stderr, "agent %s: %s\n", h.c_str(), st.ToString().c_str());
      return 1;
    }
    agents.push_back(std::move(a));
  }
  char c;
  while (read(stop_fd, &c, 1) > 0) {
  }
  nlohmann::json j;
  size_t max_rows = 0, max_bytes = 0, total_rows = 0, total_bytes = 0;
  uint64_t inconsistencies = 0, reconnects = 0;
  for (auto& a : agents) {
    std::lock_guard<std::mutex> l(a->mu);
    const size_t b = RecordSetBytes(a->rows);
    total_rows += a->rows.rows().size();
    total_bytes += b;
    inconsistencies += a->rows.inconsistencies();
    reconnects += a->client->counters().streams_established - 1;
    if (a->rows.rows().size() > max_rows) {
      max_rows = a->rows.rows().size();
      max_bytes = b;
    }
  }
  j["agents"] = agents.size();
  j["rss_bytes"] = RssOf("/proc/self/status");
  j["max_rows"] = max_rows;
  j["max_record_bytes"] = max_bytes;
  j["mean_rows"] = agents.empty() ? 0.0 : double(total_rows) / agents.size();
  j["mean_record_bytes"] = agents.empty() ? 0.0 : double(total_bytes) / agents.size();
  j["inconsistencies"] = inconsistencies;
  j["reconnects"] = reconnects;
  const std::string line = j.dump() + "\n";
  if (write(out_fd, line.data(), line.size()) < 0) return 1;
  for (auto& a : agents) a->client->Stop();
  return 0;
}

// ---- the controller's side -------------------------------------------------------------------

// Acks seen by the controller and batches it published, for waiting on "all affected hosts
// acked".
class Tracker {
 public:
  void OnPublished(int64_t rev, const std::map<std::string, uint64_t>& published) {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [h, r] : published) {
      uint64_t& want = want_[h];
      want = std::max(want, r);
    }
    batches_[rev] = published;
    last_published_rev_ = std::max(last_published_rev_, rev);
    published_at_[rev] = Clock::now();
    cv_.notify_all();
  }
  void OnAck(const std::string& host, uint64_t rev) {
    std::lock_guard<std::mutex> l(mu_);
    acked_[host] = std::max(acked_[host], rev);
    last_ack_ = Clock::now();
    cv_.notify_all();
  }
  // Waits until a batch covering store revision >= rev was published; returns its hosts.
  bool WaitPublished(int64_t rev, std::chrono::seconds timeout, std::map<std::string, uint64_t>* hosts,
                     Clock::time_point* at) {
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, timeout, [&] { return last_published_rev_ >= rev; })) return false;
    hosts->clear();
    for (auto it = batches_.lower_bound(rev); it != batches_.end(); ++it) {
      for (const auto& [h, r] : it->second) (*hosts)[h] = std::max((*hosts)[h], r);
    }
    *at = published_at_.lower_bound(rev)->second;
    return true;
  }
  // Waits until every host acked at least what it was last published; returns the last ack time.
  bool WaitAllAcked(const std::map<std::string, uint64_t>& want, std::chrono::seconds timeout, Clock::time_point* last) {
    std::unique_lock<std::mutex> l(mu_);
    const bool ok = cv_.wait_for(l, timeout, [&] {
      for (const auto& [h, r] : want) {
        auto it = acked_.find(h);
        if (it == acked_.end() || it->second < r) return false;
      }
      return true;
    });
    *last = last_ack_;
    return ok;
  }
  std::map<std::string, uint64_t> Wanted() {
    std::lock_guard<std::mutex> l(mu_);
    return want_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, uint64_t> want_, acked_;
  std::map<int64_t, std::map<std::string, uint64_t>> batches_;
  std::map<int64_t, Clock::time_point> published_at_;
  int64_t last_published_rev_ = 0;
  Clock::time_point last_ack_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int Run(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  // One connection (fd) per agent: lift the soft limit of open files to the hard one.
  {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }

  GeneratorOptions g;
  g.hosts = o.hosts;
  g.ports = o.ports;
  g.rules = o.rules;
  g.tenants = o.tenants;
  g.seed = o.seed;
  const auto t_gen = Clock::now();
  controller::NbSpec spec = GenerateNbSpec(g);
  auto docs = controller::ParseNbDocuments(NbSpecToYaml(spec), "generated.yaml");
  if (!docs.ok()) {
    std::fprintf(stderr, "generated spec does not parse: %s\n", docs.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> hosts;
  std::map<std::string, std::string> objects;  // store key -> canonical JSON
  std::vector<std::string> firewalls;          // keys of Firewall objects
  for (const auto& d : *docs) {
    const std::string key = controller::NbObjectKey({d.kind, d.tenant, d.name});
    objects[key] = d.json;
    if (d.kind == "Host") hosts.push_back(d.name);
    if (d.kind == "Firewall") firewalls.push_back(key);
  }
  const double gen_ms = Ms(t_gen, Clock::now());
  std::fprintf(stderr, "generated %zu objects (%d hosts, %d ports, %d rules) in %.0f ms\n", objects.size(), o.hosts,
               o.ports, o.rules, gen_ms);

  char tmpl[] = "/tmp/rampart-controller-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;
  const std::string target = "unix:" + dir + "/controller.sock";

  // The agents' process, before anything starts gRPC here.
  int stop_pipe[2], out_pipe[2];
  if (pipe(stop_pipe) != 0 || pipe(out_pipe) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(stop_pipe[1]);
    close(out_pipe[0]);
    // Give the controller a moment to bind; the clients retry anyway.
    while (!std::filesystem::exists(dir + "/controller.sock")) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    _exit(RunAgents(target, hosts, stop_pipe[0], out_pipe[1]));
  }
  close(stop_pipe[0]);
  close(out_pipe[1]);
  auto finish_child = [&]() -> nlohmann::json {
    close(stop_pipe[1]);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(out_pipe[0], buf, sizeof(buf))) > 0) text.append(buf, n);
    int status = 0;
    waitpid(child, &status, 0);
    std::filesystem::remove_all(dir);
    auto j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  };

  malloc_trim(0);
  const size_t rss_before = RssOf("/proc/self/status");
  Tracker tracker;
  auto store = store::OpenStore("mem:");
  if (!store.ok()) return 1;
  controller::ControllerOptions co;
  co.agents = {target};
  co.id = "bench";
  co.stream_keeps_shares = o.keep_shares;
  co.encoded_snapshots = !o.record_snapshots;
  co.log = [](const std::string&) {};
  co.on_published = [&](int64_t rev, const std::map<std::string, uint64_t>& p) { tracker.OnPublished(rev, p); };
  co.on_ack = [&](const std::string& h, uint64_t r) { tracker.OnAck(h, r); };
  auto ctl = controller::Controller::Start(store->get(), co);
  if (!ctl.ok()) {
    std::fprintf(stderr, "controller: %s\n", ctl.status().ToString().c_str());
    finish_child();
    return 1;
  }
  const auto timeout = std::chrono::seconds(o.timeout_s);

  // Every agent connected and holding its (empty) share first.
  const auto t_conn = Clock::now();
  bool connected = false;
  while (Clock::now() - t_conn < timeout) {
    auto st = (*ctl)->Status();
    size_t acked = 0;
    for (const auto& h : st.hosts) acked += h.acked == h.revision && h.connected > 0;
    if (acked >= hosts.size()) {
      connected = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double connect_ms = Ms(t_conn, Clock::now());
  if (!connected) {
    std::fprintf(stderr, "agents did not all connect within %d s\n", o.timeout_s);
    finish_child();
    return 1;
  }
  std::fprintf(stderr, "%zu agents connected in %.0f ms\n", hosts.size(), connect_ms);

  // Full convergence.
  store::Txn all;
  for (const auto& [k, v] : objects) all.ops.push_back(store::Op::Put(k, v));
  const double cpu0 = CpuMs();
  const double agents_cpu0 = ProcessCpuMs(child);
  const auto t0 = Clock::now();
  auto res = (*store)->Commit(all);
  if (!res.ok() || !res->succeeded) {
    std::fprintf(stderr, "commit failed\n");
    finish_child();
    return 1;
  }
  const auto t_commit = Clock::now();
  std::map<std::string, uint64_t> published;
  Clock::time_point t_pub, t_last_ack;
  if (!tracker.WaitPublished(res->revision, timeout, &published, &t_pub) ||
      !tracker.WaitAllAcked(tracker.Wanted(), timeout, &t_last_ack)) {
    std::fprintf(stderr, "full convergence did not finish within %d s\n", o.timeout_s);
    finish_child();
    return 1;
  }
  const double full_cpu_ms = CpuMs() - cpu0;
  const double full_agents_cpu_ms = ProcessCpuMs(child) - agents_cpu0;
  const controller::ControllerStatus full_st = (*ctl)->Status();
  const double full_commit_ms = Ms(t0, t_commit);
  const double full_publish_ms = Ms(t_commit, t_pub);
  const double full_ack_ms = Ms(t_commit, t_last_ack);
  std::fprintf(stderr, "full convergence: commit %.0f ms, published %.0f ms, last ack %.0f ms after commit (%zu hosts)\n",
               full_commit_ms, full_publish_ms, full_ack_ms, published.size());
  const size_t rss_peak = PeakRssOf("/proc/self/status");  // during convergence (before: less)
  // RSS after convergence is read after the single-rule changes (with malloc_trim, which returns
  // the convergence's freed heap to the kernel): trimming here made the first timed change pay
  // ~130 ms of page faults that a running controller does not pay.

  // Settle: the single-rule changes measure a running system, not the tail of the convergence.
  // Wait until both processes together use < 10% of a core over two consecutive 0.5 s windows
  // (60 s at most); the time it took is reported.
  double settle_ms = 0, settle_load = 0;
  if (o.settle) {
    const auto s0 = Clock::now();
    int quiet = 0;
    while (quiet < 2 && Clock::now() - s0 < std::chrono::seconds(60)) {
      const double a0 = ProcessCpuMs(child), c0 = CpuMs();
      const auto w0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      settle_load = (ProcessCpuMs(child) - a0 + CpuMs() - c0) / Ms(w0, Clock::now());
      quiet = settle_load < 0.1 ? quiet + 1 : 0;
    }
    settle_ms = Ms(s0, Clock::now());
    std::fprintf(stderr, "settled %.1f s after the last ack (last 0.5 s: %.0f%% of a core)\n", settle_ms / 1e3,
                 settle_load * 100);
  }

  // Single-rule changes.
  static constexpr char kToken[] = "bench-token-0123456789";
  std::unique_ptr<controller::ApiServer> api;
  if (o.via_api) {
    controller::ApiOptions ao;
    ao.tokens.push_back(controller::ApiToken{kToken, "bench", "datacenter-admin", ""});
    api = std::make_unique<controller::ApiServer>(store->get(), ao);
    // A running API server has read the objects once already (its validation index).
    controller::ApiRequest warm{"GET", "/v1/objects/Tenant/-/t0", {}, std::string("Bearer ") + kToken, {}};
    api->Handle(warm);
  }
  std::vector<double> lat, pub_lat, cpu;
  double phase_sum[4] = {0, 0, 0, 0};
  std::vector<size_t> affected;
  int next_id = 1000000;
  for (int k = 0; k < o.changes && !firewalls.empty(); ++k) {
    const std::string& key = firewalls[(k * 7919) % firewalls.size()];
    auto j = nlohmann::json::parse(objects[key]);
    auto& rules = j["rules"];
    if (!rules.is_array() || rules.empty()) continue;
    // A copy of the first rule made a TCP rule on a new port (an ICMP rule's type/code would make
    // it invalid: the controller would refuse the object and publish nothing).
    nlohmann::json r = rules[0];
    r.erase("icmp_type");
    r.erase("icmp_code");
    r["id"] = next_id++;
    r["protocol"] = "tcp";
    r["destination_ports"] = nlohmann::json::array({10000 + k});
    rules.push_back(r);
    objects[key] = j.dump();
    const double cc0 = CpuMs();
    const auto c0 = Clock::now();
    absl::StatusOr<int64_t> put;
    if (api) {
      controller::ApiRequest r{"POST", "/v1/apply", {}, std::string("Bearer ") + kToken, {{"change.json", objects[key]}}};
      controller::ApiResponse resp = api->Handle(r);
      auto rj = nlohmann::json::parse(resp.body, nullptr, false);
      if (resp.status != 200 || !rj.is_object() || !rj.contains("revision")) {
        std::fprintf(stderr, "apply %s: HTTP %d: %s\n", key.c_str(), resp.status, resp.body.c_str());
        (*ctl)->Stop();
        finish_child();
        return 1;
      }
      put = rj["revision"].get<int64_t>();
    } else {
      put = (*store)->Put(key, objects[key]);
    }
    if (!put.ok()) {
      std::fprintf(stderr, "put %s: %s\n", key.c_str(), put.status().ToString().c_str());
      break;
    }
    std::map<std::string, uint64_t> hosts_changed;
    Clock::time_point p_at, a_at;
    if (!tracker.WaitPublished(*put, timeout, &hosts_changed, &p_at) ||
        !tracker.WaitAllAcked(hosts_changed, timeout, &a_at)) {
      std::fprintf(stderr, "change %d did not converge within %d s\n", k, o.timeout_s);
      break;
    }
    if (hosts_changed.empty()) {
      std::fprintf(stderr, "change %d (%s) reached no host: refused by the controller? (see its log)\n", k, key.c_str());
      (*ctl)->Stop();
      finish_child();
      return 1;
    }
    affected.push_back(hosts_changed.size());
    cpu.push_back(CpuMs() - cc0);
    {
      controller::ControllerStatus s = (*ctl)->Status();
      phase_sum[0] += s.last_rows_ms;
      phase_sum[1] += s.last_logical_ms;
      phase_sum[2] += s.last_physical_ms;
      phase_sum[3] += s.last_publish_ms;
    }
    pub_lat.push_back(Ms(c0, p_at));
    lat.push_back(hosts_changed.empty() ? Ms(c0, p_at) : Ms(c0, std::max(a_at, p_at)));
  }
  malloc_trim(0);
  const size_t rss_after = RssOf("/proc/self/status");
  controller::ControllerStatus cst = (*ctl)->Status();
  (*ctl)->Stop();
  nlohmann::json agents = finish_child();

  double mean_affected = 0;
  for (size_t a : affected) mean_affected += a;
  if (!affected.empty()) mean_affected /= affected.size();
  nlohmann::json out = {
      {"hosts", o.hosts},
      {"ports", o.ports},
      {"rules", o.rules},
      {"tenants", o.tenants},
      {"stream_keeps_shares", o.keep_shares},
      {"encoded_snapshots", !o.keep_shares && !o.record_snapshots},
      {"single_rule_via_api", o.via_api},
      {"load_average", LoadAverage()},
      {"objects", objects.size()},
      {"agents_connect_ms", connect_ms},
      {"full", {{"commit_ms", full_commit_ms}, {"published_ms", full_publish_ms}, {"last_ack_ms", full_ack_ms},
                {"hosts_published", published.size()}, {"controller_cpu_ms", full_cpu_ms},
                {"rows_ms", full_st.last_rows_ms}, {"logical_ms", full_st.last_logical_ms},
                {"physical_ms", full_st.last_physical_ms}, {"publish_ms", full_st.last_publish_ms},
                {"agents_cpu_ms", full_agents_cpu_ms},
                {"snapshot_source_cpu_ms", full_st.stream.source_cpu_ns / 1e6},
                {"snapshot_cache_bytes", full_st.snapshot_cache_bytes}}},
      {"single_rule",
       {{"changes", lat.size()},
        {"settle_ms", settle_ms},
        {"mean_hosts_affected", mean_affected},
        {"publish_p50_ms", Percentile(pub_lat, 0.5)},
        {"ack_p50_ms", Percentile(lat, 0.5)},
        {"ack_p99_ms", Percentile(lat, 0.99)},
        {"ack_max_ms", lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end())},
        {"controller_cpu_p50_ms", Percentile(cpu, 0.5)},
        {"controller_cpu_p99_ms", Percentile(cpu, 0.99)},
        {"mean_rows_ms", lat.empty() ? 0.0 : phase_sum[0] / lat.size()},
        {"mean_logical_ms", lat.empty() ? 0.0 : phase_sum[1] / lat.size()},
        {"mean_physical_ms", lat.empty() ? 0.0 : phase_sum[2] / lat.size()},
        {"mean_publish_ms", lat.empty() ? 0.0 : phase_sum[3] / lat.size()},
        {"ack_ms", lat},                // per change, in order
        {"controller_cpu_ms", cpu}}},
      {"controller_rss_bytes", rss_after},
      {"controller_peak_rss_bytes", rss_peak},
      {"controller_rss_growth_bytes", rss_after > rss_before ? rss_after - rss_before : 0},
      {"stream", {{"snapshots_sent", cst.stream.snapshots_sent}, {"deltas_sent", cst.stream.deltas_sent},
                  {"acks", cst.stream.acks}, {"source_calls", cst.stream.source_calls},
                  {"source_refetches", cst.stream.source_refetches},
                  {"source_cpu_ms", cst.stream.source_cpu_ns / 1e6}}},
      {"agents", agents},
  };
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("controller bench: %d hosts, %d ports, %d rules, %zu objects; stream server %s\n", o.hosts, o.ports,
                o.rules, objects.size(), o.keep_shares ? "keeps every host's share" : "snapshots from the physical stage");
    std::printf("  agents connected          %8.0f ms\n", connect_ms);
    std::printf("  full convergence          commit %.0f ms; published %.0f ms and last agent ack %.0f ms after commit\n",
                full_commit_ms, full_publish_ms, full_ack_ms);
    std::printf("                            controller CPU %.0f ms; batch: rows %.0f, logical %.0f, physical %.0f, publish %.0f ms\n",
                full_cpu_ms, full_st.last_rows_ms, full_st.last_logical_ms, full_st.last_physical_ms, full_st.last_publish_ms);
    std::printf("                            agents' process CPU %.0f ms\n", full_agents_cpu_ms);
    std::printf("                            snapshots (%s): %.0f ms CPU on the snapshot threads; encoded-row cache %.1f MiB\n",
                o.keep_shares ? "kept shares" : o.record_snapshots ? "records" : "encoded",
                full_st.stream.source_cpu_ns / 1e6, full_st.snapshot_cache_bytes / 1048576.0);
    std::printf("  load average              %s\n", LoadAverage().c_str());
    if (o.settle) std::printf("  settled                   %.1f s after the last ack (< 10%% of a core for 1 s)\n", settle_ms / 1e3);
    const char* from = o.via_api ? "apply" : "commit";
    std::printf("  single rule (%zu changes, %.1f hosts each)  %s->last ack p50 %.1f ms  p99 %.1f ms  max %.1f ms"
                " (%s->published p50 %.1f ms)\n",
                lat.size(), mean_affected, from, Percentile(lat, 0.5), Percentile(lat, 0.99),
                lat.empty() ? 0.0 : *std::max_element(lat.begin(), lat.end()), from, Percentile(pub_lat, 0.5));
    if (!lat.empty()) {
      std::printf("  controller per change     rows %.1f ms, logical %.1f ms, physical %.1f ms, publish %.1f ms (means);"
                  " controller CPU p50 %.1f ms p99 %.1f ms\n",
                  phase_sum[0] / lat.size(), phase_sum[1] / lat.size(), phase_sum[2] / lat.size(), phase_sum[3] / lat.size(),
                  Percentile(cpu, 0.5), Percentile(cpu, 0.99));
    }
    std::printf("  controller RSS            %8.1f MiB after convergence (growth %.1f MiB); peak %.1f MiB\n",
                rss_after / 1048576.0, (rss_after > rss_before ? rss_after - rss_before : 0) / 1048576.0,
                rss_peak / 1048576.0);
    std::printf("  stream                    %llu snapshots sent (%llu source calls, %llu asked again), %llu deltas\n",
                static_cast<unsigned long long>(cst.stream.snapshots_sent),
                static_cast<unsigned long long>(cst.stream.source_calls),
                static_cast<unsigned long long>(cst.stream.source_refetches),
                static_cast<unsigned long long>(cst.stream.deltas_sent));
    if (agents.contains("rss_bytes")) {
      std::printf("  agents process RSS        %8.1f MiB for %d agents (%.0f KiB each)\n",
                  agents["rss_bytes"].get<double>() / 1048576.0, agents["agents"].get<int>(),
                  agents["rss_bytes"].get<double>() / 1024.0 / std::max(1, agents["agents"].get<int>()));
      std::printf("  agent records             largest %zu rows (%.1f KiB); mean %.0f rows (%.1f KiB); inconsistencies %llu\n",
                  agents["max_rows"].get<size_t>(), agents["max_record_bytes"].get<double>() / 1024.0,
                  agents["mean_rows"].get<double>(), agents["mean_record_bytes"].get<double>() / 1024.0,
                  static_cast<unsigned long long>(agents["inconsistencies"].get<uint64_t>()));
    }
  }
  return 0;
}

Registrar reg({"controller", "controller + N simulated agents: full convergence, rule-apply -> last ack, memory", Run});

}  // namespace
}  // namespace rampart::bench
