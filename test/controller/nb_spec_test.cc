// Northbound spec parser: valid specs parse; every error names the file, line, document
// (index, kind, name), the field path and the reason; nothing is returned on error.
#include "controller/nb_spec.h"

#include <string>

#include "gtest/gtest.h"

namespace rampart::controller {
namespace {

const char kBase[] = R"(kind: Tenant
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
kind: LogicalSwitch
tenant: A
name: ls2
cidr: 198.18.2.0/24
---
kind: LogicalRouter
tenant: A
name: r1
ports:
  - {switch: ls1, ip: 198.18.1.1}
  - {switch: ls2, ip: 198.18.2.1}
---
kind: Port
tenant: A
switch: ls1
name: vm1
mac: "02:00:00:00:01:01"
ips: [198.18.1.11]
host: h1
)";

std::string Err(const std::string& extra) {
  auto s = ParseNbSpec(std::string(kBase) + extra, "t.yaml");
  if (s.ok()) return "OK";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

TEST(NbSpec, BaseParsesAndBecomesRows) {
  auto s = ParseNbSpec(kBase, "t.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->switches.size(), 2u);
  ASSERT_EQ(s->routers.size(), 1u);
  EXPECT_EQ(s->routers[0].ports.size(), 2u);
  auto rows = SpecToRows(*s);
  int ports = 0, router_ports = 0;
  for (const auto& r : rows) {
    ports += r.table == "Port";
    router_ports += r.table == "RouterPort";
    if (r.table != "Host") {
      EXPECT_EQ(r.row[0].ToString(), "A") << r.table;  // tenant first
    }
  }
  EXPECT_EQ(ports, 1);
  EXPECT_EQ(router_ports, 2);
}

TEST(NbSpec, ExampleSpecsParse) {
  for (const char* f : {"seed-attached", "seed-inline", "tenant-b-overlap"}) {
    auto s = ParseNbSpecFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + f + ".yaml");
    EXPECT_TRUE(s.ok()) << f << ": " << s.status();
  }
}

TEST(NbSpec, UnknownFieldNamesDocumentFieldAndReason) {
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm2\nmac: \"02:00:00:00:01:02\"\nmacc: x\n"),
            "t.yaml:38: document 7 (Port vm2): macc: unknown field 'macc' (known fields: kind, tenant, "
            "switch, name, mac, ips, host, labels)");
}

TEST(NbSpec, ReferenceErrors) {
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls9\nname: vm2\nmac: \"02:00:00:00:01:02\"\n"),
            "t.yaml:35: document 7 (Port vm2): switch: unknown LogicalSwitch 'ls9' in tenant 'A'");
  EXPECT_EQ(Err("---\nkind: Port\ntenant: Z\nswitch: ls1\nname: vm2\nmac: \"02:00:00:00:01:02\"\n"),
            "t.yaml:34: document 7 (Port vm2): tenant: unknown tenant 'Z' (add a 'kind: Tenant' document)");
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm2\nmac: \"02:00:00:00:01:02\"\nhost: h7\n"),
            "t.yaml:38: document 7 (Port vm2): host: unknown host 'h7' (add a 'kind: Host' document)");
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm2\nmac: \"02:00:00:00:01:02\"\nips: [198.18.2.5]\n"),
            "t.yaml:38: document 7 (Port vm2): ips[0]: 198.18.2.5 is outside switch 'ls1' (198.18.1.0/24)");
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm1\nmac: \"02:00:00:00:01:09\"\n"),
            "t.yaml:36: document 7 (Port vm1): name: port 'vm1' is defined twice in tenant 'A'");
  EXPECT_EQ(Err("---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {inline: {switch: ls1, router: r9}}\n"),
            "t.yaml:36: document 7 (Firewall fw): placement.inline.router: unknown LogicalRouter 'r9' in tenant 'A'");
  EXPECT_EQ(Err("---\nkind: VnicPolicy\ntenant: A\nname: v\napplied_to: [vm1, vm8]\n"),
            "t.yaml:36: document 7 (VnicPolicy v): applied_to[1]: unknown Port 'vm8' in tenant 'A'");
}

TEST(NbSpec, ValueErrors) {
  EXPECT_EQ(Err("---\nkind: LogicalSwitch\ntenant: A\nname: ls3\ncidr: 198.18.3.1/24\n"),
            "t.yaml:36: document 7 (LogicalSwitch ls3): cidr: prefix '198.18.3.1/24' has host bits set "
            "(did you mean 198.18.3.0/24?)");
  EXPECT_EQ(Err("---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm2\nmac: \"01:00:00:00:01:02\"\n"),
            "t.yaml:37: document 7 (Port vm2): mac: '01:00:00:00:01:02' is a multicast MAC address");
  EXPECT_EQ(Err("---\nkind: Gizmo\nname: g\n"),
            "t.yaml:33: document 7 (Gizmo g): kind: unknown kind 'Gizmo' (known: Tenant, Host, LogicalSwitch, "
            "LogicalRouter, Port, AddressGroup, Firewall, VnicPolicy)");
  EXPECT_EQ(Err("---\nkind: Tenant\n"), "t.yaml:33: document 7 (Tenant): name: required field is missing");
  EXPECT_EQ(Err("---\nkind: Tenant\nname: [a\n"), "t.yaml:36: document 7: YAML syntax error: end of sequence flow not found");
}

TEST(NbSpec, FirewallRuleAndRouteErrors) {
  const std::string fw = "---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {attached_to_router: r1}\nrules:\n";
  EXPECT_EQ(Err(fw + "  - {protocol: tcp, destination_ports: [80]}\n"),
            "t.yaml:38: document 7 (Firewall fw): rules[0]: rule has no action (allow, drop, reject or redirect)");
  EXPECT_EQ(Err(fw + "  - {action: allow}\n  - {action: allow, destination: [{group: nope}]}\n"),
            "t.yaml:39: document 7 (Firewall fw): rules[1].destination: unknown address group 'nope'");
  // A policy route may only steer to a firewall attached to that router.
  std::string spec = std::string(kBase);
  spec.insert(spec.find("---\nkind: Port"), "policy_routes:\n  - {match: {source: 198.18.1.0/24}, action: firewall fw}\n");
  auto s = ParseNbSpec(spec, "t.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()),
            "t.yaml:25: document 5 (LogicalRouter r1): policy_routes[0].action: unknown Firewall 'fw' in tenant 'A'");
  s = ParseNbSpec(spec + "---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {inline: {switch: ls1, router: r1}}\n", "t.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()),
            "t.yaml:25: document 5 (LogicalRouter r1): policy_routes[0].action: firewall 'fw' is not attached to "
            "router 'r1' (placement: attached_to_router)");
  s = ParseNbSpec(spec + "---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {attached_to_router: r1}\n", "t.yaml");
  EXPECT_TRUE(s.ok()) << s.status();
}

TEST(NbSpec, OverlappingTenantsAreAllowed) {
  std::string b = kBase;
  for (size_t at = b.find("A\n"); at != std::string::npos; at = b.find("A\n", at + 1)) b[at] = 'B';
  auto s = ParseNbSpec(std::string(kBase) + "---\n" + b.substr(0, b.find("---\nkind: Host")) +
                           b.substr(b.find("---\nkind: LogicalSwitch")),
                       "t.yaml");
  ASSERT_TRUE(s.ok()) << s.status() << "\n" << b;
  EXPECT_EQ(s->ports.size(), 2u);
}

TEST(NbSpec, EmptyInputIsAnError) {
  auto s = ParseNbSpec("# nothing\n---\n", "e.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.status().message()), "e.yaml: no documents");
}

}  // namespace
}  // namespace rampart::controller
