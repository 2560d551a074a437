// rampart-bench logical: the controller's logical stage at scale (issue 4's benchmarks).
//
//   full compute   (1) LogicalStage::SetSpec of a generated spec from an empty stage: wall and
//                  CPU time, output rows, RSS growth (VmRSS before/after; the returned delta
//                  dropped and malloc_trim'ed), engine MemoryBytes, bytes per rule. This is the
//                  logical stage alone, the figure comparable to OVN northd.
//                  (2) The controller's own path from the stored objects (the generated spec as
//                  `rampartctl apply` stores it: one key per object, canonical JSON): the rows
//                  of every object (ObjectRowsCache, as controller.cc), one nlog transaction,
//                  Engine::Apply, then PhysicalStage::ApplyForSnapshots (store nullptr; what the
//                  controller's first computation calls) of the engine's delta, then every
//                  host's Snapshot built once: each timed, with the RSS each part keeps
//                  (controller memory per rule).
//   incremental    the controller's per-object path, --reps times per change (each a different
//                  rule/port, reverted the same way in between): add one rule (the Firewall
//                  object re-stored with one more rule), move one port to another host, add one
//                  port. Timed apart: (a) the changed objects' rows through the controller's
//                  own ObjectRowCounts (ObjectRowsCache inside: a firewall's unchanged rules come
//                  from the per-rule cache) -> one transaction,
//                  (b) Engine::Apply of it, (c) PhysicalStage::Apply of the resulting delta;
//                  median and max, wall and thread CPU. The first repetition's transaction is
//                  checked equal to the whole-spec diff (DiffRows of SpecToRows before/after).
//                  "whole-spec SetSpec" (SetSpec of the changed spec: re-derives and sorts every
//                  input row; not the controller's path) is kept as a separate line
//                  (--no-whole-spec drops it).
//   --ovn-out F    the same topology as an OVN_Northbound transact request (F) and the first
//                  repetition's three changes (F without .json + .add-rule.json, .move-port.json,
//                  .add-port.json), and the hosts as Southbound Chassis rows (.sb-chassis.json),
//                  for bench/northd/run.sh.
//   --yaml-out F   the spec as YAML (rampartctl compile --spec F reads it).
//   --direct       instead of the above, the program on nlog::Engine directly with SetSpec's
//                  three steps timed apart: SpecToRows, DiffRows, Engine::Apply. With --no-upcp
//                  the rules deriving PFlow (the host-specific delivery flows, which in OVN each
//                  chassis' ovn-controller computes, not northd) are left out.
//   --memory       after the full compute, the engine's bytes per table (rows, arity, indexes; values,
//                  counts, row set, index heads and links, aggregate state), the string
//                  pool, the stage's input-row copy, and their sum against the RSS growth.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_command.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/support/nb_generator.h"
#include "bench/support/nb_stored_objects.h"
#include "controller/api/nb_objects.h"
#include "controller/logical_stage.h"
#include "controller/physical/physical_stage.h"
#include "controller/server/object_rows_cache.h"
#include "records/records.h"

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
  bool skip_incremental = false, skip_whole_spec = false;
  bool direct = false, no_upcp = false;
  bool memory = false;  // --memory: per-table breakdown of the engine's bytes after the full compute
  std::string ovn_out, yaml_out;
};

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rampart-bench logical: %s\n", msg);
  std::fprintf(stderr,
               "usage: rampart-bench logical [--hosts N] [--ports N] [--tenants N] [--rules N] [--seed N]\n"
               "         [--reps N] [--no-incremental] [--no-whole-spec] [--json] [--ovn-out FILE.json]\n"
               "         [--yaml-out FILE.yaml]\n"
               "         [--direct [--no-upcp]] [--memory]\n"
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

// The logical program without the rules that derive PFlow (the table stays, empty). A rule runs
// from its head "PFlow(" at the start of a line to the line ending in "." (rules may span lines).
std::string ProgramWithoutUpcp() {
  std::string out;
  const std::string& text = controller::LogicalProgramText();
  size_t pos = 0;
  bool in_rule = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    if (line.rfind("PFlow(", 0) == 0) in_rule = true;
    if (!in_rule) out += line;
    if (in_rule) {
      size_t last = line.find_last_not_of(" \t\r\n");
      if (last != std::string::npos && line[last] == '.') in_rule = false;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

// Bytes of a copy of the input rows as the logical stage keeps them (vector<InputRow>): the
// element, each row's heap block (malloc: 8-byte header, 16-byte granules, 32 minimum) and a
// table name beyond the SSO buffer.
size_t MallocBlock(size_t n) { return n == 0 ? 0 : std::max<size_t>(32, (n + 8 + 15) / 16 * 16); }

size_t InputRowsBytes(const std::vector<controller::InputRow>& rows) {
  size_t b = rows.capacity() * sizeof(controller::InputRow);
  for (const auto& r : rows) {
    b += MallocBlock(r.row.capacity() * sizeof(nlog::Value));
    if (r.table.capacity() > 15) b += MallocBlock(r.table.capacity() + 1);
  }
  return b;
}

// --memory: where the logical stage's bytes are. Per table: rows, arity, indexes and bytes by
// part (Engine::MemoryByTable), then the string pool, the input-row copy and the RSS growth
// against their sum (the rest: malloc overhead and fragmentation, program, plans).
// printf to the end of *out.
__attribute__((format(printf, 2, 3))) void Appendf(std::string* out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0) out->append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1));
}

nlohmann::json MemoryBreakdown(const nlog::Engine& engine, size_t input_copy_bytes, size_t rss_growth, size_t nrules,
                               std::string* text) {
  const bool print = text != nullptr;
  std::vector<nlog::TableMemory> tables = engine.MemoryByTable();
  std::sort(tables.begin(), tables.end(), [](const auto& x, const auto& y) { return x.total > y.total; });
  nlohmann::json out = nlohmann::json::array();
  nlog::TableMemory sum;
  auto kind = [](nlog::TableKind k) {
    return k == nlog::TableKind::kInput ? "input" : k == nlog::TableKind::kOutput ? "output" : "internal";
  };
  if (print) {
    Appendf(text, "  memory by table (bytes; values/counts/set/index heads/index links/aggregate)\n");
    Appendf(text, "    %-22s %-8s %9s %5s %3s %11s %7s  %s\n", "table", "kind", "rows", "arity", "ix", "bytes", "B/row",
                "values counts set heads links agg");
  }
  for (const auto& t : tables) {
    out.push_back({{"table", t.name}, {"kind", kind(t.kind)}, {"rows", t.rows}, {"arity", t.arity},
                   {"indexes", t.indexes}, {"values", t.values}, {"counts", t.counts},
                   {"free_list", t.free_list}, {"row_set", t.row_set}, {"index_heads", t.index_heads},
                   {"index_links", t.index_links}, {"aggregate", t.aggregate}, {"total", t.total}});
    sum.rows += t.rows;
    sum.values += t.values;
    sum.counts += t.counts;
    sum.free_list += t.free_list;
    sum.row_set += t.row_set;
    sum.index_heads += t.index_heads;
    sum.index_links += t.index_links;
    sum.aggregate += t.aggregate;
    sum.total += t.total;
    if (print && t.total >= 64 * 1024)
      Appendf(text, "    %-22s %-8s %9zu %5d %3d %11zu %7.0f  %zu %zu %zu %zu %zu %zu\n", t.name.c_str(), kind(t.kind),
                  t.rows, t.arity, t.indexes, t.total, t.rows ? static_cast<double>(t.total) / t.rows : 0.0, t.values,
                  t.counts, t.row_set, t.index_heads, t.index_links, t.aggregate);
  }
  const nlog::StringPoolStats pool = nlog::GetStringPoolStats();
  const size_t accounted = engine.MemoryBytes() + pool.bytes + input_copy_bytes;
  if (print) {
    Appendf(text, "    %-22s %-8s %9zu %5s %3s %11zu %7.0f  %zu %zu %zu %zu %zu %zu\n", "(all tables)", "", sum.rows, "",
                "", sum.total, sum.rows ? static_cast<double>(sum.total) / sum.rows : 0.0, sum.values, sum.counts,
                sum.row_set, sum.index_heads, sum.index_links, sum.aggregate);
    Appendf(text, "    engine MemoryBytes %.1f MiB; string pool %zu strings %.1f MiB (whole process); input-row copy %.1f MiB;\n"
                "    sum %.1f MiB vs RSS growth %.1f MiB (%.0f B/rule accounted, %.0f B/rule RSS)\n",
                engine.MemoryBytes() / 1048576.0, pool.strings, pool.bytes / 1048576.0, input_copy_bytes / 1048576.0,
                accounted / 1048576.0, rss_growth / 1048576.0, nrules ? static_cast<double>(accounted) / nrules : 0.0,
                nrules ? static_cast<double>(rss_growth) / nrules : 0.0);
  }
  return {{"tables", out},
          {"engine_bytes", engine.MemoryBytes()},
          {"string_pool_strings", pool.strings},
          {"string_pool_bytes", pool.bytes},
          {"input_copy_bytes", input_copy_bytes},
          {"accounted_bytes", accounted},
          {"rss_growth_bytes", rss_growth}};
}

int RunDirect(const Args& a, const NbSpec& spec, size_t nrules) {
  std::string memory_text;  // --memory's table, printed after the full compute's lines
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
  if (a.memory)
    out["memory"] = MemoryBreakdown(*engine, InputRowsBytes(rows), rss1 - std::min(rss0, rss1), nrules,
                                    a.json ? nullptr : &memory_text);
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
  std::fputs(memory_text.c_str(), stdout);
  if (!a.skip_incremental)
    for (const char* k : {"add_rule", "move_port", "add_port"}) {
      const auto& r = out["incremental"][k];
      std::printf("  %-16s  apply median %8.3f ms (cpu %.3f ms; SpecToRows %.3f ms, DiffRows %.3f ms), %zu output rows\n", k,
                  r["apply_median_ms"].get<double>(), r["apply_cpu_median_ms"].get<double>(), r["spec_to_rows_median_ms"].get<double>(),
                  r["diff_median_ms"].get<double>(), r["output_rows_changed"].get<size_t>());
    }
  return 0;
}

// ---- The controller's per-object path ----------------------------------------------------------
//
// controller::ObjectRowCounts (object_rows_cache.h, private to rampart_server, linked here) is the
// controller's own bookkeeping: per stored object the input rows it contributes (ObjectRowsCache:
// a Firewall/VnicPolicy is parsed per rule, each rule's rows cached by its JSON) and how many
// objects contribute each row; a batch of changed objects becomes one nlog transaction of the
// rows whose count went from 0 to >0 or back. This adapter only turns its Result into a status.
using InputRowLess = controller::ObjectRowCounts::Less;

class ControllerRows {
 public:
  using Changes = controller::ObjectRowCounts::Changes;

  absl::StatusOr<nlog::Transaction> Change(const Changes& changes) {
    controller::ObjectRowCounts::Result r = counts_.Apply(changes);
    last_cache_ms_ = r.cache_ms;
    if (!r.bad.empty()) return absl::InvalidArgumentError(absl::StrJoin(r.bad, "; "));
    return std::move(r.tx);
  }
  std::vector<controller::InputRow> Rows() const { return counts_.Rows(); }
  size_t cached_rules() const { return counts_.cached_rules(); }
  // Of the last Change, the time spent in ObjectRowsCache::Rows (the rest is the row counting).
  double last_cache_ms() const { return last_cache_ms_; }

 private:
  controller::ObjectRowCounts counts_;
  double last_cache_ms_ = 0;
};

// "" when equal, else the first row only one side has (both sorted by InputRowLess).
std::string RowsDiff(const std::vector<controller::InputRow>& objects, const std::vector<controller::InputRow>& spec) {
  InputRowLess less;
  size_t i = 0, j = 0;
  while (i < objects.size() || j < spec.size()) {
    if (j == spec.size() || (i < objects.size() && less(objects[i], spec[j])))
      return absl::StrCat(objects.size(), " vs ", spec.size(), " rows; only from the objects: ", objects[i].table,
                          nlog::RowToString(objects[i].row));
    if (i == objects.size() || less(spec[j], objects[i]))
      return absl::StrCat(objects.size(), " vs ", spec.size(), " rows; only from the spec: ", spec[j].table,
                          nlog::RowToString(spec[j].row));
    ++i, ++j;
  }
  return "";
}

// The transaction's changes in a canonical order (deletes, then inserts; by table and row).
std::vector<nlog::Transaction::Change> Canonical(const nlog::Transaction& tx) {
  std::vector<nlog::Transaction::Change> v = tx.changes();
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    if (a.insert != b.insert) return !a.insert;
    if (a.table != b.table) return a.table < b.table;
    return nlog::RowLess(a.row, b.row);
  });
  return v;
}

bool SameTransaction(const nlog::Transaction& a, const nlog::Transaction& b) {
  auto x = Canonical(a), y = Canonical(b);
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].insert != y[i].insert || x[i].table != y[i].table || nlog::RowLess(x[i].row, y[i].row) ||
        nlog::RowLess(y[i].row, x[i].row))
      return false;
  return true;
}

size_t RecordRows(const std::map<std::string, records::Delta>& per_host) {
  size_t n = 0;
  for (const auto& [h, d] : per_host) n += d.inserts.size() + d.deletes.size();
  return n;
}

// Median and max of a sample.
nlohmann::json Stat(const std::vector<double>& v) {
  if (v.empty()) return {{"median", 0.0}, {"max", 0.0}};
  return {{"median", Median(v)}, {"max", *std::max_element(v.begin(), v.end())}};
}

int Fail(const std::string& what, const absl::Status& st) {
  std::fprintf(stderr, "rampart-bench logical: %s: %s\n", what.c_str(), std::string(st.message()).c_str());
  return 1;
}

int Run(int argc, char** argv) {
  Args a;
  std::string memory_text;  // --memory's table, printed after the full compute's lines
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
    else if (k == "--no-whole-spec") a.skip_whole_spec = true;
    else if (k == "--direct") a.direct = true;
    else if (k == "--no-upcp") a.no_upcp = true;
    else if (k == "--memory") a.memory = true;
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
  if (a.no_upcp && !a.direct) return Usage("--no-upcp needs --direct");

  auto g0 = Clock::now();
  NbSpec spec = GenerateNbSpec(a.gen);
  double gen_s = Seconds(g0, Clock::now());
  size_t nrules = 0;
  for (const auto& f : spec.firewalls) nrules += f.rules.size();
  for (const auto& v : spec.vnic_policies) nrules += v.rules.size();

  if (!a.yaml_out.empty() && !WriteFile(a.yaml_out, NbSpecToYaml(spec))) return 1;
  nlohmann::json ovn_counts;
  if (!a.ovn_out.empty()) {
    const NbSpec add_rule = AddOneRule(spec, 0), move_port = MoveOnePort(spec, 0), add_port = AddOnePort(spec, 0);
    nlohmann::json full = OvnNbTransaction(spec);
    for (const auto& [t, c] : OvnInsertCounts(full)) ovn_counts[t] = c;
    if (!WriteFile(a.ovn_out, full.dump())) return 1;
    if (!WriteFile(ChangePath(a.ovn_out, "sb-chassis"), OvnSbChassisTransaction(spec).dump())) return 1;
    full = nullptr;
    const std::pair<const char*, const NbSpec*> changes[] = {
        {"add-rule", &add_rule}, {"move-port", &move_port}, {"add-port", &add_port}};
    for (const auto& [what, after] : changes) {
      auto tx = OvnNbChange(spec, *after);
      if (!tx.ok()) return Fail(what, tx.status());
      if (!WriteFile(ChangePath(a.ovn_out, what), tx->dump())) return 1;
    }
  }
  malloc_trim(0);
  if (a.direct) return RunDirect(a, spec, nrules);

  const std::pair<const char*, NbSpec (*)(const NbSpec&, int)> kinds[] = {
      {"add_rule", &AddOneRule}, {"move_port", &MoveOnePort}, {"add_port", &AddOnePort}};
  nlohmann::json out;
  out["params"] = {{"hosts", a.gen.hosts}, {"ports", a.gen.ports}, {"tenants", a.gen.tenants},
                   {"rules", a.gen.rules}, {"seed", a.gen.seed}, {"reps", a.reps}};
  out["generate_s"] = gen_s;
  if (!ovn_counts.is_null()) out["ovn_inserts"] = ovn_counts;

  // ---- 1. Full compute: LogicalStage::SetSpec from an empty stage (the logical stage alone,
  // the figure comparable to northd's).
  size_t input_rows = 0;
  {
    auto stage_or = controller::LogicalStage::Create();
    if (!stage_or.ok()) return Fail("LogicalStage::Create", stage_or.status());
    std::unique_ptr<controller::LogicalStage> stage = *std::move(stage_or);
    malloc_trim(0);
    size_t rss0 = ProcStatus("VmRSS");
    double c0 = ProcessCpuSeconds();
    auto t0 = Clock::now();
    auto d = stage->SetSpec(spec);
    double full_wall = Seconds(t0, Clock::now());
    double full_cpu = ProcessCpuSeconds() - c0;
    if (!d.ok()) return Fail("SetSpec", d.status());
    size_t out_rows = DeltaRows(*d);
    size_t rss_with_delta = ProcStatus("VmRSS");
    d = nlog::Delta{};
    malloc_trim(0);
    size_t rss1 = ProcStatus("VmRSS");
    const size_t growth = rss1 - std::min(rss1, rss0);
    input_rows = stage->rows().size();
    out["full"] = {{"wall_s", full_wall}, {"cpu_s", full_cpu}, {"output_rows", out_rows},
                   {"rss_before_bytes", rss0}, {"rss_with_delta_bytes", rss_with_delta}, {"rss_after_bytes", rss1},
                   {"rss_growth_bytes", growth}, {"engine_memory_bytes", stage->engine().MemoryBytes()},
                   {"bytes_per_rule", nrules ? static_cast<double>(growth) / nrules : 0.0},
                   {"peak_rss_bytes", ProcStatus("VmHWM")}};
    nlohmann::json tables;
    for (const nlog::TableDecl& t : stage->engine().program().tables())
      if (t.kind != nlog::TableKind::kInput) tables[t.name] = stage->engine().TableSize(t.name);
    out["output_tables"] = tables;
    if (a.memory)
      out["memory"] = MemoryBreakdown(stage->engine(), /*input-row copy: the stage keeps none*/ 0, growth, nrules,
                                      a.json ? nullptr : &memory_text);

    // Whole-spec SetSpec per change (re-derives and diffs every input row of the spec): NOT the
    // controller's path, kept for comparison with earlier runs.
    if (!a.skip_incremental && !a.skip_whole_spec) {
      for (const auto& [name, fn] : kinds) {
        std::vector<double> wall, cpu;
        for (int i = 0; i < a.reps; ++i) {
          NbSpec changed = fn(spec, i);
          double sc0 = ThreadCpuSeconds();
          auto s0 = Clock::now();
          auto dd = stage->SetSpec(changed);
          wall.push_back(Seconds(s0, Clock::now()) * 1e3);
          cpu.push_back((ThreadCpuSeconds() - sc0) * 1e3);
          if (!dd.ok()) return Fail("SetSpec (change)", dd.status());
          auto back = stage->SetSpec(spec);
          if (!back.ok()) return Fail("SetSpec (revert)", back.status());
        }
        out["whole_spec_setspec"][name] = {{"wall_ms", Stat(wall)}, {"cpu_ms", Stat(cpu)}};
      }
    }
  }  // the stage is gone: the controller path below builds its own engine
  malloc_trim(0);

  // ---- 2. The controller's path from the stored objects: rows per object (ObjectRowsCache),
  // one nlog transaction, Engine::Apply, PhysicalStage::Apply (store nullptr).
  auto s0 = Clock::now();
  auto objects = NbStoredObjects(spec);
  if (!objects.ok()) return Fail("stored objects", objects.status());
  const size_t nobjects = objects->size();
  StoredObjectDiff differ(spec, *std::move(objects));
  const double stored_s = Seconds(s0, Clock::now());

  auto prog = controller::CompileLogicalProgram();
  if (!prog.ok()) return Fail("logical program", prog.status());
  auto engine = std::make_unique<nlog::Engine>(*std::move(prog));
  controller::PhysicalStage physical(nullptr);
  {
    auto init = physical.Apply(*engine, engine->initial_delta());
    if (!init.ok()) return Fail("PhysicalStage::Apply (initial)", init.status());
  }
  ControllerRows crows;
  malloc_trim(0);
  nlohmann::json cp;
  const size_t rss_b0 = ProcStatus("VmRSS");
  {
    ControllerRows::Changes all;
    for (const auto& [k, v] : differ.objects()) all[k] = v;
    double c0 = ProcessCpuSeconds();
    auto t0 = Clock::now();
    auto tx = crows.Change(all);
    const double rows_wall = Seconds(t0, Clock::now()), rows_cpu = ProcessCpuSeconds() - c0;
    if (!tx.ok()) return Fail("rows of the stored objects", tx.status());
    all.clear();
    // The stored objects must describe exactly the generated spec.
    if (std::string diff = RowsDiff(crows.Rows(), controller::SpecToRows(spec)); !diff.empty()) {
      std::fprintf(stderr, "rampart-bench logical: the stored objects' rows differ from SpecToRows of the spec: %s\n",
                   diff.c_str());
      return 1;
    }
    malloc_trim(0);
    const size_t rss_b1 = ProcStatus("VmRSS");  // + the transaction
    c0 = ProcessCpuSeconds();
    t0 = Clock::now();
    auto d = engine->Apply(*tx);
    const double eng_wall = Seconds(t0, Clock::now()), eng_cpu = ProcessCpuSeconds() - c0;
    if (!d.ok()) return Fail("Engine::Apply (full)", d.status());
    const size_t tx_rows = tx->changes().size(), logical_out_rows = DeltaRows(*d);
    *tx = nlog::Transaction{};
    malloc_trim(0);
    const size_t rss_b2 = ProcStatus("VmRSS");  // + the delta
    c0 = ProcessCpuSeconds();
    t0 = Clock::now();
    // As the controller's first computation: ApplyForSnapshots (numbers allocated, per-host
    // shares known, no per-host rows built); each host then gets Snapshot(host) when it is sent.
    auto ph = physical.ApplyForSnapshots(*engine, *d);
    const double ph_wall = Seconds(t0, Clock::now()), ph_cpu = ProcessCpuSeconds() - c0;
    if (!ph.ok()) return Fail("PhysicalStage::ApplyForSnapshots (full)", ph.status());
    const size_t ph_hosts = ph->size();
    *ph = {};
    malloc_trim(0);
    const size_t rss_b3 = ProcStatus("VmRSS");  // + the delta
    *d = nlog::Delta{};
    malloc_trim(0);
    const size_t rss_b4 = ProcStatus("VmRSS");
    // Every host's snapshot, one at a time (each dropped): the per-host fan-out the first
    // computation leaves to the sending of snapshots.
    std::vector<double> snap_ms;
    size_t snap_rows = 0, snap_max_rows = 0;
    c0 = ProcessCpuSeconds();
    t0 = Clock::now();
    for (const std::string& h : physical.Hosts()) {
      auto h0 = Clock::now();
      size_t n = physical.Snapshot(h).rows().size();
      snap_ms.push_back(Seconds(h0, Clock::now()) * 1e3);
      snap_rows += n;
      snap_max_rows = std::max(snap_max_rows, n);
    }
    const double snap_wall = Seconds(t0, Clock::now()), snap_cpu = ProcessCpuSeconds() - c0;
    auto grow = [](size_t from, size_t to) { return to - std::min(from, to); };
    const size_t rows_growth = grow(rss_b0, rss_b1);
    const size_t phys_growth = grow(rss_b2, rss_b3);
    const size_t total_growth = grow(rss_b0, rss_b4);
    const size_t engine_growth = total_growth - std::min(total_growth, rows_growth + phys_growth);
    cp = {{"objects", nobjects},
          {"stored_objects_s", stored_s},
          {"rows", {{"wall_s", rows_wall}, {"cpu_s", rows_cpu}, {"input_rows", tx_rows},
                    {"cached_rules", crows.cached_rules()}, {"rss_growth_bytes", rows_growth}}},
          {"logical", {{"wall_s", eng_wall}, {"cpu_s", eng_cpu}, {"output_rows", logical_out_rows},
                       {"engine_memory_bytes", engine->MemoryBytes()}, {"rss_growth_bytes", engine_growth}}},
          {"physical", {{"wall_s", ph_wall}, {"cpu_s", ph_cpu}, {"hosts", ph_hosts},
                        {"rows_held", physical.RowCount()}, {"rss_growth_bytes", phys_growth}}},
          {"snapshots", {{"wall_s", snap_wall}, {"cpu_s", snap_cpu}, {"hosts", snap_ms.size()}, {"rows", snap_rows},
                         {"max_rows", snap_max_rows}, {"per_host_ms", Stat(snap_ms)}}},
          {"rss_growth_bytes", total_growth},
          {"bytes_per_rule", nrules ? static_cast<double>(total_growth) / nrules : 0.0},
          {"peak_rss_bytes", ProcStatus("VmHWM")}};
    out["controller_full"] = cp;
  }

  // ---- 3. Single changes through the controller's path, each reverted the same way.
  if (!a.skip_incremental) {
    for (const auto& [name, fn] : kinds) {
      std::vector<double> rows_ms, rows_cpu, eng_ms, eng_cpu, ph_ms, ph_cpu, total_ms, total_cpu, revert_ms, whole_obj_ms, unchanged_ms, cache_ms;
      nlohmann::json first;
      // The changed objects of every repetition first (and the whole-spec diff of the first, for
      // the check below): building them copies and prints the whole spec, and the allocator
      // would otherwise bill the cleanup of that garbage to the timed steps.
      std::vector<std::vector<StoredObjectChange>> sets;
      nlog::Transaction whole;
      for (int i = 0; i < a.reps; ++i) {
        NbSpec changed = fn(spec, i);
        auto ch = differ.Changes(changed);
        if (!ch.ok()) return Fail(name, ch.status());
        sets.push_back(*std::move(ch));
        if (i == 0) whole = controller::DiffRows(controller::SpecToRows(spec), controller::SpecToRows(changed));
      }
      // No malloc_trim between repetitions: the pages it hands back would be faulted in again
      // inside the timed steps.
      for (int i = 0; i < a.reps; ++i) {
        const std::vector<StoredObjectChange>* ch = &sets[i];
        ControllerRows::Changes fwd, back;
        for (const auto& c : *ch) {
          fwd[c.key] = c.after;
          back[c.key] = c.before;
        }
        // For comparison: the same objects re-stored unchanged (every rule a cache hit; empty
        // transaction): the fixed cost of (a) per object.
        auto u0 = Clock::now();
        auto same = crows.Change(back);
        unchanged_ms.push_back(Seconds(u0, Clock::now()) * 1e3);
        if (!same.ok() || !same->empty()) return Fail(std::string(name) + " (unchanged)", absl::InternalError("not a no-op"));
        // (a) the changed objects' rows diffed against what they contributed before.
        double c0 = ThreadCpuSeconds();
        auto t0 = Clock::now();
        auto tx = crows.Change(fwd);
        auto t1 = Clock::now();
        double c1 = ThreadCpuSeconds();
        if (!tx.ok()) return Fail(name, tx.status());
        // (b) one nlog transaction.
        auto d = engine->Apply(*tx);
        auto t2 = Clock::now();
        double c2 = ThreadCpuSeconds();
        if (!d.ok()) return Fail(std::string(name) + ": Engine::Apply", d.status());
        // (c) the per-host record deltas.
        auto ph = physical.Apply(*engine, *d);
        auto t3 = Clock::now();
        double c3 = ThreadCpuSeconds();
        if (!ph.ok()) return Fail(std::string(name) + ": PhysicalStage::Apply", ph.status());
        rows_ms.push_back(Seconds(t0, t1) * 1e3);
        cache_ms.push_back(crows.last_cache_ms());
        eng_ms.push_back(Seconds(t1, t2) * 1e3);
        ph_ms.push_back(Seconds(t2, t3) * 1e3);
        total_ms.push_back(Seconds(t0, t3) * 1e3);
        rows_cpu.push_back((c1 - c0) * 1e3);
        eng_cpu.push_back((c2 - c1) * 1e3);
        ph_cpu.push_back((c3 - c2) * 1e3);
        total_cpu.push_back((c3 - c0) * 1e3);
        if (i == 0) {
          // The per-object transaction must equal the whole-spec diff (SetSpec's).
          if (!SameTransaction(*tx, whole)) {
            std::fprintf(stderr, "rampart-bench logical: %s: per-object transaction differs from the whole-spec diff\n", name);
            return 1;
          }
          nlohmann::json keys = nlohmann::json::array();
          for (const auto& c : *ch) keys.push_back(c.key);
          first = {{"objects", keys}, {"input_rows_changed", tx->changes().size()},
                   {"output_rows_changed", DeltaRows(*d)}, {"hosts_changed", ph->size()},
                   {"records_changed", RecordRows(*ph)}};
        }
        // For comparison: ObjectRows of the changed objects parsed whole (no per-rule cache).
        auto w0 = Clock::now();
        for (const auto& c : *ch)
          if (c.after && !controller::ObjectRows(c.key, *c.after).ok()) return 1;
        whole_obj_ms.push_back(Seconds(w0, Clock::now()) * 1e3);
        // Revert through the same path (timed as one figure).
        auto r0 = Clock::now();
        auto rtx = crows.Change(back);
        if (!rtx.ok()) return Fail(std::string(name) + " (revert)", rtx.status());
        auto rd = engine->Apply(*rtx);
        if (!rd.ok()) return Fail(std::string(name) + " (revert): Engine::Apply", rd.status());
        auto rph = physical.Apply(*engine, *rd);
        if (!rph.ok()) return Fail(std::string(name) + " (revert): PhysicalStage::Apply", rph.status());
        revert_ms.push_back(Seconds(r0, Clock::now()) * 1e3);
      }
      out["incremental"][name] = {
          {"rows_diff_ms", Stat(rows_ms)},         {"rows_diff_cpu_ms", Stat(rows_cpu)},
          {"engine_apply_ms", Stat(eng_ms)},       {"engine_apply_cpu_ms", Stat(eng_cpu)},
          {"physical_apply_ms", Stat(ph_ms)},      {"physical_apply_cpu_ms", Stat(ph_cpu)},
          {"total_ms", Stat(total_ms)},            {"total_cpu_ms", Stat(total_cpu)},
          {"revert_total_ms", Stat(revert_ms)},    {"object_rows_uncached_ms", Stat(whole_obj_ms)},
          {"rows_diff_unchanged_ms", Stat(unchanged_ms)}, {"rows_diff_of_it_cache_ms", Stat(cache_ms)},
          {"first", first},
          // compare.py's fields: the whole controller path (a + b + c).
          {"median_ms", Median(total_ms)},         {"cpu_median_ms", Median(total_cpu)},
          {"logical_median_ms", Median(rows_ms) + Median(eng_ms)},
          {"logical_cpu_median_ms", Median(rows_cpu) + Median(eng_cpu)}};
    }
  }
  out["spec"] = {{"hosts", spec.hosts.size()}, {"tenants", spec.tenants.size()}, {"switches", spec.switches.size()},
                 {"ports", spec.ports.size()}, {"groups", spec.groups.size()}, {"firewalls", spec.firewalls.size()},
                 {"vnic_policies", spec.vnic_policies.size()}, {"rules", nrules}, {"input_rows", input_rows},
                 {"objects", nobjects}};

  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  const auto& f = out["full"];
  auto mib = [](const nlohmann::json& v) { return v.get<double>() / 1048576.0; };
  std::printf("logical stage: %d hosts, %zu ports, %zu tenants, %zu rules (seed %llu), %zu stored objects, generated in %.2f s\n",
              a.gen.hosts, spec.ports.size(), spec.tenants.size(), nrules, static_cast<unsigned long long>(a.gen.seed),
              nobjects, gen_s);
  std::printf("full compute (LogicalStage::SetSpec from empty)\n");
  std::printf("  logical           %8.3f s wall  %8.3f s cpu  %zu input rows -> %zu output rows\n",
              f["wall_s"].get<double>(), f["cpu_s"].get<double>(), input_rows, f["output_rows"].get<size_t>());
  std::printf("  memory            RSS +%.1f MiB (%.0f B/rule), engine estimate %.1f MiB, peak RSS %.1f MiB\n",
              mib(f["rss_growth_bytes"]), f["bytes_per_rule"].get<double>(), mib(f["engine_memory_bytes"]),
              mib(f["peak_rss_bytes"]));
  std::fputs(memory_text.c_str(), stdout);
  std::printf("full compute (controller path: stored objects -> rows -> Engine::Apply -> PhysicalStage::ApplyForSnapshots -> every Snapshot)\n");
  std::printf("  rows              %8.3f s wall  %8.3f s cpu  %zu rows, RSS +%.1f MiB\n", cp["rows"]["wall_s"].get<double>(),
              cp["rows"]["cpu_s"].get<double>(), cp["rows"]["input_rows"].get<size_t>(), mib(cp["rows"]["rss_growth_bytes"]));
  std::printf("  logical           %8.3f s wall  %8.3f s cpu  %zu output rows, RSS +%.1f MiB\n",
              cp["logical"]["wall_s"].get<double>(), cp["logical"]["cpu_s"].get<double>(),
              cp["logical"]["output_rows"].get<size_t>(), mib(cp["logical"]["rss_growth_bytes"]));
  std::printf("  physical          %8.3f s wall  %8.3f s cpu  ApplyForSnapshots: %zu hosts, %zu rows held, RSS +%.1f MiB\n",
              cp["physical"]["wall_s"].get<double>(), cp["physical"]["cpu_s"].get<double>(),
              cp["physical"]["hosts"].get<size_t>(), cp["physical"]["rows_held"].get<size_t>(),
              mib(cp["physical"]["rss_growth_bytes"]));
  std::printf("  snapshots         %8.3f s wall  %8.3f s cpu  every host's Snapshot once: %zu rows (largest %zu), "
              "median %.3f ms, max %.3f ms per host\n",
              cp["snapshots"]["wall_s"].get<double>(), cp["snapshots"]["cpu_s"].get<double>(),
              cp["snapshots"]["rows"].get<size_t>(), cp["snapshots"]["max_rows"].get<size_t>(),
              cp["snapshots"]["per_host_ms"]["median"].get<double>(), cp["snapshots"]["per_host_ms"]["max"].get<double>());
  std::printf("  controller memory RSS +%.1f MiB (%.0f B/rule), peak RSS %.1f MiB\n", mib(cp["rss_growth_bytes"]),
              cp["bytes_per_rule"].get<double>(), mib(cp["peak_rss_bytes"]));
  if (!a.skip_incremental) {
    std::printf("single changes, controller path (median / max of %d, ms; cpu medians)\n", a.reps);
    for (const auto& [k, fn] : kinds) {
      const auto& r = out["incremental"][k];
      auto mm = [&](const char* s) { return std::make_pair(r[s]["median"].get<double>(), r[s]["max"].get<double>()); };
      auto [rm, rx] = mm("rows_diff_ms");
      auto [em, ex] = mm("engine_apply_ms");
      auto [pm, px] = mm("physical_apply_ms");
      auto [tm, tx] = mm("total_ms");
      std::printf("  %-10s rows %.3f/%.3f + engine %.3f/%.3f + physical %.3f/%.3f = %.3f/%.3f (cpu %.3f+%.3f+%.3f=%.3f); "
                  "%zu in, %zu out rows, %zu hosts; rows: ObjectRowsCache %.3f ms, unchanged object %.3f ms, parsed whole (no cache) %.1f ms\n",
                  k, rm, rx, em, ex, pm, px, tm, tx, r["rows_diff_cpu_ms"]["median"].get<double>(),
                  r["engine_apply_cpu_ms"]["median"].get<double>(), r["physical_apply_cpu_ms"]["median"].get<double>(),
                  r["total_cpu_ms"]["median"].get<double>(), r["first"]["input_rows_changed"].get<size_t>(),
                  r["first"]["output_rows_changed"].get<size_t>(), r["first"]["hosts_changed"].get<size_t>(),
                  r["rows_diff_of_it_cache_ms"]["median"].get<double>(), r["rows_diff_unchanged_ms"]["median"].get<double>(), r["object_rows_uncached_ms"]["median"].get<double>());
    }
    if (out.contains("whole_spec_setspec"))
      for (const auto& [k, fn] : kinds)
        std::printf("  %-10s whole-spec SetSpec (not the controller's path) median %.3f ms, cpu %.3f ms\n", k,
                    out["whole_spec_setspec"][k]["wall_ms"]["median"].get<double>(),
                    out["whole_spec_setspec"][k]["cpu_ms"]["median"].get<double>());
  }
  if (!a.ovn_out.empty()) std::printf("  OVN transactions  %s (+ .add-rule/.move-port/.add-port)\n", a.ovn_out.c_str());
  return 0;
}

Registrar reg({"logical", "logical stage at scale: full compute, memory, single changes (vs OVN northd)", &Run});

}  // namespace
}  // namespace rampart::bench
