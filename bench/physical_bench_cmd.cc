// rampart-bench physical: the controller's logical + physical stages at scale (issue 5).
//
//   full compute   LogicalStage::SetSpec of a generated spec (bench/support/nb_generator.h) from
//                  empty, then PhysicalStage::Apply of its delta: wall time of each, records per
//                  host, allocations, RSS growth of each stage (VmRSS; deltas dropped and
//                  malloc_trim'ed before reading).
//   incremental    one rule added / one port moved to another host / one port added, from the
//                  full state: logical SetSpec + physical Apply, median of --reps repetitions
//                  (each a different rule/port; reverted between repetitions), hosts reached and
//                  records changed.
//   --store URL    persist allocations (store::OpenStore, e.g. mem: or file:DIR); default none.
//   --snapshots    full compute with PhysicalStage::ApplyForSnapshots (no per-host rows), then
//                  every host's Snapshot once (a controller starting on a full store), then every
//                  host's SnapshotEncoded twice (empty cache, then cached).
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_command.h"
#include "bench/support/nb_generator.h"
#include "controller/logical_stage.h"
#include "controller/physical/physical_stage.h"
#include "store/store.h"

namespace rampart::bench {
namespace {

using Clock = std::chrono::steady_clock;
using controller::NbSpec;

double Ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// CPU time of this thread in ms: on a shared, overloaded machine wall time mostly measures the
// other processes, so every phase reports both.
double CpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

size_t ProcStatus(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t klen = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::strtoull(line.c_str() + klen + 1, nullptr, 10) * 1024;
    }
  }
  return 0;
}

size_t Rss() {
  malloc_trim(0);
  return ProcStatus("VmRSS");
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rampart-bench physical: %s\n", msg);
  std::fprintf(stderr,
               "usage: rampart-bench physical [--hosts N] [--ports N] [--tenants N] [--rules N] [--seed N]\n"
               "         [--reps N] [--store URL] [--json] [--snapshots]\n"
               "defaults: --hosts 1000 --ports 10000 --tenants 100 --rules 50000 --seed 1 --reps 7\n");
  return 2;
}

size_t Rows(const std::map<std::string, records::Delta>& d) {
  size_t n = 0;
  for (const auto& [h, delta] : d) n += delta.deletes.size() + delta.inserts.size();
  return n;
}

int Run(int argc, char** argv) {
  GeneratorOptions gen;
  int reps = 7;
  bool json = false;
  bool snapshots = false;  // full compute with ApplyForSnapshots (no per-host rows built)
  std::string store_url;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto num = [&](long long lo, long long& out) {
      const char* v = next();
      if (!v) return false;
      char* end = nullptr;
      out = std::strtoll(v, &end, 10);
      return *end == '\0' && out >= lo;
    };
    long long n = 0;
    if (k == "--json") json = true;
    else if (k == "--snapshots") snapshots = true;
    else if (k == "--hosts") { if (!num(2, n)) return Usage("--hosts needs a number >= 2"); gen.hosts = static_cast<int>(n); }
    else if (k == "--ports") { if (!num(1, n)) return Usage("--ports needs a number >= 1"); gen.ports = static_cast<int>(n); }
    else if (k == "--tenants") { if (!num(1, n)) return Usage("--tenants needs a number >= 1"); gen.tenants = static_cast<int>(n); }
    else if (k == "--rules") { if (!num(0, n)) return Usage("--rules needs a number >= 0"); gen.rules = static_cast<int>(n); }
    else if (k == "--seed") { if (!num(0, n)) return Usage("--seed needs a number"); gen.seed = static_cast<uint64_t>(n); }
    else if (k == "--reps") { if (!num(1, n)) return Usage("--reps needs a number >= 1"); reps = static_cast<int>(n); }
    else if (k == "--store") { const char* v = next(); if (!v) return Usage("--store needs a URL"); store_url = v; }
    else return Usage(("unknown argument " + k).c_str());
  }

  NbSpec spec = GenerateNbSpec(gen);
  std::unique_ptr<store::Store> store;
  if (!store_url.empty()) {
    auto s = store::OpenStore(store_url);
    if (!s.ok()) {
      std::fprintf(stderr, "rampart-bench physical: %s: %s\n", store_url.c_str(), std::string(s.status().message()).c_str());
      return 1;
    }
    store = *std::move(s);
  }
  auto stage_or = controller::LogicalStage::Create();
  if (!stage_or.ok()) return 1;
  std::unique_ptr<controller::LogicalStage> logical = *std::move(stage_or);
  auto physical_owner = std::make_unique<controller::PhysicalStage>(store.get());
  controller::PhysicalStage& physical = *physical_owner;
  if (auto st = physical.Load(); !st.ok()) {
    std::fprintf(stderr, "rampart-bench physical: load: %s\n", std::string(st.message()).c_str());
    return 1;
  }

  // Full compute from empty.
  size_t rss0 = Rss();
  auto t0 = Clock::now();
  double c0 = CpuMs();
  auto d = logical->SetSpec(spec);
  double logical_ms = Ms(t0, Clock::now());
  double logical_cpu_ms = CpuMs() - c0;
  if (!d.ok()) {
    std::fprintf(stderr, "rampart-bench physical: SetSpec: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  auto t1 = Clock::now();
  double c1 = CpuMs();
  auto per_host = snapshots ? physical.ApplyForSnapshots(logical->engine(), *d) : physical.Apply(logical->engine(), *d);
  double physical_ms = Ms(t1, Clock::now());
  double physical_cpu_ms = CpuMs() - c1;
  if (!per_host.ok()) {
    std::fprintf(stderr, "rampart-bench physical: Apply: %s\n", std::string(per_host.status().message()).c_str());
    return 1;
  }
  size_t hosts_with_records = per_host->size();
  size_t full_rows = snapshots ? physical.RowCount() : Rows(*per_host);
  size_t max_host_rows = 0;
  std::string busiest_host;
  for (const auto& [h, delta] : *per_host) {
    if (delta.inserts.size() > max_host_rows) max_host_rows = delta.inserts.size(), busiest_host = h;
  }
  // Snapshot mode: every host's snapshot built once (what agents registering with a controller
  // that just started get), one at a time, dropped at once.
  double all_snapshots_cpu_ms = 0;
  double all_encoded_cold_cpu_ms = 0, all_encoded_warm_cpu_ms = 0;
  size_t all_encoded_bytes = 0, encoded_cache_bytes = 0;
  if (snapshots) {
    double a0 = CpuMs();
    for (const auto& [h, delta] : *per_host) {
      size_t n = physical.SnapshotDelta(h).inserts.size();
      if (n > max_host_rows) max_host_rows = n, busiest_host = h;
    }
    all_snapshots_cpu_ms = CpuMs() - a0;
    // The same in the stream's wire form (what the controller sends): the first pass encodes
    // every datapath's / instance's bag once (the cache), the second only pastes.
    for (int pass = 0; pass < 2; ++pass) {
      double e0 = CpuMs();
      size_t bytes = 0;
      for (const auto& [h, delta] : *per_host) {
        for (const std::string& c : physical.SnapshotEncoded(h, 1, 4096).chunks) bytes += c.size();
      }
      (pass == 0 ? all_encoded_cold_cpu_ms : all_encoded_warm_cpu_ms) = CpuMs() - e0;
      all_encoded_bytes = bytes;
    }
    encoded_cache_bytes = physical.SnapshotCacheBytes();
    physical.DropSnapshotCache();  // the memory figures below stay the stage's own
  }
  *per_host = {};
  d = nlog::Delta{};
  size_t rss2 = Rss();  // both stages' full state, no deltas
  // Snapshot of the busiest host (what a registering agent gets).
  std::string busiest = busiest_host;
  double s0 = CpuMs();
  size_t snap_rows = physical.SnapshotDelta(busiest).inserts.size();
  double snapshot_ms = CpuMs() - s0;
  auto alloc = physical.Allocations();

  nlohmann::json out;
  out["params"] = {{"hosts", gen.hosts}, {"ports", gen.ports}, {"tenants", gen.tenants}, {"rules", gen.rules},
                   {"seed", gen.seed}, {"reps", reps}, {"store", store_url.empty() ? "none" : store_url}};
  out["full"] = {{"logical_ms", logical_ms},
                 {"physical_ms", physical_ms},
                 {"logical_cpu_ms", logical_cpu_ms},
                 {"physical_cpu_ms", physical_cpu_ms},
                 {"hosts_with_records", hosts_with_records},
                 {"records", full_rows},
                 {"max_records_per_host", max_host_rows},
                 {"mode", snapshots ? "ApplyForSnapshots, then every host's Snapshot" : "Apply (per-host deltas)"},
                 {"all_snapshots_cpu_ms", all_snapshots_cpu_ms},
                 {"all_encoded_snapshots_cpu_ms", all_encoded_cold_cpu_ms},
                 {"all_encoded_snapshots_cached_cpu_ms", all_encoded_warm_cpu_ms},
                 {"all_encoded_snapshot_bytes", all_encoded_bytes},
                 {"encoded_cache_bytes", encoded_cache_bytes},
                 {"rss_before_bytes", rss0},
                 {"rss_total_growth_bytes", rss2 - std::min(rss2, rss0)},
                 {"engine_memory_bytes", logical->engine().MemoryBytes()},
                 {"physical_rows", physical.RowCount()},
                 {"snapshot_busiest_host_cpu_ms", snapshot_ms},
                 {"snapshot_busiest_host_records", snap_rows}};
  {
    nlohmann::json tables = nlohmann::json::object();
    for (const auto& t : logical->engine().program().tables())
      tables[t.name] = logical->engine().TableSize(t.name);
    out["logical_tables"] = tables;
  }
  out["allocations"] = {{"datapath_keys", alloc.datapath_keys}, {"port_keys", alloc.port_keys}, {"tags", alloc.tags},
                        {"instance_ids", alloc.instance_ids}, {"engine_ports", alloc.engine_ports}};

  // An Apply with an empty logical delta: the per-Apply overhead (Host scan, bookkeeping).
  {
    std::vector<double> v;
    for (int i = 0; i < 5; ++i) {
      double e0 = CpuMs();
      auto e = physical.Apply(logical->engine(), nlog::Delta{});
      v.push_back(CpuMs() - e0);
      if (!e.ok() || !e->empty()) return 1;
    }
    out["empty_apply_cpu_median_ms"] = Median(v);
  }
  const std::pair<const char*, NbSpec (*)(const NbSpec&, int)> kinds[] = {
      {"add_rule", &AddOneRule}, {"move_port", &MoveOnePort}, {"add_port", &AddOnePort}};
  for (const auto& [name, fn] : kinds) {
    std::vector<double> lms, pms, tms, lcpu, pcpu;
    size_t hosts = 0, rows = 0;
    std::vector<std::string> tables;
    for (int i = 0; i < reps; ++i) {
      NbSpec changed = fn(spec, i);
      auto a0 = Clock::now();
      double u0 = CpuMs();
      auto ld = logical->SetSpec(changed);
      auto a1 = Clock::now();
      double u1 = CpuMs();
      if (!ld.ok()) return 1;
      auto pd = physical.Apply(logical->engine(), *ld);
      auto a2 = Clock::now();
      double u2 = CpuMs();
      lcpu.push_back(u1 - u0);
      pcpu.push_back(u2 - u1);
      if (!pd.ok()) {
        std::fprintf(stderr, "rampart-bench physical: %s: %s\n", name, std::string(pd.status().message()).c_str());
        return 1;
      }
      lms.push_back(Ms(a0, a1));
      pms.push_back(Ms(a1, a2));
      tms.push_back(Ms(a0, a2));
      if (i == 0) {
        hosts = pd->size(), rows = Rows(*pd);
        for (const auto& [t, td] : ld->tables) tables.push_back(t);
      }
      auto back = logical->SetSpec(spec);
      if (!back.ok() || !physical.Apply(logical->engine(), *back).ok()) return 1;
    }
    out["incremental"][name] = {{"logical_median_ms", Median(lms)}, {"physical_median_ms", Median(pms)},
                                {"logical_cpu_median_ms", Median(lcpu)}, {"physical_cpu_median_ms", Median(pcpu)},
                                {"total_median_ms", Median(tms)},
                                {"total_max_ms", *std::max_element(tms.begin(), tms.end())},
                                {"hosts_reached", hosts}, {"records_changed", rows},
                                {"logical_tables_changed", tables}};
  }
  // The physical stage's own memory: RSS before and after destroying it.
  size_t rss3 = Rss();
  physical_owner.reset();
  size_t rss4 = Rss();
  size_t physical_bytes = rss3 - std::min(rss3, rss4);
  out["full"]["physical_stage_bytes"] = physical_bytes;
  out["full"]["logical_stage_bytes"] = rss2 - std::min(rss2, rss0) - std::min(rss2 - std::min(rss2, rss0), physical_bytes);
  out["full"]["peak_rss_bytes"] = ProcStatus("VmHWM");
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("physical stage: %d hosts, %zu ports, %zu tenants, %d rules (seed %llu), store %s\n", gen.hosts,
              spec.ports.size(), spec.tenants.size(), gen.rules, static_cast<unsigned long long>(gen.seed),
              store_url.empty() ? "none" : store_url.c_str());
  std::printf("  full compute   logical %.0f ms cpu (%.0f wall), physical %.0f ms cpu (%.0f wall): %zu records to %zu hosts (max %zu per host)\n",
              logical_cpu_ms, logical_ms, physical_cpu_ms, physical_ms, full_rows, hosts_with_records, max_host_rows);
  if (snapshots)
    std::printf("  (physical: ApplyForSnapshots; then every host's snapshot built once: %.0f ms cpu as records;\n"
                "   encoded: %.0f ms cpu with an empty cache, %.0f ms cached; %.1f MiB of messages, cache %.1f MiB)\n",
                all_snapshots_cpu_ms, all_encoded_cold_cpu_ms, all_encoded_warm_cpu_ms, all_encoded_bytes / 1048576.0,
                encoded_cache_bytes / 1048576.0);
  {
    std::string line;
    for (const auto& [name, n] : out["logical_tables"].items())
      if (n.get<size_t>() > 0) line += " " + name + " " + std::to_string(n.get<size_t>());
    std::printf("  logical rows  %s\n", line.c_str());
  }
  std::printf("  memory         RSS +%.1f MiB for both stages: physical stage %.1f MiB (%zu rows), logical %.1f MiB; peak %.1f MiB\n",
              (rss2 - std::min(rss2, rss0)) / 1048576.0, physical_bytes / 1048576.0, out["full"]["physical_rows"].get<size_t>(),
              out["full"]["logical_stage_bytes"].get<size_t>() / 1048576.0, ProcStatus("VmHWM") / 1048576.0);
  std::printf("  allocations    %zu datapath keys, %zu port keys, %zu tags, %zu instance ids, %zu engine ports\n",
              alloc.datapath_keys, alloc.port_keys, alloc.tags, alloc.instance_ids, alloc.engine_ports);
  std::printf("  snapshot       busiest host %s: %zu records in %.2f ms cpu\n", busiest.c_str(), snap_rows, snapshot_ms);
  for (const auto& [name, fn] : kinds) {
    const auto& r = out["incremental"][name];
    std::printf("  %-13s  cpu: logical %7.2f ms + physical %7.2f ms; wall total %7.2f ms (median; max %.2f), %zu hosts, %zu records\n",
                name, r["logical_cpu_median_ms"].get<double>(), r["physical_cpu_median_ms"].get<double>(),
                r["total_median_ms"].get<double>(), r["total_max_ms"].get<double>(), r["hosts_reached"].get<size_t>(),
                r["records_changed"].get<size_t>());
  }
  return 0;
}

Registrar reg({"physical", "logical + physical stage at scale: full compute, memory, single changes", &Run});

}  // namespace
}  // namespace rampart::bench
