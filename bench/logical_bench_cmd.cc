// rampart-bench logical: the controller's logical stage at scale (issue 4's benchmarks).
//
//   full compute   LogicalStage::SetSpec of a generated spec from an empty stage: wall and CPU
//                  time, output rows, RSS growth (VmRSS before/after; the returned delta dropped
//                  and malloc_trim'ed), engine MemoryBytes, bytes per rule.
//   incremental    SetSpec of the spec with one change, from the full state, median of --reps
//                  repetitions (each a different rule/port; the change is reverted between
//                  repetitions, reverts timed too): add one rule, move one port to another host,
//                  add one port. SetSpec re-derives and diffs the whole spec's input rows
//                  (SpecToRows + DiffRows); that part is reported separately as rows_diff_ms.
//   --ovn-out F    the same topology as an OVN_Northbound transact request (F) and the first
//                  repetition's three changes (F without .json + .add-rule.json, .move-port.json,
//                  .add-port.json), and the hosts as Southbound Chassis rows (.sb-chassis.json),
//                  for bench/northd/run.sh.
//   --yaml-out F   the spec as YAML (rampartctl compile --spec F reads it).
//   --direct       instead of LogicalStage, the same program on nlog::Engine directly with
//                  SetSpec's three steps timed apart: SpecToRows, DiffRows, Engine::Apply (the
//                  engine's own incremental cost). With --no-upcp the rules deriving PFlow (the
//                  per-host physical flows, which in OVN each chassis' ovn-controller computes,
//                  not northd) are left out: the central work that northd's job corresponds to.
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

namespace rampart::bench {
namespace {

using Clock = std::chrono::steady_clock;
using controller::NbSpec;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// VmRSS or VmHWM of this process in bytes (0 when /proc is not there).
size_t ProcStatus(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t klen = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':')
      return std::strtoull(line.c_str() + klen + 1, nullptr, 10) * 1024;
  return 0;
}

struct Args {
  GeneratorOptions gen;
  int reps = 7;
  bool json = false;
  bool skip_incremental = false;
  bool direct = false, no_upcp = false;
  std::string ovn_out, yaml_out;
};

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rampart-bench logical: %s\n", msg);
  std::fprintf(stderr,
               "usage: rampart-bench logical [--hosts N] [--ports N] [--tenants N] [--rules N] [--seed N]\n"
               "         [--reps N] [--no-incremental] [--json] [--ovn-out FILE.json] [--yaml-out FILE.yaml]\n"
               "         [--direct [--no-upcp]]\n"
               "defaults: --hosts 1000 --ports 10000 --tenants 100 --rules 50000 --seed 1 --reps 7\n");
  return 2;
}

size_t DeltaRows(const nlog::Delta& d) {
  size_t n = 0;
  for (const auto& [t, td] : d.tables) n += td.inserted.size() + td.deleted.size();
  return n;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "rampart-bench logical: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

std::string ChangePath(const std::string& full, const char* what) {
  std::string base = full;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0) base.resize(base.size() - 5);
  return base + "." + what + ".json";
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct ChangeResult {
  std::vector<double> apply_ms, apply_cpu_ms, revert_ms, rows_diff_ms;
  size_t delta_rows = 0;  // output rows changed by the first repetition
};

// The logical program without the rules that derive PFlow (the table stays, empty).
std::string ProgramWithoutUpcp() {
  std::string out;
  const std::string& text = controller::LogicalProgramText();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    if (line.rfind("PFlow(", 0) != 0) out += line;
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

int RunDirect(const Args& a, const NbSpec& spec, size_t nrules) {
  auto prog = a.no_upcp ? nlog::Program::Compile(ProgramWithoutUpcp(), "logical-no-upcp.nlog")
                        : controller::CompileLogicalProgram();
  if (!prog.ok()) {
    std::fprintf(stderr, "rampart-bench logical: %s\n", std::string(prog.status().message()).c_str());
    return 1;
  }
  auto engine = std::make_unique<nlog::Engine>(*std::move(prog));
  malloc_trim(0);
  size_t rss0 = ProcStatus("VmRSS");
  double c0 = ProcessCpuSeconds();
  auto t0 = Clock::now();
  std::vector<controller::InputRow> rows = controller::SpecToRows(spec);
  nlog::Transaction tx = controller::DiffRows({}, rows);
  auto t1 = Clock::now();
  auto d = engine->Apply(tx);
  auto t2 = Clock::now();
  double cpu = ProcessCpuSeconds() - c0;
  if (!d.ok()) {
    std::fprintf(stderr, "rampart-bench logical: Apply: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  size_t out_rows = DeltaRows(*d);
  d = nlog::Delta{};
  tx = nlog::Transaction{};
  malloc_trim(0);
  size_t rss1 = ProcStatus("VmRSS");
  nlohmann::json out;
  out["params"] = {{"hosts", a.gen.hosts}, {"ports", a.gen.ports}, {"tenants", a.gen.tenants},
                   {"rules", a.gen.rules}, {"seed", a.gen.seed}, {"reps", a.reps}};
  out["mode"] = a.no_upcp ? "direct, program without PFlow (UPCP)" : "direct, full program";
  out["full"] = {{"wall_s", Seconds(t0, t2)}, {"rows_and_diff_s", Seconds(t0, t1)}, {"apply_s", Seconds(t1, t2)},
                 {"cpu_s", cpu}, {"output_rows", out_rows}, {"rss_growth_bytes", rss1 - std::min(rss0, rss1)},
                 {"bytes_per_rule", nrules ? static_cast<double>(rss1 - std::min(rss0, rss1)) / nrules : 0.0},
                 {"engine_memory_bytes", engine->MemoryBytes()}};
  if (!a.skip_incremental) {
    const std::pair<const char*, NbSpec (*)(const NbSpec&, int)> kinds[] = {
        {"add_rule", &AddOneRule}, {"move_port", &MoveOnePort}, {"add_port", &AddOnePort}};
    for (const auto& [name, fn] : kinds) {
      std::vector<double> to_rows, diff, apply, apply_cpu, revert;
      size_t changed_rows = 0;
      for (int i = 0; i < a.reps; ++i) {
        NbSpec changed = fn(spec, i);
        auto p0 = Clock::now();
        auto crow = controller::SpecToRows(changed);
        auto p1 = Clock::now();
        nlog::Transaction ctx = controller::DiffRows(rows, crow);
        auto p2 = Clock::now();
        double ac0 = ThreadCpuSeconds();
        auto cd = engine->Apply(ctx);
        apply_cpu.push_back((ThreadCpuSeconds() - ac0) * 1e3);
        auto p3 = Clock::now();
        if (!cd.ok()) return 1;
        if (i == 0) changed_rows = DeltaRows(*cd);
        nlog::Transaction back = controller::DiffRows(crow, rows);
        auto p4 = Clock::now();
        if (!engine->Apply(back).ok()) return 1;
        revert.push_back(Seconds(p4, Clock::now()) * 1e3);
        to_rows.push_back(Seconds(p0, p1) * 1e3);
        diff.push_back(Seconds(p1, p2) * 1e3);
        apply.push_back(Seconds(p2, p3) * 1e3);
      }
      out["incremental"][name] = {{"spec_to_rows_median_ms", Median(to_rows)}, {"diff_median_ms", Median(diff)},
                                  {"apply_median_ms", Median(apply)}, {"apply_cpu_median_ms", Median(apply_cpu)}, {"apply_revert_median_ms", Median(revert)},
                                  {"output_rows_changed", changed_rows}};
    }
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("logical stage (%s): %zu rules\n", out["mode"].get<std::string>().c_str(), nrules);
  std::printf("  full compute      %8.3f s wall (rows+diff %.3f s, apply %.3f s), %.3f s cpu, %zu output rows\n",
              Seconds(t0, t2), Seconds(t0, t1), Seconds(t1, t2), cpu, out_rows);
  std::printf("  memory            RSS +%.1f MiB (%.0f B/rule)\n", (rss1 - std::min(rss0, rss1)) / 1048576.0,
              out["full"]["bytes_per_rule"].get<double>());
  if (!a.skip_incremental)
    for (const char* k : {"add_rule", "move_port", "add_port"}) {
      const auto& r = out["incremental"][k];
      std::printf("  %-16s  apply median %8.3f ms (cpu %.3f ms; SpecToRows %.3f ms, DiffRows %.3f ms), %zu output rows\n", k,
                  r["apply_median_ms"].get<double>(), r["apply_cpu_median_ms"].get<double>(), r["spec_to_rows_median_ms"].get<double>(),
                  r["diff_median_ms"].get<double>(), r["output_rows_changed"].get<size_t>());
    }
  return 0;
}

int Run(int argc, char** argv) {
  Args a;
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
    if (k == "--json") a.json = true;
    else if (k == "--no-incremental") a.skip_incremental = true;
    else if (k == "--direct") a.direct = true;
    else if (k == "--no-upcp") a.no_upcp = true;
    else if (k == "--hosts") { if (!num(2, n)) return Usage("--hosts needs a number >= 2"); a.gen.hosts = static_cast<int>(n); }
    else if (k == "--ports") { if (!num(1, n)) return Usage("--ports needs a number >= 1"); a.gen.ports = static_cast<int>(n); }
    else if (k == "--tenants") { if (!num(1, n)) return Usage("--tenants needs a number >= 1"); a.gen.tenants = static_cast<int>(n); }
    else if (k == "--rules") { if (!num(0, n)) return Usage("--rules needs a number >= 0"); a.gen.rules = static_cast<int>(n); }
    else if (k == "--seed") { if (!num(0, n)) return Usage("--seed needs a number"); a.gen.seed = static_cast<uint64_t>(n); }
    else if (k == "--reps") { if (!num(1, n)) return Usage("--reps needs a number >= 1"); a.reps = static_cast<int>(n); }
    else if (k == "--ovn-out") { const char* v = next(); if (!v) return Usage("--ovn-out needs a file"); a.ovn_out = v; }
    else if (k == "--yaml-out") { const char* v = next(); if (!v) return Usage("--yaml-out needs a file"); a.yaml_out = v; }
    else return Usage(("unknown argument " + k).c_str());
  }

  auto g0 = Clock::now();
  NbSpec spec = GenerateNbSpec(a.gen);
  double gen_s = Seconds(g0, Clock::now());
  size_t nrules = 0;
  for (const auto& f : spec.firewalls) nrules += f.rules.size();
  for (const auto& v : spec.vnic_policies) nrules += v.rules.size();
  const NbSpec add_rule = AddOneRule(spec, 0), move_port = MoveOnePort(spec, 0), add_port = AddOnePort(spec, 0);

  if (!a.yaml_out.empty() && !WriteFile(a.yaml_out, NbSpecToYaml(spec))) return 1;
  nlohmann::json ovn_counts;
  if (!a.ovn_out.empty()) {
    nlohmann::json full = OvnNbTransaction(spec);
    for (const auto& [t, c] : OvnInsertCounts(full)) ovn_counts[t] = c;
    if (!WriteFile(a.ovn_out, full.dump())) return 1;
    if (!WriteFile(ChangePath(a.ovn_out, "sb-chassis"), OvnSbChassisTransaction(spec).dump())) return 1;
    full = nullptr;
    const std::pair<const char*, const NbSpec*> changes[] = {
        {"add-rule", &add_rule}, {"move-port", &move_port}, {"add-port", &add_port}};
    for (const auto& [what, after] : changes) {
      auto tx = OvnNbChange(spec, *after);
      if (!tx.ok()) {
        std::fprintf(stderr, "rampart-bench logical: %s: %s\n", what, std::string(tx.status().message()).c_str());
        return 1;
      }
      if (!WriteFile(ChangePath(a.ovn_out, what), tx->dump())) return 1;
    }
  }
  malloc_trim(0);
  if (a.no_upcp && !a.direct) return Usage("--no-upcp needs --direct");
  if (a.direct) return RunDirect(a, spec, nrules);

  // Full compute from an empty stage.
  auto stage_or = controller::LogicalStage::Create();
  if (!stage_or.ok()) {
    std::fprintf(stderr, "rampart-bench logical: %s\n", std::string(stage_or.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<controller::LogicalStage> stage = *std::move(stage_or);
  malloc_trim(0);
  size_t rss0 = ProcStatus("VmRSS");
  double c0 = ProcessCpuSeconds();
  auto t0 = Clock::now();
  auto d = stage->SetSpec(spec);
  double full_wall = Seconds(t0, Clock::now());
  double full_cpu = ProcessCpuSeconds() - c0;
  if (!d.ok()) {
    std::fprintf(stderr, "rampart-bench logical: SetSpec: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  size_t out_rows = DeltaRows(*d);
  size_t rss_with_delta = ProcStatus("VmRSS");
  d = nlog::Delta{};
  malloc_trim(0);
  size_t rss1 = ProcStatus("VmRSS");
  size_t engine_bytes = stage->engine().MemoryBytes();
  size_t input_rows = stage->rows().size();
  double bytes_per_rule = nrules ? static_cast<double>(rss1 - std::min(rss1, rss0)) / nrules : 0;

  // Incremental changes.
  auto measure = [&](NbSpec (*change)(const NbSpec&, int)) {
    ChangeResult r;
    for (int i = 0; i < a.reps; ++i) {
      NbSpec changed = change(spec, i);
      auto p0 = Clock::now();
      auto rows = controller::SpecToRows(changed);
      nlog::Transaction tx = controller::DiffRows(stage->rows(), rows);
      r.rows_diff_ms.push_back(Seconds(p0, Clock::now()) * 1e3);
      double sc0 = ThreadCpuSeconds();
      auto s0 = Clock::now();
      auto dd = stage->SetSpec(changed);
      r.apply_ms.push_back(Seconds(s0, Clock::now()) * 1e3);
      r.apply_cpu_ms.push_back((ThreadCpuSeconds() - sc0) * 1e3);
      if (!dd.ok()) {
        std::fprintf(stderr, "rampart-bench logical: change: %s\n", std::string(dd.status().message()).c_str());
        std::exit(1);
      }
      if (i == 0) r.delta_rows = DeltaRows(*dd);
      auto v0 = Clock::now();
      auto back = stage->SetSpec(spec);
      r.revert_ms.push_back(Seconds(v0, Clock::now()) * 1e3);
      if (!back.ok()) std::exit(1);
    }
    return r;
  };
  nlohmann::json out;
  out["params"] = {{"hosts", a.gen.hosts}, {"ports", a.gen.ports}, {"tenants", a.gen.tenants},
                   {"rules", a.gen.rules}, {"seed", a.gen.seed}, {"reps", a.reps}};
  out["generate_s"] = gen_s;
  out["spec"] = {{"hosts", spec.hosts.size()}, {"tenants", spec.tenants.size()}, {"switches", spec.switches.size()},
                 {"ports", spec.ports.size()}, {"groups", spec.groups.size()}, {"firewalls", spec.firewalls.size()},
                 {"vnic_policies", spec.vnic_policies.size()}, {"rules", nrules}, {"input_rows", input_rows}};
  out["full"] = {{"wall_s", full_wall}, {"cpu_s", full_cpu}, {"output_rows", out_rows},
                 {"rss_before_bytes", rss0}, {"rss_with_delta_bytes", rss_with_delta}, {"rss_after_bytes", rss1},
                 {"rss_growth_bytes", rss1 - std::min(rss1, rss0)}, {"engine_memory_bytes", engine_bytes},
                 {"bytes_per_rule", bytes_per_rule}, {"peak_rss_bytes", ProcStatus("VmHWM")}};
  nlohmann::json tables;
  for (const char* t : {"FwRuleSpan", "FwGroupSpan", "FwInstance", "LFlow", "PFlow", "DpHost", "GroupAddr", "Member"})
    tables[t] = stage->engine().TableSize(t);
  out["output_tables"] = tables;
  if (!ovn_counts.is_null()) out["ovn_inserts"] = ovn_counts;

  if (!a.skip_incremental) {
    const std::pair<const char*, NbSpec (*)(const NbSpec&, int)> kinds[] = {
        {"add_rule", &AddOneRule}, {"move_port", &MoveOnePort}, {"add_port", &AddOnePort}};
    for (const auto& [name, fn] : kinds) {
      ChangeResult r = measure(fn);
      out["incremental"][name] = {{"median_ms", Median(r.apply_ms)},
                                  {"cpu_median_ms", Median(r.apply_cpu_ms)},
                                  {"min_ms", *std::min_element(r.apply_ms.begin(), r.apply_ms.end())},
                                  {"max_ms", *std::max_element(r.apply_ms.begin(), r.apply_ms.end())},
                                  {"revert_median_ms", Median(r.revert_ms)},
                                  {"rows_diff_median_ms", Median(r.rows_diff_ms)},
                                  {"output_rows_changed", r.delta_rows}};
    }
  }

  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("logical stage: %d hosts, %zu ports, %zu tenants, %zu rules (seed %llu), generated in %.2f s\n",
              a.gen.hosts, spec.ports.size(), spec.tenants.size(), nrules,
              static_cast<unsigned long long>(a.gen.seed), gen_s);
  std::printf("  full compute      %8.3f s wall  %8.3f s cpu  %zu input rows -> %zu output rows\n", full_wall, full_cpu,
              input_rows, out_rows);
  std::printf("  memory            RSS +%.1f MiB (%.0f B/rule), engine estimate %.1f MiB, peak RSS %.1f MiB\n",
              (rss1 - std::min(rss1, rss0)) / 1048576.0, bytes_per_rule, engine_bytes / 1048576.0,
              ProcStatus("VmHWM") / 1048576.0);
  if (!a.skip_incremental) {
    for (const char* k : {"add_rule", "move_port", "add_port"}) {
      const auto& r = out["incremental"][k];
      std::printf("  %-16s  median %8.3f ms (cpu %.3f ms; min %.3f, max %.3f; of it rows+diff %.3f ms), revert %.3f ms, %zu output rows\n",
                  k, r["median_ms"].get<double>(), r["cpu_median_ms"].get<double>(), r["min_ms"].get<double>(), r["max_ms"].get<double>(),
                  r["rows_diff_median_ms"].get<double>(), r["revert_median_ms"].get<double>(),
                  r["output_rows_changed"].get<size_t>());
    }
  }
  if (!a.ovn_out.empty()) std::printf("  OVN transactions  %s (+ .add-rule/.move-port/.add-port)\n", a.ovn_out.c_str());
  return 0;
}

Registrar reg({"logical", "logical stage at scale: full compute, memory, single changes (vs OVN northd)", &Run});

}  // namespace
}  // namespace rampart::bench
