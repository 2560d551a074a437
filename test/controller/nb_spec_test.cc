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
  // Switches and routers are both datapaths: one namespace per tenant.
  EXPECT_EQ(Err("---\nkind: LogicalRouter\ntenant: A\nname: ls1\n"),
            "t.yaml:35: document 7 (LogicalRouter ls1): name: a switch named 'ls1' already exists in tenant 'A' "
            "(switches and routers share one namespace)");
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
            "LogicalRouter, Port, AddressGroup, ServiceVM, Firewall, VnicPolicy)");
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

// kind: ServiceVM: defaults, every field's values, and the rows it becomes.
TEST(NbSpec, ServiceVmDefaultsAndRows) {
  auto s = ParseNbSpec(std::string(kBase) + "---\nkind: ServiceVM\ntenant: A\nname: ngfw\n" +
                           "---\nkind: ServiceVM\ntenant: A\nname: ids\non_failure: allow\ncheck: every-nth\nnth: 100\n"
                           "relay: true\nsame_host: source\nmigration: svm-review\n",
                       "t.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->services.size(), 2u);
  const NbServiceVm& d = s->services[0];
  EXPECT_EQ(d.name, "ngfw");
  EXPECT_EQ(d.on_failure, "drop");
  EXPECT_EQ(d.check, "cached");
  EXPECT_EQ(d.nth, 0);
  EXPECT_FALSE(d.relay);
  EXPECT_EQ(d.same_host, "both");
  EXPECT_EQ(d.migration, "engine");
  std::vector<std::string> rows;
  for (const auto& r : SpecToRows(*s)) {
    if (r.table != "ServiceVM") continue;
    std::string line;
    for (const auto& v : r.row) line += (line.empty() ? "" : "|") + v.ToString();
    rows.push_back(line);
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"A|ids|allow|every-nth|100|true|source|svm-review",
                                            "A|ngfw|drop|cached|0|false|both|engine"}));
  auto other = ParseNbSpec(std::string(kBase) + "---\nkind: ServiceVM\ntenant: A\nname: x\ncheck: every-packet\n"
                                                "same_host: destination\nmigration: svm\nrelay: false\n",
                           "t.yaml");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->services[0].check, "every-packet");
  EXPECT_EQ(other->services[0].same_host, "destination");
  EXPECT_EQ(other->services[0].migration, "svm");
}

TEST(NbSpec, ServiceVmFieldErrors) {
  const std::string svc = "---\nkind: ServiceVM\ntenant: A\nname: ngfw\n";
  EXPECT_EQ(Err(svc + "on_failure: reject\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): on_failure: expected drop, allow; got 'reject'");
  EXPECT_EQ(Err(svc + "check: sometimes\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): check: expected cached, every-packet, every-nth; got 'sometimes'");
  EXPECT_EQ(Err(svc + "check: every-nth\n"),
            "t.yaml:33: document 7 (ServiceVM ngfw): nth: required when check is every-nth (check with the service "
            "VM every nth packet, n >= 2)");
  for (const char* bad : {"1", "0", "-5", "ten", "2.5", "+3", "99999999999999999999", "2147483648"})
    EXPECT_EQ(Err(svc + "check: every-nth\nnth: " + bad + "\n"),
              std::string("t.yaml:37: document 7 (ServiceVM ngfw): nth: expected a whole number from 2 to 2147483647, "
                          "got '") + bad + "'")
        << bad;
  EXPECT_EQ(Err(svc + "check: every-nth\nnth: [3]\n"),
            "t.yaml:37: document 7 (ServiceVM ngfw): nth: expected a word, got a list");
  EXPECT_EQ(Err(svc + "nth: 100\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): nth: only check: every-nth takes nth (check is 'cached')");
  EXPECT_EQ(Err(svc + "check: every-packet\nnth: 100\n"),
            "t.yaml:37: document 7 (ServiceVM ngfw): nth: only check: every-nth takes nth (check is 'every-packet')");
  EXPECT_EQ(Err(svc + "relay: yes\n"), "t.yaml:36: document 7 (ServiceVM ngfw): relay: expected true or false, got 'yes'");
  EXPECT_EQ(Err(svc + "check: every-packet\nrelay: true\n"),
            "t.yaml:37: document 7 (ServiceVM ngfw): relay: relay: true needs check cached or every-nth (with "
            "every-packet no packet is answered from the cache)");
  EXPECT_EQ(Err(svc + "same_host: both-ways\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): same_host: expected both, source, destination; got 'both-ways'");
  EXPECT_EQ(Err(svc + "migration: vmotion\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): migration: expected engine, svm-review, svm; got 'vmotion'");
  EXPECT_EQ(Err(svc + "mode: inline\n"),
            "t.yaml:36: document 7 (ServiceVM ngfw): mode: unknown field 'mode' (known fields: kind, tenant, name, "
            "on_failure, check, nth, relay, same_host, migration)");
  EXPECT_EQ(Err(svc + "on_failure: \"\"\n"), "t.yaml:36: document 7 (ServiceVM ngfw): on_failure: must not be empty");
  EXPECT_EQ(Err("---\nkind: ServiceVM\ntenant: A\nname: bad/name\n"),
            "t.yaml:35: document 7 (ServiceVM bad/name): name: name 'bad/name' may contain only letters, digits, '-', "
            "'_' and '.'");
  EXPECT_EQ(Err("---\nkind: ServiceVM\nname: ngfw\n"),
            "t.yaml:33: document 7 (ServiceVM ngfw): tenant: required field is missing");
  EXPECT_EQ(Err("---\nkind: ServiceVM\ntenant: Z\nname: ngfw\n"),
            "t.yaml:34: document 7 (ServiceVM ngfw): tenant: unknown tenant 'Z' (add a 'kind: Tenant' document)");
  // Unique per tenant among ServiceVMs; a Firewall may share the name (another namespace).
  EXPECT_EQ(Err(svc + svc + "check: every-packet\n"),
            "t.yaml:39: document 8 (ServiceVM ngfw): name: service VM 'ngfw' is defined twice in tenant 'A'");
  EXPECT_EQ(Err(svc + "---\nkind: Firewall\ntenant: A\nname: ngfw\nplacement: {attached_to_router: r1}\n"), "OK");
}

TEST(NbSpec, RedirectRulesNameAServiceVmOfTheirTenant) {
  const std::string fw = "---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {attached_to_router: r1}\nrules:\n"
                         "  - {action: allow}\n  - {id: 7, action: redirect, redirect_to: ngfw, protocol: tcp}\n";
  EXPECT_EQ(Err(fw), "t.yaml:39: document 7 (Firewall fw): rules[1].redirect_to: unknown ServiceVM 'ngfw' in tenant 'A' "
                     "(add a 'kind: ServiceVM' document)");
  const std::string vnic = "---\nkind: VnicPolicy\ntenant: A\nname: vp\napplied_to: [vm1]\nrules:\n"
                           "  - action: redirect\n    redirect_to: ids\n";
  EXPECT_EQ(Err(vnic), "t.yaml:39: document 7 (VnicPolicy vp): rules[0].redirect_to: unknown ServiceVM 'ids' in tenant "
                       "'A' (add a 'kind: ServiceVM' document)");
  // A service of another tenant does not count.
  EXPECT_EQ(Err("---\nkind: Tenant\nname: B\n---\nkind: ServiceVM\ntenant: B\nname: ngfw\n" + fw),
            "t.yaml:46: document 9 (Firewall fw): rules[1].redirect_to: unknown ServiceVM 'ngfw' in tenant 'A' "
            "(add a 'kind: ServiceVM' document)");
  EXPECT_EQ(Err(fw + "  - {action: redirect}\n"),
            "t.yaml:40: document 7 (Firewall fw): rules[2].redirect_to: action redirect needs redirect_to (the "
            "service to hand packets to)");
  // With the service (declared after the rule: order does not matter) the rule becomes a row.
  auto s = ParseNbSpec(std::string(kBase) + fw + "---\nkind: ServiceVM\ntenant: A\nname: ngfw\n", "t.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->firewalls[0].rules.size(), 2u);
  EXPECT_EQ(s->firewalls[0].rules[0].service, "");
  EXPECT_EQ(s->firewalls[0].rules[1].service, "ngfw");
  EXPECT_NE(s->firewalls[0].rules[1].text.find("action=redirect:ngfw"), std::string::npos) << s->firewalls[0].rules[1].text;
  std::vector<std::string> rows;
  for (const auto& r : SpecToRows(*s)) {
    if (r.table != "FwRuleService") continue;
    std::string line;
    for (const auto& v : r.row) line += (line.empty() ? "" : "|") + v.ToString();
    rows.push_back(line);
  }
  EXPECT_EQ(rows, (std::vector<std::string>{"A|fw|7|ngfw"}));
  // A document alone does not check the reference (the merged check does).
  auto alone = ParseNbDocumentAlone(NbSource{fw.substr(4), "fw.yaml", 1, 0});
  EXPECT_TRUE(alone.ok()) << alone.status();
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


TEST(NbSpec, DashesInsideABlockScalarDoNotSplitDocuments) {
  std::string port = "---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm2\nmac: \"02:00:00:00:01:02\"\nlabels:\n"
                     "  note: |\n    first\n    ---\n    second\n  role: web\n";
  auto s = ParseNbSpec(std::string(kBase) + port, "t.yaml");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->ports.size(), 2u);
  EXPECT_EQ(s->ports[1].labels.at("note"), "first\n---\nsecond\n");
  EXPECT_EQ(s->ports[1].labels.at("role"), "web");
  // A "---" at column 0 after a block scalar still separates documents.
  auto d = ParseNbDocuments("kind: Tenant\nname: A\n---\nkind: Tenant\nname: B\n", "t.yaml");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->size(), 2u);
  d = ParseNbDocuments(std::string(kBase) + port + "---\nkind: Tenant\nname: Z\n", "t.yaml");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 8u);
  EXPECT_EQ(d->back().name, "Z");
  EXPECT_EQ(d->back().source.index, 8);
}

TEST(NbSpec, DocumentsAloneHaveIdentityCanonicalJsonAndSource) {
  auto d = ParseNbDocuments(kBase, "t.yaml");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 6u);
  EXPECT_EQ((*d)[0].kind, "Tenant");
  EXPECT_EQ((*d)[0].tenant, "");
  EXPECT_EQ((*d)[0].json, R"({"kind":"Tenant","name":"A"})");
  EXPECT_EQ((*d)[5].kind, "Port");
  EXPECT_EQ((*d)[5].tenant, "A");
  EXPECT_EQ((*d)[5].source.index, 6);
  EXPECT_EQ((*d)[5].source.first_line, 23);  // the "---" line before it (0-based)
  EXPECT_EQ((*d)[5].json,
            R"({"host":"h1","ips":["198.18.1.11"],"kind":"Port","mac":"02:00:00:00:01:01","name":"vm1","switch":"ls1","tenant":"A"})");
  // The same content written differently (flow style, comments, key order) is the same JSON;
  // quoted digits stay strings, plain integers become numbers; `revision` is taken out.
  auto a = ParseNbDocuments("kind: AddressGroup\ntenant: A\nname: \"007\"\nports: [p1]  # c\n", "a.yaml");
  auto b = ParseNbDocuments("{ports: [p1], name: '007', kind: AddressGroup, tenant: A, revision: 12}\n", "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_EQ((*a)[0].json, (*b)[0].json);
  EXPECT_EQ((*a)[0].json, R"({"kind":"AddressGroup","name":"007","ports":["p1"],"tenant":"A"})");
  EXPECT_EQ((*a)[0].revision, -1);
  EXPECT_EQ((*b)[0].revision, 12);
  auto f = ParseNbDocuments("kind: Firewall\ntenant: A\nname: f\nplacement: {attached_to_router: r}\n"
                            "rules:\n  - {id: 10, destination_ports: [80], action: allow}\n", "f.yaml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_NE((*f)[0].json.find(R"("id":10)"), std::string::npos) << (*f)[0].json;
  // The canonical JSON parses back to the same JSON.
  for (const auto& doc : *d) {
    auto again = ParseNbDocuments(doc.json, "j.json");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ((*again)[0].json, doc.json);
  }
}

TEST(NbSpec, DocumentsAloneSkipReferencesWhichTheMergedSetChecks) {
  std::string port = "kind: Port\ntenant: A\nswitch: ls9\nname: vm9\nmac: \"02:00:00:00:09:09\"\n";
  auto d = ParseNbDocuments(port, "p.yaml");
  ASSERT_TRUE(d.ok()) << d.status();
  auto base = ParseNbDocuments(kBase, "t.yaml");
  ASSERT_TRUE(base.ok());
  std::vector<NbSource> merged;
  for (const auto& b : *base) merged.push_back(NbSource{b.json, "/stored/" + b.name, 0, 0});
  merged.push_back((*d)[0].source);
  auto s = ParseNbSources(merged);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "p.yaml:3: document 1 (Port vm9): switch: unknown LogicalSwitch 'ls9' in tenant 'A'");
  // Errors about a source without an index name only its file (a store key).
  merged.back() = NbSource{R"({"kind":"Port","tenant":"A","switch":"ls9","name":"vm9","mac":"02:00:00:00:09:09"})", "/k/vm9", 0, 0};
  s = ParseNbSources(merged);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "/k/vm9 (Port vm9): switch: unknown LogicalSwitch 'ls9' in tenant 'A'");
  merged.pop_back();
  EXPECT_TRUE(ParseNbSources(merged).ok());
  EXPECT_TRUE(ParseNbSources({}).ok());  // no objects at all is a valid (empty) spec
}

TEST(NbSpec, EveryBadDocumentIsReportedAndRevisionIsChecked) {
  std::vector<std::string> errors;
  auto d = ParseNbDocuments("kind: Tenant\nname: ok\n---\nkind: Tenant\nname: 'a b'\n---\nkind: Host\nname: h\nunderlay: x\n"
                            "---\nkind: Tenant\nname: C\nrevision: -3\n",
                            "e.yaml", &errors);
  ASSERT_FALSE(d.ok());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "e.yaml:5: document 2 (Tenant a b): name: name 'a b' may contain only letters, digits, '-', '_' and '.'");
  EXPECT_EQ(errors[1], "e.yaml:9: document 3 (Host h): underlay: 'x' is not an IPv4 or IPv6 address");
  EXPECT_EQ(errors[2], "e.yaml:13: document 4: revision: expected the object's revision (a number >= 0), got '-3'");
  EXPECT_EQ(d.status().message(), errors[0]);
  // ParseNbSpec (rampartctl compile) accepts and ignores a revision, so `get -o yaml` output compiles.
  EXPECT_TRUE(ParseNbSpec(std::string(kBase) + "revision: 7\n", "t.yaml").ok());
}

TEST(NbSpec, ParseCacheGivesTheSameAnswersAsParsingAfresh) {
  std::string fw = "---\nkind: AddressGroup\ntenant: A\nname: web\nprefixes: [198.18.2.0/24]\n---\n"
                   "kind: Firewall\ntenant: A\nname: fw\nplacement: {attached_to_router: r1}\nrules:\n"
                   "  - {id: 1, destination: [{group: web}], action: allow}\n";
  auto docs = ParseNbDocuments(std::string(kBase) + fw, "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  std::vector<NbSource> src;
  for (const auto& d : *docs) src.push_back(NbSource{d.json, "/k/" + d.kind + "/" + d.name, 0, 0});
  NbParseCache cache;
  auto fresh = ParseNbSources(src);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  for (int i = 0; i < 2; ++i) {
    auto cached = ParseNbSources(src, &cache);
    ASSERT_TRUE(cached.ok()) << cached.status();
    EXPECT_EQ(SpecToRows(*cached).size(), SpecToRows(*fresh).size());
    ASSERT_EQ(cached->firewalls.size(), 1u);
    EXPECT_EQ(cached->firewalls[0].rules.size(), 1u);
    EXPECT_EQ(cached->firewalls[0].rules[0].groups, std::vector<std::string>{"web"});
  }
  EXPECT_EQ(cache.size(), src.size());
  // The group goes away: the cached firewall's reference is checked again and fails.
  std::vector<NbSource> without;
  for (const auto& s : src)
    if (s.file != "/k/AddressGroup/web") without.push_back(s);
  auto bad = ParseNbSources(without, &cache);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "/k/Firewall/fw (Firewall fw): rules[0].destination: unknown address group 'web'");
  EXPECT_EQ(cache.size(), without.size());  // entries not used by the latest call are dropped
}

TEST(NbSpec, InvalidUtf8IsAnErrorNotACrash) {  // fuzzer find
  auto d = ParseNbDocuments("kind: Tenant\nname: A\n---\nkind: Tenant\nname: B\nx: \"\x80\"\n", "u.yaml");
  ASSERT_FALSE(d.ok());
  d = ParseNbDocuments(std::string("kind: Port\ntenant: A\nswitch: s\nname: p\nmac: \"02:00:00:00:00:01\"\nlabels: {tier: \"\x80") + "eb\"}\n", "u.yaml");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(), "u.yaml:1: document 1 (Port p): the document is not valid UTF-8 text");
}

}  // namespace
}  // namespace rampart::controller
