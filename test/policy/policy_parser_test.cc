#include "policy/policy_parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "packet/packet.h"
#include "policy/classbench_import.h"
#include "policy/compiler.h"
#include "policy/validate.h"
#include "test/policy/policy_testing.h"

namespace rampart {
namespace {

Prefix P(const char* s) { return *Prefix::Parse(s); }

constexpr const char* kFull = R"(kind: FirewallPolicy
name: web-tier
default: reject
default_log: true
address_groups:
  - name: web-servers
    prefixes: [198.18.2.0/24, "2001:db8:2::/64"]
  - name: empty
    prefixes: []
rules:
  - id: 10
    name: allow-web
    priority: 100
    direction: to-vm
    source: [198.18.1.0/24, {group: web-servers}]
    destination: [{group: web-servers}]
    protocol: tcp
    destination_ports: [80, 443, "8000-8080"]
    source_ports: 1024-65535
    action: allow
    log: true
    stateless: true
  - name: ping
    direction: from-vm
    family: ipv4
    protocol: icmp
    icmp_type: 8
    icmp_code: 0
    action: drop
  - id: 30
    priority: -5
    protocol: 47
    destination: 2001:db8::/32
    action: redirect
    redirect_to: svm-1
)";

TEST(PolicyParser, ParsesEveryField) {
  auto p = ParsePolicyYaml(kFull, "full.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "web-tier");
  EXPECT_EQ(p->default_action, Action::kReject);
  EXPECT_TRUE(p->default_log);
  ASSERT_EQ(p->groups.size(), 2u);
  EXPECT_EQ(p->groups[0].name, "web-servers");
  EXPECT_EQ(p->groups[0].prefixes, (std::vector<Prefix>{P("198.18.2.0/24"), P("2001:db8:2::/64")}));
  EXPECT_TRUE(p->groups[1].prefixes.empty());
  ASSERT_EQ(p->rules.size(), 3u);
  const Rule& a = p->rules[0];
  EXPECT_EQ(a.id, 10u);
  EXPECT_EQ(a.name, "allow-web");
  EXPECT_EQ(a.priority, 100);
  EXPECT_EQ(a.direction_mask, 2);  // to the VM
  EXPECT_EQ(a.src.prefixes, std::vector<Prefix>{P("198.18.1.0/24")});
  EXPECT_EQ(a.src.groups, std::vector<std::string>{"web-servers"});
  EXPECT_TRUE(a.dst.prefixes.empty());
  EXPECT_EQ(a.dst.groups, std::vector<std::string>{"web-servers"});
  EXPECT_EQ(a.proto, kProtoTcp);
  EXPECT_EQ(a.dports, (std::vector<PortRange>{{80, 80}, {443, 443}, {8000, 8080}}));
  EXPECT_EQ(a.sports, (std::vector<PortRange>{{1024, 65535}}));
  EXPECT_EQ(a.action, Action::kAllow);
  EXPECT_TRUE(a.log);
  EXPECT_TRUE(a.stateless);
  const Rule& b = p->rules[1];
  EXPECT_EQ(b.id, 1u);        // position
  EXPECT_EQ(b.priority, 1);   // position
  EXPECT_EQ(b.direction_mask, 1);  // from the VM
  EXPECT_EQ(b.family, 4);
  EXPECT_TRUE(b.src.IsAny());
  EXPECT_EQ(b.proto, kProtoIcmp);
  EXPECT_EQ(b.icmp_type, 8);
  EXPECT_EQ(b.icmp_code, 0);
  EXPECT_EQ(b.action, Action::kDrop);
  EXPECT_FALSE(b.log);
  const Rule& c = p->rules[2];
  EXPECT_EQ(c.priority, -5);
  EXPECT_EQ(c.proto, 47);
  EXPECT_EQ(c.dst.prefixes, std::vector<Prefix>{P("2001:db8::/32")});
  EXPECT_EQ(c.action, Action::kRedirect);
  EXPECT_EQ(c.redirect_service, "svm-1");
  EXPECT_EQ(c.direction_mask, 3);
  auto cp = CompilePolicy(*p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_EQ((*cp)->services.size(), 1u);
  EXPECT_EQ((*cp)->services[0], "svm-1");
}

TEST(PolicyParser, AcceptsJsonAndDashedFieldNames) {
  auto p = ParsePolicyYaml(
      R"({"default": "allow", "default-log": true, "rules": [{"protocol": "udp", "destination-ports": [53], "action": "drop"}]})",
      "p.json");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_action, Action::kAllow);
  EXPECT_TRUE(p->default_log);
  ASSERT_EQ(p->rules.size(), 1u);
  EXPECT_EQ(p->rules[0].dports, (std::vector<PortRange>{{53, 53}}));
}

TEST(PolicyParser, MinimalDocumentIsDefaultDrop) {
  auto p = ParsePolicyYaml("name: x\n", "x.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->default_action, Action::kDrop);
  EXPECT_TRUE(p->rules.empty());
}

struct BadCase {
  const char* yaml;
  const char* message;  // the whole message
};

TEST(PolicyParser, ErrorsNameDocumentLineFieldAndReason) {
  const BadCase cases[] = {
      {"rules:\n  - protocol: tcp\n    destination_ports: [80, 900-80]\n    action: allow\n",
       "w.yaml:3:29: rules[0].destination_ports[1]: port range 900-80 is reversed"},
      {"rules:\n  - destination: [{group: web}]\n    action: allow\n",
       "w.yaml:2:18: rules[0].destination: unknown address group 'web'"},
      {"rules:\n  - protocol: tcp\n    icmp_type: 8\n    action: allow\n",
       "w.yaml:3:16: rules[0].icmp_type: icmp_type given for protocol tcp (only icmp and icmpv6 have types)"},
      {"rules:\n  - destinaton_ports: [80]\n    action: allow\n",
       "w.yaml:2:5: rules[0].destinaton_ports: unknown field 'destinaton_ports' (did you mean 'destination_ports'?)"},
      {"rules:\n  - action: allow\n    colour: red\n",
       "w.yaml:3:5: rules[0].colour: unknown field 'colour' (known fields: id, name, priority, direction, family, "
       "source, destination, protocol, source_ports, destination_ports, icmp_type, icmp_code, action, "
       "redirect_to, log, stateless)"},
      {"rules:\n  - action: allow\n    log: yes\n", "w.yaml:3:10: rules[0].log: expected true or false, got 'yes'"},
      {"rules:\n  - action: permit\n",
       "w.yaml:2:13: rules[0].action: unknown action 'permit' (allow, drop, reject or redirect)"},
      {"rules:\n  - protocol: tcp\n", "w.yaml:2:5: rules[0]: rule has no action (allow, drop, reject or redirect)"},
      {"rules:\n  - source: 198.18.1.1/24\n    action: allow\n",
       "w.yaml:2:13: rules[0].source: '198.18.1.1/24' has bits set below its length (did you mean 198.18.1.0/24?)"},
      {"rules:\n  - source: [198.18.1.0/33]\n    action: allow\n",
       "w.yaml:2:14: rules[0].source[0]: '198.18.1.0/33' has an invalid prefix length (0..32)"},
      {"rules:\n  - source: [web]\n    action: allow\n",
       "w.yaml:2:14: rules[0].source[0]: 'web' is not an address or prefix (e.g. 198.18.1.0/24, 2001:db8::/64)"},
      {"rules:\n  - source: []\n    action: allow\n",
       "w.yaml:2:13: rules[0].source: the list is empty (omit the field to match any)"},
      {"rules:\n  - protocol: tcp\n    destination_ports: [70000]\n    action: allow\n",
       "w.yaml:3:25: rules[0].destination_ports[0]: 70000 is out of range 0..65535"},
      {"rules:\n  - protocol: icmp\n    destination_ports: [80]\n    action: allow\n",
       "w.yaml:3:24: rules[0].destination_ports: destination_ports given for protocol icmp; use icmp_type and "
       "icmp_code"},
      {"rules:\n  - protocol: icmp\n    source: [\"2001:db8::/32\"]\n    action: allow\n",
       "w.yaml:3:13: rules[0].source: IPv6 prefix 2001:db8::/32 in an IPv4-only rule (protocol icmp)"},
      {"rules:\n  - protocol: icmpv6\n    family: ipv4\n    action: allow\n",
       "w.yaml:3:13: rules[0].family: family ipv4 conflicts with protocol icmpv6"},
      {"rules:\n  - action: redirect\n", "w.yaml:2:5: rules[0].redirect_to: action redirect needs redirect_to (the "
                                         "service to hand packets to)"},
      {"rules:\n  - action: allow\n    redirect_to: svm\n",
       "w.yaml:3:18: rules[0].redirect_to: redirect_to given for action allow (only action redirect uses it)"},
      {"rules:\n  - id: 1\n    action: allow\n  - action: drop\n",
       "w.yaml:4:5: rules[1].id: id 1 is already used by rules[0] (a rule without an id gets its position as id)"},
      {"rules:\n  - id: -1\n    action: allow\n", "w.yaml:2:9: rules[0].id: -1 is out of range 0..4294967293"},
      {"rules:\n  - id: ten\n    action: allow\n", "w.yaml:2:9: rules[0].id: expected a whole number, got 'ten'"},
      {"rules:\n  - direction: inbound\n    action: allow\n",
       "w.yaml:2:16: rules[0].direction: unknown direction 'inbound' (to-vm, from-vm or any)"},
      {"rules:\n  - protocol: tcpp\n    action: allow\n",
       "w.yaml:2:15: rules[0].protocol: unknown protocol 'tcpp' (tcp, udp, icmp, icmpv6, any or a number 0..255)"},
      {"rules:\n  - protocol: tcp\n    source_ports: [\"80-x\"]\n    action: allow\n",
       "w.yaml:3:20: rules[0].source_ports[0]: '80-x' is not a port (0..65535) or a range like 8000-8080"},
      {"rules: {action: allow}\n", "w.yaml:1:8: rules: expected a list, got a map"},
      {"rules:\n  - action: [allow]\n", "w.yaml:2:13: rules[0].action: expected a single value, got a list"},
      {"rules:\n  - action:\n", "w.yaml:2:5: rules[0].action: has no value (omit the field to use its default)"},
      {"default: redirect\n", "w.yaml:1:10: default: the default action must be allow, drop or reject"},
      {"kind: Firewall\n", "w.yaml:1:7: kind: kind is 'Firewall', expected 'FirewallPolicy'"},
      {"name: a\nname: b\n", "w.yaml:2:1: name: field 'name' given twice"},
      {"address_groups:\n  - name: a\n  - name: a\n",
       "w.yaml:3:11: address_groups[1].name: address group 'a' is already defined by address_groups[0]"},
      {"address_groups:\n  - prefixes: []\n", "w.yaml:2:5: address_groups[0]: address group has no name"},
      {"address_groups:\n  - name: a\n    prefixes: [198.18.0.0/16, 198.18.0.0/16]\n",
       "w.yaml:3:31: address_groups[0].prefixes[1]: prefix 198.18.0.0/16 listed twice"},
      {"rules:\n  - source: [{group: a}, {group: a}]\n    action: allow\naddress_groups: [{name: a}]\n",
       "w.yaml:2:13: rules[0].source: address group 'a' listed twice"},
      {"rules:\n  - source: [any, 198.18.0.0/16]\n    action: allow\n",
       "w.yaml:2:14: rules[0].source[0]: 'any' cannot be combined with other entries (omit the field to match any "
       "address)"},
      {"- a\n- b\n", "w.yaml:1:1: expected a map of policy fields, got a list"},
      {"", "w.yaml: document is empty"},
      {",\n", "w.yaml:1:1: YAML syntax error: unexpected text after the document"},  // yaml-cpp#1319 loops
      {"name: ok\nrules: []\n# fine: \xc3\xa9\nname: \x98x\n", "w.yaml:4:7: invalid UTF-8 (byte 0x98); a policy document is UTF-8 text"},
      {"name: a\n---\nname: b\n", "w.yaml:2:1: a second YAML document starts here; a policy is one document"},
  };
  for (const BadCase& c : cases) {
    auto p = ParsePolicyYaml(c.yaml, "w.yaml");
    ASSERT_FALSE(p.ok()) << c.yaml;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(p.status().message()), std::string(c.message)) << c.yaml;
  }
}

TEST(PolicyParser, YamlSyntaxErrorsHaveLineNumbers) {
  auto p = ParsePolicyYaml("name: x\nrules:\n  - action: allow\n    source: [198.18.0.0/16\n", "bad.yaml");
  ASSERT_FALSE(p.ok());
  std::string m(p.status().message());
  EXPECT_EQ(m.rfind("bad.yaml:", 0), 0u) << m;
  EXPECT_NE(m.find("YAML syntax error"), std::string::npos) << m;
  EXPECT_NE(m.find(":5:"), std::string::npos) << m;  // the flow list is still open at the end
  p = ParsePolicyYaml("name: x\n  bad indent: 1\n", "bad.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(std::string(p.status().message()).rfind("bad.yaml:2:", 0), 0u) << p.status();
}

TEST(PolicyParser, RoundTripsTheFullExample) {
  auto p = ParsePolicyYaml(kFull, "full.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  std::string text = SerializePolicyYaml(*p);
  auto q = ParsePolicyYaml(text, "serialized");
  ASSERT_TRUE(q.ok()) << q.status() << "\n" << text;
  EXPECT_TRUE(PolicyEquals(*p, *q)) << text;
  EXPECT_EQ(SerializePolicyYaml(*q), text);
}

TEST(PolicyParser, RandomPoliciesRoundTrip) {
  testing::PolicyGen gen(1);
  for (int i = 0; i < 300; ++i) {
    Policy p = gen.MakePolicy(20);
    if (gen.Chance(30)) p.name = "policy \"" + std::to_string(i) + "\": x";
    std::string text = SerializePolicyYaml(p);
    auto q = ParsePolicyYaml(text, "rt");
    ASSERT_TRUE(q.ok()) << q.status() << "\n" << text;
    ASSERT_TRUE(PolicyEquals(p, *q)) << text;
  }
}

TEST(PolicyParser, ExamplePoliciesParseAndCompile) {
  std::filesystem::path dir = std::filesystem::path(RAMPART_SOURCE_DIR) / "examples" / "policies";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml" && e.path().extension() != ".json") continue;
    ++n;
    auto p = ParsePolicyFile(e.path().string());
    ASSERT_TRUE(p.ok()) << p.status();
    auto cp = CompilePolicy(*p);
    EXPECT_TRUE(cp.ok()) << e.path() << ": " << cp.status();
  }
  EXPECT_GE(n, 3);
}

TEST(PolicyParser, MissingFileIsNotFound) {
  auto p = ParsePolicyFile("/nonexistent/policy.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("/nonexistent/policy.yaml"), std::string::npos);
}

TEST(ClassBenchImport, RulesBecomeAllowRulesInFileOrder) {
  const char* text =
      "@198.18.1.0/24\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x0000/0x0000\t\n"
      "@0.0.0.0/0\t198.18.2.7/32\t1024 : 65535\t0 : 65535\t0x00/0x00\t0x1000/0x1000\t\n"
      "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x01/0xFF\t0x0000/0x0000\t\n";
  auto p = ImportClassBench(text, "t.rules");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->rules.size(), 3u);
  EXPECT_EQ(p->default_action, Action::kDrop);
  const Rule& r0 = p->rules[0];
  EXPECT_EQ(r0.id, 0u);
  EXPECT_EQ(r0.priority, 0);
  EXPECT_EQ(r0.family, 4);
  EXPECT_EQ(r0.src.prefixes, std::vector<Prefix>{P("198.18.1.0/24")});
  EXPECT_TRUE(r0.dst.IsAny());
  EXPECT_TRUE(r0.sports.empty());
  EXPECT_EQ(r0.dports, (std::vector<PortRange>{{80, 80}}));
  EXPECT_EQ(r0.proto, kProtoTcp);
  EXPECT_EQ(r0.action, Action::kAllow);
  const Rule& r1 = p->rules[1];
  EXPECT_EQ(r1.id, 1u);
  EXPECT_FALSE(r1.proto.has_value());
  EXPECT_EQ(r1.sports, (std::vector<PortRange>{{1024, 65535}}));
  EXPECT_EQ(p->rules[2].proto, kProtoIcmp);
  // It round-trips through the native format too.
  auto q = ParsePolicyYaml(SerializePolicyYaml(*p), "rt");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(PolicyEquals(*p, *q));
  EXPECT_FALSE(ImportClassBench("@1.2.3.4/33\tx\n", "bad.rules").ok());
}

TEST(ClassBenchImport, ImportedSetCompiles) {
  auto p = ImportClassBenchFile(std::string(RAMPART_SHARED_DIR) + "/data/classbench/acl1_1k.rules");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->rules.size(), 891u);
  auto cp = CompilePolicy(*p);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ((*cp)->classifier->Stats().rules, 892u);
}

}  // namespace
}  // namespace rampart
