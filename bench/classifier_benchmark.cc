// Micro-benchmarks of the classifier on ClassBench sets (Google Benchmark). The comparison with
// rte_acl is `rampart-bench classify`; these isolate single operations.
//   build/bench/classifier_benchmark --benchmark_filter=acl1_10k
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>

#include "classifier/classbench.h"
#include "classifier/classifier.h"

namespace rampart {
namespace {

struct Data {
  std::vector<ClassRule> rules;
  std::vector<ClassKey> keys;
};

const Data& Load(const std::string& set) {
  static std::map<std::string, Data> cache;
  auto it = cache.find(set);
  if (it != cache.end()) return it->second;
  const std::string dir = std::string(RAMPART_SHARED_DIR) + "/data/classbench/";
  auto rules = ReadClassBenchRules(dir + set + ".rules");
  auto trace = ReadClassBenchTrace(dir + set + ".trace");
  if (!rules.ok() || !trace.ok()) {
    std::fprintf(stderr, "cannot load %s: %s %s\n", set.c_str(), rules.status().ToString().c_str(),
                 trace.status().ToString().c_str());
    std::exit(1);
  }
  Data d;
  d.rules = *std::move(rules);
  for (const auto& h : *trace) d.keys.push_back(h.key);
  return cache[set] = std::move(d);
}

void BM_Build(benchmark::State& state, const std::string& set) {
  const Data& d = Load(set);
  for (auto _ : state) benchmark::DoNotOptimize(Classifier::Build(d.rules));
}

void BM_LookupBatch(benchmark::State& state, const std::string& set) {
  const Data& d = Load(set);
  auto c = *Classifier::Build(d.rules);
  std::vector<uint32_t> out(64);
  size_t i = 0;
  for (auto _ : state) {
    if (i + 64 > d.keys.size()) i = 0;
    c->LookupBatch(d.keys.data() + i, 64, out.data());
    benchmark::DoNotOptimize(out.data());
    i += 64;
  }
  state.SetItemsProcessed(state.iterations() * 64);
}

void BM_Lookup(benchmark::State& state, const std::string& set) {
  const Data& d = Load(set);
  auto c = *Classifier::Build(d.rules);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(c->Lookup(d.keys[i]));
    if (++i == d.keys.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_WithChangesOneRule(benchmark::State& state, const std::string& set) {
  const Data& d = Load(set);
  auto c = *Classifier::Build(d.rules);
  std::mt19937_64 rng(1);
  uint32_t next_id = static_cast<uint32_t>(d.rules.size());
  for (auto _ : state) {
    ClassRule r = d.rules[rng() % d.rules.size()];
    r.priority = static_cast<uint32_t>(rng() % d.rules.size());
    r.id = next_id++;
    benchmark::DoNotOptimize(c->WithChanges(std::span(&r, 1), {}));
  }
}

#define RAMPART_SETS(X) X(acl1_1k) X(acl1_10k) X(fw1_1k) X(fw1_10k) X(ipc1_1k) X(ipc1_10k)
#define RAMPART_REGISTER(set)                                                         \
  BENCHMARK_CAPTURE(BM_Build, set, #set)->Unit(benchmark::kMillisecond);              \
  BENCHMARK_CAPTURE(BM_LookupBatch, set, #set);                                       \
  BENCHMARK_CAPTURE(BM_Lookup, set, #set);                                            \
  BENCHMARK_CAPTURE(BM_WithChangesOneRule, set, #set)->Unit(benchmark::kMicrosecond);
RAMPART_SETS(RAMPART_REGISTER)

}  // namespace
}  // namespace rampart
