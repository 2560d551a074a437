#include "agent/translator.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/ip.h"

namespace rampart::agent {

namespace {

using ofp::Action;
using ofp::Field;
using ofp::Flow;
using ofp::Match;

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthArp = 0x0806;
constexpr int kFamArp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kIcmpv6NeighborSolicit = 135;
constexpr uint8_t kIcmpv6NeighborAdvert = 136;
constexpr uint8_t kNdOptTargetLinkAddr = 2;

constexpr uint8_t kSwitchTables[] = {kTableLsInPortSec, kTableLsInVnic, kTableLsInArp,
                                     kTableLsInL2, kTableLsOutVnic, kTableLsOutDeliver};
constexpr uint8_t kRouterTables[] = {kTableLrInPort, kTableLrInPolicy, kTableLrInRouting,
                                     kTableLrInArpResolve, kTableLrOut};

std::optional<uint64_t> ParseU64(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<ofp::Mac> ParseMac(std::string_view s) {
  ofp::Mac m{};
  if (s.size() != 17) return std::nullopt;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i * 3, s.data() + i * 3 + 2, v, 16);
    if (ec != std::errc() || p != s.data() + i * 3 + 2) return std::nullopt;
    m[i] = static_cast<uint8_t>(v);
  }
  return m;
}

// Debian's abseil has its own string_view type.
std::string Str(std::string_view s) { return std::string(s); }

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::vector<std::string_view> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t n = s.find(sep, pos);
    std::string_view part = s.substr(pos, n == std::string_view::npos ? std::string_view::npos : n - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.push_back(part);
    if (n == std::string_view::npos) break;
    pos = n + sep.size();
  }
  return out;
}

// Everything the records say, indexed.
struct Index {
  struct Dp { std::string kind; uint32_t key = 0; };
  std::map<std::pair<std::string, std::string>, Dp> dps;                                  // (tenant, dp)
  std::map<std::tuple<std::string, std::string, std::string>, uint32_t> port_keys;        // (tenant, dp, port)
  struct Vm { std::string dp; ofp::Mac mac{}; std::string iface; };
  std::map<std::pair<std::string, std::string>, Vm> vms;                                  // (tenant, port)
  std::map<std::string, Ip> hosts;
  struct Slice { std::string tenant, inst, side, direction; uint16_t tag = 0, return_tag = 0; };
  std::vector<Slice> slices;
};

class Translator {
 public:
  Translator(const records::RecordSet& rs, const LocalFacts& facts) : rs_(rs), facts_(facts) {}

  Translation Run() {
    BuildIndex();
    ClassifyFlows();
    LogicalFlows();
    if (need_nd_table_) NdAnswerFlows();
    std::sort(out_.flows.begin(), out_.flows.end(), [](const Flow& a, const Flow& b) {
      return std::tie(a.table, b.priority, a.match) < std::tie(b.table, a.priority, b.match);
    });
    out_.stats.openflow_flows = out_.flows.size();
    return std::move(out_);
  }

 private:
  void Skip(const std::string& reason, const std::string& example = "") {
    ++out_.stats.skipped[reason];
    if (!example.empty()) out_.stats.unknown_examples.try_emplace(reason, example);
  }

  void BuildIndex() {
    for (const auto* r : rs_.Table("Datapath")) {
      if (r->values.size() != 4) { Skip("malformed Datapath row", records::ToString(*r)); continue; }
      auto key = ParseU64(r->values[3]);
      if (!key || *key == 0 || *key >= (1u << 24)) { Skip("malformed Datapath row", records::ToString(*r)); continue; }
      idx_.dps[{r->values[0], r->values[1]}] = {r->values[2], static_cast<uint32_t>(*key)};
    }
    for (const auto* r : rs_.Table("PortKey")) {
      auto key = r->values.size() == 4 ? ParseU64(r->values[3]) : std::nullopt;
      if (!key || *key == 0 || *key >= kFloodKey) { Skip("malformed PortKey row", records::ToString(*r)); continue; }
      idx_.port_keys[{r->values[0], r->values[1], r->values[2]}] = static_cast<uint32_t>(*key);
    }
    for (const auto* r : rs_.Table("VmPort")) {
      auto mac = r->values.size() == 5 ? ParseMac(r->values[3]) : std::nullopt;
      if (!mac) { Skip("malformed VmPort row", records::ToString(*r)); continue; }
      idx_.vms[{r->values[0], r->values[1]}] = {r->values[2], *mac, r->values[4]};
    }
    for (const auto* r : rs_.Table("Host")) {
      auto ip = r->values.size() == 2 ? Ip::Parse(r->values[1]) : std::nullopt;
      if (!ip) { Skip("malformed Host row", records::ToString(*r)); continue; }
      idx_.hosts[r->values[0]] = *ip;
    }
    for (const auto* r : rs_.Table("Slice")) {
      auto tag = r->values.size() == 7 ? ParseU64(r->values[4]) : std::nullopt;
      auto ret = r->values.size() == 7 ? ParseU64(r->values[5]) : std::nullopt;
      if (!tag || !ret || *tag == 0 || *tag > 4094 || *ret == 0 || *ret > 4094) {
        Skip("malformed Slice row", records::ToString(*r));
        continue;
      }
      idx_.slices.push_back({r->values[0], r->values[1], r->values[2], r->values[3],
                             static_cast<uint16_t>(*tag), static_cast<uint16_t>(*ret)});
    }
  }

  std::optional<uint32_t> VmOfport(const Index::Vm& vm) const {
    auto it = facts_.vms.find(vm.iface);
    if (it == facts_.vms.end() || it->second == 0) return std::nullopt;
    return it->second;
  }

  Flow Make(uint8_t table, uint16_t priority, Match m, std::vector<Action> apply,
            std::optional<uint8_t> goto_table = std::nullopt) {
    Flow f;
    f.table = table;
    f.priority = priority;
    f.match = std::move(m);
    f.instructions.apply = std::move(apply);
    f.instructions.goto_table = goto_table;
    f.cookie = kRecordsCookie;
    return f;
  }

  void Emit(Flow f, const std::string& origin) {
    if (!keys_.insert(f.Key()).second) {
      Skip("duplicate OpenFlow flow (same table, priority and match)", origin);
      return;
    }
    out_.flows.push_back(std::move(f));
  }

  // The datapath (kind `kind`) of `tenant` that has a port named `port`.
  std::optional<std::pair<const std::string*, uint32_t>> DpWithPort(const std::string& tenant, const std::string& port,
                                                                    const std::string& kind) const {
    for (const auto& [k, key] : idx_.port_keys) {
      if (std::get<0>(k) != tenant || std::get<2>(k) != port) continue;
      auto dp = idx_.dps.find({tenant, std::get<1>(k)});
      if (dp != idx_.dps.end() && dp->second.kind == kind) return std::make_pair(&std::get<1>(k), key);
    }
    return std::nullopt;
  }

  // Table 0: where a frame enters the logical pipeline.
  void ClassifyFlows() {
    // VM ports.
    for (const auto& [tp, vm] : idx_.vms) {
      const auto& [tenant, port] = tp;
      auto of = VmOfport(vm);
      if (!of) { Skip("vm port not on br-int (yet)"); continue; }
      auto dp = idx_.dps.find({tenant, vm.dp});
      auto pk = idx_.port_keys.find({tenant, vm.dp, port});
      if (dp == idx_.dps.end() || pk == idx_.port_keys.end()) {
        Skip("VmPort without Datapath/PortKey row", absl::StrCat(tenant, "/", port));
        continue;
      }
      // A VM never picks a slice: any 802.1Q-tagged frame from it is dropped.
      Emit(Make(kTableClassify, 300, Match().InPort(*of).VlanVid(ofp::kVlanPresent, ofp::kVlanPresent), {}), port);
      Emit(Make(kTableClassify, 100, Match().InPort(*of),
                {Action::SetField(Field::kMetadata, dp->second.key), Action::SetField(ofp::RegField(kRegInport), pk->second)},
                kTableLsInPortSec),
           port);
    }
    // The tunnel: the VNI is the switch's datapath key; such a frame starts at the switch's L2
    // stage with from_tunnel set (it is delivered only locally).
    if (facts_.tunnel_port) {
      for (const auto& [k, dp] : idx_.dps) {
        if (dp.kind != "switch") continue;
        Emit(Make(kTableClassify, 100, Match().InPort(facts_.tunnel_port).Uint(Field::kTunnelId, dp.key),
                  {Action::SetField(Field::kMetadata, dp.key), Action::SetField(ofp::RegField(kRegFromTunnel), 1)},
                  kTableLsInL2),
             k.second);
      }
    }
    // The firewall port: a frame tagged X re-enters at the side whose Slice row has tag X.
    if (facts_.firewall_port) {
      for (const auto& s : idx_.slices) SliceReentry(s);
    }
    Emit(Make(kTableClassify, 0, Match(), {}), "default");
  }

  void SliceReentry(const Index::Slice& s) {
    std::string origin = absl::StrCat(s.tenant, "/", s.inst, " side ", s.side, " tag ", s.tag);
    Match m = Match().InPort(facts_.firewall_port).VlanVid(ofp::kVlanPresent | s.tag);
    std::string inport = absl::StrCat("firewall:", s.inst, ":", s.side);
    auto enter = [&](uint32_t dp_key, uint32_t port_key, uint8_t table) {
      Emit(Make(kTableClassify, 200, m,
                {Action::PopVlan(), Action::SetField(Field::kMetadata, dp_key),
                 Action::SetField(ofp::RegField(kRegInport), port_key), Action::SetField(ofp::RegField(kRegFromFirewall), 1)},
                table),
           origin);
    };
    if (s.side == "attach" || s.side == "router" || s.side == "switch") {
      bool router = s.side != "switch";
      auto dp = DpWithPort(s.tenant, inport, router ? "router" : "switch");
      if (!dp) { Skip("Slice without a datapath port for its side", origin); return; }
      enter(idx_.dps.at({s.tenant, *dp->first}).key, dp->second, router ? kTableLrInPort : kTableLsInPortSec);
      return;
    }
    // A vNIC slice: the side is the protected VM port.
    auto vm = idx_.vms.find({s.tenant, s.side});
    if (vm == idx_.vms.end()) { Skip("vNIC Slice of a port without VmPort row", origin); return; }
    auto dp = idx_.dps.find({s.tenant, vm->second.dp});
    auto pk = idx_.port_keys.find({s.tenant, vm->second.dp, inport});
    if (dp == idx_.dps.end() || pk == idx_.port_keys.end()) { Skip("vNIC Slice without PortKey row", origin); return; }
    // Frames for the VM itself (to-vm: judged on the way in; from-vm: a reject reply) go
    // straight to it; anything else is switched from the slice's port.
    if (auto of = VmOfport(vm->second)) {
      Emit(Make(kTableClassify, 210, Match(m).EthDst(vm->second.mac), {Action::PopVlan(), Action::Output(*of)}), origin);
    }
    enter(dp->second.key, pk->second, kTableLsInVnic);
  }

  // ---------------------------------------------------------------- logical flows

  struct Alt {
    Match m;
    int family = 0;  // 0 any, 4, 6, kFamArp
    std::optional<Ip> arp_tpa;
    bool nd_ns = false;  // matches an IPv6 neighbour solicitation (icmpv6 135, code 0)
    bool nd_na = false;  // matches an IPv6 neighbour advertisement (icmpv6 136, code 0)
    std::optional<Ip> nd_target;
  };

  struct FlowCtx {
    std::string tenant, dp, kind, stage;
    uint32_t key = 0;
    uint8_t table = 0;
    std::string row;  // for examples
  };

  static bool Require(Alt& a, int family) {
    if (a.family == family) return true;
    if (a.family != 0) return false;
    a.family = family;
    a.m.EthType(family == 4 ? kEthIpv4 : family == 6 ? kEthIpv6 : kEthArp);
    return true;
  }

  std::optional<uint32_t> PortKeyOf(const FlowCtx& c, std::string_view name) const {
    if (name == "flood") return kFloodKey;
    auto it = idx_.port_keys.find({c.tenant, c.dp, std::string(name)});
    if (it == idx_.port_keys.end()) return std::nullopt;
    return it->second;
  }

  // Parses the match into alternatives (ORed flows). Returns the reason on failure.
  std::optional<std::string> ParseMatch(const FlowCtx& c, std::string_view text, std::vector<Alt>* alts) {
    Alt base;
    base.m.Uint(Field::kMetadata, c.key);
    *alts = {base};
    for (std::string_view term : Split(text, "&&")) {
      std::vector<Alt> next;
      if (term == "1") continue;
      if (term == "ip") {
        for (const Alt& a : *alts) {
          for (int fam : {4, 6}) {
            Alt b = a;
            if (Require(b, fam)) next.push_back(std::move(b));
          }
        }
      } else if (term == "ip4" || term == "ip6" || term == "arp") {
        int fam = term == "ip4" ? 4 : term == "ip6" ? 6 : kFamArp;
        for (Alt a : *alts) {
          if (Require(a, fam)) next.push_back(std::move(a));
        }
      } else if (term == "nd.ns" || term == "nd.na") {
        // OVS's nd_* fields need the whole ND prerequisite: IPv6, ICMPv6, type, code 0.
        bool ns = term == "nd.ns";
        for (Alt a : *alts) {
          if (!Require(a, 6)) continue;
          if (ns ? a.nd_na : a.nd_ns) continue;  // a solicitation and an advertisement at once: nothing
          a.m.IpProto(kProtoIcmpv6)
              .Uint(Field::kIcmpv6Type, ns ? kIcmpv6NeighborSolicit : kIcmpv6NeighborAdvert)
              .Uint(Field::kIcmpv6Code, 0);
          (ns ? a.nd_ns : a.nd_na) = true;
          next.push_back(std::move(a));
        }
      } else if (term == "from_firewall" || term == "!from_firewall") {
        for (Alt a : *alts) next.push_back((a.m.Reg(kRegFromFirewall, term == "from_firewall" ? 1 : 0), a));
      } else {
        size_t op = term.find("==");
        bool neq = false;
        if (op == std::string_view::npos) {
          op = term.find("!=");
          neq = true;
        }
        if (op == std::string_view::npos) return absl::StrCat("unknown match term '", Str(term), "'");
        std::string_view field = term.substr(0, op), value = term.substr(op + 2);
        if (neq && field != "inport" && field != "outport") return absl::StrCat("unknown match term '", Str(field), "!='");
        if (field == "inport" || field == "outport") {
          auto key = PortKeyOf(c, value);
          if (!key) return absl::StrCat("unknown logical port in match");
          int reg = field == "inport" ? kRegInport : kRegOutport;
          for (const Alt& a : *alts) {
            if (!neq) {
              Alt b = a;
              b.m.Reg(reg, *key);
              next.push_back(std::move(b));
              continue;
            }
            // reg != K: keys are below 2^16 (the upper bits are always 0), so "differs in at
            // least one of the 16 low bits" is exact: one flow per bit.
            for (int bit = 0; bit < 16; ++bit) {
              Alt b = a;
              b.m.Reg(reg, (~*key) & (1u << bit), 1u << bit);
              next.push_back(std::move(b));
            }
          }
        } else if (field == "eth.src" || field == "eth.dst") {
          auto mac = ParseMac(value);
          if (!mac) return absl::StrCat("bad MAC in '", Str(field), "'");
          for (Alt a : *alts) {
            if (field == "eth.src") a.m.EthSrc(*mac);
            else a.m.EthDst(*mac);
            next.push_back(std::move(a));
          }
        } else if (field == "ip.src" || field == "ip.dst") {
          auto p = Prefix::Parse(value);
          if (!p) return absl::StrCat("bad prefix in '", Str(field), "'");
          int fam = p->IsV4() ? 4 : 6;
          for (Alt a : *alts) {
            if (!Require(a, fam)) continue;  // contradicting families: this alternative matches nothing
            bool src = field == "ip.src";
            if (fam == 4) {
              int len = p->len - 96;
              if (len > 0) src ? a.m.Ipv4Src(p->addr.V4Addr(), len) : a.m.Ipv4Dst(p->addr.V4Addr(), len);
            } else if (p->len > 0) {
              src ? a.m.Ipv6Src(p->addr, p->len) : a.m.Ipv6Dst(p->addr, p->len);
            }
            next.push_back(std::move(a));
          }
        } else if (field == "ip4.src" || field == "ip4.dst" || field == "ip6.src" || field == "ip6.dst") {
          // One family, an address (exact) or a prefix: "ip6.src==::" is the unspecified address.
          int fam = field[2] == '4' ? 4 : 6;
          std::optional<Prefix> p = Prefix::Parse(value);
          if (!p || p->IsV4() != (fam == 4)) {
            return absl::StrCat("bad ", Str(field), " (an IPv", fam, " address or prefix)");
          }
          bool src = field.substr(3) == ".src";
          for (Alt a : *alts) {
            if (!Require(a, fam)) continue;
            if (fam == 4) {
              int len = p->len - 96;
              if (len > 0) src ? a.m.Ipv4Src(p->addr.V4Addr(), len) : a.m.Ipv4Dst(p->addr.V4Addr(), len);
            } else if (p->len > 0) {
              src ? a.m.Ipv6Src(p->addr, p->len) : a.m.Ipv6Dst(p->addr, p->len);
            }
            next.push_back(std::move(a));
          }
        } else if (field == "arp.spa" || field == "arp.tpa") {
          const bool tpa = field == "arp.tpa";
          auto ip = Ip::Parse(value);
          if (!ip || !ip->IsV4()) return tpa ? "bad arp.tpa" : "bad arp.spa (an IPv4 address)";
          for (Alt a : *alts) {
            if (!Require(a, kFamArp)) continue;
            a.m.Uint(tpa ? Field::kArpTpa : Field::kArpSpa, ip->V4Addr());
            if (tpa) a.arp_tpa = *ip;  // arp_reply answers for it
            next.push_back(std::move(a));
          }
        } else if (field == "arp.sha") {
          auto mac = ParseMac(value);
          if (!mac) return "bad MAC in 'arp.sha'";
          for (Alt a : *alts) {
            if (!Require(a, kFamArp)) continue;
            (void)a.m.Set(Field::kArpSha, mac->data(), 6);
            next.push_back(std::move(a));
          }
        } else if (field == "arp.op") {
          auto v = ParseU64(value);
          if (!v || *v > 0xffff) return "bad arp.op";
          for (Alt a : *alts) {
            if (!Require(a, kFamArp)) continue;
            a.m.Uint(Field::kArpOp, *v);
            next.push_back(std::move(a));
          }
        } else if (field == "nd.target") {
          auto ip = Ip::Parse(value);
          if (!ip || ip->IsV4()) return "bad nd.target (an IPv6 address)";
          for (Alt a : *alts) {
            if (!a.nd_ns && !a.nd_na) return "nd.target without nd.ns or nd.na before it";
            a.m.NdTarget(*ip);
            a.nd_target = *ip;
            next.push_back(std::move(a));
          }
        } else if (field == "nd.sll" || field == "nd.tll") {
          // nd.sll belongs to a solicitation, nd.tll to an advertisement. OVS reports a message
          // without the option as 00:00:00:00:00:00: that value matches exactly those.
          const bool sll = field == "nd.sll";
          auto mac = ParseMac(value);
          if (!mac) return sll ? "bad MAC in 'nd.sll'" : "bad MAC in 'nd.tll'";
          for (Alt a : *alts) {
            if (sll ? !a.nd_ns : !a.nd_na) return sll ? "nd.sll without nd.ns before it" : "nd.tll without nd.na before it";
            (void)a.m.Set(sll ? Field::kNdSll : Field::kNdTll, mac->data(), 6);
            next.push_back(std::move(a));
          }
        } else if (field == "nexthop") {
          auto ip = Ip::Parse(value);
          if (!ip) return "bad nexthop";
          for (Alt a : *alts) {
            if (ip->IsV4()) {
              a.m.Reg(kRegNexthop4, ip->V4Addr());
            } else {
              uint8_t b[16];
              ip->ToBytes(b);
              for (int w = 0; w < 4; ++w) {
                a.m.Reg(kRegNexthop6 + w, uint32_t{b[4 * w]} << 24 | uint32_t{b[4 * w + 1]} << 16 | uint32_t{b[4 * w + 2]} << 8 | b[4 * w + 3]);
              }
            }
            next.push_back(std::move(a));
          }
        } else {
          return absl::StrCat("unknown match field '", Str(field), "'");
        }
      }
      *alts = std::move(next);
    }
    return std::nullopt;
  }

  struct ActionOut {
    std::vector<Action> apply;
    std::optional<uint8_t> goto_table;
    bool used_tunnel = false;
    std::string error;  // an unknown form: the flow becomes a drop
  };

  std::optional<uint8_t> NextTable(const FlowCtx& c) const {
    const uint8_t* b = c.kind == "router" ? std::begin(kRouterTables) : std::begin(kSwitchTables);
    const uint8_t* e = c.kind == "router" ? std::end(kRouterTables) : std::end(kSwitchTables);
    for (const uint8_t* t = b; t != e; ++t) {
      if (*t == c.table && t + 1 != e) return *(t + 1);
    }
    return std::nullopt;
  }

  // Push the slice's tag and hand the frame to rampart-fwd. False (error set) if impossible.
  bool Steer(const FlowCtx& c, std::string_view target, ActionOut* out) {
    // target: firewall:INST:SIDE
    auto parts = Split(target, ":");
    if (parts.size() != 3 || parts[0] != "firewall") {
      out->error = "unknown steer/output target";
      return false;
    }
    const Index::Slice* pick = nullptr;
    std::string want_dir = c.stage == "ls_out_vnic" ? "to-vm" : "from-vm";
    for (const auto& s : idx_.slices) {
      if (s.tenant != c.tenant || s.inst != parts[1] || s.side != parts[2]) continue;
      if (!pick || s.direction == want_dir) pick = &s;
    }
    if (!pick && parts[2] != "attach" && parts[2] != "switch" && parts[2] != "router" &&
        !idx_.vms.count({c.tenant, std::string(parts[2])})) {
      // A vNIC slice of a VM on another host: that host judges the frame (its ls_out_vnic after
      // the tunnel); here the frame just continues.
      out->apply.clear();
      out->goto_table = NextTable(c);
      return true;
    }
    if (!pick) {
      Skip("steer to a slice this host has no Slice row for (dropped)", c.row);
      out->apply.clear();
      out->goto_table.reset();
      return false;
    }
    if (!facts_.firewall_port) {
      Skip("steer while the firewall port is missing (dropped)");
      out->apply.clear();
      out->goto_table.reset();
      return false;
    }
    out->apply.push_back(Action::PushVlan(0x8100));
    out->apply.push_back(Action::SetField(Field::kVlanVid, ofp::kVlanPresent | pick->tag));
    out->apply.push_back(Action::Output(facts_.firewall_port));
    return true;
  }

  // Moves the frame into another datapath's pipeline (a router/switch transition).
  bool Enter(const FlowCtx& c, const std::string& dp, const std::string& kind, const std::string& inport, uint8_t table,
             ActionOut* out) {
    auto d = idx_.dps.find({c.tenant, dp});
    auto pk = idx_.port_keys.find({c.tenant, dp, inport});
    if (d == idx_.dps.end() || d->second.kind != kind || pk == idx_.port_keys.end()) {
      out->error = "transition to a datapath or port without records";
      return false;
    }
    out->apply.push_back(Action::SetField(Field::kMetadata, d->second.key));
    out->apply.push_back(Action::SetField(ofp::RegField(kRegInport), pk->second));
    out->apply.push_back(Action::SetField(ofp::RegField(kRegOutport), 0));
    out->apply.push_back(Action::Resubmit(ofp::kPortInPort, table));
    return true;
  }

  ActionOut TranslateActions(const FlowCtx& c, const std::vector<std::string_view>& actions, const Alt& alt, bool tunnels) {
    ActionOut out;
    auto fail = [&](std::string why) {
      out.error = std::move(why);
      return out;
    };
    bool terminal = false;  // the list ended the stage itself (else: implicit next)
    for (std::string_view a : actions) {
      terminal = true;
      if (a == "next") {
        out.goto_table = NextTable(c);
        break;
      }
      if (a == "drop") {
        out.apply.clear();
        break;
      }
      if (a == "flood") {
        out.apply.push_back(Action::SetField(ofp::RegField(kRegOutport), kFloodKey));
        out.goto_table = NextTable(c);
        break;
      }
      if (a == "ttl--") {
        out.apply.push_back(Action::DecNwTtl());
        terminal = false;
        continue;
      }
      size_t eq = a.find('=');
      if (eq != std::string_view::npos && a.find('(') == std::string_view::npos) {
        std::string_view field = a.substr(0, eq), value = a.substr(eq + 1);
        if (field == "outport" || field == "inport") {
          auto key = PortKeyOf(c, value);
          if (!key) return fail("unknown logical port in action");
          out.apply.push_back(Action::SetField(ofp::RegField(field == "inport" ? kRegInport : kRegOutport), *key));
        } else if (field == "eth.src" || field == "eth.dst") {
          auto mac = ParseMac(value);
          if (!mac) return fail("bad MAC in action");
          out.apply.push_back(Action::SetFieldBytes(field == "eth.src" ? Field::kEthSrc : Field::kEthDst, mac->data(), 6));
        } else if (field == "from_firewall") {
          if (value != "0" && value != "1") return fail("from_firewall must be 0 or 1");
          out.apply.push_back(Action::SetField(ofp::RegField(kRegFromFirewall), value == "1" ? 1 : 0));
        } else if (field == "nexthop" && value == "ip.dst") {
          if (alt.family == 4) {
            out.apply.push_back(Action::Move({Field::kIpv4Dst, ofp::RegField(kRegNexthop4), 32, 0, 0}));
          } else if (alt.family == 6) {
            for (int w = 0; w < 4; ++w) {
              out.apply.push_back(Action::Move({Field::kIpv6Dst, ofp::RegField(kRegNexthop6 + w), 32,
                                                static_cast<uint16_t>(96 - 32 * w), 0}));
            }
          } else {
            return fail("nexthop=ip.dst in a flow that does not match one IP family");
          }
        } else if (field == "nexthop") {
          auto ip = Ip::Parse(value);
          if (!ip) return fail("bad nexthop address");
          if (ip->IsV4()) {
            out.apply.push_back(Action::SetField(ofp::RegField(kRegNexthop4), ip->V4Addr()));
          } else {
            uint8_t b[16];
            ip->ToBytes(b);
            for (int w = 0; w < 4; ++w) {
              uint32_t v = uint32_t{b[4 * w]} << 24 | uint32_t{b[4 * w + 1]} << 16 | uint32_t{b[4 * w + 2]} << 8 | b[4 * w + 3];
              out.apply.push_back(Action::SetField(ofp::RegField(kRegNexthop6 + w), v));
            }
          }
        } else {
          return fail(absl::StrCat("unknown action '", Str(field), "='"));
        }
        terminal = false;
        continue;
      }
      size_t open = a.find('(');
      if (open == std::string_view::npos || a.back() != ')') return fail(absl::StrCat("unknown action '", Str(a), "'"));
      std::string_view fn = a.substr(0, open), arg = a.substr(open + 1, a.size() - open - 2);
      if (fn == "arp_reply") {
        auto mac = ParseMac(arg);
        if (!mac) return fail("bad MAC in arp_reply");
        if (!alt.arp_tpa) return fail("arp_reply without arp.tpa in the match");
        uint64_t m = 0;
        for (uint8_t b : *mac) m = m << 8 | b;
        // Turn the request into the reply in place and send it back where it came from.
        out.apply.push_back(Action::Move({Field::kEthSrc, Field::kEthDst, 48, 0, 0}));
        out.apply.push_back(Action::SetField(Field::kEthSrc, m));
        out.apply.push_back(Action::SetField(Field::kArpOp, 2));
        out.apply.push_back(Action::Move({Field::kArpSha, Field::kArpTha, 48, 0, 0}));
        out.apply.push_back(Action::SetField(Field::kArpSha, m));
        out.apply.push_back(Action::Move({Field::kArpSpa, Field::kArpTpa, 32, 0, 0}));
        out.apply.push_back(Action::SetField(Field::kArpSpa, alt.arp_tpa->V4Addr()));
        out.apply.push_back(Action::Output(ofp::kPortInPort));
        break;
      }
      if (fn == "nd_na" || fn == "nd_na_router") {
        auto mac = ParseMac(arg);
        if (!mac) return fail(absl::StrCat("bad MAC in ", Str(fn)));
        if (!alt.nd_ns || !alt.nd_target) return fail(absl::StrCat(Str(fn), " without nd.ns && nd.target in the match"));
        uint64_t m = 0;
        for (uint8_t b : *mac) m = m << 8 | b;
        uint8_t target[16];
        alt.nd_target->ToBytes(target);
        uint32_t flags = kNdFlagSolicited | kNdFlagOverride | (fn == "nd_na_router" ? kNdFlagRouter : 0);
        // Turn the solicitation into the advertisement in place (same length: the source
        // link-layer address option becomes the target one); OVS recomputes the ICMPv6 checksum.
        // nd_tll can only be set by a flow matching an advertisement: table kTableNdNa does it.
        out.apply.push_back(Action::Move({Field::kEthSrc, Field::kEthDst, 48, 0, 0}));
        out.apply.push_back(Action::SetField(Field::kEthSrc, m));
        out.apply.push_back(Action::Move({Field::kIpv6Src, Field::kIpv6Dst, 128, 0, 0}));
        out.apply.push_back(Action::SetFieldBytes(Field::kIpv6Src, target, 16));
        out.apply.push_back(Action::SetField(Field::kIcmpv6Type, kIcmpv6NeighborAdvert));
        out.apply.push_back(Action::SetField(Field::kNdReserved, flags));
        out.apply.push_back(Action::SetField(Field::kNdOptionsType, kNdOptTargetLinkAddr));
        out.apply.push_back(Action::Resubmit(ofp::kPortInPort, kTableNdNa));
        need_nd_table_ = true;
        break;
      }
      if (fn == "steer") {
        Steer(c, arg, &out);
        break;
      }
      if (fn != "output") return fail(absl::StrCat("unknown action '", Str(fn), "(...)'"));
      if (StartsWith(arg, "tunnel:")) {
        out.used_tunnel = true;
        if (!tunnels) continue;
        auto h = idx_.hosts.find(std::string(arg.substr(7)));
        if (h == idx_.hosts.end() || !h->second.IsV4()) return fail("output to a tunnel host without an IPv4 Host row");
        if (!facts_.tunnel_port) {
          Skip("output to a tunnel while the tunnel port is missing");
          continue;
        }
        out.apply.push_back(Action::SetField(Field::kTunnelId, c.key));
        out.apply.push_back(Action::SetField(Field::kTunIpv4Dst, h->second.V4Addr()));
        out.apply.push_back(Action::Output(facts_.tunnel_port));
      } else if (StartsWith(arg, "switch:")) {
        Enter(c, std::string(arg.substr(7)), "switch", "rtr:" + c.dp, kTableLsInPortSec, &out);
        break;
      } else if (StartsWith(arg, "router:")) {
        Enter(c, std::string(arg.substr(7)), "router", c.dp, kTableLrInPort, &out);
        break;
      } else if (StartsWith(arg, "firewall:")) {
        Steer(c, arg, &out);
        break;
      } else {
        auto vm = idx_.vms.find({c.tenant, std::string(arg)});
        if (vm == idx_.vms.end()) return fail("output to a VM port without VmPort row");
        auto of = VmOfport(vm->second);
        if (!of) {
          Skip("vm port not on br-int (yet): output left out");
          continue;
        }
        out.apply.push_back(Action::Output(*of));
      }
      if (!out.error.empty()) break;
    }
    // Assignments alone (`outport=vm1`) continue with the next stage.
    if (!terminal) out.goto_table = NextTable(c);
    return out;
  }

  void LogicalFlows() {
    // Rows with the same (tenant, dp, stage, priority, match) are one OpenFlow flow: their
    // actions (the deliver stage's outputs for a flood) are concatenated.
    std::map<std::tuple<std::string, std::string, std::string, int64_t, std::string>, std::vector<std::string>> groups;
    for (const auto* r : rs_.Table("Flow")) {
      ++out_.stats.logical_flows;
      auto prio = r->values.size() == 6 ? ParseU64(r->values[3]) : std::nullopt;
      if (!prio || *prio > 0xffff) { Skip("malformed Flow row", records::ToString(*r)); continue; }
      groups[{r->values[0], r->values[1], r->values[2], static_cast<int64_t>(*prio), r->values[4]}].push_back(r->values[5]);
    }
    for (const auto& [k, action_texts] : groups) {
      const auto& [tenant, dp, stage, prio, match] = k;
      FlowCtx c;
      c.tenant = tenant;
      c.dp = dp;
      c.stage = stage;
      c.row = absl::StrCat(tenant, " ", dp, " ", stage, " ", prio, " [", match, "] => ", action_texts[0]);
      auto d = idx_.dps.find({tenant, dp});
      if (d == idx_.dps.end()) { Skip("Flow of a datapath without Datapath row", c.row); continue; }
      c.kind = d->second.kind;
      c.key = d->second.key;
      int table = StageTable(stage);
      bool router_stage = table >= kTableLrInPort;
      if (table < 0 || router_stage != (c.kind == "router")) {
        Skip(absl::StrCat("unknown stage '", stage, "' for a ", c.kind), c.row);
        continue;
      }
      c.table = static_cast<uint8_t>(table);
      std::vector<Alt> alts;
      if (auto err = ParseMatch(c, match, &alts)) {
        Skip(*err, c.row);
        continue;
      }
      std::vector<std::string_view> actions;
      for (const auto& t : action_texts) {
        auto parts = Split(t, ";");
        actions.insert(actions.end(), parts.begin(), parts.end());
      }
      if (action_texts.size() > 1) {
        bool all_outputs = std::all_of(actions.begin(), actions.end(), [](std::string_view a) { return StartsWith(a, "output("); });
        if (!all_outputs) {
          Skip("several flows with one match whose actions are not all outputs (first kept)", c.row);
          actions = Split(action_texts[0], ";");
        }
      }
      if (std::find(actions.begin(), actions.end(), std::string_view("ttl--")) != actions.end()) {
        // OVS accepts dec_ttl only in a flow that matches IPv4 or IPv6 (a router sees no other).
        std::vector<Alt> ip_alts;
        for (const Alt& a : alts) {
          for (int fam : {4, 6}) {
            Alt b = a;
            if (Require(b, fam)) ip_alts.push_back(std::move(b));
          }
        }
        alts = std::move(ip_alts);
      }
      for (const Alt& alt : alts) {
        ActionOut full = TranslateActions(c, actions, alt, /*tunnels=*/true);
        if (!full.error.empty()) {
          // Fail closed: the flow keeps its place and drops.
          Skip(full.error + " (flow installed as drop)", c.row);
          Emit(Make(c.table, static_cast<uint16_t>(prio), alt.m, {}), c.row);
          continue;
        }
        if (!full.used_tunnel) {
          Emit(Make(c.table, static_cast<uint16_t>(prio), alt.m, std::move(full.apply), full.goto_table), c.row);
          continue;
        }
        // A frame that came through a tunnel is delivered only locally.
        ActionOut local = TranslateActions(c, actions, alt, /*tunnels=*/false);
        Match from_here = alt.m, from_tunnel = alt.m;
        from_here.Reg(kRegFromTunnel, 0);
        from_tunnel.Reg(kRegFromTunnel, 1);
        Emit(Make(c.table, static_cast<uint16_t>(prio), from_here, std::move(full.apply), full.goto_table), c.row);
        Emit(Make(c.table, static_cast<uint16_t>(prio), from_tunnel, std::move(local.apply), local.goto_table), c.row);
      }
    }
  }

  // Table kTableNdNa: the advertisement an nd_na flow built gets its target link-layer address
  // (the MAC the first flow wrote into eth.src) and leaves by the port the solicitation came in.
  void NdAnswerFlows() {
    Match na = Match()
                   .EthType(kEthIpv6)
                   .IpProto(kProtoIcmpv6)
                   .Uint(Field::kIcmpv6Type, kIcmpv6NeighborAdvert)
                   .Uint(Field::kIcmpv6Code, 0);
    Emit(Make(kTableNdNa, 100, na,
              {Action::Move({Field::kEthSrc, Field::kNdTll, 48, 0, 0}), Action::Output(ofp::kPortInPort)}),
         "nd_na");
    Emit(Make(kTableNdNa, 0, Match(), {}), "nd_na default");
  }

  const records::RecordSet& rs_;
  const LocalFacts& facts_;
  bool need_nd_table_ = false;
  Index idx_;
  Translation out_;
  std::set<ofp::FlowKey> keys_;
};

}  // namespace

int StageTable(const std::string& stage) {
  static const std::map<std::string, int> kTables = {
      {"ls_in_port_sec", kTableLsInPortSec}, {"ls_in_vnic", kTableLsInVnic},     {"ls_in_arp", kTableLsInArp},
      {"ls_in_l2", kTableLsInL2},            {"ls_out_vnic", kTableLsOutVnic},   {"ls_out_deliver", kTableLsOutDeliver},
      {"lr_in_port", kTableLrInPort},        {"lr_in_policy", kTableLrInPolicy}, {"lr_in_routing", kTableLrInRouting},
      {"lr_in_arp_resolve", kTableLrInArpResolve}, {"lr_out", kTableLrOut},
  };
  auto it = kTables.find(stage);
  return it == kTables.end() ? -1 : it->second;
}

Translation TranslateRecords(const records::RecordSet& records, const LocalFacts& facts) {
  return Translator(records, facts).Run();
}

}  // namespace rampart::agent
