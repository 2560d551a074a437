#include "agent/static_config.h"

#include <gtest/gtest.h>

namespace rampart::agent {
namespace {

constexpr const char* kGood = R"(
kind: HostConfig
vni: 77
hosts:
  - {name: h1, underlay: 198.19.255.1}
  - {name: h2, underlay: 198.19.255.2}
instances:
  - id: 1
    name: web
    options: {loose_tcp: true, max_conns_per_port: 1000}
    policy: |
      default: drop
      rules:
        - {id: 1, direction: from-vm, action: allow}
vms:
  - {name: a1, mac: "02:00:00:00:01:01", host: h1, protect: {instance: 1, port: 1, tags: [101, 102]}}
  - {name: b1, mac: "02:00:00:00:02:01", host: h2, ovs_port: tap-b1}
)";

TEST(StaticConfig, ParsesEveryField) {
  auto c = ParseStaticConfig(kGood, "hosts.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vni, 77u);
  ASSERT_EQ(c->hosts.size(), 2u);
  EXPECT_EQ(c->hosts[1].underlay, *Ip::Parse("198.19.255.2"));
  ASSERT_EQ(c->instances.size(), 1u);
  EXPECT_EQ(c->instances[0].options["loose_tcp"], true);
  EXPECT_EQ(c->instances[0].options["max_conns_per_port"], 1000);
  ASSERT_EQ(c->vms.size(), 2u);
  EXPECT_EQ(c->vms[0].ovs_port, "vm-a1");
  ASSERT_TRUE(c->vms[0].protect.has_value());
  EXPECT_EQ(c->vms[0].protect->tag_from_vm, 101);
  EXPECT_EQ(c->vms[0].protect->tag_to_vm, 102);
  EXPECT_EQ(c->vms[1].ovs_port, "tap-b1");
  EXPECT_FALSE(c->vms[1].protect.has_value());
}

struct BadCase {
  std::string from, to, expect;
};

TEST(StaticConfig, ErrorsNameTheDocumentFieldAndReason) {
  std::vector<BadCase> cases = {
      {"vni: 77", "vnii: 77", "hosts.yaml: vnii: unknown field"},
      {"\"02:00:00:00:01:01\", host: h1", "\"02:00:00:00:01\", host: h1", "vms[0].mac: '02:00:00:00:01' is not a MAC address"},
      {"tags: [101, 102]", "tags: [101, 101]", "vms[0].protect.tags[1]: tag 101 is used twice"},
      {"tags: [101, 102]", "tags: [101, 5000]", "vms[0].protect.tags[1]: must be 1..4094"},
      {"host: h2, ovs_port", "host: h9, ovs_port", "vms[1].host: unknown host 'h9'"},
      {"protect: {instance: 1", "protect: {instance: 4", "vms[0].protect.instance: unknown instance 4"},
      {"underlay: 198.19.255.2", "underlay: 2001:db8::1", "hosts[1].underlay: '2001:db8::1' is not an IPv4 address"},
      {"action: allow", "action: permit", "instances[0].policy"},
      {"\"02:00:00:00:02:01\", host: h2", "\"03:00:00:00:02:01\", host: h2", "vms[1].mac: '03:00:00:00:02:01' is a multicast address"},
  };
  for (const auto& bc : cases) {
    std::string text = kGood;
    size_t at = text.find(bc.from);
    ASSERT_NE(at, std::string::npos) << bc.from;
    text.replace(at, bc.from.size(), bc.to);
    auto c = ParseStaticConfig(text, "hosts.yaml");
    ASSERT_FALSE(c.ok()) << "accepted: " << bc.to;
    EXPECT_NE(c.status().message().find(bc.expect), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("hosts.yaml"), std::string::npos) << c.status().message();
  }
}

TEST(StaticConfig, NonScalarKeysAndValuesAreErrorsNotCrashes) {
  // Found by fuzz/static_config_fuzz.cc: a mapping key that is itself a list.
  for (const char* text : {"? [a, b]\n: 1\n", "hosts:\n  - {[x]: h1}\n",
                           "hosts: [{name: h1, underlay: 198.19.255.1}]\ninstances:\n  - {id: 1, policy: 'default: allow', options: {a: [1]}}\n",
                           "hosts: [{name: [h1], underlay: 198.19.255.1}]\n"}) {
    auto c = ParseStaticConfig(text, "k.yaml");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find("k.yaml"), std::string::npos) << c.status().message();
  }
}

TEST(StaticConfig, YamlSyntaxErrorsCarryTheLine) {
  auto c = ParseStaticConfig("hosts:\n  - {name: h1\n", "x.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("x.yaml: line"), std::string::npos) << c.status().message();
}

}  // namespace
}  // namespace rampart::agent
