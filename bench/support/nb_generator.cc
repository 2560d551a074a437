#include "bench/support/nb_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rampart::bench {
namespace {

// The MAC ParseNbSpec gives a router port (nb_spec.cc derives it; the YAML has no field for it),
// so that a generated spec equals the spec parsed back from its YAML, and OVN's router ports get
// distinct MACs too: 02:52 + FNV-1a("tenant/router/switch").
uint64_t RouterPortMac(const std::string& tenant, const std::string& router, const std::string& sw) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : tenant + "/" + router + "/" + sw) h = (h ^ ch) * 1099511628211ull;
  return 0x025200000000ull | (h & 0xffffffffull);
}

using controller::NbAddressGroup;
using controller::NbFirewall;
using controller::NbHost;
using controller::NbPolicyRoute;
using controller::NbPort;
using controller::NbRouter;
using controller::NbRouterPort;
using controller::NbRule;
using controller::NbSelectorSet;
using controller::NbSpec;
using controller::NbStaticRoute;
using controller::NbSwitch;
using controller::NbVnicPolicy;

// splitmix64: a tiny generator whose output does not depend on the standard library's
// distributions (those differ between implementations; the specs must not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ull + 0x1234567ull) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t s_;
};

std::string Padded(const char* prefix, int i, int count) {
  int width = 1;
  for (int c = count; c >= 10; c /= 10) ++width;
  width = std::clamp(width, 3, 10);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*d", width, i);
  return absl::StrCat(prefix, buf);
}

std::string MacText(uint64_t mac) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>((mac >> 40) & 0xff),
                static_cast<unsigned>((mac >> 32) & 0xff), static_cast<unsigned>((mac >> 24) & 0xff),
                static_cast<unsigned>((mac >> 16) & 0xff), static_cast<unsigned>((mac >> 8) & 0xff),
                static_cast<unsigned>(mac & 0xff));
  return buf;
}

constexpr const char* kTiers[] = {"web", "app", "db", "cache", "mgmt"};
constexpr int kTierCount = 5;
constexpr int kCommonPorts[] = {22, 53, 80, 123, 443, 3306, 5432, 5672, 6379, 8080, 8443, 9090, 9200, 11211, 27017};
constexpr int kCommonPortCount = sizeof(kCommonPorts) / sizeof(kCommonPorts[0]);

// A rule as the generator builds it; rendered in the canonical one-line form that ParseNbSpec
// stores (controller/nb_spec.cc RuleText), so the generated spec equals its parsed YAML.
struct GenRule {
  std::string dir = "any";  // any | from-vm | to-vm
  std::string proto = "any";
  std::vector<Prefix> src_prefixes, dst_prefixes;
  std::vector<std::string> src_groups, dst_groups;
  std::vector<std::pair<int, int>> dports;
  std::optional<int> icmp_type;
  std::string action = "allow";

  static std::string Side(const std::vector<Prefix>& p, const std::vector<std::string>& g) {
    if (p.empty() && g.empty()) return "any";
    std::vector<std::string> s;
    for (const auto& x : p) s.push_back(x.ToString());
    for (const auto& x : g) s.push_back("group:" + x);
    return absl::StrJoin(s, ",");
  }
  NbRule ToNb(uint32_t id, int32_t priority) const {
    NbRule r;
    r.id = id;
    r.priority = priority;
    r.text = absl::StrCat("dir=", dir, " proto=", proto, " src=", Side(src_prefixes, src_groups),
                          " dst=", Side(dst_prefixes, dst_groups));
    if (!dports.empty()) {
      std::vector<std::string> s;
      for (auto [lo, hi] : dports) s.push_back(lo == hi ? std::to_string(lo) : absl::StrCat(lo, "-", hi));
      absl::StrAppend(&r.text, " dport=", absl::StrJoin(s, ","));
    }
    if (icmp_type) absl::StrAppend(&r.text, " icmp_type=", *icmp_type);
    absl::StrAppend(&r.text, " action=", action);
    std::set<std::string> gs(src_groups.begin(), src_groups.end());
    gs.insert(dst_groups.begin(), dst_groups.end());
    r.groups.assign(gs.begin(), gs.end());
    return r;
  }
};

// What a tenant offers to its rules.
struct TenantCtx {
  std::vector<std::string> groups;
  std::vector<Prefix> cidrs;
};

Prefix ExternalPrefix(Rng& rng) {
  // 198.19.0.0 - 198.19.199.255: lab range, away from the VM switches (198.18/16) and the
  // underlay (198.19.255/24 and the few /24s below it used by many hosts).
  uint32_t third = static_cast<uint32_t>(rng.Below(200));
  int len = rng.Chance(0.6) ? 24 : (rng.Chance(0.5) ? 28 : 26);
  uint32_t fourth = len == 24 ? 0 : static_cast<uint32_t>(rng.Below(256));
  return Prefix::V4((198u << 24) | (19u << 16) | (third << 8) | fourth, len);
}

void PickSide(Rng& rng, const TenantCtx& t, bool prefer_group, std::vector<Prefix>& prefixes,
              std::vector<std::string>& groups) {
  double u = rng.Unit();
  if (u < (prefer_group ? 0.5 : 0.3) && !t.groups.empty()) {
    groups.push_back(t.groups[rng.Below(t.groups.size())]);
  } else if (u < 0.75) {
    int n = 1 + static_cast<int>(rng.Below(2));
    for (int i = 0; i < n; ++i) {
      Prefix p = rng.Chance(0.5) && !t.cidrs.empty() ? t.cidrs[rng.Below(t.cidrs.size())] : ExternalPrefix(rng);
      if (std::find(prefixes.begin(), prefixes.end(), p) == prefixes.end()) prefixes.push_back(p);
    }
  } else if (u < 0.9 && !t.groups.empty()) {
    prefixes.push_back(ExternalPrefix(rng));
    groups.push_back(t.groups[rng.Below(t.groups.size())]);
  }  // else: any
}

GenRule RandomRule(Rng& rng, const TenantCtx& t, bool vnic) {
  GenRule r;
  if (vnic) r.dir = rng.Chance(0.7) ? "to-vm" : "from-vm";
  PickSide(rng, t, true, r.src_prefixes, r.src_groups);
  if (!vnic || rng.Chance(0.4)) PickSide(rng, t, true, r.dst_prefixes, r.dst_groups);
  double p = rng.Unit();
  if (p < 0.85) {
    r.proto = p < 0.65 ? "tcp" : "udp";
    double k = rng.Unit();
    if (k < 0.6) {
      int port = rng.Chance(0.7) ? kCommonPorts[rng.Below(kCommonPortCount)] : 1024 + static_cast<int>(rng.Below(64000));
      r.dports.push_back({port, port});
    } else if (k < 0.85) {
      std::set<int> ports;
      int n = 2 + static_cast<int>(rng.Below(3));
      while (static_cast<int>(ports.size()) < n) ports.insert(kCommonPorts[rng.Below(kCommonPortCount)]);
      for (int x : ports) r.dports.push_back({x, x});
    } else {
      int lo = 1024 + static_cast<int>(rng.Below(60000));
      int hi = lo + 1 + static_cast<int>(rng.Below(1000));
      r.dports.push_back({lo, hi});
    }
  } else if (p < 0.93) {
    r.proto = "icmp";
    if (rng.Chance(0.5)) r.icmp_type = 8;
  }  // else any protocol
  double a = rng.Unit();
  r.action = a < 0.85 ? "allow" : (a < 0.95 ? "drop" : "reject");
  return r;
}

}  // namespace

NbSpec GenerateNbSpec(const GeneratorOptions& o) {
  NbSpec spec;
  Rng rng(o.seed);
  const int hosts = std::max(o.hosts, 1);
  const int tenants = std::max(o.tenants, 1);
  const int ports = std::max(o.ports, 0);
  const int rules = std::max(o.rules, 0);
  const int groups_per_tenant = std::max(o.groups_per_tenant, 3);

  for (int h = 0; h < hosts; ++h) {
    uint32_t third = 255u - static_cast<uint32_t>(h / 254);
    uint32_t fourth = 1u + static_cast<uint32_t>(h % 254);
    spec.hosts.push_back({Padded("h", h + 1, hosts), Ip::V4((198u << 24) | (19u << 16) | (third << 8) | fourth)});
  }
  // Skewed placement: a seeded order of the hosts, weights 1/(rank+1)^skew, sampled by CDF.
  std::vector<int> order(hosts);
  for (int i = 0; i < hosts; ++i) order[i] = i;
  for (int i = hosts - 1; i > 0; --i) std::swap(order[i], order[rng.Below(static_cast<uint64_t>(i) + 1)]);
  std::vector<double> cdf(hosts);
  double total = 0;
  for (int i = 0; i < hosts; ++i) {
    total += o.host_skew > 0 ? 1.0 / std::pow(i + 1.0, o.host_skew) : 1.0;
    cdf[i] = total;
  }
  auto pick_host = [&]() -> const std::string& {
    double u = rng.Unit() * total;
    size_t i = std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
    if (i >= cdf.size()) i = cdf.size() - 1;
    return spec.hosts[order[i]].name;
  };

  uint64_t global_port = 0;
  int next_slash24 = 0;  // index of the next /24 in 198.18.0.0/16 (wraps: tenants overlap)
  for (int ti = 0; ti < tenants; ++ti) {
    const std::string t = Padded("t", ti + 1, tenants);
    spec.tenants.push_back(t);
    const int tport_count = ports / tenants + (ti < ports % tenants ? 1 : 0);
    const int trules = rules / tenants + (ti < rules % tenants ? 1 : 0);
    int nsw = o.switches_per_tenant;
    if (nsw <= 0) nsw = std::clamp(tport_count / 20, 1, 8);
    nsw = std::max(nsw, (tport_count + 199) / 200);

    TenantCtx ctx;
    NbRouter router;
    router.tenant = t;
    router.name = "r1";
    std::vector<std::string> sw_names;
    for (int s = 0; s < nsw; ++s) {
      uint32_t idx = static_cast<uint32_t>(next_slash24++ % 256);
      uint32_t base = (198u << 24) | (18u << 16) | (idx << 8);
      NbSwitch sw{t, absl::StrCat("ls", s + 1), Prefix::V4(base, 24)};
      sw_names.push_back(sw.name);
      ctx.cidrs.push_back(sw.cidr);
      spec.switches.push_back(sw);
      router.ports.push_back({sw.name, Ip::V4(base + 1), RouterPortMac(t, router.name, sw.name)});
      router.policy_routes.push_back(
          {1000 - s, sw.cidr, *Prefix::Parse("0.0.0.0/0"), "firewall", "fw"});
    }
    router.static_routes.push_back(
        {Prefix::V4((198u << 24) | (19u << 16) | (static_cast<uint32_t>(ti % 200) << 8), 24),
         Ip::V4(ctx.cidrs[0].addr.V4Addr() + 254)});

    // Ports: round-robin over the switches, addresses from .10.
    const size_t first_port = spec.ports.size();
    std::vector<int> per_switch(nsw, 0);
    for (int k = 0; k < tport_count; ++k) {
      int s = k % nsw;
      NbPort p;
      p.tenant = t;
      p.sw = sw_names[s];
      p.name = absl::StrCat("vm", k + 1);
      p.mac = 0x020000000000ull | (++global_port);
      p.ips.push_back(Ip::V4(ctx.cidrs[s].addr.V4Addr() + 10 + per_switch[s]++));
      p.host = pick_host();
      p.labels = {{"tier", kTiers[s % kTierCount]},
                  {"env", k % 4 == 3 ? "dev" : "prod"},
                  {"app", absl::StrCat("app", k % 7)}};
      spec.ports.push_back(std::move(p));
    }

    // Address groups: prefixes, selectors, explicit ports (when the tenant has ports).
    for (int g = 0; g < groups_per_tenant; ++g) {
      NbAddressGroup ag;
      ag.tenant = t;
      int kind = g % 3;
      if (kind == 2 && tport_count == 0) kind = 0;
      if (kind == 0) {
        ag.name = absl::StrCat("ext", g);
        int n = 1 + static_cast<int>(rng.Below(4));
        std::set<Prefix> seen;
        for (int i = 0; i < n; ++i) {
          Prefix p = ExternalPrefix(rng);
          if (seen.insert(p).second) ag.prefixes.push_back(p);
        }
      } else if (kind == 1) {
        ag.name = absl::StrCat("sel", g);
        ag.members.selector["tier"] = kTiers[(g / 3) % kTierCount];
        if (g % 2 == 0) ag.members.selector["env"] = "prod";
      } else {
        ag.name = absl::StrCat("set", g);
        int n = std::min(tport_count, 2 + static_cast<int>(rng.Below(5)));
        std::set<int> picked;
        while (static_cast<int>(picked.size()) < n) picked.insert(static_cast<int>(rng.Below(tport_count)));
        for (int k : picked) ag.members.ports.push_back(spec.ports[first_port + k].name);
        if (rng.Chance(0.3)) ag.prefixes.push_back(ExternalPrefix(rng));
      }
      ctx.groups.push_back(ag.name);
      spec.groups.push_back(std::move(ag));
    }

    // Firewall attached to r1 and the vNIC policies.
    int vnic_rules = static_cast<int>(std::lround(trules * o.vnic_rule_share));
    int fw_rules = trules - vnic_rules;
    NbFirewall fw;
    fw.tenant = t;
    fw.name = "fw";
    fw.placement = "attached";
    fw.router = "r1";
    fw.default_action = "drop";
    for (int i = 0; i < fw_rules; ++i) fw.rules.push_back(RandomRule(rng, ctx, false).ToNb(i + 1, (i + 1) * 10));
    spec.firewalls.push_back(std::move(fw));
    spec.routers.push_back(std::move(router));

    NbVnicPolicy db;
    db.tenant = t;
    db.name = "db-guard";
    db.default_action = "drop";
    db.applied_to.selector["tier"] = "db";
    NbVnicPolicy admin;
    admin.tenant = t;
    admin.name = "admin-guard";
    admin.default_action = "allow";
    // A few explicit ports of the first switch (tier web: never under db-guard).
    for (int k = 0; k < tport_count && admin.applied_to.ports.size() < 3; k += nsw * 3)
      admin.applied_to.ports.push_back(spec.ports[first_port + k].name);
    int admin_rules = admin.applied_to.ports.empty() ? 0 : vnic_rules / 3;
    int db_rules = vnic_rules - admin_rules;
    for (int i = 0; i < db_rules; ++i) db.rules.push_back(RandomRule(rng, ctx, true).ToNb(i + 1, (i + 1) * 10));
    for (int i = 0; i < admin_rules; ++i)
      admin.rules.push_back(RandomRule(rng, ctx, true).ToNb(i + 1, (i + 1) * 10));
    spec.vnic_policies.push_back(std::move(db));
    if (!admin.applied_to.ports.empty()) spec.vnic_policies.push_back(std::move(admin));
  }
  return spec;
}

// ------------------------------------------------------------------------------- YAML writer
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Labels(const std::map<std::string, std::string>& m) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : m) kv.push_back(absl::StrCat(Quote(k), ": ", Quote(v)));
  return absl::StrCat("{", absl::StrJoin(kv, ", "), "}");
}

std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t c = text.find(',', pos);
    out.push_back(text.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) return out;
    pos = c + 1;
  }
}

std::string SideYaml(const std::string& text) {
  std::vector<std::string> items;
  for (const std::string& x : SplitComma(text)) {
    if (x.rfind("group:", 0) == 0) items.push_back(absl::StrCat("{group: ", Quote(x.substr(6)), "}"));
    else items.push_back(Quote(x));
  }
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

std::string PortsYaml(const std::string& text) {
  std::vector<std::string> items;
  for (const std::string& x : SplitComma(text)) items.push_back(Quote(x));
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

// One rule from its canonical text (controller/nb_spec.cc RuleText) back to the policy syntax.
std::string RuleYaml(const NbRule& r) {
  std::vector<std::string> f = {absl::StrCat("id: ", r.id), absl::StrCat("priority: ", r.priority)};
  std::string rest = r.text;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string tok = rest.substr(0, sp);
    if (tok.rfind("name=", 0) == 0) {  // the name is last and may contain spaces
      f.push_back(absl::StrCat("name: ", Quote(rest.substr(5))));
      break;
    }
    rest = sp == std::string::npos ? std::string() : rest.substr(sp + 1);
    size_t eq = tok.find('=');
    std::string key = tok.substr(0, eq);
    std::string val = eq == std::string::npos ? std::string() : tok.substr(eq + 1);
    if (key == "dir") f.push_back(absl::StrCat("direction: ", val));
    else if (key == "family") f.push_back(absl::StrCat("family: ", val));
    else if (key == "proto") f.push_back(absl::StrCat("protocol: ", Quote(val)));
    else if (key == "src" && val != "any") f.push_back(absl::StrCat("source: ", SideYaml(val)));
    else if (key == "dst" && val != "any") f.push_back(absl::StrCat("destination: ", SideYaml(val)));
    else if (key == "sport") f.push_back(absl::StrCat("source_ports: ", PortsYaml(val)));
    else if (key == "dport") f.push_back(absl::StrCat("destination_ports: ", PortsYaml(val)));
    else if (key == "icmp_type") f.push_back(absl::StrCat("icmp_type: ", val));
    else if (key == "icmp_code") f.push_back(absl::StrCat("icmp_code: ", val));
    else if (key == "action") {
      size_t colon = val.find(':');
      f.push_back(absl::StrCat("action: ", val.substr(0, colon)));
      if (colon != std::string::npos) f.push_back(absl::StrCat("redirect_to: ", Quote(val.substr(colon + 1))));
    } else if (key == "log") f.push_back("log: true");
    else if (key == "stateless") f.push_back("stateless: true");
  }
  return absl::StrCat("  - {", absl::StrJoin(f, ", "), "}\n");
}

void Selector(std::string& out, const NbSelectorSet& m) {
  std::vector<std::string> items;
  for (const auto& p : m.ports) items.push_back(Quote(p));
  if (!m.selector.empty()) items.push_back(absl::StrCat("{selector: ", Labels(m.selector), "}"));
  absl::StrAppend(&out, "[", absl::StrJoin(items, ", "), "]\n");
}

}  // namespace

std::string NbSpecToYaml(const NbSpec& spec) {
  std::string out = "# Generated northbound spec (bench/support/nb_generator.cc)\n";
  auto doc = [&](const char* kind) { absl::StrAppend(&out, "---\nkind: ", kind, "\n"); };
  for (const auto& h : spec.hosts) {
    doc("Host");
    absl::StrAppend(&out, "name: ", Quote(h.name), "\nunderlay: ", h.underlay.ToString(), "\n");
  }
  for (const auto& t : spec.tenants) {
    doc("Tenant");
    absl::StrAppend(&out, "name: ", Quote(t), "\n");
  }
  for (const auto& s : spec.switches) {
    doc("LogicalSwitch");
    absl::StrAppend(&out, "tenant: ", Quote(s.tenant), "\nname: ", Quote(s.name), "\ncidr: ", s.cidr.ToString(), "\n");
  }
  for (const auto& r : spec.routers) {
    doc("LogicalRouter");
    absl::StrAppend(&out, "tenant: ", Quote(r.tenant), "\nname: ", Quote(r.name), "\nports:\n");
    for (const auto& p : r.ports)
      absl::StrAppend(&out, "  - {switch: ", Quote(p.sw), ", ip: ", p.ip.ToString(), "}\n");
    if (!r.static_routes.empty()) {
      out += "static_routes:\n";
      for (const auto& s : r.static_routes)
        absl::StrAppend(&out, "  - {prefix: ", s.dst.ToString(), ", nexthop: ", s.nexthop.ToString(), "}\n");
    }
    if (!r.policy_routes.empty()) {
      out += "policy_routes:\n";
      for (const auto& p : r.policy_routes) {
        std::string action = p.action == "firewall" ? absl::StrCat("firewall ", p.firewall) : p.action;
        absl::StrAppend(&out, "  - {priority: ", p.priority, ", match: {source: ", p.src.ToString(),
                        ", destination: ", p.dst.ToString(), "}, action: ", Quote(action), "}\n");
      }
    }
  }
  for (const auto& p : spec.ports) {
    doc("Port");
    absl::StrAppend(&out, "tenant: ", Quote(p.tenant), "\nswitch: ", Quote(p.sw), "\nname: ", Quote(p.name),
                    "\nmac: \"", MacText(p.mac), "\"\n");
    if (!p.ips.empty()) {
      std::vector<std::string> ips;
      for (const auto& ip : p.ips) ips.push_back(Quote(ip.ToString()));
      absl::StrAppend(&out, "ips: [", absl::StrJoin(ips, ", "), "]\n");
    }
    if (!p.host.empty()) absl::StrAppend(&out, "host: ", Quote(p.host), "\n");
    if (!p.labels.empty()) absl::StrAppend(&out, "labels: ", Labels(p.labels), "\n");
  }
  for (const auto& g : spec.groups) {
    doc("AddressGroup");
    absl::StrAppend(&out, "tenant: ", Quote(g.tenant), "\nname: ", Quote(g.name), "\n");
    if (!g.prefixes.empty()) {
      std::vector<std::string> ps;
      for (const auto& p : g.prefixes) ps.push_back(Quote(p.ToString()));
      absl::StrAppend(&out, "prefixes: [", absl::StrJoin(ps, ", "), "]\n");
    }
    if (!g.members.ports.empty()) {
      std::vector<std::string> ps;
      for (const auto& p : g.members.ports) ps.push_back(Quote(p));
      absl::StrAppend(&out, "ports: [", absl::StrJoin(ps, ", "), "]\n");
    }
    if (!g.members.selector.empty()) absl::StrAppend(&out, "selector: ", Labels(g.members.selector), "\n");
  }
  for (const auto& f : spec.firewalls) {
    doc("Firewall");
    absl::StrAppend(&out, "tenant: ", Quote(f.tenant), "\nname: ", Quote(f.name), "\n");
    if (f.placement == "inline")
      absl::StrAppend(&out, "placement:\n  inline: {switch: ", Quote(f.sw), ", router: ", Quote(f.router), "}\n");
    else
      absl::StrAppend(&out, "placement: {attached_to_router: ", Quote(f.router), "}\n");
    absl::StrAppend(&out, "default: ", f.default_action, "\n");
    if (!f.rules.empty()) {
      out += "rules:\n";
      for (const auto& r : f.rules) out += RuleYaml(r);
    }
  }
  for (const auto& v : spec.vnic_policies) {
    doc("VnicPolicy");
    absl::StrAppend(&out, "tenant: ", Quote(v.tenant), "\nname: ", Quote(v.name), "\napplied_to: ");
    Selector(out, v.applied_to);
    absl::StrAppend(&out, "default: ", v.default_action, "\n");
    if (!v.rules.empty()) {
      out += "rules:\n";
      for (const auto& r : v.rules) out += RuleYaml(r);
    }
  }
  return out;
}

// --------------------------------------------------------------------------- single changes

NbSpec AddOneRule(const NbSpec& spec, int n) {
  NbSpec out = spec;
  NbFirewall& fw = out.firewalls[static_cast<size_t>(n) % out.firewalls.size()];
  uint32_t id = 0;
  int32_t priority = 0;
  for (const auto& r : fw.rules) {
    id = std::max(id, r.id);
    priority = std::max(priority, r.priority);
  }
  // Last in evaluation order (before the default), so no other rule's rank changes.
  GenRule g;
  g.proto = "tcp";
  g.src_prefixes.push_back(Prefix::V4((198u << 24) | (19u << 16) | (static_cast<uint32_t>(n % 200) << 8), 24));
  for (const auto& ag : out.groups)
    if (ag.tenant == fw.tenant) {
      g.dst_groups.push_back(ag.name);
      break;
    }
  g.dports.push_back({10000 + n % 50000, 10000 + n % 50000});
  fw.rules.push_back(g.ToNb(id + 1, priority + 10));
  return out;
}

NbSpec MoveOnePort(const NbSpec& spec, int n) {
  NbSpec out = spec;
  std::vector<size_t> bound;
  for (size_t i = 0; i < out.ports.size(); ++i)
    if (!out.ports[i].host.empty()) bound.push_back(i);
  NbPort& p = out.ports[bound[(static_cast<uint64_t>(n) * 7919u + 13u) % bound.size()]];
  size_t h = 0;
  while (out.hosts[h].name != p.host) ++h;
  p.host = out.hosts[(h + 1 + static_cast<size_t>(n) % (out.hosts.size() - 1)) % out.hosts.size()].name;
  return out;
}

NbSpec AddOnePort(const NbSpec& spec, int n) {
  NbSpec out = spec;
  const NbSwitch& sw = out.switches[(static_cast<uint64_t>(n) * 31u) % out.switches.size()];
  NbPort p;
  p.tenant = sw.tenant;
  p.sw = sw.name;
  p.name = absl::StrCat("added", n);
  p.mac = 0x02ee00000000ull | static_cast<uint32_t>(n);
  std::set<uint32_t> used;
  for (const auto& q : out.ports)
    if (q.tenant == sw.tenant)
      for (const auto& ip : q.ips)
        if (ip.IsV4()) used.insert(ip.V4Addr());
  for (const auto& r : out.routers)
    if (r.tenant == sw.tenant)
      for (const auto& rp : r.ports)
        if (rp.ip.IsV4()) used.insert(rp.ip.V4Addr());
  uint32_t base = sw.cidr.addr.V4Addr();
  uint32_t size = sw.cidr.len >= 96 ? (1u << (128 - sw.cidr.len)) : 256u;
  for (uint32_t a = base + 10; a < base + size - 1; ++a)
    if (!used.count(a) && a != base + 254) {
      p.ips.push_back(Ip::V4(a));
      break;
    }
  p.host = out.hosts[(static_cast<uint64_t>(n) * 97u) % out.hosts.size()].name;
  // The labels of a neighbour on the same switch, so selectors pick the new port up.
  for (const auto& q : out.ports)
    if (q.tenant == sw.tenant && q.sw == sw.name) {
      p.labels = q.labels;
      break;
    }
  out.ports.push_back(std::move(p));
  return out;
}

// ------------------------------------------------------------------------------- OVN output
namespace {

using nlohmann::json;

std::string Ident(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) c = '_';
  return out;
}

json Set(std::vector<json> items) { return json::array({"set", std::move(items)}); }
json Map(const std::vector<std::pair<std::string, std::string>>& kv) {
  json pairs = json::array();
  for (const auto& [k, v] : kv) pairs.push_back(json::array({k, v}));
  return json::array({"map", pairs});
}
json Named(const std::string& n) { return json::array({"named-uuid", n}); }

std::string LspName(const std::string& t, const std::string& p) { return absl::StrCat(t, "_", p); }
std::string PgGroup(const std::string& t, const std::string& g) { return Ident(absl::StrCat("pg_", t, "_", g)); }
std::string AsGroup(const std::string& t, const std::string& g) { return Ident(absl::StrCat("as_", t, "_", g)); }
std::string PgInst(const std::string& t, const std::string& i) { return Ident(absl::StrCat("pgfw_", t, "_", i)); }

// Lookups over one spec.
class SpecIndex {
 public:
  explicit SpecIndex(const NbSpec& s) : spec_(s) {
    for (const auto& p : s.ports) ports_[p.tenant].push_back(&p);
    for (const auto& g : s.groups) groups_[{g.tenant, g.name}] = &g;
    for (const auto& r : s.routers)
      for (const auto& rp : r.ports) router_switches_[{r.tenant, r.name}].insert(rp.sw);
  }
  // Ports of an explicit list and/or a selector, sorted by name.
  std::set<std::string> Members(const std::string& t, const NbSelectorSet& m) const {
    std::set<std::string> out;
    auto it = ports_.find(t);
    if (it == ports_.end()) return out;
    std::set<std::string> explicit_ports(m.ports.begin(), m.ports.end());
    for (const NbPort* p : it->second) {
      if (explicit_ports.count(p->name)) out.insert(p->name);
      if (m.selector.empty()) continue;
      bool all = true;
      for (const auto& [k, v] : m.selector) {
        auto l = p->labels.find(k);
        if (l == p->labels.end() || l->second != v) all = false;
      }
      if (all) out.insert(p->name);
    }
    return out;
  }
  std::set<std::string> Protected(const NbFirewall& f) const {
    std::set<std::string> sws;
    auto it = router_switches_.find({f.tenant, f.router});
    if (it != router_switches_.end()) sws = it->second;
    if (f.placement == "inline") sws.insert(f.sw);
    std::set<std::string> out;
    auto pt = ports_.find(f.tenant);
    if (pt != ports_.end())
      for (const NbPort* p : pt->second)
        if (sws.count(p->sw)) out.insert(p->name);
    return out;
  }
  const NbAddressGroup* Group(const std::string& t, const std::string& g) const {
    auto it = groups_.find({t, g});
    return it == groups_.end() ? nullptr : it->second;
  }
  const NbSpec& spec() const { return spec_; }

 private:
  const NbSpec& spec_;
  std::map<std::string, std::vector<const NbPort*>> ports_;
  std::map<std::pair<std::string, std::string>, const NbAddressGroup*> groups_;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> router_switches_;
};

std::map<std::string, std::string> RuleFields(const std::string& text) {
  std::map<std::string, std::string> f;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t sp = text.find(' ', pos);
    std::string tok = text.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    if (tok.rfind("name=", 0) == 0) break;
    size_t eq = tok.find('=');
    f[tok.substr(0, eq)] = eq == std::string::npos ? "" : tok.substr(eq + 1);
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  return f;
}

std::string OvnSide(const SpecIndex& ix, const std::string& t, const std::string& field, const std::string& text,
                    bool v6) {
  std::vector<std::string> terms;
  for (const std::string& x : SplitComma(text)) {
    if (x.rfind("group:", 0) == 0) {
      std::string g = x.substr(6);
      const NbAddressGroup* ag = ix.Group(t, g);
      if (ag == nullptr || !ag->prefixes.empty()) terms.push_back("$" + AsGroup(t, g));
      if (ag != nullptr && (!ag->members.ports.empty() || !ag->members.selector.empty()))
        terms.push_back(absl::StrCat("$", PgGroup(t, g), v6 ? "_ip6" : "_ip4"));
    } else {
      terms.push_back(x);
    }
  }
  if (terms.size() == 1) return absl::StrCat(field, " == ", terms[0]);
  return absl::StrCat(field, " == {", absl::StrJoin(terms, ", "), "}");
}

std::string OvnPorts(const std::string& field, const std::string& text) {
  std::vector<std::string> singles, ranges;
  for (const std::string& x : SplitComma(text)) {
    size_t dash = x.find('-');
    if (dash == std::string::npos) singles.push_back(x);
    else ranges.push_back(absl::StrCat("(", field, " >= ", x.substr(0, dash), " && ", field, " <= ", x.substr(dash + 1), ")"));
  }
  std::vector<std::string> terms;
  if (singles.size() == 1) terms.push_back(absl::StrCat(field, " == ", singles[0]));
  else if (!singles.empty()) terms.push_back(absl::StrCat(field, " == {", absl::StrJoin(singles, ", "), "}"));
  terms.insert(terms.end(), ranges.begin(), ranges.end());
  if (terms.size() == 1) return terms[0];
  return absl::StrCat("(", absl::StrJoin(terms, " || "), ")");
}

std::string OvnAction(const std::string& a) {
  if (a == "drop") return "drop";
  if (a == "reject") return "reject";
  return "allow-related";  // allow; redirect has no OVN equivalent
}

// The ACL of one rule of instance `inst` (port group `pg`) at OVN priority `prio`.
json RuleAcl(const SpecIndex& ix, const std::string& t, const std::string& pg, const NbRule& r, int prio) {
  auto f = RuleFields(r.text);
  const std::string& src = f["src"];
  const std::string& dst = f["dst"];
  bool v6 = f["family"] == "ipv6" || f["proto"] == "icmpv6" || src.find(':') != std::string::npos ||
            dst.find(':') != std::string::npos;
  if (src.find("group:") != std::string::npos || dst.find("group:") != std::string::npos) {
    // group:x contains ':' too; decide by the literal prefixes only
    v6 = f["family"] == "ipv6" || f["proto"] == "icmpv6";
    for (const std::string* side : {&src, &dst})
      for (const std::string& x : SplitComma(*side))
        if (x.rfind("group:", 0) != 0 && x.find(':') != std::string::npos) v6 = true;
  }
  bool from_vm = f["dir"] == "from-vm";
  std::vector<std::string> m = {absl::StrCat(from_vm ? "inport" : "outport", " == @", pg), v6 ? "ip6" : "ip4"};
  const char* l3 = v6 ? "ip6" : "ip4";
  if (src != "any" && !src.empty()) m.push_back(OvnSide(ix, t, absl::StrCat(l3, ".src"), src, v6));
  if (dst != "any" && !dst.empty()) m.push_back(OvnSide(ix, t, absl::StrCat(l3, ".dst"), dst, v6));
  const std::string& proto = f["proto"];
  if (proto == "tcp" || proto == "udp") {
    m.push_back(proto);
    if (f.count("sport")) m.push_back(OvnPorts(proto + ".src", f["sport"]));
    if (f.count("dport")) m.push_back(OvnPorts(proto + ".dst", f["dport"]));
  } else if (proto == "icmp" || proto == "icmpv6") {
    const char* k = proto == "icmp" ? "icmp4" : "icmp6";
    m.push_back(k);
    if (f.count("icmp_type")) m.push_back(absl::StrCat(k, ".type == ", f["icmp_type"]));
    if (f.count("icmp_code")) m.push_back(absl::StrCat(k, ".code == ", f["icmp_code"]));
  } else if (proto != "any" && !proto.empty()) {
    m.push_back(absl::StrCat("ip.proto == ", proto));
  }
  std::string action = f["action"];
  action = action.substr(0, action.find(':'));
  return json{{"priority", prio},
              {"direction", from_vm ? "from-lport" : "to-lport"},
              {"match", absl::StrJoin(m, " && ")},
              {"action", OvnAction(action)}};
}

// OVN priorities of an instance's rules, by evaluation order (priority, then list position).
std::vector<int> OvnPriorities(const std::vector<NbRule>& rules) {
  std::vector<size_t> order(rules.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rules[a].priority < rules[b].priority; });
  std::vector<int> prio(rules.size());
  for (size_t rank = 0; rank < order.size(); ++rank)
    prio[order[rank]] = std::max(2, 32000 - static_cast<int>(rank));
  return prio;
}

class OvnWriter {
 public:
  explicit OvnWriter(const NbSpec& spec) : ix_(spec) {}

  json Full() {
    const NbSpec& s = ix_.spec();
    std::map<std::pair<std::string, std::string>, std::vector<json>> sw_ports;  // (t, sw) -> LSP refs
    for (const auto& p : s.ports) sw_ports[{p.tenant, p.sw}].push_back(Named(InsertLsp(p)));
    for (const auto& r : s.routers) {
      std::vector<json> lrps, routes, policies;
      for (const auto& rp : r.ports) {
        std::string lrp = absl::StrCat("lrp_", r.tenant, "_", r.name, "_", rp.sw);
        int len = 24;
        for (const auto& sw : s.switches)
          if (sw.tenant == r.tenant && sw.name == rp.sw) len = sw.cidr.IsV4() ? sw.cidr.len - 96 : sw.cidr.len;
        std::string u = Uuid();
        ops_.push_back({{"op", "insert"}, {"table", "Logical_Router_Port"}, {"uuid-name", u},
                        {"row", {{"name", lrp}, {"mac", MacText(rp.mac)},
                                 {"networks", Set({absl::StrCat(rp.ip.ToString(), "/", len)})}}}});
        lrps.push_back(Named(u));
        std::string lsp = Uuid();
        ops_.push_back({{"op", "insert"}, {"table", "Logical_Switch_Port"}, {"uuid-name", lsp},
                        {"row", {{"name", absl::StrCat(r.tenant, "_", rp.sw, "_", r.name)}, {"type", "router"},
                                 {"addresses", Set({"router"})}, {"options", Map({{"router-port", lrp}})}}}});
        sw_ports[{r.tenant, rp.sw}].push_back(Named(lsp));
      }
      for (const auto& sr : r.static_routes) {
        std::string u = Uuid();
        ops_.push_back({{"op", "insert"}, {"table", "Logical_Router_Static_Route"}, {"uuid-name", u},
                        {"row", {{"ip_prefix", sr.dst.ToString()}, {"nexthop", sr.nexthop.ToString()}}}});
        routes.push_back(Named(u));
      }
      for (const auto& pr : r.policy_routes) {
        std::string u = Uuid();
        bool v6 = !pr.src.IsV4();
        std::vector<std::string> m;
        const char* l3 = v6 ? "ip6" : "ip4";
        if (pr.src.len != (v6 ? 0 : 96)) m.push_back(absl::StrCat(l3, ".src == ", pr.src.ToString()));
        if (pr.dst.len != (v6 ? 0 : 96)) m.push_back(absl::StrCat(l3, ".dst == ", pr.dst.ToString()));
        if (m.empty()) m.push_back(l3);
        // OVN has no "steer to a firewall slice": the nearest is allow (reroute needs a next hop).
        ops_.push_back({{"op", "insert"}, {"table", "Logical_Router_Policy"}, {"uuid-name", u},
                        {"row", {{"priority", pr.priority}, {"match", absl::StrJoin(m, " && ")},
                                 {"action", pr.action == "drop" ? "drop" : "allow"}}}});
        policies.push_back(Named(u));
      }
      ops_.push_back({{"op", "insert"}, {"table", "Logical_Router"}, {"uuid-name", Uuid()},
                      {"row", {{"name", absl::StrCat(r.tenant, "_", r.name)}, {"ports", Set(lrps)},
                               {"static_routes", Set(routes)}, {"policies", Set(policies)}}}});
    }
    for (const auto& sw : s.switches)
      ops_.push_back({{"op", "insert"}, {"table", "Logical_Switch"}, {"uuid-name", Uuid()},
                      {"row", {{"name", absl::StrCat(sw.tenant, "_", sw.name)},
                               {"ports", Set(sw_ports[{sw.tenant, sw.name}])}}}});
    for (const auto& g : s.groups) {
      if (!g.prefixes.empty()) {
        std::vector<json> addrs;
        for (const auto& p : g.prefixes) addrs.push_back(p.ToString());
        ops_.push_back({{"op", "insert"}, {"table", "Address_Set"}, {"uuid-name", Uuid()},
                        {"row", {{"name", AsGroup(g.tenant, g.name)}, {"addresses", Set(addrs)}}}});
      }
      if (!g.members.ports.empty() || !g.members.selector.empty())
        ops_.push_back({{"op", "insert"}, {"table", "Port_Group"}, {"uuid-name", Uuid()},
                        {"row", {{"name", PgGroup(g.tenant, g.name)},
                                 {"ports", PortRefs(g.tenant, ix_.Members(g.tenant, g.members))}}}});
    }
    for (const auto& f : s.firewalls)
      Instance(f.tenant, f.name, f.default_action, f.rules, ix_.Protected(f), false);
    for (const auto& v : s.vnic_policies)
      Instance(v.tenant, v.name, v.default_action, v.rules, ix_.Members(v.tenant, v.applied_to), true);
    return Request();
  }

  json Request() {
    json params = json::array({"OVN_Northbound"});
    for (auto& op : ops_) params.push_back(std::move(op));
    ops_.clear();
    return json{{"method", "transact"}, {"params", params}, {"id", 1}};
  }

  std::string InsertLsp(const NbPort& p) {
    std::vector<std::string> addr = {MacText(p.mac)};
    for (const auto& ip : p.ips) addr.push_back(ip.ToString());
    json row = {{"name", LspName(p.tenant, p.name)}, {"addresses", Set({absl::StrJoin(addr, " ")})}};
    if (!p.host.empty()) row["options"] = Map({{"requested-chassis", p.host}});
    std::string u = Uuid();
    lsp_uuid_[{p.tenant, p.name}] = u;
    ops_.push_back({{"op", "insert"}, {"table", "Logical_Switch_Port"}, {"uuid-name", u}, {"row", row}});
    return u;
  }

  void Push(json op) { ops_.push_back(std::move(op)); }
  std::string Uuid() { return absl::StrCat("u", ++uuid_); }
  const SpecIndex& index() const { return ix_; }

 private:
  json PortRefs(const std::string& t, const std::set<std::string>& names) {
    std::vector<json> refs;
    for (const auto& n : names) refs.push_back(Named(lsp_uuid_.at({t, n})));
    return Set(refs);
  }

  void Instance(const std::string& t, const std::string& name, const std::string& def,
                const std::vector<NbRule>& rules, const std::set<std::string>& members, bool vnic) {
    std::string pg = PgInst(t, name);
    std::vector<int> prio = OvnPriorities(rules);
    std::vector<json> acls;
    for (size_t i = 0; i < rules.size(); ++i) {
      std::string u = Uuid();
      ops_.push_back({{"op", "insert"}, {"table", "ACL"}, {"uuid-name", u}, {"row", RuleAcl(ix_, t, pg, rules[i], prio[i])}});
      acls.push_back(Named(u));
    }
    for (int dir = 0; dir < (vnic ? 2 : 1); ++dir) {  // the default rule
      std::string u = Uuid();
      ops_.push_back({{"op", "insert"}, {"table", "ACL"}, {"uuid-name", u},
                      {"row", {{"priority", 1}, {"direction", dir == 0 ? "to-lport" : "from-lport"},
                               {"match", absl::StrCat(dir == 0 ? "outport" : "inport", " == @", pg, " && ip")},
                               {"action", OvnAction(def)}}}});
      acls.push_back(Named(u));
    }
    ops_.push_back({{"op", "insert"}, {"table", "Port_Group"}, {"uuid-name", Uuid()},
                    {"row", {{"name", pg}, {"ports", PortRefs(t, members)}, {"acls", Set(acls)}}}});
  }

  SpecIndex ix_;
  std::vector<json> ops_;
  std::map<std::pair<std::string, std::string>, std::string> lsp_uuid_;
  int uuid_ = 0;
};

json Where(const std::string& name) { return json::array({json::array({"name", "==", name})}); }
json MutateInsert(const char* table, const std::string& name, const char* column, const std::string& uuid) {
  return {{"op", "mutate"}, {"table", table}, {"where", Where(name)},
          {"mutations", json::array({json::array({column, "insert", Set({Named(uuid)})})})}};
}

}  // namespace

json OvnNbTransaction(const NbSpec& spec) { return OvnWriter(spec).Full(); }

absl::StatusOr<json> OvnNbChange(const NbSpec& before, const NbSpec& after) {
  OvnWriter w(after);
  // An added rule: one instance has one more rule.
  auto added_rule = [&](const std::string& t, const std::string& inst, const std::vector<NbRule>& b,
                        const std::vector<NbRule>& a) -> bool {
    if (a.size() != b.size() + 1) return false;
    std::set<uint32_t> old_ids;
    for (const auto& r : b) old_ids.insert(r.id);
    std::vector<int> prio = OvnPriorities(a);
    for (size_t i = 0; i < a.size(); ++i) {
      if (old_ids.count(a[i].id)) continue;
      std::string u = w.Uuid();
      std::string pg = PgInst(t, inst);
      w.Push({{"op", "insert"}, {"table", "ACL"}, {"uuid-name", u}, {"row", RuleAcl(w.index(), t, pg, a[i], prio[i])}});
      w.Push(MutateInsert("Port_Group", pg, "acls", u));
      return true;
    }
    return false;
  };
  if (before.firewalls.size() == after.firewalls.size())
    for (size_t i = 0; i < after.firewalls.size(); ++i)
      if (added_rule(after.firewalls[i].tenant, after.firewalls[i].name, before.firewalls[i].rules, after.firewalls[i].rules))
        return w.Request();
  if (before.vnic_policies.size() == after.vnic_policies.size())
    for (size_t i = 0; i < after.vnic_policies.size(); ++i)
      if (added_rule(after.vnic_policies[i].tenant, after.vnic_policies[i].name, before.vnic_policies[i].rules,
                     after.vnic_policies[i].rules))
        return w.Request();

  if (after.ports.size() == before.ports.size() + 1) {
    std::set<std::pair<std::string, std::string>> old;
    for (const auto& p : before.ports) old.insert({p.tenant, p.name});
    for (const auto& p : after.ports) {
      if (old.count({p.tenant, p.name})) continue;
      std::string u = w.InsertLsp(p);
      w.Push(MutateInsert("Logical_Switch", absl::StrCat(p.tenant, "_", p.sw), "ports", u));
      SpecIndex bix(before);
      for (const auto& g : after.groups)
        if (g.tenant == p.tenant && (!g.members.ports.empty() || !g.members.selector.empty()) &&
            w.index().Members(g.tenant, g.members).count(p.name))
          w.Push(MutateInsert("Port_Group", PgGroup(g.tenant, g.name), "ports", u));
      for (const auto& f : after.firewalls)
        if (f.tenant == p.tenant && w.index().Protected(f).count(p.name))
          w.Push(MutateInsert("Port_Group", PgInst(f.tenant, f.name), "ports", u));
      for (const auto& v : after.vnic_policies)
        if (v.tenant == p.tenant && w.index().Members(v.tenant, v.applied_to).count(p.name))
          w.Push(MutateInsert("Port_Group", PgInst(v.tenant, v.name), "ports", u));
      return w.Request();
    }
  }
  if (after.ports.size() == before.ports.size()) {
    for (size_t i = 0; i < after.ports.size(); ++i) {
      const NbPort &a = after.ports[i], &b = before.ports[i];
      if (a.host == b.host) continue;
      if (a.name != b.name || a.tenant != b.tenant) break;
      json opts = a.host.empty() ? Map({}) : Map({{"requested-chassis", a.host}});
      w.Push({{"op", "update"}, {"table", "Logical_Switch_Port"}, {"where", Where(LspName(a.tenant, a.name))},
              {"row", {{"options", opts}}}});
      return w.Request();
    }
  }
  return absl::InvalidArgumentError(
      "OvnNbChange: the specs differ by something other than one added rule, one added port or one moved port");
}

json OvnSbChassisTransaction(const NbSpec& spec) {
  json params = json::array({"OVN_Southbound"});
  int n = 0;
  for (const auto& h : spec.hosts) {
    std::string e = absl::StrCat("e", ++n);
    params.push_back({{"op", "insert"}, {"table", "Encap"}, {"uuid-name", e},
                      {"row", {{"type", "geneve"}, {"ip", h.underlay.ToString()}, {"chassis_name", h.name},
                               {"options", Map({{"csum", "true"}})}}}});
    params.push_back({{"op", "insert"}, {"table", "Chassis"}, {"uuid-name", absl::StrCat("c", n)},
                      {"row", {{"name", h.name}, {"hostname", h.name}, {"encaps", Set({Named(e)})}}}});
  }
  return json{{"method", "transact"}, {"params", params}, {"id", 1}};
}

std::map<std::string, int> OvnInsertCounts(const json& request) {
  std::map<std::string, int> counts;
  const json& params = request.at("params");
  for (size_t i = 1; i < params.size(); ++i)
    if (params[i].value("op", "") == "insert") ++counts[params[i].at("table").get<std::string>()];
  return counts;
}

}  // namespace rampart::bench
