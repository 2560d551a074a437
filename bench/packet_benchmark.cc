// Parse throughput for typical frames, one at a time and batched (ParsePackets), plus the
// reply builders. Run: build/bench/packet_benchmark
#include <vector>

#include "benchmark/benchmark.h"
#include "packet/builder.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"
#include "packet/parser_internal.h"

namespace rampart {
namespace {

std::vector<uint8_t> Frame(int kind) {
  switch (kind) {
    case 0:  // untagged IPv4 TCP ACK with 64 bytes (the fast path)
      return FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Tcp(40000, 80, kTcpAck, 1, 2)
          .Payload(64).Build();
    case 1:  // 802.1Q-tagged IPv4 TCP (what rampart-fwd sees from OVS)
      return FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3")
          .Tcp(40000, 80, kTcpAck, 1, 2).Payload(64).Build();
    case 2:  // tagged IPv4 SYN with options
      return FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3")
          .Tcp(40000, 80, kTcpSyn, 1).Mss(1460).SackPermitted().WindowScale(7).Build();
    case 3:  // tagged IPv4 UDP
      return FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3").Udp(5000, 53)
          .Payload(64).Build();
    case 4:  // tagged IPv6 TCP
      return FrameBuilder().Vlan(100).Ipv6("2001:db8::1", "2001:db8::2")
          .Tcp(40000, 80, kTcpAck, 1, 2).Payload(64).Build();
    case 5:  // tagged IPv6 UDP behind two extension headers
      return FrameBuilder().Vlan(100).Ipv6("2001:db8::1", "2001:db8::2").HopByHop()
          .DestinationOptions().Udp(1, 2).Payload(64).Build();
    default:  // tagged ICMPv4 error about a TCP segment
      return FrameBuilder().Vlan(100).Ipv4("198.19.255.1", "198.18.1.2")
          .IcmpErrorAbout(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3")
                              .Tcp(1, 2, kTcpSyn).Build(), 3, 4)
          .Build();
  }
}

const char* const kNames[] = {"ipv4_tcp", "vlan_ipv4_tcp", "vlan_ipv4_syn_opts", "vlan_ipv4_udp",
                              "vlan_ipv6_tcp", "vlan_ipv6_ext_udp", "vlan_icmp4_error"};

void BM_Parse(benchmark::State& state) {
  const std::vector<uint8_t> f = Frame(static_cast<int>(state.range(0)));
  ParsedPacket p;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParsePacket(f.data(), f.size(), &p));
    benchmark::ClobberMemory();
  }
  state.SetLabel(kNames[state.range(0)]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Parse)->DenseRange(0, 6);

// The same frames through the general parser only: what the fast path saves.
void BM_ParseGeneral(benchmark::State& state) {
  const std::vector<uint8_t> f = Frame(static_cast<int>(state.range(0)));
  ParsedPacket p;
  for (auto _ : state) {
    benchmark::DoNotOptimize(packet_internal::ParsePacketGeneral(f.data(), f.size(), &p, {}));
    benchmark::ClobberMemory();
  }
  state.SetLabel(kNames[state.range(0)]);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseGeneral)->Arg(0)->Arg(1);

// A batch of 256 frames mixing the kinds above, as a worker would see after a ring poll.
void BM_ParseBatchMixed(benchmark::State& state) {
  constexpr size_t kBatch = 256;
  std::vector<std::vector<uint8_t>> frames;
  for (size_t i = 0; i < kBatch; ++i) frames.push_back(Frame(static_cast<int>(i % 7)));
  std::vector<const uint8_t*> ptrs;
  std::vector<uint16_t> lens;
  for (const auto& f : frames) {
    ptrs.push_back(f.data());
    lens.push_back(static_cast<uint16_t>(f.size()));
  }
  std::vector<ParsedPacket> out(kBatch);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParsePackets(ptrs.data(), lens.data(), kBatch, out.data()));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ParseBatchMixed);

void BM_BuildTcpReset(benchmark::State& state) {
  const std::vector<uint8_t> f = Frame(2);
  ParsedPacket p;
  ParsePacket(f.data(), f.size(), &p);
  uint8_t out[kMaxTcpResetLen];
  for (auto _ : state) {
    benchmark::DoNotOptimize(BuildTcpReset(f.data(), p, out, sizeof(out)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildTcpReset);

void BM_BuildIcmpUnreachable(benchmark::State& state) {
  const std::vector<uint8_t> f = FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3")
                                     .Udp(1, 2).Payload(1400).Build();
  ParsedPacket p;
  ParsePacket(f.data(), f.size(), &p);
  uint8_t out[kMaxIcmpUnreachableLen];
  for (auto _ : state) {
    benchmark::DoNotOptimize(BuildIcmpUnreachable(f.data(), p, out, sizeof(out)));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildIcmpUnreachable);

}  // namespace
}  // namespace rampart
