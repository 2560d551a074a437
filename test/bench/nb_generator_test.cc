#include "bench/support/nb_generator.h"

#include <set>

#include "gtest/gtest.h"

namespace rampart::bench {
namespace {

using controller::NbSpec;

// Field-by-field equality with a readable first difference.
std::string FirstDifference(const NbSpec& a, const NbSpec& b) {
  if (a.tenants != b.tenants) return "tenants";
  if (a.hosts.size() != b.hosts.size()) return "hosts.size";
  for (size_t i = 0; i < a.hosts.size(); ++i)
    if (a.hosts[i].name != b.hosts[i].name || a.hosts[i].underlay != b.hosts[i].underlay) return "host " + a.hosts[i].name;
  if (a.switches.size() != b.switches.size()) return "switches.size";
  for (size_t i = 0; i < a.switches.size(); ++i) {
    const auto &x = a.switches[i], &y = b.switches[i];
    if (x.tenant != y.tenant || x.name != y.name || x.cidr != y.cidr) return "switch " + x.name;
  }
  if (a.routers.size() != b.routers.size()) return "routers.size";
  for (size_t i = 0; i < a.routers.size(); ++i) {
    const auto &x = a.routers[i], &y = b.routers[i];
    if (x.tenant != y.tenant || x.name != y.name) return "router " + x.name;
    if (x.ports.size() != y.ports.size()) return "router ports " + x.name;
    for (size_t k = 0; k < x.ports.size(); ++k)
      if (x.ports[k].sw != y.ports[k].sw || x.ports[k].ip != y.ports[k].ip) return "router port " + x.ports[k].sw;
    if (x.static_routes.size() != y.static_routes.size()) return "static routes " + x.name;
    for (size_t k = 0; k < x.static_routes.size(); ++k)
      if (x.static_routes[k].dst != y.static_routes[k].dst || x.static_routes[k].nexthop != y.static_routes[k].nexthop)
        return "static route";
    if (x.policy_routes.size() != y.policy_routes.size()) return "policy routes " + x.name;
    for (size_t k = 0; k < x.policy_routes.size(); ++k) {
      const auto &p = x.policy_routes[k], &q = y.policy_routes[k];
      if (p.priority != q.priority || p.src != q.src || p.dst != q.dst || p.action != q.action || p.firewall != q.firewall)
        return "policy route";
    }
  }
  if (a.ports.size() != b.ports.size()) return "ports.size";
  for (size_t i = 0; i < a.ports.size(); ++i) {
    const auto &x = a.ports[i], &y = b.ports[i];
    if (x.tenant != y.tenant || x.sw != y.sw || x.name != y.name || x.host != y.host || x.mac != y.mac ||
        x.ips != y.ips || x.labels != y.labels)
      return "port " + x.tenant + "/" + x.name;
  }
  if (a.groups.size() != b.groups.size()) return "groups.size";
  for (size_t i = 0; i < a.groups.size(); ++i) {
    const auto &x = a.groups[i], &y = b.groups[i];
    if (x.tenant != y.tenant || x.name != y.name || x.prefixes != y.prefixes || x.members.ports != y.members.ports ||
        x.members.selector != y.members.selector)
      return "group " + x.tenant + "/" + x.name;
  }
  auto rules_eq = [](const std::vector<controller::NbRule>& p, const std::vector<controller::NbRule>& q) -> std::string {
    if (p.size() != q.size()) return "rule count";
    for (size_t k = 0; k < p.size(); ++k)
      if (p[k].id != q[k].id || p[k].priority != q[k].priority || p[k].text != q[k].text || p[k].groups != q[k].groups)
        return "rule '" + p[k].text + "' vs '" + q[k].text + "'";
    return "";
  };
  if (a.firewalls.size() != b.firewalls.size()) return "firewalls.size";
  for (size_t i = 0; i < a.firewalls.size(); ++i) {
    const auto &x = a.firewalls[i], &y = b.firewalls[i];
    if (x.tenant != y.tenant || x.name != y.name || x.placement != y.placement || x.router != y.router ||
        x.sw != y.sw || x.default_action != y.default_action)
      return "firewall " + x.name;
    if (auto d = rules_eq(x.rules, y.rules); !d.empty()) return "firewall " + x.tenant + ": " + d;
  }
  if (a.vnic_policies.size() != b.vnic_policies.size()) return "vnic_policies.size";
  for (size_t i = 0; i < a.vnic_policies.size(); ++i) {
    const auto &x = a.vnic_policies[i], &y = b.vnic_policies[i];
    if (x.tenant != y.tenant || x.name != y.name || x.default_action != y.default_action ||
        x.applied_to.ports != y.applied_to.ports || x.applied_to.selector != y.applied_to.selector)
      return "vnic policy " + x.name;
    if (auto d = rules_eq(x.rules, y.rules); !d.empty()) return "vnic " + x.tenant + ": " + d;
  }
  return "";
}

size_t RuleCount(const NbSpec& s) {
  size_t n = 0;
  for (const auto& f : s.firewalls) n += f.rules.size();
  for (const auto& v : s.vnic_policies) n += v.rules.size();
  return n;
}

TEST(NbGenerator, ProducesTheRequestedCounts) {
  for (GeneratorOptions o : {GeneratorOptions{20, 200, 5, 1000, 1}, GeneratorOptions{7, 33, 4, 101, 9},
                             GeneratorOptions{3, 2, 5, 7, 3}, GeneratorOptions{1, 0, 1, 0, 1}}) {
    NbSpec s = GenerateNbSpec(o);
    EXPECT_EQ(s.hosts.size(), static_cast<size_t>(o.hosts));
    EXPECT_EQ(s.ports.size(), static_cast<size_t>(o.ports));
    EXPECT_EQ(s.tenants.size(), static_cast<size_t>(o.tenants));
    EXPECT_EQ(RuleCount(s), static_cast<size_t>(o.rules));
    EXPECT_EQ(s.routers.size(), static_cast<size_t>(o.tenants));
    EXPECT_EQ(s.firewalls.size(), static_cast<size_t>(o.tenants));
  }
}

TEST(NbGenerator, IsDeterministicForASeedAndDiffersAcrossSeeds) {
  GeneratorOptions o{30, 300, 6, 900, 42};
  EXPECT_EQ(FirstDifference(GenerateNbSpec(o), GenerateNbSpec(o)), "");
  EXPECT_EQ(NbSpecToYaml(GenerateNbSpec(o)), NbSpecToYaml(GenerateNbSpec(o)));
  GeneratorOptions p = o;
  p.seed = 43;
  EXPECT_NE(NbSpecToYaml(GenerateNbSpec(o)), NbSpecToYaml(GenerateNbSpec(p)));
}

TEST(NbGenerator, YamlRoundTripsThroughParseNbSpec) {
  for (GeneratorOptions o : {GeneratorOptions{20, 200, 5, 1000, 1}, GeneratorOptions{7, 33, 4, 101, 9},
                             GeneratorOptions{3, 2, 5, 7, 3}, GeneratorOptions{300, 600, 3, 300, 5}}) {
    NbSpec s = GenerateNbSpec(o);
    std::string yaml = NbSpecToYaml(s);
    auto parsed = controller::ParseNbSpec(yaml, "gen.yaml");
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(FirstDifference(s, *parsed), "") << "seed " << o.seed;
  }
}

TEST(NbGenerator, SpreadIsRealistic) {
  NbSpec s = GenerateNbSpec(GeneratorOptions{100, 2000, 10, 5000, 7});
  // Ports are on many hosts, unevenly (skew), and every port is bound.
  std::map<std::string, int> per_host;
  for (const auto& p : s.ports) {
    ASSERT_FALSE(p.host.empty());
    ++per_host[p.host];
  }
  EXPECT_GT(per_host.size(), 80u);
  int max = 0;
  for (const auto& [h, n] : per_host) max = std::max(max, n);
  EXPECT_GT(max, 2 * 2000 / 100);
  // Rules use groups and prefixes; vNIC policies get about a fifth of them.
  size_t with_group = 0, vnic = 0, ranges = 0;
  for (const auto& f : s.firewalls)
    for (const auto& r : f.rules) {
      with_group += !r.groups.empty();
      ranges += r.text.find('-', r.text.find("dport=") == std::string::npos ? r.text.size() : r.text.find("dport=")) !=
                std::string::npos;
    }
  for (const auto& v : s.vnic_policies) vnic += v.rules.size();
  EXPECT_GT(with_group, 1000u);
  EXPECT_GT(ranges, 100u);
  EXPECT_NEAR(static_cast<double>(vnic), 1000.0, 50.0);
  // Tenants reuse address space once 198.18.0.0/16 is used up.
  NbSpec big = GenerateNbSpec(GeneratorOptions{10, 10000, 100, 100, 1});
  std::set<Prefix> cidrs;
  for (const auto& sw : big.switches) cidrs.insert(sw.cidr);
  EXPECT_LT(cidrs.size(), big.switches.size());
  for (const auto& c : cidrs) EXPECT_TRUE(Prefix::Parse("198.18.0.0/16")->Contains(c.addr));
}

}  // namespace
}  // namespace rampart::bench
