// Test helpers for the OpenFlow client: a corpus of flows covering every match field and action
// kind Rampart supports, a random flow generator, hex fixture loading.
#ifndef RAMPART_TEST_OVS_OPENFLOW_TEST_UTIL_H_
#define RAMPART_TEST_OVS_OPENFLOW_TEST_UTIL_H_

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ovs/ofp_codec.h"
#include "ovs/ofp_flow.h"

namespace rampart::ofp::testing {

inline constexpr uint64_t kOwner = 0x5200000000000000ull;

inline std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

struct FixtureMessage {
  std::string direction;  // "c2s" or "s2c"
  std::vector<uint8_t> bytes;
  int line = 0;
};

inline std::vector<FixtureMessage> LoadFixture(const std::string& name) {
  std::ifstream in(std::string(RAMPART_SOURCE_DIR) + "/test/ovs/testdata/openflow/" + name);
  std::vector<FixtureMessage> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    FixtureMessage m;
    std::string hex;
    ss >> m.direction >> hex;
    m.bytes = FromHex(hex);
    m.line = n;
    out.push_back(std::move(m));
  }
  return out;
}

inline uint32_t V4(int a, int b, int c, int d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d);
}

inline Flow MakeFlow(uint8_t table, uint16_t priority, Match m, std::vector<Action> apply,
                     uint64_t cookie_low) {
  Flow f;
  f.table = table;
  f.priority = priority;
  f.match = std::move(m);
  f.instructions.apply = std::move(apply);
  f.cookie = kOwner | cookie_low;
  return f;
}

// ~50 flows, every match field and every action / instruction kind at least once, all valid
// for OVS (prerequisites present). Tables 0..5 exist in any OVS bridge.
inline std::vector<Flow> AllKindsFlows() {
  std::vector<Flow> v;
  uint64_t c = 1;
  Mac mac1{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  Mac mac2{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  Ip v6a = *Ip::Parse("2001:db8::1");
  Ip v6net = *Ip::Parse("2001:db8:1::");
  // Table 0: classification by port / L2.
  v.push_back(MakeFlow(0, 100, Match().InPort(1), {Action::Output(2)}, c++));
  v.push_back(MakeFlow(0, 100, Match().InPort(2), {Action::Output(1)}, c++));
  v.push_back(MakeFlow(0, 90, Match().InPort(3).EthSrc(mac1), {Action::Output(kPortInPort)}, c++));
  v.push_back(MakeFlow(0, 90, Match().EthDst(mac2, Mac{0xff, 0xff, 0xff, 0, 0, 0}),
                       {Action::Output(kPortLocal)}, c++));
  v.push_back(MakeFlow(0, 80, Match().EthDst(Mac{0x01, 0, 0, 0, 0, 0}, Mac{0x01, 0, 0, 0, 0, 0}),
                       {Action::Output(kPortFlood)}, c++));
  v.push_back(MakeFlow(0, 70, Match().VlanVid(kVlanPresent | 5),
                       {Action::PopVlan(), Action::Output(4)}, c++));
  v.push_back(MakeFlow(0, 70, Match().VlanVid(kVlanPresent, kVlanPresent),
                       {Action::Output(kPortNormal)}, c++));
  v.push_back(MakeFlow(0, 71, Match().VlanVid(kVlanPresent | 7).Uint(Field::kVlanPcp, 3),
                       {Action::Output(kPortAll)}, c++));
  v.push_back(MakeFlow(0, 60, Match().InPort(4),
                       {Action::PushVlan(0x8100), Action::SetField(Field::kVlanVid, kVlanPresent | 10),
                        Action::Output(5)},
                       c++));
  v.push_back(MakeFlow(0, 60, Match().InPort(5), {Action::PushVlan(0x88a8), Action::Output(6)}, c++));
  // Table 1: IPv4.
  v.push_back(MakeFlow(1, 200, Match().EthType(0x0800).Ipv4Src(V4(198, 18, 0, 0), 15),
                       {Action::Resubmit(kPortInPort, 2)}, c++));
  v.push_back(MakeFlow(1, 200, Match().EthType(0x0800).Ipv4Dst(V4(198, 18, 1, 2)),
                       {Action::Resubmit(7, 3)}, c++));
  v.push_back(MakeFlow(1, 190, Match().EthType(0x0800).Uint(Field::kIpDscp, 46),
                       {Action::Output(2)}, c++));
  v.push_back(MakeFlow(1, 180, Match().EthType(0x0800).IpProto(6).Uint(Field::kTcpDst, 80),
                       {Action::SetField(Field::kReg0, 0x50)}, c++));
  v.push_back(MakeFlow(1, 180, Match().EthType(0x0800).IpProto(6).Uint(Field::kTcpSrc, 443),
                       {Action::SetField(Field::kReg1, 0x1bb), Action::Resubmit(kPortInPort, 4)},
                       c++));
  v.push_back(MakeFlow(1, 170, Match().EthType(0x0800).IpProto(17).Uint(Field::kUdpDst, 53),
                       {Action::Controller(128)}, c++));
  v.push_back(MakeFlow(1, 170, Match().EthType(0x0800).IpProto(17).Uint(Field::kUdpSrc, 67),
                       {Action::Controller()}, c++));
  v.push_back(MakeFlow(1, 160,
                       Match().EthType(0x0800).IpProto(1).Uint(Field::kIcmpv4Type, 8).Uint(
                           Field::kIcmpv4Code, 0),
                       {Action::Output(3)}, c++));
  v.push_back(MakeFlow(1, 150,
                       Match().EthType(0x0800).Ipv4Src(V4(198, 18, 2, 0), 24).Ipv4Dst(
                           V4(198, 18, 3, 0), 24),
                       {Action::SetField(Field::kIpv4Dst, V4(198, 18, 3, 9)), Action::Output(3)},
                       c++));
  v.push_back(MakeFlow(1, 10, Match(), {}, c++));  // drop
  // Table 2: IPv6 and ARP.
  v.push_back(MakeFlow(2, 200, Match().EthType(0x86dd).Ipv6Src(v6net, 48), {Action::Output(2)}, c++));
  v.push_back(MakeFlow(2, 200, Match().EthType(0x86dd).Ipv6Dst(v6a), {Action::Output(3)}, c++));
  v.push_back(MakeFlow(2, 190,
                       Match().EthType(0x86dd).IpProto(58).Uint(Field::kIcmpv6Type, 135).Uint(
                           Field::kIcmpv6Code, 0),
                       {Action::Controller(64)}, c++));
  v.push_back(MakeFlow(2, 190, Match().EthType(0x86dd).IpProto(6).Uint(Field::kTcpDst, 22),
                       {Action::Output(4)}, c++));
  v.push_back(MakeFlow(2, 180, Match().EthType(0x0806).Uint(Field::kArpOp, 1),
                       {Action::Output(kPortFlood)}, c++));
  v.push_back(MakeFlow(2, 180,
                       Match().EthType(0x0806).Uint(Field::kArpSpa, V4(198, 18, 1, 1)).Uint(
                           Field::kArpTpa, V4(198, 18, 1, 0), 0xffffff00),
                       {Action::Output(2)}, c++));
  {
    Match m;
    m.EthType(0x0806);
    (void)m.Set(Field::kArpSha, mac1.data(), 6);
    (void)m.Set(Field::kArpTha, mac2.data(), 6);
    v.push_back(MakeFlow(2, 170, m, {Action::Output(3)}, c++));
  }
  {
    uint8_t v6[16];
    Ip::Parse("2001:db8::99")->ToBytes(v6);
    v.push_back(MakeFlow(2, 160, Match().EthType(0x86dd).Ipv6Src(v6a),
                         {Action::SetFieldBytes(Field::kIpv6Dst, v6, 16), Action::Output(1)}, c++));
  }
  // Table 3: metadata, registers, tunnels.
  {
    Flow f = MakeFlow(3, 100, Match().InPort(6), {Action::SetField(Field::kReg2, 7)}, c++);
    f.instructions.write_metadata = WriteMetadata{0x10, 0xff};
    f.instructions.goto_table = 4;
    v.push_back(f);
  }
  {
    Flow f = MakeFlow(3, 100, Match().InPort(7), {}, c++);
    f.instructions.write_metadata = WriteMetadata{0x20, ~uint64_t{0}};
    v.push_back(f);
  }
  {
    Flow f = MakeFlow(3, 90, Match().InPort(8), {}, c++);
    f.instructions.goto_table = 5;
    v.push_back(f);
  }
  v.push_back(MakeFlow(3, 80, Match().Uint(Field::kMetadata, 0x10, 0xff), {Action::Output(2)}, c++));
  v.push_back(MakeFlow(3, 80, Match().Uint(Field::kMetadata, 0x20), {Action::Output(3)}, c++));
  for (int r = 0; r < 16; r += 3) {
    v.push_back(MakeFlow(4, 100 + r, Match().Reg(r, 0x100 + r), {Action::Output(1 + r % 4)}, c++));
  }
  v.push_back(MakeFlow(4, 90, Match().Reg(15, 0x5, 0xff), {Action::Output(2)}, c++));
  v.push_back(MakeFlow(4, 80, Match().Uint(Field::kTunnelId, 0x1234), {Action::Output(3)}, c++));
  v.push_back(MakeFlow(4, 80, Match().Uint(Field::kTunnelId, 0x5000, 0xf000), {Action::Output(4)},
                       c++));
  v.push_back(MakeFlow(4, 70, Match().Uint(Field::kTunIpv4Dst, V4(198, 19, 255, 2)),
                       {Action::Output(5)}, c++));
  v.push_back(MakeFlow(4, 70, Match().Uint(Field::kTunIpv4Src, V4(198, 19, 255, 0), 0xffffff00),
                       {Action::Output(6)}, c++));
  v.push_back(MakeFlow(5, 100, Match().InPort(9),
                       {Action::SetField(Field::kTunnelId, 0x77),
                        Action::SetField(Field::kTunIpv4Dst, V4(198, 19, 255, 3)),
                        Action::Output(10)},
                       c++));
  v.push_back(MakeFlow(5, 100, Match().InPort(10),
                       {Action::Move(RegMove{Field::kReg0, Field::kReg1, 16, 0, 16}),
                        Action::Move(RegMove{Field::kInPort, Field::kReg3, 32, 0, 0}),
                        Action::Resubmit(kPortInPort, 1)},
                       c++));
  v.push_back(MakeFlow(5, 90, Match().InPort(11),
                       {Action::SetField(Field::kEthSrc, 0x020000000009ull),
                        Action::SetField(Field::kEthDst, 0x02000000000aull),
                        Action::SetField(Field::kMetadata, 0x42), Action::Output(kPortInPort)},
                       c++));
  v.push_back(MakeFlow(5, 90, Match().InPort(12),
                       {Action::Output(1), Action::Output(2), Action::Output(3)}, c++));
  v.push_back(MakeFlow(5, 80, Match().InPort(13).EthType(0x0800).IpProto(6),
                       {Action::SetField(Field::kTcpDst, 8080), Action::Output(2)}, c++));
  v.push_back(MakeFlow(5, 80, Match().InPort(14).EthType(0x0800).IpProto(17),
                       {Action::SetField(Field::kUdpSrc, 5353), Action::Output(2)}, c++));
  v.push_back(MakeFlow(5, 70, Match().InPort(15), {Action::Resubmit(16, 0xff)}, c++));
  return v;
}

// A random flow from the same vocabulary (not necessarily valid for OVS: codec tests only).
inline Flow RandomFlow(std::mt19937_64& rng) {
  auto r = [&rng](uint64_t n) { return n == 0 ? 0 : rng() % n; };
  Flow f;
  f.table = static_cast<uint8_t>(r(8));
  f.priority = static_cast<uint16_t>(r(65536));
  f.cookie = rng();
  constexpr int kNumFields = static_cast<int>(Field::kTunIpv4Dst) + 1;
  int nf = static_cast<int>(r(6));
  for (int i = 0; i < nf; ++i) {
    Field fld = static_cast<Field>(r(kNumFields));
    const FieldInfo& info = GetFieldInfo(fld);
    uint8_t v[16], m[16];
    for (int b = 0; b < 16; ++b) {
      v[b] = static_cast<uint8_t>(rng());
      m[b] = static_cast<uint8_t>(rng());
    }
    bool masked = info.maskable && r(2) == 0;
    (void)f.match.Set(fld, v, info.length, masked ? m : nullptr);
  }
  int na = static_cast<int>(r(5));
  for (int i = 0; i < na; ++i) {
    switch (r(7)) {
      case 0: f.instructions.apply.push_back(Action::Output(static_cast<uint32_t>(r(100)))); break;
      case 1: f.instructions.apply.push_back(Action::Controller(static_cast<uint16_t>(r(65536)))); break;
      case 2: f.instructions.apply.push_back(Action::PushVlan(0x8100)); break;
      case 3: f.instructions.apply.push_back(Action::PopVlan()); break;
      case 4: f.instructions.apply.push_back(Action::Resubmit(static_cast<uint32_t>(r(100)), static_cast<uint8_t>(r(256)))); break;
      case 5: f.instructions.apply.push_back(Action::Group(static_cast<uint32_t>(rng()))); break;
      default: {
        Field fld = RegField(static_cast<int>(r(16)));
        f.instructions.apply.push_back(Action::SetField(fld, static_cast<uint32_t>(rng())));
      }
    }
  }
  if (r(3) == 0) f.instructions.write_metadata = WriteMetadata{rng(), rng()};
  if (r(3) == 0) f.instructions.goto_table = static_cast<uint8_t>(r(255));
  return f;
}

}  // namespace rampart::ofp::testing

#endif  // RAMPART_TEST_OVS_OPENFLOW_TEST_UTIL_H_
