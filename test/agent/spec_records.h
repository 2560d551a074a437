// Test helper: a host's records (docs/records.md) for a northbound spec, built from the real
// logical stage (rampart_controller) with a deliberately simple numbering in place of the
// physical stage: datapath keys and port keys in sorted order from 1, tags per host from 100.
// The agent's tests use it to translate the flows the controller really emits.
#ifndef RAMPART_TEST_AGENT_SPEC_RECORDS_H_
#define RAMPART_TEST_AGENT_SPEC_RECORDS_H_

#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "controller/logical_stage.h"
#include "controller/nb_spec.h"
#include "records/records.h"

namespace rampart::agent::testing {

inline std::string MacText(uint64_t mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", (mac >> 40) & 0xff, (mac >> 32) & 0xff, (mac >> 24) & 0xff,
                         (mac >> 16) & 0xff, (mac >> 8) & 0xff, mac & 0xff);
}

struct SpecRecords {
  std::map<std::string, records::RecordSet> hosts;
  std::map<std::pair<std::string, std::string>, uint32_t> dp_keys;                      // (tenant, dp)
  std::map<std::tuple<std::string, std::string, std::string>, uint32_t> port_keys;      // (tenant, dp, port)
  std::map<std::string, std::map<std::tuple<std::string, std::string, std::string>, uint16_t>> tags;  // host -> (tenant, inst, side/dir)
};

// REQUIRES: `path` is a valid spec (the test asserts it).
inline SpecRecords RecordsForSpec(const std::string& path) {
  SpecRecords out;
  auto spec = controller::ParseNbSpecFile(path);
  if (!spec.ok()) return out;
  auto stage = controller::LogicalStage::Create();
  if (!stage.ok()) return out;
  if (!(*stage)->SetSpec(*spec).ok()) return out;
  std::vector<controller::HostView> views;
  for (const auto& h : controller::KnownHosts((*stage)->engine())) views.push_back(controller::BuildHostView((*stage)->engine(), h));

  // Numbering: every datapath and every port name its flows use (on any host).
  std::map<std::pair<std::string, std::string>, std::string> kinds;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> names;
  const std::regex port_ref(R"((?:inport|outport)(?:==|!=|=)([^ ;&]+))");
  for (const auto& v : views) {
    for (const auto& f : v.flows) {
      kinds[{f.tenant, f.dp}] = f.stage.rfind("lr_", 0) == 0 ? "router" : "switch";
      for (const std::string* text : {&f.match, &f.actions}) {
        for (std::sregex_iterator it(text->begin(), text->end(), port_ref), end; it != end; ++it) {
          if ((*it)[1] != "flood") names[{f.tenant, f.dp}].insert((*it)[1]);
        }
      }
    }
  }
  for (const auto& p : spec->ports) names[{p.tenant, p.sw}].insert(p.name);
  uint32_t next_dp = 1;
  for (const auto& [k, kind] : kinds) out.dp_keys[k] = next_dp++;
  for (const auto& [k, ns] : names) {
    uint32_t next = 1;
    for (const auto& n : ns) out.port_keys[{k.first, k.second, n}] = next++;
  }

  for (const auto& v : views) {
    records::RecordSet& rs = out.hosts[v.host];
    std::set<std::pair<std::string, std::string>> dps;
    for (const auto& f : v.flows) {
      dps.insert({f.tenant, f.dp});
      rs.Insert({"Flow", {f.tenant, f.dp, f.stage, std::to_string(f.priority), f.match, f.actions}});
    }
    for (const auto& [t, d] : dps) {
      rs.Insert({"Datapath", {t, d, kinds[{t, d}], std::to_string(out.dp_keys[{t, d}])}});
      for (const auto& [k, key] : out.port_keys) {
        if (std::get<0>(k) == t && std::get<1>(k) == d) rs.Insert({"PortKey", {t, d, std::get<2>(k), std::to_string(key)}});
      }
    }
    for (const auto& h : spec->hosts) rs.Insert({"Host", {h.name, h.underlay.ToString()}});
    for (const auto& p : spec->ports) {
      if (p.host == v.host) rs.Insert({"VmPort", {p.tenant, p.name, p.sw, MacText(p.mac), p.tenant + "/" + p.name}});
    }
    uint16_t tag = 100;
    uint32_t inst_id = 1;
    for (const auto& inst : v.instances) {
      rs.Insert({"Instance", {inst.tenant, inst.name, inst.kind, inst.default_action, std::to_string(inst_id++)}});
      uint32_t port_id = 1;
      for (const auto& side : inst.slices) {
        auto slice = [&](const std::string& s, const std::string& dir, uint16_t t, uint16_t ret, uint32_t pid) {
          rs.Insert({"Slice", {inst.tenant, inst.name, s, dir, std::to_string(t), std::to_string(ret), std::to_string(pid)}});
          out.tags[v.host][{inst.tenant, inst.name, s + "/" + dir}] = t;
        };
        if (side == "attach") {
          slice("attach", "from-vm", tag, tag, 1);
          ++tag;
        } else if (side == "switch") {
          slice("switch", "from-vm", tag, tag + 1, 1);
          slice("router", "to-vm", tag + 1, tag, 1);
          tag += 2;
        } else if (side == "router") {
          // both rows were written with the switch side
        } else {
          slice(side, "from-vm", tag, tag, port_id);
          slice(side, "to-vm", tag + 1, tag + 1, port_id);
          tag += 2;
          ++port_id;
        }
      }
      for (const auto& [pk, text] : inst.rules) {
        rs.Insert({"FwRule", {inst.tenant, inst.name, std::to_string(pk.second), std::to_string(pk.first), text}});
      }
      for (const auto& [g, p] : inst.group_addrs) rs.Insert({"FwGroup", {inst.tenant, inst.name, g, p}});
      for (const auto& p : inst.ports) rs.Insert({"FwPort", {inst.tenant, inst.name, p}});
    }
  }
  return out;
}

}  // namespace rampart::agent::testing

#endif  // RAMPART_TEST_AGENT_SPEC_RECORDS_H_
