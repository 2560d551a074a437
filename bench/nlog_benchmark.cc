// nlog engine at the firewall logical stage's scale: Rule(tenant, rule, group) x
// GroupMember(tenant, group, port) x PortHost(tenant, port, host) -> RuleSpan(tenant, rule, host)
// with 50,000 rules, 10,000 ports and 1,000 hosts (100 tenants; per tenant 100 ports, 20 groups
// of 10 ports, 500 rules). Measures the full load (one transaction from empty), a one-rule insert
// + delete on the loaded engine, a one-port group change, and memory per rule.
//
//   build-nlog/bench/nlog_benchmark --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <malloc.h>

#include <cstdio>
#include <memory>

#include "nlog/engine.h"

namespace rampart::nlog {
namespace {

constexpr int kTenants = 100, kPortsPerTenant = 100, kGroupsPerTenant = 20, kRulesPerTenant = 500;
constexpr int kHosts = 1000;

constexpr const char* kProgram = R"(
input table Rule(tenant: string, rule: int, group: string).
input table GroupMember(tenant: string, group: string, port: string).
input table PortHost(tenant: string, port: string, host: string) key(tenant, port).
output table RuleSpan(tenant: string, rule: int, host: string).
RuleSpan(t, r, h) :- Rule(t, r, g), GroupMember(t, g, p), PortHost(t, p, h).
)";

std::string Tenant(int t) { return "tenant-" + std::to_string(t); }
std::string Group(int g) { return "group-" + std::to_string(g); }
std::string Port(int t, int p) { return "port-" + std::to_string(t) + "-" + std::to_string(p); }
std::string Host(int h) { return "host-" + std::to_string(h); }

Transaction FullLoad() {
  Transaction tx;
  uint64_t x = 12345;
  auto rnd = [&x]() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int t = 0; t < kTenants; ++t) {
    Value tv = Value::String(Tenant(t));
    for (int p = 0; p < kPortsPerTenant; ++p) {
      Value pv = Value::String(Port(t, p));
      tx.Insert("PortHost", {tv, pv, Value::String(Host(static_cast<int>(rnd() % kHosts)))});
      // Each port is in two groups: 200 memberships, 10 ports per group.
      tx.Insert("GroupMember", {tv, Value::String(Group(p % kGroupsPerTenant)), pv});
      tx.Insert("GroupMember", {tv, Value::String(Group((p % kGroupsPerTenant + 1 + p / kGroupsPerTenant) % kGroupsPerTenant)), pv});
    }
    for (int r = 0; r < kRulesPerTenant; ++r) {
      tx.Insert("Rule", {tv, Value::Int(r), Value::String(Group(r % kGroupsPerTenant))});
    }
  }
  return tx;
}

std::unique_ptr<Engine> NewEngine() {
  auto prog = Program::Compile(kProgram, "bench.nlog");
  if (!prog.ok()) std::abort();
  return std::make_unique<Engine>(*std::move(prog));
}

// Resident set size in bytes (Linux).
size_t Rss() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * 4096;
}

void BM_FullLoad(benchmark::State& state) {
  Transaction tx = FullLoad();
  size_t spans = 0, bytes = 0, rss_growth = 0;
  for (auto _ : state) {
    state.PauseTiming();
    size_t rss_before = Rss();
    auto engine = NewEngine();
    state.ResumeTiming();
    auto d = engine->Apply(tx);
    if (!d.ok()) {
      state.SkipWithError(std::string(d.status().message()).c_str());
      break;
    }
    state.PauseTiming();
    spans = engine->TableSize("RuleSpan");
    bytes = engine->MemoryBytes();
    if (rss_growth == 0) {
      // Steady state of the first run: the returned Delta and freed scratch given back first.
      d = Delta();
      malloc_trim(0);
      rss_growth = Rss() - rss_before;
    }
    state.ResumeTiming();
    state.PauseTiming();
    engine.reset();
    state.ResumeTiming();
  }
  int rules = kTenants * kRulesPerTenant;
  state.counters["rules"] = rules;
  state.counters["rule_spans"] = static_cast<double>(spans);
  state.counters["bytes_per_rule"] = static_cast<double>(bytes) / rules;
  state.counters["rss_per_rule"] = static_cast<double>(rss_growth) / rules;
}
BENCHMARK(BM_FullLoad)->Unit(benchmark::kMillisecond)->Iterations(3);

Engine& Loaded() {
  static Engine* engine = [] {
    Engine* e = NewEngine().release();
    if (!e->Apply(FullLoad()).ok()) std::abort();
    return e;
  }();
  return *engine;
}

// One new rule in a loaded engine, then its removal: two transactions per iteration.
void BM_OneRuleInsertThenDelete(benchmark::State& state) {
  Engine& e = Loaded();
  int i = 0;
  size_t changed = 0;
  for (auto _ : state) {
    int t = i % kTenants;
    Row rule = {Value::String(Tenant(t)), Value::Int(100000 + i), Value::String(Group(i % kGroupsPerTenant))};
    Transaction ins;
    ins.Insert("Rule", rule);
    auto d = e.Apply(ins);
    if (!d.ok()) state.SkipWithError("insert failed");
    changed = d->tables["RuleSpan"].inserted.size();
    Transaction del;
    del.Delete("Rule", rule);
    if (!e.Apply(del).ok()) state.SkipWithError("delete failed");
    ++i;
  }
  state.counters["spans_per_rule"] = static_cast<double>(changed);
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_OneRuleInsertThenDelete)->Unit(benchmark::kMicrosecond);

// A port joins a group (touching the 25 rules of that group), then leaves it.
void BM_OneMembershipInsertThenDelete(benchmark::State& state) {
  Engine& e = Loaded();
  int i = 0;
  for (auto _ : state) {
    int t = i % kTenants;
    Row m = {Value::String(Tenant(t)), Value::String(Group((i + 3) % kGroupsPerTenant)),
             Value::String(Port(t, (i * 7) % kPortsPerTenant))};
    if (e.Contains("GroupMember", m)) {
      ++i;
      continue;
    }
    Transaction ins;
    ins.Insert("GroupMember", m);
    if (!e.Apply(ins).ok()) state.SkipWithError("insert failed");
    Transaction del;
    del.Delete("GroupMember", m);
    if (!e.Apply(del).ok()) state.SkipWithError("delete failed");
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_OneMembershipInsertThenDelete)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rampart::nlog
