// Whole-pipeline throughput of the firewall engine (parse, tag, conntrack, classify, act) on one
// worker, batches of 64 tagged frames:
//   BM_Established: data segments of established TCP connections (cached verdicts),
//   BM_NewConnections: SYNs of distinct new connections (classify + commit), the table flushed
//     between rounds so every SYN is new,
//   BM_StatelessUdp: stateless-rule UDP (classify every frame, no conntrack).
// Args: number of rules in the policy before the matching one (port rules that never match the
// traffic), number of connections.
//   build-*/bench/engine_benchmark --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "classifier/classifier.h"
#include "engine/engine.h"
#include "packet/frame_builder.h"
#include "policy/compiled_policy.h"

namespace rampart {
namespace {

constexpr uint16_t kFrom = 100, kTo = 101;

std::shared_ptr<const CompiledPolicy> Policy(int filler_rules) {
  auto p = std::make_shared<CompiledPolicy>();
  std::vector<ClassRule> crs;
  auto add = [&](RuleMatch m, Action a, bool stateless) {
    const uint32_t i = static_cast<uint32_t>(p->rules.size());
    crs.push_back(ClassRule{i, i, i, m});
    p->rules.push_back(CompiledRule{1000 + i, a, false, stateless, 0});
  };
  for (int i = 0; i < filler_rules; ++i) {
    RuleMatch m;
    m.family = 4;
    m.src = Prefix::V4((198u << 24) | (19u << 16) | (static_cast<uint32_t>(i) << 4), 28);
    m.dst = *Prefix::Parse("0.0.0.0/0");
    m.proto = kProtoTcp;
    m.proto_mask = 0xff;
    m.dport = {static_cast<uint16_t>(2000 + i), static_cast<uint16_t>(2000 + i)};
    add(m, Action::kDrop, false);
  }
  RuleMatch web;
  web.proto = kProtoTcp;
  web.proto_mask = 0xff;
  web.dport = {80, 80};
  web.direction_mask = 1;
  add(web, Action::kAllow, false);
  RuleMatch udp;
  udp.proto = kProtoUdp;
  udp.proto_mask = 0xff;
  add(udp, Action::kAllow, true);
  const uint32_t d = static_cast<uint32_t>(p->rules.size());
  crs.push_back(ClassRule{d, d, d, RuleMatch{}});
  p->rules.push_back(CompiledRule{kDefaultRuleId, Action::kDrop, false, false, 0});
  p->classifier = *Classifier::Build(crs);
  return p;
}

std::unique_ptr<Engine> MakeEngine(int filler_rules, uint32_t max_conns) {
  auto e = std::move(*Engine::Create({}));
  InstanceOptions o;
  o.max_conns_per_port = max_conns;
  (void)e->CreateInstance({1, "bench", o});
  (void)e->BindTag(kFrom, {1, 1, Direction::kFromVm});
  (void)e->BindTag(kTo, {1, 1, Direction::kToVm});
  (void)e->SetPolicy(1, Policy(filler_rules));
  return e;
}

Ip Vm(int i) { return Ip::V4((198u << 24) | (18u << 16) | (1u << 8) | static_cast<uint32_t>(1 + i % 200)); }
Ip Peer(int i) { return Ip::V4((198u << 24) | (18u << 16) | (2u << 8) | static_cast<uint32_t>(1 + (i / 200) % 200)); }
uint16_t Sport(int i) { return static_cast<uint16_t>(10000 + i % 50000); }

void RunBatches(benchmark::State& state, Engine& e, std::vector<std::vector<uint8_t>>& frames, uint64_t* now) {
  std::vector<Frame> batch(64);
  size_t pos = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    for (auto& f : batch) {
      f.data = frames[pos].data();
      f.len = static_cast<uint32_t>(frames[pos].size());
      bytes += f.len;
      if (++pos == frames.size()) pos = 0;
    }
    e.ProcessBatch(e.worker(0), batch, *now += 1000);
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetItemsProcessed(state.iterations() * batch.size());
  state.SetBytesProcessed(bytes);
}

void BM_Established(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(1));
  auto e = MakeEngine(static_cast<int>(state.range(0)), 1u << 20);
  uint64_t now = 1'000'000'000;
  // Open every connection (handshake), then replay data segments of all of them.
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < conns; ++i) {
    auto syn = FrameBuilder().Vlan(kFrom).Ip(Vm(i), Peer(i)).Tcp(Sport(i), 80, kTcpSyn, 1000).WindowScale(7).Build();
    auto sa = FrameBuilder().Vlan(kTo).Ip(Peer(i), Vm(i)).Tcp(80, Sport(i), kTcpSyn | kTcpAck, 5000, 1001).WindowScale(7).Build();
    auto ack = FrameBuilder().Vlan(kFrom).Ip(Vm(i), Peer(i)).Tcp(Sport(i), 80, kTcpAck, 1001, 5001).Build();
    for (auto* f : {&syn, &sa, &ack}) {
      Frame fr;
      fr.data = f->data();
      fr.len = static_cast<uint32_t>(f->size());
      e->ProcessBatch(e->worker(0), std::span<Frame>(&fr, 1), now);
    }
    frames.push_back(FrameBuilder().Vlan(kFrom).Ip(Vm(i), Peer(i)).Tcp(Sport(i), 80, kTcpAck | kTcpPsh, 1001, 5001).Payload(64).Build());
  }
  const auto before = *e->Counters(1);
  RunBatches(state, *e, frames, &now);
  const auto after = *e->Counters(1);
  // Share of the timed frames that really took the established path (should be 1).
  const uint64_t est = after.Of(Reason::kAllowEstablished) - before.Of(Reason::kAllowEstablished);
  uint64_t total = 0;
  for (int v = 0; v < 4; ++v) total += after.packets_by_verdict[v] - before.packets_by_verdict[v];
  state.counters["established_share"] = total ? static_cast<double>(est) / static_cast<double>(total) : 0;
}

void BM_NewConnections(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(1));
  auto e = MakeEngine(static_cast<int>(state.range(0)), 1u << 20);
  uint64_t now = 1'000'000'000;
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < conns; ++i) {
    frames.push_back(FrameBuilder().Vlan(kFrom).Ip(Vm(i), Peer(i)).Tcp(Sport(i), 80, kTcpSyn, 1000).WindowScale(7).Build());
  }
  std::vector<Frame> batch(64);
  size_t pos = 0;
  for (auto _ : state) {
    for (auto& f : batch) {
      f.data = frames[pos].data();
      f.len = static_cast<uint32_t>(frames[pos].size());
      if (++pos == frames.size()) {
        pos = 0;
        state.PauseTiming();
        (void)e->Flush(1, std::nullopt);  // every SYN is new again
        state.ResumeTiming();
      }
    }
    e->ProcessBatch(e->worker(0), batch, now += 1000);
    benchmark::DoNotOptimize(batch.data());
  }
  state.SetItemsProcessed(state.iterations() * batch.size());
  auto c = *e->Counters(1);
  state.counters["new_share"] =
      static_cast<double>(c.Of(Reason::kAllowNew)) / static_cast<double>(c.packets_by_verdict[0] + c.packets_by_verdict[1]);
}

void BM_StatelessUdp(benchmark::State& state) {
  const int flows = static_cast<int>(state.range(1));
  auto e = MakeEngine(static_cast<int>(state.range(0)), 1u << 20);
  uint64_t now = 1'000'000'000;
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < flows; ++i) {
    frames.push_back(FrameBuilder().Vlan(kFrom).Ip(Vm(i), Peer(i)).Udp(Sport(i), 5001).Payload(64).Build());
  }
  RunBatches(state, *e, frames, &now);
}

BENCHMARK(BM_Established)->Args({0, 1024})->Args({1000, 1024})->Args({1000, 65536});
BENCHMARK(BM_NewConnections)->Args({0, 4096})->Args({1000, 4096})->Args({1000, 65536});
BENCHMARK(BM_StatelessUdp)->Args({0, 1024})->Args({1000, 1024});

}  // namespace
}  // namespace rampart
