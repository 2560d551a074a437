// Random frames through the whole engine pipeline (parse, tag lookup, fragments, conntrack,
// classification, reject replies), both tagged and prebound, over a stateful policy with every
// action. The input is a sequence of frames: [len_hi, len_lo, flags, bytes...]. Every frame must
// get a verdict and a reason; a reject reply, when there is one, must parse.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "packet/parser.h"
#include "policy/compiler.h"
#include "policy/policy_parser.h"

namespace {

struct Fixture {
  std::unique_ptr<rampart::Engine> engine;
  Fixture() {
    rampart::EngineOptions o;
    o.num_workers = 1;
    o.fragment_table_entries = 64;
    engine = std::move(*rampart::Engine::Create(o));
    rampart::InstanceInfo info;
    info.id = 1;
    info.options.max_conns_per_port = 512;
    (void)engine->CreateInstance(info);
    rampart::InstanceInfo loose = info;
    loose.id = 2;
    loose.options.loose_tcp = true;
    loose.options.revalidate_on_change = true;
    loose.options.fragment_policy = rampart::FragmentPolicy::kClassify;
    (void)engine->CreateInstance(loose);
    auto policy = rampart::ParsePolicyYaml(R"(
default: drop
rules:
  - {id: 1, direction: from-vm, action: allow}
  - {id: 2, direction: to-vm, protocol: tcp, destination_ports: [80, 443], action: allow}
  - {id: 3, direction: to-vm, protocol: tcp, destination_ports: [23], action: reject}
  - {id: 4, direction: to-vm, protocol: udp, destination_ports: [53], action: reject}
  - {id: 5, direction: to-vm, protocol: icmp, action: allow, stateless: true}
  - {id: 6, direction: to-vm, protocol: icmpv6, action: allow}
  - {id: 7, protocol: udp, destination_ports: [9999], action: redirect, redirect_to: svm}
)", "fuzz-policy");
    auto compiled = rampart::CompilePolicy(*policy);
    for (rampart::InstanceId id : {1u, 2u}) (void)engine->SetPolicy(id, *compiled);
    (void)engine->BindTag(10, {1, 1, rampart::Direction::kFromVm, rampart::kNoReturnTag});
    (void)engine->BindTag(11, {1, 1, rampart::Direction::kToVm, rampart::kNoReturnTag});
    (void)engine->BindTag(20, {2, 1, rampart::Direction::kFromVm, 21});
    (void)engine->BindTag(21, {2, 1, rampart::Direction::kToVm, 20});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fx = new Fixture();
  std::vector<rampart::Frame> frames;
  std::vector<std::vector<uint8_t>> bufs;
  size_t off = 0;
  while (off + 3 <= size && frames.size() < rampart::kMaxBatch) {
    size_t len = (size_t{data[off]} << 8 | data[off + 1]) % 2048;
    uint8_t flags = data[off + 2];
    off += 3;
    len = std::min(len, size - off);
    bufs.emplace_back(data + off, data + off + len);  // exact-size copy: ASan sees any overread
    off += len;
    rampart::Frame f;
    f.data = bufs.back().data();
    f.len = static_cast<uint32_t>(len);
    if (flags & 1) {
      f.prebound = true;
      f.instance_id = (flags & 2) ? 2 : 1;
      f.port_id = 1;
      f.direction = (flags & 4) ? rampart::Direction::kToVm : rampart::Direction::kFromVm;
    }
    frames.push_back(f);
  }
  // Each call moves the clock on, so timeouts and fragment expiry are exercised too.
  static uint64_t now = 1'000'000'000;
  now += 50'000'000ull * (size % 64);
  fx->engine->ProcessBatch(fx->engine->worker(0), std::span<rampart::Frame>(frames.data(), frames.size()), now);
  for (const auto& f : frames) {
    if (f.reason >= rampart::Reason::kCount) __builtin_trap();
    if (f.reply_len > 0) {
      rampart::ParsedPacket p;
      if (rampart::ParsePacket(f.reply, f.reply_len, &p) != rampart::ParseError::kOk) __builtin_trap();
    }
  }
  return 0;
}
