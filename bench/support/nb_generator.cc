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
      router.ports.push_back({sw.name, Ip::V4(base + 1), 0});
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

}  // namespace rampart::bench
