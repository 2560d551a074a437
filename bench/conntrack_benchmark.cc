// Google Benchmark micro-benchmarks for conntrack (the headline numbers come from
// `rampart-bench conntrack`; these isolate single operations).
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "conntrack/conntrack.h"

namespace rampart {
namespace {

constexpr uint64_t kS = 1000000000ull;

ParsedPacket UdpPacket(uint64_t i, bool reply) {
  ParsedPacket p;
  p.family = 4;
  p.proto = kProtoUdp;
  p.has_l4 = true;
  const Ip a = Ip::V4(0xC6120000u + static_cast<uint32_t>(i >> 12));
  const Ip b = Ip::V4(0xC613FF01u);
  const uint16_t sp = static_cast<uint16_t>(1024 + (i & 4095)), dp = 53;
  p.src = reply ? b : a;
  p.dst = reply ? a : b;
  p.sport = reply ? dp : sp;
  p.dport = reply ? sp : dp;
  p.l3_len = 100;
  return p;
}

std::unique_ptr<ConnTable> Filled(uint64_t n) {
  ConnTableOptions o;
  o.max_connections = static_cast<uint32_t>(n);
  o.initial_capacity = static_cast<uint32_t>(n);
  auto t = std::move(ConnTable::Create(o)).value();
  for (uint64_t i = 0; i < n; ++i) {
    t->Commit(UdpPacket(i, false), Direction::kFromVm, kS, CtVerdict{1, Action::kAllow, 1});
  }
  return t;
}

// Established UDP lookups, random connection and direction, batches of 32.
void BM_TrackBatchEstablished(benchmark::State& state) {
  const uint64_t n = state.range(0);
  auto t = Filled(n);
  std::vector<ParsedPacket> pkts(32);
  std::vector<const ParsedPacket*> ptrs(32);
  std::vector<Direction> dirs(32, Direction::kFromVm);
  std::vector<TrackResult> out(32);
  for (int i = 0; i < 32; ++i) ptrs[i] = &pkts[i];
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    for (int i = 0; i < 32; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      pkts[i] = UdpPacket((x >> 1) % n, x & 1);
    }
    t->TrackBatch(ptrs.data(), dirs.data(), 32, 2 * kS, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_TrackBatchEstablished)->Arg(1000)->Arg(100000)->Arg(1000000);

void BM_TrackOneEstablished(benchmark::State& state) {
  const uint64_t n = state.range(0);
  auto t = Filled(n);
  uint64_t x = 88172645463325252ull;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ParsedPacket p = UdpPacket((x >> 1) % n, x & 1);
    benchmark::DoNotOptimize(t->Track(p, Direction::kFromVm, 2 * kS));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TrackOneEstablished)->Arg(1000)->Arg(1000000);

// Commit of fresh connections into a presized table (flushed, untimed, when full).
void BM_CommitNew(benchmark::State& state) {
  const uint64_t n = 1 << 20;
  ConnTableOptions o;
  o.max_connections = n;
  o.initial_capacity = n;
  auto t = std::move(ConnTable::Create(o)).value();
  uint64_t i = 0;
  for (auto _ : state) {
    if (t->Size() == n) {
      state.PauseTiming();
      t->Flush();
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(
        t->Commit(UdpPacket(i++ % (1u << 22), false), Direction::kFromVm, kS, CtVerdict{}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CommitNew);

void BM_Export(benchmark::State& state) {
  auto t = Filled(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(t->Export(3 * kS));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Export)->Arg(10000);

void BM_Import(benchmark::State& state) {
  auto src = Filled(state.range(0));
  std::vector<uint8_t> blob = src->Export(3 * kS);
  for (auto _ : state) {
    state.PauseTiming();
    ConnTableOptions o;
    o.max_connections = static_cast<uint32_t>(state.range(0));
    auto dst = std::move(ConnTable::Create(o)).value();
    state.ResumeTiming();
    benchmark::DoNotOptimize(dst->Import(blob, 3 * kS));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Import)->Arg(10000);

}  // namespace
}  // namespace rampart
