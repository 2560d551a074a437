// Test helper: a tiny OpenFlow 1.3 interpreter for the subset the agent installs (match on any
// ofp::Field, apply-actions set_field / move / push_vlan / pop_vlan / dec_ttl / output /
// resubmit, goto_table). It walks one frame through a flow set the way OVS would (highest
// priority match per table, table miss = drop), so tests can check end-to-end forwarding
// decisions ("vm1 -> vm4 is steered into the firewall with tag T") rather than flow text only.
#ifndef RAMPART_TEST_AGENT_FLOW_SIM_H_
#define RAMPART_TEST_AGENT_FLOW_SIM_H_

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ovs/ofp_flow.h"

namespace rampart::agent::testing {

struct SimPacket {
  std::map<ofp::Field, std::array<uint8_t, 16>> fields;
  bool vlan = false;
  uint16_t vid = 0;
  int ttl = 64;

  uint64_t Get(ofp::Field f) const {
    auto it = fields.find(f);
    if (it == fields.end()) return 0;
    uint64_t v = 0;
    int len = ofp::GetFieldInfo(f).length;
    for (int i = 0; i < len && i < 8; ++i) v = v << 8 | it->second[i];
    return v;
  }
  SimPacket& Set(ofp::Field f, uint64_t v) {
    std::array<uint8_t, 16> b{};
    int len = ofp::GetFieldInfo(f).length;
    for (int i = len - 1; i >= 0; --i, v >>= 8) b[i] = static_cast<uint8_t>(v);
    fields[f] = b;
    return *this;
  }
  SimPacket& SetMac(ofp::Field f, const std::string& mac) {
    uint64_t v = 0;
    for (size_t i = 0; i < mac.size(); i += 3) v = v << 8 | std::stoul(mac.substr(i, 2), nullptr, 16);
    return Set(f, v);
  }
};

struct SimOutput {
  uint32_t port = 0;
  SimPacket packet;  // as it left
};

class FlowSim {
 public:
  explicit FlowSim(const std::vector<ofp::Flow>& flows) {
    for (const auto& f : flows) tables_[f.table].push_back(&f);
  }

  std::vector<SimOutput> Run(SimPacket p, uint8_t table = 0) {
    std::vector<SimOutput> out;
    trace_.clear();
    RunTable(table, p, out, 0);
    return out;
  }
  const std::vector<std::string>& trace() const { return trace_; }

 private:
  bool Matches(const ofp::Flow& f, const SimPacket& p) const {
    for (const auto& mf : f.match.fields()) {
      std::array<uint8_t, 16> v{};
      if (mf.field == ofp::Field::kVlanVid) {
        uint16_t x = p.vlan ? static_cast<uint16_t>(ofp::kVlanPresent | p.vid) : 0;
        v[0] = static_cast<uint8_t>(x >> 8);
        v[1] = static_cast<uint8_t>(x);
      } else if (auto it = p.fields.find(mf.field); it != p.fields.end()) {
        v = it->second;
      }
      int len = ofp::GetFieldInfo(mf.field).length;
      for (int i = 0; i < len; ++i) {
        uint8_t m = mf.has_mask ? mf.mask[i] : 0xff;
        if ((v[i] & m) != mf.value[i]) return false;
      }
    }
    return true;
  }

  static bool GetBit(const std::array<uint8_t, 16>& b, int len, int bit) {  // bit 0 = least significant
    int byte = len - 1 - bit / 8;
    return (b[byte] >> (bit % 8)) & 1;
  }
  static void SetBit(std::array<uint8_t, 16>& b, int len, int bit, bool on) {
    int byte = len - 1 - bit / 8;
    if (on) b[byte] |= static_cast<uint8_t>(1u << (bit % 8));
    else b[byte] &= static_cast<uint8_t>(~(1u << (bit % 8)));
  }

  void RunTable(uint8_t table, SimPacket& p, std::vector<SimOutput>& out, int depth) {
    if (depth > 64) return;  // OVS's resubmit limit
    const ofp::Flow* best = nullptr;
    for (const ofp::Flow* f : tables_[table]) {
      if (Matches(*f, p) && (!best || f->priority > best->priority)) best = f;
    }
    if (!best) {
      trace_.push_back("table " + std::to_string(table) + ": miss");
      return;
    }
    trace_.push_back(best->ToString());
    for (const auto& a : best->instructions.apply) {
      using T = ofp::Action::Type;
      switch (a.type) {
        case T::kOutput:
          // Like OVS: output to the frame's own in_port is dropped unless it says IN_PORT.
          if (a.port == ofp::kPortInPort) out.push_back({static_cast<uint32_t>(p.Get(ofp::Field::kInPort)), p});
          else if (a.port != p.Get(ofp::Field::kInPort)) out.push_back({a.port, p});
          break;
        case T::kPushVlan: p.vlan = true; p.vid = 0; break;
        case T::kPopVlan: p.vlan = false; p.vid = 0; break;
        case T::kSetField:
          if (a.field.field == ofp::Field::kVlanVid) p.vid = static_cast<uint16_t>(a.field.ValueAsUint() & 0xfff);
          else p.fields[a.field.field] = a.field.value;
          break;
        case T::kRegMove: {
          auto src = p.fields[a.move.src];
          auto& dst = p.fields[a.move.dst];
          int sl = ofp::GetFieldInfo(a.move.src).length, dl = ofp::GetFieldInfo(a.move.dst).length;
          for (int i = 0; i < a.move.n_bits; ++i) SetBit(dst, dl, a.move.dst_ofs + i, GetBit(src, sl, a.move.src_ofs + i));
          break;
        }
        case T::kDecNwTtl:
          if (--p.ttl <= 0) return;
          break;
        case T::kResubmit: RunTable(a.table, p, out, depth + 1); break;
        case T::kGroup: break;
      }
    }
    if (best->instructions.goto_table) RunTable(*best->instructions.goto_table, p, out, depth + 1);
  }

  std::map<uint8_t, std::vector<const ofp::Flow*>> tables_;
  std::vector<std::string> trace_;
};

}  // namespace rampart::agent::testing

#endif  // RAMPART_TEST_AGENT_FLOW_SIM_H_
