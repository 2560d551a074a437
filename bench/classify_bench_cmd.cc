// rampart-bench classify: Rampart's Classifier against DPDK rte_acl on the same ClassBench rules
// and trace, in the same process: lookups/s (one thread, batches), build time, one-rule update
// time and memory. Both engines' answers are checked (against .expected when given, and against
// each other); a run whose answers disagree exits 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_command.h"
#include "bench/support/rte_acl_engine.h"
#include "classifier/classbench.h"
#include "classifier/classifier.h"
#include "classifier/tuple_merge.h"

namespace rampart::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Args {
  std::string format = "classbench";
  std::string rules, trace, expected;
  bool json = false;
  bool no_acl = false;  // tuning runs: measure Rampart only
  double seconds = 1.0;
  size_t batch = 64;
  int update_runs = 21;
  int eal_mem_mb = 256;
  // Tuning knobs of the TupleMerge implementation (defaults = what Classifier::Build uses).
  classifier_internal::TupleMergeOptions tm;
};

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rampart-bench classify: %s\n", msg);
  std::fprintf(stderr,
               "usage: rampart-bench classify --format classbench --rules R --trace T [--expected E]\n"
               "         [--json] [--seconds S] [--batch N] [--update-runs N] [--eal-mem MB]\n"
               "         [--v4-grid N] [--max-bucket N] [--relax-flags 0-7]   (TupleMerge tuning; defaults as in Build)\n");
  return 2;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Rate {
  double per_cpu_s;   // lookups per second of this thread's CPU time (robust on a shared machine)
  double per_wall_s;  // lookups per wall-clock second
};

// Runs fn(batch_begin, n) over the trace in batches, repeating the trace until `seconds` of this
// thread's CPU time passed.
template <typename Fn>
Rate LookupsPerSecond(size_t trace_size, size_t batch, double seconds, Fn fn) {
  size_t done = 0;
  auto start = Clock::now();
  double cpu0 = ThreadCpuSeconds(), cpu = 0;
  do {
    for (size_t i = 0; i < trace_size; i += batch) {
      size_t n = std::min(batch, trace_size - i);
      fn(i, n);
    }
    done += trace_size;
    cpu = ThreadCpuSeconds() - cpu0;
  } while (cpu < seconds);
  double wall = Seconds(start, Clock::now());
  return Rate{static_cast<double>(done) / cpu, static_cast<double>(done) / wall};
}

int Run(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (f == "--json") {
      a.json = true;
    } else if (f == "--no-rte-acl") {
      a.no_acl = true;
    } else if (f == "-h" || f == "--help") {
      Usage(nullptr);
      return 0;
    } else if (f == "--format" && value(&a.format)) {
    } else if (f == "--rules" && value(&a.rules)) {
    } else if (f == "--trace" && value(&a.trace)) {
    } else if (f == "--expected" && value(&a.expected)) {
    } else if (f == "--seconds" && value(&v)) {
      a.seconds = std::atof(v.c_str());
    } else if (f == "--batch" && value(&v)) {
      a.batch = static_cast<size_t>(std::max(1, std::atoi(v.c_str())));
    } else if (f == "--update-runs" && value(&v)) {
      a.update_runs = std::max(1, std::atoi(v.c_str()));
    } else if (f == "--v4-grid" && value(&v)) {
      a.tm.v4_grid = std::clamp(std::atoi(v.c_str()), 1, 32);
    } else if (f == "--relax-flags" && value(&v)) {
      a.tm.relax_flags = static_cast<uint8_t>(std::atoi(v.c_str()) & 7);
    } else if (f == "--max-bucket" && value(&v)) {
      a.tm.max_bucket = static_cast<size_t>(std::max(1, std::atoi(v.c_str())));
    } else if (f == "--eal-mem" && value(&v)) {
      a.eal_mem_mb = std::max(64, std::atoi(v.c_str()));
    } else {
      return Usage(("unknown or incomplete argument " + f).c_str());
    }
  }
  if (a.format != "classbench") return Usage("only --format classbench is supported");
  if (a.rules.empty() || a.trace.empty()) return Usage("--rules and --trace are required");

  auto rules = ReadClassBenchRules(a.rules);
  if (!rules.ok()) return std::fprintf(stderr, "%s\n", rules.status().ToString().c_str()), 1;
  auto trace = ReadClassBenchTrace(a.trace);
  if (!trace.ok()) return std::fprintf(stderr, "%s\n", trace.status().ToString().c_str()), 1;
  std::vector<uint32_t> expected;
  if (!a.expected.empty()) {
    auto e = ReadClassBenchExpected(a.expected);
    if (!e.ok()) return std::fprintf(stderr, "%s\n", e.status().ToString().c_str()), 1;
    expected = *std::move(e);
    if (expected.size() != trace->size()) {
      std::fprintf(stderr, "%s has %zu lines but %s has %zu\n", a.expected.c_str(), expected.size(),
                   a.trace.c_str(), trace->size());
      return 1;
    }
  }
  const size_t n = trace->size();
  std::vector<ClassKey> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = (*trace)[i].key;

  nlohmann::json out;
  out["rules"] = rules->size();
  out["trace_lines"] = n;
  out["batch"] = a.batch;
  out["seconds_per_measurement"] = a.seconds;
  bool agreed = true;

  // EAL first (it pins this thread to core 0), so both engines are measured on the same core.
  absl::Status eal = a.no_acl ? absl::OkStatus() : InitEal(a.eal_mem_mb);

  // ---- Rampart ----
  nlohmann::json r;
  auto t0 = Clock::now();
  auto built = classifier_internal::TupleMergeClassifier::Make(*rules, a.tm);
  auto t1 = Clock::now();
  if (!built.ok()) return std::fprintf(stderr, "build: %s\n", built.status().ToString().c_str()), 1;
  std::shared_ptr<const Classifier> c = *built;
  r["build_s"] = Seconds(t0, t1);
  std::vector<uint32_t> ours(n);
  c->LookupBatch(keys.data(), n, ours.data());
  size_t single_mismatch = 0;
  for (size_t i = 0; i < n; ++i) single_mismatch += c->Lookup(keys[i]) != ours[i];
  size_t ours_vs_expected = 0;
  for (size_t i = 0; i < expected.size(); ++i) ours_vs_expected += ours[i] != expected[i];
  r["mismatches_vs_expected"] = ours_vs_expected;
  r["batch_vs_single_mismatches"] = single_mismatch;
  agreed = agreed && ours_vs_expected == 0 && single_mismatch == 0;
  std::vector<uint32_t> sink(a.batch);
  uint64_t checksum = 0;
  Rate rr = LookupsPerSecond(n, a.batch, a.seconds, [&](size_t i, size_t m) {
    c->LookupBatch(keys.data() + i, m, sink.data());
    checksum += sink[0];
  });
  r["lookups_per_s"] = rr.per_cpu_s;
  r["lookups_per_wall_s"] = rr.per_wall_s;
  r["lookups_per_s_unbatched"] = LookupsPerSecond(n, a.batch, a.seconds / 2, [&](size_t i, size_t m) {
    for (size_t j = 0; j < m; ++j) checksum += c->Lookup(keys[i + j]);
  }).per_cpu_s;
  // One-rule update: a copy of a random rule's match at a random priority, new id.
  std::mt19937_64 rng(1);
  std::vector<double> upd;
  for (int u = 0; u < a.update_runs; ++u) {
    ClassRule add = (*rules)[rng() % rules->size()];
    add.priority = static_cast<uint32_t>(rng() % rules->size());
    add.id = static_cast<uint32_t>(rules->size() + u);
    add.value = add.id;
    auto u0 = Clock::now();
    auto next = c->WithChanges(std::span(&add, 1), {});
    auto u1 = Clock::now();
    if (!next.ok()) return std::fprintf(stderr, "update: %s\n", next.status().ToString().c_str()), 1;
    upd.push_back(Seconds(u0, u1));
  }
  r["update_one_rule_s"] = Median(upd);
  r["update_one_rule_max_s"] = *std::max_element(upd.begin(), upd.end());
  {
    // Tables a lookup probes: every table whose best rule is not after the answer (deterministic,
    // unlike timings on a shared machine). ClassBench rules have priority = id = value = index.
    std::vector<uint64_t> bests;
    for (const auto& t : (*built)->Tables()) bests.push_back(t.best);
    double probes = 0;
    for (size_t i = 0; i < n; ++i) {
      uint64_t answer = ours[i] == kNoMatch ? ~0ull : (uint64_t{ours[i]} << 32 | ours[i]);
      probes += static_cast<double>(std::upper_bound(bests.begin(), bests.end(), answer) - bests.begin());
    }
    r["mean_tables_probed"] = probes / static_cast<double>(n);
  }
  ClassifierStats st = c->Stats();
  r["memory_bytes"] = st.memory_bytes;
  r["tables"] = st.tables;
  r["algorithm"] = "tuplemerge";
  r["v4_grid"] = a.tm.v4_grid;
  r["max_bucket"] = a.tm.max_bucket;
  r["relax_flags"] = a.tm.relax_flags;
  out["rampart"] = r;

  // ---- rte_acl ----
  nlohmann::json d;
  if (a.no_acl) {
    out["rampart"] = r;
    std::printf("%s\n", out.dump().c_str());
    return agreed ? 0 : 1;
  }
  if (!eal.ok()) {
    d["error"] = eal.ToString();
  } else {
    auto b0 = Clock::now();
    auto acl = AclEngine::Build(*rules);
    auto b1 = Clock::now();
    if (!acl.ok()) {
      d["error"] = acl.status().ToString();
    } else {
      d["build_s"] = Seconds(b0, b1);
      d["algorithm"] = (*acl)->AlgorithmName();
      d["memory_bytes"] = (*acl)->memory_bytes();
      std::vector<AclKey> akeys(n);
      std::vector<const uint8_t*> ptrs(n);
      for (size_t i = 0; i < n; ++i) {
        akeys[i] = AclEngine::MakeKey(keys[i]);
        ptrs[i] = reinterpret_cast<const uint8_t*>(&akeys[i]);
      }
      std::vector<uint32_t> theirs(n);
      for (size_t i = 0; i < n; i += a.batch) {
        (*acl)->Classify(ptrs.data() + i, theirs.data() + i, std::min(a.batch, n - i));
      }
      size_t acl_vs_expected = 0, acl_vs_ours = 0;
      for (size_t i = 0; i < n; ++i) {
        uint32_t idx = theirs[i] == 0 ? kNoMatch : theirs[i] - 1;
        if (!expected.empty()) acl_vs_expected += idx != expected[i];
        acl_vs_ours += idx != ours[i];
      }
      d["mismatches_vs_expected"] = acl_vs_expected;
      d["mismatches_vs_rampart"] = acl_vs_ours;
      agreed = agreed && acl_vs_expected == 0 && acl_vs_ours == 0;
      Rate dr = LookupsPerSecond(n, a.batch, a.seconds, [&](size_t i, size_t m) {
        (*acl)->Classify(ptrs.data() + i, sink.data(), m);
        checksum += sink[0];
      });
      d["lookups_per_s"] = dr.per_cpu_s;
      d["lookups_per_wall_s"] = dr.per_wall_s;
      // rte_acl cannot update: the cost of a one-rule change is a full rebuild with the rule added.
      std::vector<double> rebuild;
      for (int u = 0; u < std::min(a.update_runs, 5); ++u) {
        std::vector<ClassRule> plus = *rules;
        size_t pos = rng() % (plus.size() + 1);
        plus.insert(plus.begin() + static_cast<long>(pos), (*rules)[rng() % rules->size()]);
        auto u0 = Clock::now();
        auto again = AclEngine::Build(plus);
        auto u1 = Clock::now();
        if (!again.ok()) break;
        rebuild.push_back(Seconds(u0, u1));
      }
      d["update_one_rule_s"] = Median(rebuild);
    }
  }
  out["rte_acl"] = d;
  out["answers_agree"] = agreed;
  if (d.contains("lookups_per_s")) {
    nlohmann::json ratio;
    ratio["lookups"] = r["lookups_per_s"].get<double>() / d["lookups_per_s"].get<double>();
    ratio["build"] = r["build_s"].get<double>() / d["build_s"].get<double>();
    ratio["update"] = r["update_one_rule_s"].get<double>() / d["update_one_rule_s"].get<double>();
    ratio["memory"] = static_cast<double>(r["memory_bytes"].get<size_t>()) /
                      static_cast<double>(std::max<size_t>(1, d["memory_bytes"].get<size_t>()));
    out["rampart_over_rte_acl"] = ratio;
  }
  out["checksum"] = checksum;  // keeps the timed loops from being optimised away

  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s\n", out.dump(2).c_str());
  }
  if (!agreed) std::fprintf(stderr, "rampart-bench classify: ANSWERS DISAGREE (see mismatches_*)\n");
  return agreed ? 0 : 1;
}

Registrar reg({"classify", "classifier lookups/build/update vs DPDK rte_acl on ClassBench", &Run});

}  // namespace
}  // namespace rampart::bench
