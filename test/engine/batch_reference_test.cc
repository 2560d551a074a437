// The batched pipeline (pending list, LookupBatch, flush on dependency) must give exactly the
// results of processing the same frames one at a time: the reference is the engine with
// batches of one frame. Random interleavings of many connections' lifecycles, fragments
// (sometimes out of order), ICMP errors, redirect/reject/drop ports and junk.
#include <random>

#include "engine/engine.h"
#include "engine_test_util.h"
#include "gtest/gtest.h"

namespace rampart {
namespace {

using testing::M;
using testing::MakePolicy;
using testing::TcpConn;

std::shared_ptr<const CompiledPolicy> Policy() {
  return MakePolicy({
      {10, M().Proto(kProtoTcp).Dport(80).FromVm().m, Action::kAllow},
      {11, M().Proto(kProtoTcp).Dport(443).ToVm().m, Action::kAllow},
      {20, M().Proto(kProtoUdp).Dport(53).m, Action::kAllow},
      {30, M().Proto(kProtoTcp).Dport(23).m, Action::kDrop},
      {40, M().Proto(kProtoTcp).Dport(25).m, Action::kReject},
      {41, M().Proto(kProtoUdp).Dport(5000).m, Action::kReject},
      {50, M().Proto(kProtoTcp).Dport(8080).m, Action::kRedirect, false, false, 1},
      {60, M().Proto(kProtoUdp).Dport(7000).m, Action::kAllow, true},
      {70, M().Proto(kProtoIcmp).m, Action::kAllow},
  });
}

using Frames = std::vector<std::vector<uint8_t>>;

// One TCP connection's life; the VM or the peer opens it.
Frames TcpLife(std::mt19937& rng, uint16_t sport, uint16_t dport, bool vm_opens, bool v6) {
  TcpConn c;
  if (v6) {
    c.vm = testing::kVm6;
    c.peer = testing::kPeer6;
  }
  c.vm_port = sport;
  c.peer_port = dport;
  Frames out;
  auto open = [&](uint8_t fl, uint32_t s, uint32_t a, size_t n = 0) {
    return vm_opens ? c.FromVm(fl, s, a, n) : c.ToVm(fl, s, a, n);
  };
  auto answer = [&](uint8_t fl, uint32_t s, uint32_t a, size_t n = 0) {
    return vm_opens ? c.ToVm(fl, s, a, n) : c.FromVm(fl, s, a, n);
  };
  out.push_back(open(kTcpSyn, 1000, 0));
  out.push_back(answer(kTcpSyn | kTcpAck, 5000, 1001));
  out.push_back(open(kTcpAck, 1001, 5001));
  uint32_t a = 1001, b = 5001;
  const int rounds = rng() % 4;
  for (int i = 0; i < rounds; ++i) {
    out.push_back(open(kTcpAck | kTcpPsh, a, b, 100));
    a += 100;
    // Sometimes an ICMP error about the segment just sent.
    if (rng() % 3 == 0) {
      auto fb = FrameBuilder().Vlan(vm_opens ? testing::kTagTo : testing::kTagFrom);
      if (v6) fb.Ipv6("2001:db8:3::1", vm_opens ? c.vm : c.peer); else fb.Ipv4("198.18.3.1", vm_opens ? c.vm : c.peer);
      out.push_back(fb.IcmpErrorAbout(out.back(), v6 ? 1 : 3, v6 ? 4 : 3).Build());
    }
    out.push_back(answer(kTcpAck | kTcpPsh, b, a, 50));
    b += 50;
  }
  out.push_back(open(kTcpFin | kTcpAck, a, b));
  out.push_back(answer(kTcpFin | kTcpAck, b, a + 1));
  out.push_back(open(kTcpAck, a + 1, b + 1));
  return out;
}

Frames UdpLife(std::mt19937& rng, uint16_t sport, uint16_t dport, bool v6) {
  Frames out;
  const int n = 1 + rng() % 3;
  for (int i = 0; i < n; ++i) {
    auto q = FrameBuilder().Vlan(testing::kTagFrom);
    auto r = FrameBuilder().Vlan(testing::kTagTo);
    if (v6) {
      q.Ipv6(testing::kVm6, testing::kPeer6);
      r.Ipv6(testing::kPeer6, testing::kVm6);
    } else {
      q.Ipv4(testing::kVm, testing::kPeer);
      r.Ipv4(testing::kPeer, testing::kVm);
    }
    out.push_back(q.Udp(sport, dport).Payload(30).Build());
    out.push_back(r.Udp(dport, sport).Payload(60).Build());
  }
  return out;
}

Frames FragLife(std::mt19937& rng, uint16_t dport, uint32_t id, bool v6) {
  Frames out;
  for (int k = 0; k < 3; ++k) {
    FrameBuilder b;
    b.Vlan(testing::kTagFrom);
    if (v6) b.Ipv6(testing::kVm6, testing::kPeer6); else b.Ipv4(testing::kVm, testing::kPeer);
    b.Fragment(static_cast<uint16_t>(k * 6), k < 2, id);
    if (k == 0) b.Udp(6000, dport).Payload(40); else b.Proto(kProtoUdp).Payload(48);
    out.push_back(b.Build());
  }
  if (rng() % 4 == 0) std::swap(out[0], out[1]);  // a later fragment first
  return out;
}

Frames Junk(std::mt19937& rng) {
  Frames out;
  switch (rng() % 4) {
    case 0: out.push_back(TcpConn{testing::kVm, testing::kPeer, static_cast<uint16_t>(rng()), 80}.DataFromVm()); break;
    case 1: out.push_back(FrameBuilder().Vlan(999).Ipv4(testing::kVm, testing::kPeer).Udp(1, 53).Build()); break;
    case 2: out.push_back(FrameBuilder().Vlan(testing::kTagFrom).Vlan(3).Ipv4(testing::kVm, testing::kPeer).Udp(1, 53).Build()); break;
    default: out.push_back(std::vector<uint8_t>(rng() % 30, 0xab)); break;
  }
  return out;
}

Frames Traffic(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Frames> lives;
  const uint16_t tcp_ports[] = {80, 443, 23, 25, 8080, 9999};
  for (int i = 0; i < 40; ++i) {
    const bool v6 = rng() % 3 == 0;
    switch (rng() % 4) {
      case 0:
      case 1: {
        const uint16_t dp = tcp_ports[rng() % 6];
        lives.push_back(TcpLife(rng, static_cast<uint16_t>(30000 + rng() % 50), dp, dp != 443, v6));
        break;
      }
      case 2: {
        const uint16_t ports[] = {53, 5000, 7000, 1234};
        lives.push_back(UdpLife(rng, static_cast<uint16_t>(30000 + rng() % 50), ports[rng() % 4], v6));
        break;
      }
      default: {
        const uint16_t ports[] = {53, 1234};
        lives.push_back(FragLife(rng, ports[rng() % 2], rng() % 8, v6));
        break;
      }
    }
    if (rng() % 4 == 0) lives.push_back(Junk(rng));
  }
  // Random merge keeping each life's order.
  Frames out;
  std::vector<size_t> pos(lives.size(), 0);
  size_t left = 0;
  for (auto& l : lives) left += l.size();
  while (left > 0) {
    size_t k = rng() % lives.size();
    while (pos[k] == lives[k].size()) k = (k + 1) % lives.size();
    out.push_back(lives[k][pos[k]++]);
    --left;
  }
  return out;
}

struct Outcome {
  Verdict verdict;
  Reason reason;
  uint32_t rule_id;
  uint16_t out_tag;
  uint16_t service;
  std::vector<uint8_t> reply;
  bool new_connection;
  bool operator==(const Outcome&) const = default;
};

std::vector<Outcome> RunAll(const Frames& frames, bool batched, uint32_t seed, bool loose) {
  InstanceOptions o;
  o.loose_tcp = loose;
  testing::EngineHarness h(o);
  EXPECT_TRUE(h.engine->SetPolicy(1, Policy()).ok());
  std::mt19937 rng(seed);
  std::vector<Outcome> out;
  size_t i = 0;
  uint64_t now = 1'000'000'000;
  while (i < frames.size()) {
    const size_t n = batched ? std::min<size_t>(frames.size() - i, 1 + rng() % 64) : 1;
    std::vector<Frame> fs(n);
    for (size_t k = 0; k < n; ++k) {
      fs[k].data = frames[i + k].data();
      fs[k].len = static_cast<uint32_t>(frames[i + k].size());
    }
    h.engine->ProcessBatch(h.engine->worker(0), fs, now);
    for (auto& f : fs) {
      out.push_back(Outcome{f.verdict, f.reason, f.rule_id, f.out_tag, f.service,
                            std::vector<uint8_t>(f.reply, f.reply + f.reply_len), f.new_connection});
    }
    i += n;
  }
  return out;
}

TEST(EngineBatchReference, BatchedPipelineEqualsOneFrameAtATime) {
  size_t decisions = 0, allowed = 0, established = 0, related = 0, frag = 0;
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    for (bool loose : {false, true}) {
      const Frames frames = Traffic(seed);
      const auto ref = RunAll(frames, false, seed, loose);
      const auto got = RunAll(frames, true, seed, loose);
      ASSERT_EQ(ref.size(), got.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        ASSERT_EQ(ref[i], got[i]) << "seed " << seed << " loose " << loose << " frame " << i << ": ref "
                                  << ReasonName(ref[i].reason) << " got " << ReasonName(got[i].reason);
        ++decisions;
        allowed += ref[i].verdict == Verdict::kAllow;
        established += ref[i].reason == Reason::kAllowEstablished;
        related += ref[i].reason == Reason::kAllowRelated;
        frag += ref[i].reason == Reason::kAllowFragment;
      }
    }
  }
  // The traffic really exercises the interesting paths.
  EXPECT_GT(decisions, 2000u);
  EXPECT_GT(established, 300u);
  EXPECT_GT(related, 5u);
  EXPECT_GT(frag, 5u);
  EXPECT_LT(allowed, decisions);
}

}  // namespace
}  // namespace rampart
