// Helpers for engine tests: compiled policies made straight from RuleMatch lists (the real
// Classifier::Build), and an engine with one vNIC instance bound to two tags.
#ifndef RAMPART_TEST_ENGINE_ENGINE_TEST_UTIL_H_
#define RAMPART_TEST_ENGINE_ENGINE_TEST_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "classifier/classifier.h"
#include "engine/engine.h"
#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "policy/compiled_policy.h"

namespace rampart::testing {

inline constexpr const char* kVm = "198.18.1.10";
inline constexpr const char* kPeer = "198.18.2.20";
inline constexpr const char* kVm6 = "2001:db8:1::10";
inline constexpr const char* kPeer6 = "2001:db8:2::20";
inline constexpr uint16_t kTagFrom = 100;  // port 1, from the VM
inline constexpr uint16_t kTagTo = 101;    // port 1, to the VM

// Builder for a RuleMatch.
struct M {
  RuleMatch m;
  M& Proto(uint8_t p) { m.proto = p; m.proto_mask = 0xff; return *this; }
  M& Dport(uint16_t lo, uint16_t hi) { m.dport = {lo, hi}; return *this; }
  M& Dport(uint16_t p) { return Dport(p, p); }
  M& Sport(uint16_t p) { m.sport = {p, p}; return *this; }
  M& FromVm() { m.direction_mask = 0x1; return *this; }
  M& ToVm() { m.direction_mask = 0x2; return *this; }
  M& V4() { m.family = 4; m.src = *Prefix::Parse("0.0.0.0/0"); m.dst = *Prefix::Parse("0.0.0.0/0"); return *this; }
  M& Src(const char* p) {
    m.src = *Prefix::Parse(p);
    if (!m.family) m.family = m.src.IsV4() ? 4 : 6;
    if (m.dst.len == 0) m.dst = m.family == 4 ? *Prefix::Parse("0.0.0.0/0") : Prefix{};
    return *this;
  }
  M& Dst(const char* p) {
    m.dst = *Prefix::Parse(p);
    if (!m.family) m.family = m.dst.IsV4() ? 4 : 6;
    if (m.src.len == 0) m.src = m.family == 4 ? *Prefix::Parse("0.0.0.0/0") : Prefix{};
    return *this;
  }
};

struct TRule {
  uint32_t id = 0;
  RuleMatch match;
  Action action = Action::kAllow;
  bool stateless = false;
  bool log = false;
  uint16_t service = 0;
};

// Rules in priority order; the default rule (kDefaultRuleId) is appended.
inline std::shared_ptr<const CompiledPolicy> MakePolicy(const std::vector<TRule>& rules,
                                                        Action default_action = Action::kDrop,
                                                        uint64_t generation = 1) {
  auto p = std::make_shared<CompiledPolicy>();
  std::vector<ClassRule> crs;
  for (size_t i = 0; i < rules.size(); ++i) {
    crs.push_back(ClassRule{static_cast<uint32_t>(i), static_cast<uint32_t>(i), static_cast<uint32_t>(i),
                            rules[i].match});
    p->rules.push_back(CompiledRule{rules[i].id, rules[i].action, rules[i].log, rules[i].stateless,
                                    rules[i].service});
  }
  const uint32_t d = static_cast<uint32_t>(rules.size());
  crs.push_back(ClassRule{d, d, d, RuleMatch{}});
  p->rules.push_back(CompiledRule{kDefaultRuleId, default_action, false, false, 0});
  p->services = {"svc-a", "svc-b"};
  p->generation = generation;
  auto c = Classifier::Build(crs);
  EXPECT_TRUE(c.ok()) << c.status();
  p->classifier = *c;
  return p;
}

class EngineHarness {
 public:
  explicit EngineHarness(InstanceOptions opts = {}, int workers = 1) {
    EngineOptions eo;
    eo.num_workers = workers;
    auto e = Engine::Create(eo);
    EXPECT_TRUE(e.ok()) << e.status();
    engine = std::move(*e);
    EXPECT_TRUE(engine->CreateInstance(InstanceInfo{1, "vm1", opts}).ok());
    EXPECT_TRUE(engine->BindTag(kTagFrom, TagBinding{1, 1, Direction::kFromVm}).ok());
    EXPECT_TRUE(engine->BindTag(kTagTo, TagBinding{1, 1, Direction::kToVm}).ok());
  }

  // Processes frames as one batch on worker `w`.
  std::vector<Frame> Run(const std::vector<std::vector<uint8_t>>& frames, uint64_t now_ns = 1'000'000'000,
                         int w = 0) {
    std::vector<Frame> fs(frames.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      fs[i].data = frames[i].data();
      fs[i].len = static_cast<uint32_t>(frames[i].size());
    }
    engine->ProcessBatch(engine->worker(w), fs, now_ns);
    return fs;
  }
  Frame One(const std::vector<uint8_t>& frame, uint64_t now_ns = 1'000'000'000) {
    return Run({frame}, now_ns)[0];
  }

  std::unique_ptr<Engine> engine;
};

// TCP frames of one connection VM:40000 -> peer:80 (VM initiates), tagged for port 1.
struct TcpConn {
  const char* vm = kVm;
  const char* peer = kPeer;
  uint16_t vm_port = 40000;
  uint16_t peer_port = 80;
  uint16_t tag_from = kTagFrom;
  uint16_t tag_to = kTagTo;
  std::vector<uint8_t> FromVm(uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0) const {
    FrameBuilder b;
    b.Vlan(tag_from);
    if (std::string(vm).find(':') != std::string::npos) b.Ipv6(vm, peer); else b.Ipv4(vm, peer);
    b.Tcp(vm_port, peer_port, flags, seq, ack);
    if (flags & kTcpSyn) b.WindowScale(7).SackPermitted().Mss(1460);
    if (payload) b.Payload(payload);
    return b.Build();
  }
  std::vector<uint8_t> ToVm(uint8_t flags, uint32_t seq, uint32_t ack, size_t payload = 0) const {
    FrameBuilder b;
    b.Vlan(tag_to);
    if (std::string(vm).find(':') != std::string::npos) b.Ipv6(peer, vm); else b.Ipv4(peer, vm);
    b.Tcp(peer_port, vm_port, flags, seq, ack);
    if (flags & kTcpSyn) b.WindowScale(7).SackPermitted().Mss(1460);
    if (payload) b.Payload(payload);
    return b.Build();
  }
  std::vector<uint8_t> Syn() const { return FromVm(kTcpSyn, 1000, 0); }
  std::vector<uint8_t> SynAck() const { return ToVm(kTcpSyn | kTcpAck, 5000, 1001); }
  std::vector<uint8_t> Ack() const { return FromVm(kTcpAck, 1001, 5001); }
  std::vector<uint8_t> DataFromVm(size_t n = 100) const { return FromVm(kTcpAck | kTcpPsh, 1001, 5001, n); }
};

}  // namespace rampart::testing

#endif  // RAMPART_TEST_ENGINE_ENGINE_TEST_UTIL_H_
