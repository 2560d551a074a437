#include "bench/support/nb_generator.h"

#include <functional>
#include <set>

#include "controller/logical_stage.h"
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
  for (GeneratorOptions o : {GeneratorOptions{20, 200, 5, 600, 1}, GeneratorOptions{7, 33, 4, 101, 9},
                             GeneratorOptions{3, 2, 5, 7, 3}, GeneratorOptions{300, 400, 3, 60, 5}}) {
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

TEST(NbGenerator, SingleChangesAreValidAndMinimal) {
  NbSpec s = GenerateNbSpec(GeneratorOptions{10, 60, 3, 150, 1});
  for (int n = 0; n < 3; ++n) {
    for (NbSpec changed : {AddOneRule(s, n), MoveOnePort(s, n), AddOnePort(s, n)}) {
      auto parsed = controller::ParseNbSpec(NbSpecToYaml(changed), "changed.yaml");
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(FirstDifference(changed, *parsed), "");
      // Exactly one input row group differs: a few rows, not the spec.
      auto before = controller::SpecToRows(s), after = controller::SpecToRows(changed);
      size_t changes = controller::DiffRows(before, after).changes().size();
      EXPECT_GE(changes, 1u);
      EXPECT_LE(changes, 8u);
    }
    EXPECT_EQ(RuleCount(AddOneRule(s, n)), RuleCount(s) + 1);
    EXPECT_EQ(AddOnePort(s, n).ports.size(), s.ports.size() + 1);
    NbSpec moved = MoveOnePort(s, n);
    int differ = 0;
    for (size_t i = 0; i < s.ports.size(); ++i) differ += s.ports[i].host != moved.ports[i].host;
    EXPECT_EQ(differ, 1);
  }
}

// Every named-uuid used is defined by an insert of the same request, every inserted row of a
// non-root table is referenced (OVSDB would garbage-collect it), and matches name only address
// sets and port groups that the request or the base transaction creates.
void CheckOvnRequest(const nlohmann::json& req, std::set<std::string>* names) {
  ASSERT_EQ(req.at("method"), "transact");
  const auto& params = req.at("params");
  ASSERT_EQ(params.at(0), "OVN_Northbound");
  std::set<std::string> defined, used;
  std::map<std::string, std::string> table_of;
  std::function<void(const nlohmann::json&)> refs = [&](const nlohmann::json& j) {
    if (j.is_array() && j.size() == 2 && j[0] == "named-uuid") used.insert(j[1].get<std::string>());
    else if (j.is_array() || j.is_object())
      for (const auto& x : j) refs(x);
  };
  for (size_t i = 1; i < params.size(); ++i) {
    const auto& op = params[i];
    if (op.at("op") == "insert") {
      std::string u = op.at("uuid-name");
      EXPECT_TRUE(defined.insert(u).second) << u;
      table_of[u] = op.at("table");
      if (op.at("table") == "Address_Set" || op.at("table") == "Port_Group")
        names->insert(op.at("row").at("name").get<std::string>());
      refs(op.at("row"));
    } else {
      refs(op);
    }
  }
  for (const auto& u : used) EXPECT_TRUE(defined.count(u)) << "undefined " << u;
  const std::set<std::string> roots = {"Logical_Switch", "Logical_Router", "Port_Group", "Address_Set"};
  for (const auto& [u, t] : table_of)
    if (!roots.count(t)) {
      EXPECT_TRUE(used.count(u)) << t << " row " << u << " is referenced by nothing";
    }
  for (size_t i = 1; i < params.size(); ++i) {
    const auto& op = params[i];
    if (op.at("op") != "insert" || op.at("table") != "ACL") continue;
    std::string m = op.at("row").at("match");
    for (size_t pos = 0; (pos = m.find_first_of("$@", pos)) != std::string::npos; ++pos) {
      size_t end = m.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", pos + 1);
      std::string name = m.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
      if (m[pos] == '$' && (name.size() > 4 && (name.substr(name.size() - 4) == "_ip4" || name.substr(name.size() - 4) == "_ip6")))
        name.resize(name.size() - 4);  // a port group's automatic address set
      EXPECT_TRUE(names->count(name)) << "match " << m << " names unknown " << name;
    }
  }
}

TEST(NbGenerator, OvnTransactionIsValidJsonWithTheRightTableCounts) {
  GeneratorOptions o{20, 200, 5, 1000, 1};
  NbSpec s = GenerateNbSpec(o);
  nlohmann::json req = OvnNbTransaction(s);
  // Valid JSON text that parses back to the same request.
  nlohmann::json reparsed = nlohmann::json::parse(req.dump());
  EXPECT_EQ(reparsed, req);
  std::set<std::string> names;
  CheckOvnRequest(reparsed, &names);
  auto counts = OvnInsertCounts(reparsed);
  size_t router_ports = 0, with_prefixes = 0, with_members = 0, static_routes = 0, policies = 0;
  for (const auto& r : s.routers) {
    router_ports += r.ports.size();
    static_routes += r.static_routes.size();
    policies += r.policy_routes.size();
  }
  for (const auto& g : s.groups) {
    with_prefixes += !g.prefixes.empty();
    with_members += !g.members.ports.empty() || !g.members.selector.empty();
  }
  EXPECT_EQ(counts["Logical_Switch"], static_cast<int>(s.switches.size()));
  EXPECT_EQ(counts["Logical_Switch_Port"], static_cast<int>(s.ports.size() + router_ports));
  EXPECT_EQ(counts["Logical_Router"], static_cast<int>(s.routers.size()));
  EXPECT_EQ(counts["Logical_Router_Port"], static_cast<int>(router_ports));
  EXPECT_EQ(counts["Logical_Router_Static_Route"], static_cast<int>(static_routes));
  EXPECT_EQ(counts["Logical_Router_Policy"], static_cast<int>(policies));
  EXPECT_EQ(counts["Address_Set"], static_cast<int>(with_prefixes));
  EXPECT_EQ(counts["Port_Group"], static_cast<int>(with_members + s.firewalls.size() + s.vnic_policies.size()));
  // One ACL per rule, one default per firewall, two per vNIC policy (both directions).
  EXPECT_EQ(counts["ACL"], static_cast<int>(o.rules + s.firewalls.size() + 2 * s.vnic_policies.size()));

  // The single changes.
  auto rule = OvnNbChange(s, AddOneRule(s, 3));
  ASSERT_TRUE(rule.ok()) << rule.status();
  CheckOvnRequest(nlohmann::json::parse(rule->dump()), &names);
  EXPECT_EQ(OvnInsertCounts(*rule), (std::map<std::string, int>{{"ACL", 1}}));
  auto port = OvnNbChange(s, AddOnePort(s, 3));
  ASSERT_TRUE(port.ok()) << port.status();
  CheckOvnRequest(*port, &names);
  EXPECT_EQ(OvnInsertCounts(*port), (std::map<std::string, int>{{"Logical_Switch_Port", 1}}));
  EXPECT_GE((*port)["params"].size(), 4u);  // insert, switch, tenant firewall's port group, ...
  auto move = OvnNbChange(s, MoveOnePort(s, 3));
  ASSERT_TRUE(move.ok()) << move.status();
  ASSERT_EQ((*move)["params"].size(), 2u);
  EXPECT_EQ((*move)["params"][1]["op"], "update");
  EXPECT_EQ(OvnNbChange(s, s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NbGenerator, OvnAclMatchesFollowTheRule) {
  NbSpec s = GenerateNbSpec(GeneratorOptions{4, 20, 1, 0, 1});
  s.firewalls[0].rules.push_back({7, 5, "dir=any proto=tcp src=198.19.1.0/24,group:ext0 dst=any dport=80,443,8000-8080 action=allow", {"ext0"}});
  s.firewalls[0].rules.push_back({8, 1, "dir=from-vm proto=icmp src=any dst=group:sel1 icmp_type=8 action=reject", {"sel1"}});
  auto req = OvnNbTransaction(s);
  std::vector<nlohmann::json> acls;
  for (const auto& op : req["params"])
    if (op.is_object() && op["table"] == "ACL" && op["row"]["priority"] != 1) acls.push_back(op["row"]);
  ASSERT_EQ(acls.size(), 2u);
  EXPECT_EQ(acls[0]["match"],
            "outport == @pgfw_t001_fw && ip4 && ip4.src == {198.19.1.0/24, $as_t001_ext0} && tcp && "
            "(tcp.dst == {80, 443} || (tcp.dst >= 8000 && tcp.dst <= 8080))");
  EXPECT_EQ(acls[0]["action"], "allow-related");
  EXPECT_EQ(acls[0]["direction"], "to-lport");
  EXPECT_EQ(acls[1]["match"], "inport == @pgfw_t001_fw && ip4 && ip4.dst == $pg_t001_sel1_ip4 && icmp4 && icmp4.type == 8");
  EXPECT_EQ(acls[1]["direction"], "from-lport");
  EXPECT_EQ(acls[1]["action"], "reject");
  // Rule 8 (priority 1) is evaluated before rule 7 (priority 5): higher OVN priority.
  EXPECT_GT(acls[1]["priority"].get<int>(), acls[0]["priority"].get<int>());
}

}  // namespace
}  // namespace rampart::bench
