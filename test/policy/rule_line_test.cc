// policy::ParseRuleLine / RuleLine / BuildPolicy / PolicyToJson.
#include "policy/rule_line.h"

#include <random>

#include "gtest/gtest.h"
#include "policy/policy_parser.h"

#if __has_include("controller/nb_spec.h") && defined(RAMPART_TEST_HAS_CONTROLLER)
#include "controller/nb_spec.h"
#define RAMPART_RULE_LINE_VS_CONTROLLER 1
#endif

namespace rampart::policy {
namespace {

TEST(RuleLine, ReadsEveryField) {
  auto r = ParseRuleLine(
      "dir=from-vm family=ipv4 proto=udp src=198.18.1.0/24,group:web dst=any sport=1024-65535 dport=53,5353 "
      "action=redirect:svm-1 log stateless name=a label with spaces");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->direction_mask, 1);
  EXPECT_EQ(r->family, 4);
  ASSERT_TRUE(r->proto.has_value());
  EXPECT_EQ(*r->proto, 17);
  ASSERT_EQ(r->src.prefixes.size(), 1u);
  EXPECT_EQ(r->src.prefixes[0].ToString(), "198.18.1.0/24");
  ASSERT_EQ(r->src.groups.size(), 1u);
  EXPECT_EQ(r->src.groups[0], "web");
  EXPECT_TRUE(r->dst.IsAny());
  ASSERT_EQ(r->sports.size(), 1u);
  EXPECT_EQ(r->sports[0].lo, 1024);
  EXPECT_EQ(r->sports[0].hi, 65535);
  ASSERT_EQ(r->dports.size(), 2u);
  EXPECT_EQ(r->dports[1].lo, 5353);
  EXPECT_EQ(r->action, Action::kRedirect);
  EXPECT_EQ(r->redirect_service, "svm-1");
  EXPECT_TRUE(r->log);
  EXPECT_TRUE(r->stateless);
  EXPECT_EQ(r->name, "a label with spaces");

  auto icmp = ParseRuleLine("dir=to-vm family=ipv6 proto=icmpv6 src=2001:db8::/64 dst=any icmp_type=128 icmp_code=0 action=reject");
  ASSERT_TRUE(icmp.ok()) << icmp.status();
  EXPECT_EQ(icmp->direction_mask, 2);
  EXPECT_EQ(*icmp->proto, 58);
  EXPECT_EQ(*icmp->icmp_type, 128);
  EXPECT_EQ(*icmp->icmp_code, 0);
  EXPECT_EQ(icmp->action, Action::kReject);
  EXPECT_FALSE(icmp->src.prefixes[0].IsV4());
}

TEST(RuleLine, CanonicalLinesRoundTrip) {
  for (const char* line : {
           "dir=any proto=tcp src=198.18.1.0/24 dst=198.18.2.0/24 dport=80,5201 action=allow",
           "dir=any proto=any src=any dst=any action=drop",
           "dir=from-vm family=ipv6 proto=icmpv6 src=any dst=2001:db8::/64 icmp_type=135 action=allow log",
           "dir=to-vm proto=47 src=group:a,group:b dst=any action=reject stateless name=gre",
           "dir=any proto=icmp src=any dst=any icmp_type=8 icmp_code=0 action=redirect:ids name=x",
       }) {
    auto r = ParseRuleLine(line);
    ASSERT_TRUE(r.ok()) << line << ": " << r.status();
    EXPECT_EQ(RuleLine(*r), line);
  }
}

TEST(RuleLine, ErrorsNameTheTokenAndReason) {
  struct Case { const char* line; const char* want; };
  for (const Case& c : std::vector<Case>{
           {"dir=any proto=tcp src=any dst=198.18.2.0/33 action=allow", "token 4 'dst=198.18.2.0/33': bad address"},
           {"dir=sideways proto=tcp src=any dst=any action=allow", "token 1 'dir=sideways'"},
           {"dir=any proto=tcp src=any dst=any dport=90-80 action=allow", "reversed"},
           {"dir=any proto=tcp src=any dst=any dport=70000 action=allow", "bad port"},
           {"dir=any proto=tcp src=any dst=any", "no action"},
           {"dir=any proto=tcp src=any dst=any action=allow action=drop", "given twice"},
           {"dir=any proto=tcp src=any dst=any action=redirect:", "redirect:SERVICE"},
           {"dir=any proto=999 src=any dst=any action=allow", "protocol"},
           {"dir=any bogus=1 action=allow", "unknown field"},
           {"dir=any verbose action=allow", "unknown flag"},
           {"dir=any src=group: action=allow", "empty group"},
       }) {
    auto r = ParseRuleLine(c.line);
    ASSERT_FALSE(r.ok()) << c.line;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos) << c.line << " -> " << r.status().message();
  }
}

// Random rules: RuleLine then ParseRuleLine gives the same rule.
TEST(RuleLine, RandomRulesRoundTrip) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  for (int i = 0; i < 2000; ++i) {
    Rule r;
    r.direction_mask = 1 + pick(3);
    r.family = std::vector<uint8_t>{0, 4, 6}[pick(3)];
    if (pick(4)) r.proto = std::vector<uint8_t>{1, 6, 17, 58, 47, 0}[pick(6)];
    for (auto* side : {&r.src, &r.dst}) {
      for (int k = pick(3); k > 0; --k) {
        if (pick(2)) side->prefixes.push_back(Prefix::V4(static_cast<uint32_t>(rng()), pick(33)));
        else {
          uint8_t b[16];
          for (auto& x : b) x = static_cast<uint8_t>(rng());
          side->prefixes.push_back(Prefix::Make(Ip::V6(b), pick(129)));
        }
      }
      for (int k = pick(3); k > 0; --k) side->groups.push_back("g" + std::to_string(pick(100)));
    }
    for (auto* ports : {&r.sports, &r.dports}) {
      for (int k = pick(3); k > 0; --k) {
        uint16_t lo = static_cast<uint16_t>(rng()), hi = static_cast<uint16_t>(rng());
        if (lo > hi) std::swap(lo, hi);
        ports->push_back(PortRange{lo, hi});
      }
    }
    if (pick(3) == 0) r.icmp_type = static_cast<uint8_t>(rng());
    if (pick(3) == 0) r.icmp_code = static_cast<uint8_t>(rng());
    r.action = static_cast<Action>(pick(4));
    if (r.action == Action::kRedirect) r.redirect_service = "svc" + std::to_string(pick(9));
    r.log = pick(2);
    r.stateless = pick(2);
    if (pick(2)) r.name = "rule " + std::to_string(i);
    std::string line = RuleLine(r);
    auto back = ParseRuleLine(line);
    ASSERT_TRUE(back.ok()) << line << ": " << back.status();
    EXPECT_TRUE(RuleEquals(r, *back)) << line << "\n -> " << RuleLine(*back);
    EXPECT_EQ(RuleLine(*back), line);
  }
}

TEST(RuleLine, PolicyDocumentReadsBackEqual) {
  std::vector<RuleRow> rules = {
      {20, 5, "dir=any proto=udp src=any dst=group:dns dport=53 action=allow"},
      {10, 5, "dir=any proto=tcp src=198.18.1.0/24 dst=group:web dport=80,5201 action=allow log"},
      {30, 1, "dir=to-vm proto=icmp src=any dst=any icmp_type=8 action=reject name=no ping"},
      {40, 9, "dir=from-vm proto=tcp src=group:empty dst=any action=drop"},
  };
  std::vector<GroupRow> groups = {{"web", *Prefix::Parse("198.18.2.14/32")},
                                  {"web", *Prefix::Parse("198.18.2.13/32")},
                                  {"dns", *Prefix::Parse("2001:db8::53/128")}};
  auto p = BuildPolicy("A/fw", rules, groups, "reject");
  ASSERT_TRUE(p.ok()) << p.status();
  // Priority order, then id.
  ASSERT_EQ(p->rules.size(), 4u);
  EXPECT_EQ(p->rules[0].id, 30u);
  EXPECT_EQ(p->rules[1].id, 10u);
  EXPECT_EQ(p->rules[2].id, 20u);
  EXPECT_EQ(p->rules[3].id, 40u);
  EXPECT_EQ(p->rules[1].priority, 5);
  EXPECT_EQ(p->default_action, Action::kReject);
  ASSERT_EQ(p->groups.size(), 3u);  // dns, empty (referenced, no rows), web
  EXPECT_EQ(p->groups[1].name, "empty");
  EXPECT_TRUE(p->groups[1].prefixes.empty());
  EXPECT_EQ(p->groups[2].prefixes.size(), 2u);

  std::string json = PolicyToJson(*p);
  auto back = ParsePolicyYaml(json, "fei policy");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
  EXPECT_TRUE(PolicyEquals(*p, *back)) << json;
}

TEST(RuleLine, PolicyErrorsNameTheRule) {
  auto bad = BuildPolicy("A/fw", {{7, 0, "dir=any proto=tcp src=any dst=any dport=x action=allow"}}, {}, "drop");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("policy 'A/fw': rule 7:"), std::string::npos) << bad.status();
  auto dup = BuildPolicy("A/fw", {{7, 0, "dir=any action=allow"}, {7, 1, "dir=any action=drop"}}, {}, "drop");
  EXPECT_FALSE(dup.ok());
  auto def = BuildPolicy("A/fw", {}, {}, "redirect");
  ASSERT_FALSE(def.ok());
  EXPECT_NE(def.status().message().find("default action"), std::string::npos);
}

#ifdef RAMPART_RULE_LINE_VS_CONTROLLER
// Every field through the controller's output (nb_spec.cc prints with RuleLine): its text parses, and
// prints back identically; the parsed rule equals the one the policy parser reads from the
// same YAML rule.
TEST(RuleLine, ReadsWhatTheControllerPrints) {
  const char* spec = R"(kind: Tenant
name: A
---
kind: Host
name: h1
underlay: 198.19.255.1
---
kind: LogicalSwitch
tenant: A
name: ls1
cidr: 198.18.1.0/24
---
kind: LogicalRouter
tenant: A
name: r1
ports: [{switch: ls1, ip: 198.18.1.1}]
---
kind: AddressGroup
tenant: A
name: web
prefixes: [198.18.2.0/24]
---
kind: ServiceVM
tenant: A
name: svm-1
---
kind: Firewall
tenant: A
name: fw
placement: {attached_to_router: r1}
default: drop
rules:
  - {id: 1, priority: 4, direction: from-vm, family: ipv4, protocol: udp, source: [198.18.1.0/24, {group: web}], source_ports: ["1024-65535"], destination_ports: [53, 5353], action: allow, log: true, stateless: true, name: dns}
  - {id: 2, direction: to-vm, protocol: icmp, icmp_type: 8, icmp_code: 0, action: reject}
  - {id: 3, protocol: icmpv6, destination: ["2001:db8::/64"], action: drop}
  - {id: 4, protocol: 47, action: redirect, redirect_to: svm-1}
  - {id: 5, action: allow}
)";
  auto nb = controller::ParseNbSpec(spec, "t.yaml");
  ASSERT_TRUE(nb.ok()) << nb.status();
  ASSERT_EQ(nb->firewalls.size(), 1u);
  const auto& rules = nb->firewalls[0].rules;
  ASSERT_EQ(rules.size(), 5u);
  std::string yaml = "default: drop\naddress_groups: [{name: web, prefixes: [198.18.2.0/24]}]\nrules:\n";
  size_t start = std::string_view(spec).find("rules:\n") + 7;
  yaml += std::string(spec).substr(start);
  auto direct = ParsePolicyYaml(yaml, "direct");
  ASSERT_TRUE(direct.ok()) << direct.status();
  for (size_t i = 0; i < rules.size(); ++i) {
    auto r = ParseRuleLine(rules[i].text);
    ASSERT_TRUE(r.ok()) << rules[i].text << ": " << r.status();
    EXPECT_EQ(RuleLine(*r), rules[i].text);
    r->id = rules[i].id;
    r->priority = rules[i].priority;
    EXPECT_TRUE(RuleEquals(*r, direct->rules[i])) << rules[i].text;
  }
}
#endif

}  // namespace
}  // namespace rampart::policy
