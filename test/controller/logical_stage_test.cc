// Logical-stage programs on small topologies: spans, flows, overlapping tenants, inline and
// attached firewalls, the policy-route loop guard, incremental moves and from-scratch equality.
#include "controller/logical_stage.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rampart::controller {
namespace {

using nlog::Row;

std::string Hosts(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += "kind: Host\nname: h" + std::to_string(i) + "\nunderlay: 198.19.255." + std::to_string(i) + "\n---\n";
  return s;
}

std::string PortDoc(const std::string& t, const std::string& sw, const std::string& name, int mac, const std::string& ip,
                    const std::string& host, const std::string& extra = "") {
  char m[32];
  std::snprintf(m, sizeof m, "02:00:00:00:00:%02x", mac);
  return "---\nkind: Port\ntenant: " + t + "\nswitch: " + sw + "\nname: " + name + "\nmac: \"" + m + "\"\nips: [" + ip +
         "]\nhost: " + host + "\n" + extra;
}

// Tenant T: ls1 198.18.1.0/24 (vm1, vm2), ls2 198.18.2.0/24 (vm3, vm4), router r1.
std::string Topology(const std::string& t, const std::map<std::string, std::string>& host_of) {
  std::string s = "---\nkind: Tenant\nname: " + t + "\n";
  s += "---\nkind: LogicalSwitch\ntenant: " + t + "\nname: ls1\ncidr: 198.18.1.0/24\n";
  s += "---\nkind: LogicalSwitch\ntenant: " + t + "\nname: ls2\ncidr: 198.18.2.0/24\n";
  s += PortDoc(t, "ls1", "vm1", 1, "198.18.1.11", host_of.at("vm1"), "labels: {app: web}\n");
  s += PortDoc(t, "ls1", "vm2", 2, "198.18.1.12", host_of.at("vm2"));
  s += PortDoc(t, "ls2", "vm3", 3, "198.18.2.13", host_of.at("vm3"));
  s += PortDoc(t, "ls2", "vm4", 4, "198.18.2.14", host_of.at("vm4"));
  return s;
}

std::string Router(const std::string& t, const std::string& policy_routes = "") {
  return "---\nkind: LogicalRouter\ntenant: " + t +
         "\nname: r1\nports:\n  - {switch: ls1, ip: 198.18.1.1}\n  - {switch: ls2, ip: 198.18.2.1}\n" + policy_routes;
}

std::string AttachedFw(const std::string& t) {
  return Router(t, "policy_routes:\n  - match: {source: 198.18.1.0/24}\n    action: firewall fw\n") +
         "---\nkind: Firewall\ntenant: " + t + "\nname: fw\nplacement: {attached_to_router: r1}\nrules:\n" +
         "  - {id: 10, source: [198.18.1.0/24], destination: [198.18.2.0/24], protocol: tcp, "
         "destination_ports: [80, 5201], action: allow}\n";
}

std::string Vnic(const std::string& t, const std::string& applied) {
  return "---\nkind: VnicPolicy\ntenant: " + t + "\nname: vp\napplied_to: " + applied +
         "\nrules:\n  - {id: 1, direction: from-vm, action: allow}\n  - {id: 2, direction: to-vm, protocol: tcp, "
         "destination_ports: [22], action: allow}\n";
}

NbSpec Parse(const std::string& text) {
  auto s = ParseNbSpec(text, "test.yaml");
  EXPECT_TRUE(s.ok()) << s.status() << "\n" << text;
  return s.ok() ? *s : NbSpec{};
}

std::unique_ptr<LogicalStage> Stage() {
  auto s = LogicalStage::Create();
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

std::vector<Row> Scan(const LogicalStage& s, const char* t) {
  auto r = s.engine().Scan(t);
  EXPECT_TRUE(r.ok()) << t;
  return r.ok() ? *r : std::vector<Row>{};
}

// Rows of `table` as text, columns separated by '|'.
std::set<std::string> Text(const std::vector<Row>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) s += (i ? "|" : "") + r[i].ToString();
    out.insert(s);
  }
  return out;
}

// What hosts receive, in the shape of a per-host table: the program keeps flows per datapath and
// rules per instance, and the physical stage joins them with their hosts. Spanned() does that join
// here (independently of the physical stage): "PFlow" = PFlow + LFlow x DpHost (t, host, dp, ...)
// without a host's tunnel to itself,
// "FwRuleSpan" = InstRule x FwInstance (t, inst, rule, priority, text, host), "FwGroupSpan" =
// InstGroupAddr x FwInstance (t, inst, grp, prefix, host); any other table as it is.
std::vector<Row> Spanned(const LogicalStage& s, const std::string& t) {
  if (t == "PFlow") {
    std::vector<Row> out = Scan(s, "PFlow");
    for (const Row& dh : Scan(s, "DpHost"))
      for (const Row& f : Scan(s, "LFlow"))
        if (f[0] == dh[0] && f[1] == dh[1] && f[5].ToString() != "output(tunnel:" + dh[2].ToString() + ")")
          out.push_back({f[0], dh[2], f[1], f[2], f[3], f[4], f[5]});
    return out;
  }
  if (t == "FwRuleSpan" || t == "FwGroupSpan") {
    std::vector<Row> out;
    for (const Row& i : Scan(s, "FwInstance"))
      for (Row r : Scan(s, t == "FwRuleSpan" ? "InstRule" : "InstGroupAddr"))
        if (r[0] == i[0] && r[1] == i[1]) {
          r.push_back(i[3]);
          out.push_back(std::move(r));
        }
    return out;
  }
  return Scan(s, t.c_str());
}
std::set<std::string> Text(const LogicalStage& s, const char* t) { return Text(Spanned(s, t)); }

const std::map<std::string, std::string> kSpread = {{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h1"}, {"vm4", "h2"}};

std::string Svc(const std::string& t, const std::string& name, const std::string& fields = "") {
  return "---\nkind: ServiceVM\ntenant: " + t + "\nname: " + name + "\n" + fields;
}
// A vNIC policy on `applied` whose rule 5 redirects TCP to `svc` ("" = rule 5 allows instead).
std::string RedirectVnic(const std::string& t, const std::string& name, const std::string& applied, const std::string& svc) {
  std::string rule5 = svc.empty() ? "action: allow" : "action: redirect, redirect_to: " + svc;
  return "---\nkind: VnicPolicy\ntenant: " + t + "\nname: " + name + "\napplied_to: " + applied +
         "\nrules:\n  - {id: 1, direction: from-vm, action: allow}\n  - {id: 5, protocol: tcp, " + rule5 + "}\n";
}

TEST(LogicalStage, AttachedFirewallSpanReachesHostsOfProtectedSwitches) {
  auto st = Stage();
  // vm4 alone on h3: h3 still runs r1 and its switches, so it needs the firewall too.
  auto spec = Parse(Hosts(4) + Topology("A", {{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h1"}, {"vm4", "h3"}}) + AttachedFw("A"));
  ASSERT_TRUE(st->SetSpec(spec).ok());
  EXPECT_EQ(Text(*st, "FwInstance"),
            (std::set<std::string>{"A|fw|firewall|h1|drop", "A|fw|firewall|h2|drop", "A|fw|firewall|h3|drop"}));
  auto span = Text(*st, "FwRuleSpan");
  EXPECT_EQ(span.size(), 3u);
  for (const auto& s : span) EXPECT_NE(s.find("dport=80,5201 action=allow"), std::string::npos) << s;
  EXPECT_EQ(Text(*st, "FwSlice"), (std::set<std::string>{"A|fw|h1|attach", "A|fw|h2|attach", "A|fw|h3|attach"}));
  EXPECT_TRUE(Text(*st, "FwPortBinding").count("A|fw|vm4|h3"));
  // h4 has no port: nothing at all.
  for (const auto& r : Text(*st, "PFlow")) EXPECT_EQ(r.find("|h4|"), std::string::npos) << r;
}

TEST(LogicalStage, VnicPolicyReachesExactlyTheHostsOfItsVms) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + Topology("A", kSpread) + Vnic("A", "[vm2]"))).ok());
  EXPECT_EQ(Text(*st, "FwInstance"), (std::set<std::string>{"A|vp|vnic|h2|drop"}));
  EXPECT_EQ(Text(*st, "FwSlice"), (std::set<std::string>{"A|vp|h2|vm2"}));
  std::set<std::string> hosts;
  for (const auto& r : Spanned(*st, "FwRuleSpan")) hosts.insert(r[5].ToString());
  EXPECT_EQ(hosts, (std::set<std::string>{"h2"}));
  // Selector form: vm1 carries app=web.
  auto st2 = Stage();
  ASSERT_TRUE(st2->SetSpec(Parse(Hosts(2) + Topology("A", kSpread) + Vnic("A", "[{selector: {app: web}}]"))).ok());
  EXPECT_EQ(Text(*st2, "FwSlice"), (std::set<std::string>{"A|vp|h1|vm1"}));
  // Steering flows on vm1's switch, with the return guard.
  auto lf = Text(*st2, "LFlow");
  EXPECT_TRUE(lf.count("A|ls1|ls_in_vnic|100|inport==vm1 && ip|steer(firewall:vp:vm1)"));
  EXPECT_TRUE(lf.count("A|ls1|ls_in_vnic|110|inport==firewall:vp:vm1|inport=vm1; next"));
}

// ServiceHost: the service's row goes to every host of every instance redirecting to it, once.
TEST(LogicalStage, ServiceRowFollowsTheVmsOfTheRedirectingInstance) {
  auto st = Stage();
  const std::string base = Hosts(3) + Topology("A", kSpread) + Svc("A", "ngfw") +
                           Svc("A", "ids", "on_failure: allow\ncheck: every-nth\nnth: 7\n");
  ASSERT_TRUE(st->SetSpec(Parse(base + RedirectVnic("A", "vp", "[vm2]", "ngfw"))).ok());
  EXPECT_EQ(Text(*st, "ServiceHost"), (std::set<std::string>{"A|h2|ngfw|drop|cached|0|false|both|engine"}));
  // Two instances on h2 redirecting to ngfw: still one row per host; ids is used by none.
  ASSERT_TRUE(st->SetSpec(Parse(base + RedirectVnic("A", "vp", "[vm2, vm1]", "ngfw") +
                                RedirectVnic("A", "vq", "[vm4]", "ngfw")))
                  .ok());
  EXPECT_EQ(Text(*st, "ServiceHost"), (std::set<std::string>{"A|h1|ngfw|drop|cached|0|false|both|engine",
                                                             "A|h2|ngfw|drop|cached|0|false|both|engine"}));
  // vq stops redirecting: h2 keeps the row for vp (vm2), the delta says nothing about it.
  auto d = st->SetSpec(Parse(base + RedirectVnic("A", "vp", "[vm2, vm1]", "ngfw") + RedirectVnic("A", "vq", "[vm4]", "")));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tables.count("ServiceHost"), 0u);
  EXPECT_EQ(Text(*st, "ServiceHost").size(), 2u);
  // An attached firewall's redirect reaches every host of the firewall (h1, h2: its switches').
  ASSERT_TRUE(st->SetSpec(Parse(base + Router("A", "policy_routes:\n  - match: {source: 198.18.1.0/24}\n    action: firewall fw\n") +
                                "---\nkind: Firewall\ntenant: A\nname: fw\nplacement: {attached_to_router: r1}\nrules:\n"
                                "  - {id: 3, protocol: udp, action: redirect, redirect_to: ids}\n"))
                  .ok());
  EXPECT_EQ(Text(*st, "ServiceHost"), (std::set<std::string>{"A|h1|ids|allow|every-nth|7|false|both|engine",
                                                             "A|h2|ids|allow|every-nth|7|false|both|engine"}));
  // The VM moves: the row follows it.
  auto moved = kSpread;
  moved["vm2"] = "h3";
  auto st2 = Stage();
  ASSERT_TRUE(st2->SetSpec(Parse(base + RedirectVnic("A", "vp", "[vm2]", "ngfw"))).ok());
  d = st2->SetSpec(Parse(Hosts(3) + Topology("A", moved) + Svc("A", "ngfw") +
                         Svc("A", "ids", "on_failure: allow\ncheck: every-nth\nnth: 7\n") +
                         RedirectVnic("A", "vp", "[vm2]", "ngfw")));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->tables.count("ServiceHost"), 1u);
  EXPECT_EQ(Text(d->tables.at("ServiceHost").deleted), (std::set<std::string>{"A|h2|ngfw|drop|cached|0|false|both|engine"}));
  EXPECT_EQ(Text(d->tables.at("ServiceHost").inserted), (std::set<std::string>{"A|h3|ngfw|drop|cached|0|false|both|engine"}));
}

TEST(LogicalStage, ServiceBehaviourChangeChangesExactlyItsRowsAndTheLastRuleRetractsThem) {
  auto st = Stage();
  auto spec = [](const std::string& ngfw_fields, const std::string& vp_svc) {
    return Parse(Hosts(3) + Topology("A", kSpread) + Svc("A", "ngfw", ngfw_fields) + Svc("A", "ids") +
                 RedirectVnic("A", "vp", "[vm1, vm2]", vp_svc) + RedirectVnic("A", "vq", "[vm3]", "ids"));
  };
  ASSERT_TRUE(st->SetSpec(spec("", "ngfw")).ok());
  EXPECT_EQ(Text(*st, "ServiceHost"), (std::set<std::string>{"A|h1|ids|drop|cached|0|false|both|engine",
                                                             "A|h1|ngfw|drop|cached|0|false|both|engine",
                                                             "A|h2|ngfw|drop|cached|0|false|both|engine"}));
  // One behaviour field of ngfw: exactly ngfw's rows change, nothing else in the delta.
  auto d = st->SetSpec(spec("same_host: destination\n", "ngfw"));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->tables.size(), 1u) << "only ServiceHost changes";
  EXPECT_EQ(Text(d->tables.at("ServiceHost").deleted), (std::set<std::string>{"A|h1|ngfw|drop|cached|0|false|both|engine",
                                                                              "A|h2|ngfw|drop|cached|0|false|both|engine"}));
  EXPECT_EQ(Text(d->tables.at("ServiceHost").inserted),
            (std::set<std::string>{"A|h1|ngfw|drop|cached|0|false|destination|engine",
                                   "A|h2|ngfw|drop|cached|0|false|destination|engine"}));
  d = st->SetSpec(spec("same_host: destination\ncheck: every-nth\nnth: 3\nrelay: true\nmigration: svm\n", "ngfw"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Text(d->tables.at("ServiceHost").inserted),
            (std::set<std::string>{"A|h1|ngfw|drop|every-nth|3|true|destination|svm",
                                   "A|h2|ngfw|drop|every-nth|3|true|destination|svm"}));
  // The last rule redirecting to ngfw stops: its rows are retracted, ids' stays.
  d = st->SetSpec(spec("same_host: destination\ncheck: every-nth\nnth: 3\nrelay: true\nmigration: svm\n", ""));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Text(d->tables.at("ServiceHost").deleted).size(), 2u);
  EXPECT_TRUE(d->tables.at("ServiceHost").inserted.empty());
  EXPECT_EQ(Text(*st, "ServiceHost"), (std::set<std::string>{"A|h1|ids|drop|cached|0|false|both|engine"}));
  // A change to a service no rule uses changes no output at all.
  d = st->SetSpec(spec("on_failure: allow\n", ""));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->empty());
}

TEST(LogicalStage, OverlappingTenantAddressSpacesStaySeparate) {
  auto st = Stage();
  auto spec = Parse(Hosts(4) + Topology("A", kSpread) + AttachedFw("A") +
                    Topology("B", {{"vm1", "h3"}, {"vm2", "h3"}, {"vm3", "h4"}, {"vm4", "h4"}}) + Router("B"));
  ASSERT_TRUE(st->SetSpec(spec).ok());
  for (const auto& r : Spanned(*st, "PFlow")) {
    std::string t = r[0].ToString(), h = r[1].ToString();
    if (t == "A") {
      EXPECT_TRUE(h == "h1" || h == "h2") << RowToString(r);
    }
    if (t == "B") {
      EXPECT_TRUE(h == "h3" || h == "h4") << RowToString(r);
    }
  }
  for (const auto& r : Scan(*st, "FwInstance")) EXPECT_EQ(r[0].ToString(), "A");
  // Same MAC in both tenants, each delivered to its own tenant's port on its own host.
  auto pf = Text(*st, "PFlow");
  EXPECT_TRUE(pf.count("A|h1|ls1|ls_out_deliver|100|outport==vm1|output(vm1)"));
  EXPECT_TRUE(pf.count("B|h3|ls1|ls_out_deliver|100|outport==vm1|output(vm1)"));
  EXPECT_FALSE(pf.count("B|h1|ls1|ls_out_deliver|100|outport==vm1|output(vm1)"));
  EXPECT_FALSE(pf.count("A|h3|ls1|ls_out_deliver|100|outport==vm1|output(vm1)"));
  // B has no policy route: its router never steers.
  for (const auto& r : Scan(*st, "RouterPolicy")) EXPECT_EQ(r[0].ToString(), "A");
}

TEST(LogicalStage, InlineFirewallGetsBothSides) {
  auto st = Stage();
  auto spec = Parse(Hosts(2) + Topology("A", kSpread) + Router("A") +
                    "---\nkind: Firewall\ntenant: A\nname: fi\nplacement: {inline: {switch: ls2, router: r1}}\n"
                    "rules:\n  - {action: allow, protocol: tcp, destination_ports: [80]}\n");
  ASSERT_TRUE(st->SetSpec(spec).ok());
  EXPECT_EQ(Text(*st, "FwSlice"), (std::set<std::string>{"A|fi|h1|router", "A|fi|h1|switch", "A|fi|h2|router",
                                                         "A|fi|h2|switch"}));
  auto lf = Text(*st, "LFlow");
  std::string ls2_to_router, router_to_ls2, router_from_fw;
  for (const auto& r : Scan(*st, "LFlow")) {
    std::string dp = r[1].ToString(), stage = r[2].ToString(), a = r[5].ToString(), m = r[4].ToString();
    if (dp == "ls2" && stage == "ls_in_l2" && m.rfind("eth.dst==02:52:", 0) == 0) ls2_to_router = a;
    if (dp == "r1" && stage == "lr_out" && m == "outport==ls2") router_to_ls2 = a;
    if (dp == "r1" && stage == "lr_in_port" && m.find("firewall:fi:router") != std::string::npos) router_from_fw = a;
  }
  EXPECT_EQ(ls2_to_router, "outport=firewall:fi:switch");               // switch side
  // The router-to-switch crossing is judged on the destination VM's host (so both directions of
  // a connection cross on one host): the router hands the frame to ls2 as usual ...
  EXPECT_EQ(router_to_ls2, "ttl--; output(switch:ls2)");
  EXPECT_TRUE(lf.count("A|ls2|ls_in_port_sec|100|inport==rtr:r1|next"));
  EXPECT_EQ(router_from_fw, "inport=ls2; next");                         // returns as if from ls2
  EXPECT_TRUE(lf.count("A|ls2|ls_in_port_sec|100|inport==firewall:fi:switch|next"));
  // ... and each ls2 VM's host steers routed frames for it into the router side before delivery,
  // for its local VMs only.
  int steers = 0;
  for (const auto& r : Spanned(*st, "PFlow")) {
    if (r[2].ToString() != "ls2" || r[3].ToString() != "ls_out_deliver") continue;
    if (r[6].ToString() != "steer(firewall:fi:router)") continue;
    ++steers;
    EXPECT_EQ(r[4].AsInt(), 110);
    EXPECT_NE(r[5].ToString().find("!from_firewall"), std::string::npos);
  }
  int local_ls2_ports = 0;
  for (const auto& r : Spanned(*st, "PFlow")) {
    if (r[2].ToString() == "ls2" && r[3].ToString() == "ls_out_deliver" && r[4].AsInt() == 100 &&
        r[6].ToString().rfind("output(vm", 0) == 0) ++local_ls2_ports;
  }
  EXPECT_EQ(steers, local_ls2_ports);
  EXPECT_GT(steers, 0);
  // ls1 is not behind the inline firewall: its router port is plain.
  EXPECT_TRUE(lf.count("A|r1|lr_out|100|outport==ls1|ttl--; output(switch:ls1)"));
}

// Which policy route a frame takes: the highest-priority RouterPolicy row matching it.
std::string PolicyDecision(const LogicalStage& st, const std::string& ingress, const std::string& src,
                           const std::string& dst) {
  int64_t best = -1;
  std::string action = "next";  // the priority-0 default
  for (const auto& r : Scan(st, "RouterPolicy")) {
    if (!r[3].AsPrefix().Contains(*Ip::Parse(src)) || !r[4].AsPrefix().Contains(*Ip::Parse(dst))) continue;
    if (!r[5].ToString().empty() && r[5].ToString() == ingress) continue;
    if (r[2].AsInt() > best) best = r[2].AsInt(), action = r[6].ToString();
  }
  return action;
}

TEST(LogicalStage, PolicyRouteCannotLoop) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + Topology("A", kSpread) + AttachedFw("A"))).ok());
  // From ls1: steered to the firewall.
  EXPECT_EQ(PolicyDecision(*st, "ls1", "198.18.1.11", "198.18.2.13"), "steer(firewall:fw:attach)");
  // Back from the firewall (ingress = the firewall's port): routed, not steered again.
  EXPECT_EQ(PolicyDecision(*st, "firewall:fw:attach", "198.18.1.11", "198.18.2.13"), "next");
  // Other sources are not steered.
  EXPECT_EQ(PolicyDecision(*st, "ls2", "198.18.2.13", "198.18.1.11"), "next");
  auto lf = Text(*st, "LFlow");
  EXPECT_TRUE(lf.count("A|r1|lr_in_policy|1000|ip.src==198.18.1.0/24 && ip.dst==0.0.0.0/0 && "
                       "inport!=firewall:fw:attach|steer(firewall:fw:attach)"));
  EXPECT_TRUE(lf.count("A|r1|lr_in_port|100|inport==firewall:fw:attach|next"));
}

TEST(LogicalStage, RoutingFlows) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + Topology("A", kSpread) +
                                Router("A", "static_routes:\n  - {prefix: 198.18.100.0/24, nexthop: 198.18.2.254}\n")))
                  .ok());
  int connected = 0, statics = 0;
  for (const auto& r : Scan(*st, "LFlow")) {
    if (r[2].ToString() != "lr_in_routing" || r[3].AsInt() == 0) continue;
    std::string m = r[4].ToString(), a = r[5].ToString();
    if (m == "ip.dst==198.18.1.0/24" || m == "ip.dst==198.18.2.0/24") {
      ++connected;
      EXPECT_EQ(r[3].AsInt(), 49);
    }
    if (m == "ip.dst==198.18.100.0/24") {
      ++statics;
      EXPECT_EQ(r[3].AsInt(), 48);
      EXPECT_EQ(a.substr(0, 12), "outport=ls2;");
      EXPECT_NE(a.find("nexthop=198.18.2.254"), std::string::npos);
    }
  }
  EXPECT_EQ(connected, 2);
  EXPECT_EQ(statics, 1);
  // ARP answers for port and router addresses; remote ports are tunnelled.
  auto pf = Text(*st, "PFlow");
  EXPECT_TRUE(pf.count("A|h1|ls1|ls_in_arp|50|arp.op==1 && arp.tpa==198.18.1.12|arp_reply(02:00:00:00:00:02)"));
  EXPECT_TRUE(pf.count("A|h1|ls1|ls_out_deliver|100|outport==vm2|output(tunnel:h2)"));
  EXPECT_TRUE(pf.count("A|h2|ls1|ls_out_deliver|100|outport==vm2|output(vm2)"));
}

const char* kFwTables[] = {"FwInstance", "FwSlice", "FwPortBinding", "FwRuleSpan", "FwGroupSpan"};

// Index of the host column of each firewall record table.
int HostCol(const std::string& t) {
  if (t == "FwInstance") return 3;
  if (t == "FwSlice") return 2;
  if (t == "FwPortBinding") return 3;
  if (t == "FwRuleSpan") return 5;
  return 4;
}

TEST(LogicalStage, MovedVmMovesItsRecordsSpan) {
  // vm1 alone on h1, protected by the attached firewall and a vNIC policy; move it to h3.
  std::map<std::string, std::string> before = {{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h2"}, {"vm4", "h2"}};
  std::map<std::string, std::string> after = before;
  after["vm1"] = "h3";
  std::string rest = AttachedFw("A") + Vnic("A", "[vm1]");
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(3) + Topology("A", before) + rest)).ok());
  std::map<std::string, std::set<std::string>> on_h1;
  for (const char* t : kFwTables)
    for (const auto& r : Spanned(*st, t))
      if (r[HostCol(t)].ToString() == "h1") on_h1[t].insert(RowToString(r));
  ASSERT_FALSE(on_h1["FwRuleSpan"].empty());
  auto d = st->SetSpec(Parse(Hosts(3) + Topology("A", after) + rest));
  ASSERT_TRUE(d.ok()) << d.status();
  for (const char* t : kFwTables) {
    if (std::string(t) == "FwRuleSpan" || std::string(t) == "FwGroupSpan") {
      // Held per instance (the delta has no rule rows: the rules did not change); what h3 now
      // receives is exactly what h1 received, and h1 receives none.
      std::set<std::string> now_h1, now_h3_as_h1;
      for (Row r : Spanned(*st, t)) {
        if (r[HostCol(t)].ToString() == "h1") now_h1.insert(RowToString(r));
        if (r[HostCol(t)].ToString() != "h3") continue;
        r[HostCol(t)] = nlog::Value::String("h1");
        now_h3_as_h1.insert(RowToString(r));
      }
      EXPECT_TRUE(now_h1.empty()) << t;
      EXPECT_EQ(now_h3_as_h1, on_h1[t]) << t << ": h3 gains the same records";
      EXPECT_EQ(d->tables.count(t == std::string("FwRuleSpan") ? "InstRule" : "InstGroupAddr"), 0u) << t;
      continue;
    }
    auto it = d->tables.find(t);
    std::set<std::string> deleted, inserted_as_h1;
    if (it != d->tables.end()) {
      for (const auto& r : it->second.deleted) {
        EXPECT_EQ(r[HostCol(t)].ToString(), "h1") << t << " " << RowToString(r);
        deleted.insert(RowToString(r));
      }
      for (Row r : it->second.inserted) {
        EXPECT_EQ(r[HostCol(t)].ToString(), "h3") << t << " " << RowToString(r);
        r[HostCol(t)] = nlog::Value::String("h1");
        inserted_as_h1.insert(RowToString(r));
      }
    }
    EXPECT_EQ(deleted, on_h1[t]) << t << ": h1 loses exactly its records";
    EXPECT_EQ(inserted_as_h1, on_h1[t]) << t << ": h3 gains the same records";
  }
  // Physical flows: h1 loses every flow, h3 gains its own; h2 now tunnels vm1 to h3.
  auto pd = d->tables.at("PFlow");
  for (const auto& r : pd.inserted) EXPECT_NE(r[1].ToString(), "h1");
  EXPECT_TRUE(Text(*st, "PFlow").count("A|h2|ls1|ls_out_deliver|100|outport==vm1|output(tunnel:h3)"));
  for (const auto& r : Spanned(*st, "PFlow")) EXPECT_NE(r[1].ToString(), "h1");
}

TEST(LogicalStage, UnchangedReapplyIsEmptyDelta) {
  auto st = Stage();
  auto spec = Parse(Hosts(2) + Topology("A", kSpread) + AttachedFw("A") + Vnic("A", "[vm3]"));
  auto d1 = st->SetSpec(spec);
  ASSERT_TRUE(d1.ok());
  EXPECT_FALSE(d1->empty());
  auto d2 = st->SetSpec(spec);
  ASSERT_TRUE(d2.ok());
  EXPECT_TRUE(d2->empty());
}

std::map<std::string, std::vector<Row>> AllOutputs(const LogicalStage& st) {
  std::map<std::string, std::vector<Row>> out;
  for (const char* t : {"Member", "GroupAddr", "DpHost", "FwInstance", "FwSlice", "FwPortBinding", "InstRule",
                        "InstGroupAddr", "VnicConflict", "RouterPolicy", "LFlow", "PFlow", "ServiceHost"})
    out[t] = Scan(st, t);
  return out;
}

TEST(LogicalStage, IncrementalEqualsFromScratch) {
  std::vector<std::string> specs = {
      Hosts(3) + Topology("A", kSpread) + AttachedFw("A"),
      Hosts(3) + Topology("A", {{"vm1", "h3"}, {"vm2", "h2"}, {"vm3", "h1"}, {"vm4", "h2"}}) + AttachedFw("A") +
          Vnic("A", "[{selector: {app: web}}]"),
      Hosts(3) + Topology("A", kSpread) + Router("A") + Topology("B", kSpread) + AttachedFw("B") +
          "---\nkind: AddressGroup\ntenant: B\nname: web\nselector: {app: web}\n"
          "---\nkind: Firewall\ntenant: B\nname: fi\nplacement: {inline: {switch: ls1, router: r1}}\n"
          "rules:\n  - {action: allow, source: [{group: web}]}\n",
      Hosts(3) + Topology("B", {{"vm1", "h2"}, {"vm2", "h2"}, {"vm3", "h2"}, {"vm4", "h3"}}) + Router("B") +
          Vnic("B", "[vm4, vm1]"),
      Hosts(3) + Topology("B", {{"vm1", "h2"}, {"vm2", "h1"}, {"vm3", "h2"}, {"vm4", "h3"}}) + Router("B") +
          Svc("B", "ngfw", "check: every-packet\n") + RedirectVnic("B", "vp", "[vm4, vm2]", "ngfw"),
  };
  auto inc = Stage();
  for (size_t i = 0; i < specs.size(); ++i) {
    NbSpec spec = Parse(specs[i]);
    ASSERT_TRUE(inc->SetSpec(spec).ok()) << i;
    auto fresh = Stage();
    ASSERT_TRUE(fresh->SetSpec(spec).ok()) << i;
    auto a = AllOutputs(*inc), b = AllOutputs(*fresh);
    for (const auto& [t, rows] : b) {
      EXPECT_EQ(Text(a[t]), Text(rows)) << "table " << t << " after spec " << i;
    }
    EXPECT_FALSE(b["PFlow"].empty());
  }
  // The group of spec 2 resolves to vm1's address and reaches the hosts of B's fi instance.
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(specs[2])).ok());
  EXPECT_TRUE(Text(*st, "FwGroupSpan").count("B|fi|web|198.18.1.11/32|h1"));
}

// ---------------------------------------------------------------- IPv6 neighbour discovery
// Addresses in 2002:c612::/31, the 6to4 image of the lab's 198.18.0.0/15.

// Tenant T: IPv6 switch ls6 (vm61, vm62), IPv4 switch ls1 (vm1), router r1 on both.
std::string DualTopology(const std::string& t, const std::string& vm62_ips = "\"2002:c612:1::12\"") {
  std::string s = "---\nkind: Tenant\nname: " + t + "\n";
  s += "---\nkind: LogicalSwitch\ntenant: " + t + "\nname: ls6\ncidr: 2002:c612:1::/64\n";
  s += "---\nkind: LogicalSwitch\ntenant: " + t + "\nname: ls1\ncidr: 198.18.1.0/24\n";
  s += PortDoc(t, "ls6", "vm61", 0x61, "\"2002:c612:1::11\"", "h1");
  s += PortDoc(t, "ls6", "vm62", 0x62, vm62_ips, "h2");
  s += PortDoc(t, "ls1", "vm1", 1, "198.18.1.11", "h1");
  s += "---\nkind: LogicalRouter\ntenant: " + t +
       "\nname: r1\nports:\n  - {switch: ls6, ip: \"2002:c612:1::1\"}\n  - {switch: ls1, ip: 198.18.1.1}\n";
  return s;
}

// The rows of `dp`'s stage `stage` (priority|match|actions).
std::set<std::string> StageRows(const LogicalStage& st, const std::string& dp, const std::string& stage) {
  std::set<std::string> out;
  for (const auto& r : Scan(st, "LFlow")) {
    if (r[1].ToString() == dp && r[2].ToString() == stage) {
      out.insert(std::to_string(r[3].AsInt()) + "|" + r[4].ToString() + "|" + r[5].ToString());
    }
  }
  return out;
}

TEST(LogicalStageNd, Ipv6SwitchAnswersSolicitationsForPortAndRouterAddresses) {
  auto st = Stage();
  auto spec = Parse(Hosts(2) + DualTopology("A"));
  ASSERT_TRUE(st->SetSpec(spec).ok());
  std::string rmac;
  for (const auto& p : spec.routers.at(0).ports) {
    if (p.sw == "ls6") {
      char m[32];
      std::snprintf(m, sizeof m, "%02x:%02x:%02x:%02x:%02x:%02x", unsigned(p.mac >> 40 & 0xff), unsigned(p.mac >> 32 & 0xff),
                    unsigned(p.mac >> 24 & 0xff), unsigned(p.mac >> 16 & 0xff), unsigned(p.mac >> 8 & 0xff), unsigned(p.mac & 0xff));
      rmac = m;
    }
  }
  ASSERT_FALSE(rmac.empty());
  EXPECT_EQ(StageRows(*st, "ls6", "ls_in_arp"),
            (std::set<std::string>{
                "0|1|next",
                "60|nd.ns && nd.sll==00:00:00:00:00:00|next",
                "50|nd.ns && nd.target==2002:c612:1::11|nd_na(02:00:00:00:00:61)",
                "50|nd.ns && nd.target==2002:c612:1::12|nd_na(02:00:00:00:00:62)",
                "50|nd.ns && nd.target==2002:c612:1::1|nd_na_router(" + rmac + ")",
            }));
  // Solicitations skip vNIC steering on an IPv6 switch (no policy here: only the default too).
  EXPECT_EQ(StageRows(*st, "ls6", "ls_in_vnic"), (std::set<std::string>{"0|1|next", "105|nd.ns|next"}));
  // The IPv4 switch is unchanged: ARP only, no ND rows, and no ARP row for an IPv6 address.
  auto v4 = StageRows(*st, "ls1", "ls_in_arp");
  EXPECT_EQ(v4.size(), 3u);
  for (const auto& r : v4) EXPECT_EQ(r.find("nd"), std::string::npos) << r;
  EXPECT_EQ(StageRows(*st, "ls1", "ls_in_vnic"), (std::set<std::string>{"0|1|next"}));
  for (const auto& r : Scan(*st, "LFlow")) {
    EXPECT_EQ(r[4].ToString().find("arp.tpa==2002:"), std::string::npos) << r[4].ToString();
  }
  // Every host of the IPv6 switch gets the answers (the physical stage's fan-out).
  auto pf = Text(*st, "PFlow");
  EXPECT_TRUE(pf.count("A|h1|ls6|ls_in_arp|50|nd.ns && nd.target==2002:c612:1::12|nd_na(02:00:00:00:00:62)"));
  EXPECT_TRUE(pf.count("A|h2|ls6|ls_in_arp|50|nd.ns && nd.target==2002:c612:1::11|nd_na(02:00:00:00:00:61)"));
}

TEST(LogicalStageNd, AddingAnAddressAddsExactlyItsAnswer) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + DualTopology("A"))).ok());
  auto d = st->SetSpec(Parse(Hosts(2) + DualTopology("A", "\"2002:c612:1::12\", \"2002:c612:1::99\"")));
  ASSERT_TRUE(d.ok());
  std::vector<std::string> lflow_changes;
  auto it = d->tables.find("LFlow");
  ASSERT_NE(it, d->tables.end());
  for (const auto& [sign, rows] : {std::pair{"1 ", &it->second.inserted}, std::pair{"-1 ", &it->second.deleted}}) {
    for (const auto& row : *rows) {
      std::string s = sign;
      for (size_t i = 0; i < row.size(); ++i) s += (i ? "|" : "") + row[i].ToString();
      lflow_changes.push_back(s);
    }
  }
  // The new address's answer; nothing else in the logical flows changes (its routing resolve
  // row is the only other new flow).
  std::set<std::string> got(lflow_changes.begin(), lflow_changes.end());
  EXPECT_TRUE(got.count("1 A|ls6|ls_in_arp|50|nd.ns && nd.target==2002:c612:1::99|nd_na(02:00:00:00:00:62)"))
      << ::testing::PrintToString(lflow_changes);
  EXPECT_TRUE(got.count("1 A|r1|lr_in_arp_resolve|100|outport==ls6 && nexthop==2002:c612:1::99|eth.dst=02:00:00:00:00:62; next"))
      << ::testing::PrintToString(lflow_changes);
  EXPECT_EQ(lflow_changes.size(), 2u) << ::testing::PrintToString(lflow_changes);
  // vm62's port security (host flows on h2) gains exactly the flows that name the new address:
  // 1 source flow, 2 solicitations from it, 10 advertisements (sources {::12, ::99, link-local}
  // x targets of the same set x tll {MAC, none}, less the 2 x 2 x 2 that existed). Nothing else.
  auto pf = d->tables.find("PFlow");
  ASSERT_NE(pf, d->tables.end());
  EXPECT_TRUE(pf->second.deleted.empty());
  for (const auto& r : pf->second.inserted) {
    EXPECT_EQ(r[1].ToString(), "h2");
    EXPECT_EQ(r[3].ToString(), "ls_in_port_sec");
    EXPECT_NE(r[5].ToString().find("inport==vm62 && eth.src==02:00:00:00:00:62 && "), std::string::npos) << r[5].ToString();
    EXPECT_NE(r[5].ToString().find("2002:c612:1::99"), std::string::npos) << r[5].ToString();
  }
  EXPECT_EQ(pf->second.inserted.size(), 1u + 2u + 10u);
}


// ---------------------------------------------------------------- L3 port security
// Port `port`'s rows of `dp`'s ls_in_port_sec as `host` gets them (priority|match|actions): the
// L2 rule (a logical flow, every host) and the L3 rules (host flows of the port's host).
std::set<std::string> PortSecRows(const LogicalStage& st, const std::string& host, const std::string& dp, const std::string& port) {
  std::set<std::string> out;
  for (const auto& r : StageRows(st, dp, "ls_in_port_sec")) {
    if (r.find("inport==" + port + " ") != std::string::npos) out.insert(r);
  }
  for (const auto& r : Scan(st, "PFlow")) {
    if (r[1].ToString() == host && r[2].ToString() == dp && r[3].ToString() == "ls_in_port_sec" &&
        r[5].ToString().find("inport==" + port + " ") != std::string::npos) {
      out.insert(std::to_string(r[4].AsInt()) + "|" + r[5].ToString() + "|" + r[6].ToString());
    }
  }
  return out;
}

TEST(LogicalStagePortSec, LinkLocalAddressIsModifiedEui64OfTheMac) {
  EXPECT_EQ(Eui64LinkLocal(0x020000000101ull).ToString(), "fe80::ff:fe00:101");
  EXPECT_EQ(Eui64LinkLocal(0x525400123456ull).ToString(), "fe80::5054:ff:fe12:3456");  // RFC 4291 app. A
  EXPECT_EQ(Eui64LinkLocal(0x0252bb6f4461ull).ToString(), "fe80::52:bbff:fe6f:4461");
  // SpecToRows carries it, one row per port (with or without addresses).
  auto spec = Parse(Hosts(2) + DualTopology("A"));
  int ll = 0;
  for (const auto& r : SpecToRows(spec)) {
    if (r.table != "PortLinkLocal") continue;
    ++ll;
    if (r.row[1].ToString() == "vm61") {
      EXPECT_EQ(r.row[2].ToString(), "fe80::ff:fe00:61");
    }
  }
  EXPECT_EQ(ll, 3);
}

TEST(LogicalStagePortSec, Ipv4PortMaySendIpAndArpOnlyFromItsOwnAddresses) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + DualTopology("A"))).ok());
  std::set<std::string> vm1 = PortSecRows(*st, "h1", "ls1", "vm1");
  EXPECT_EQ(vm1, (std::set<std::string>{
                     "120|inport==vm1 && eth.src==02:00:00:00:00:01 && ip4.src==198.18.1.11|next",
                     "120|inport==vm1 && eth.src==02:00:00:00:00:01 && arp.sha==02:00:00:00:00:01 && arp.spa==198.18.1.11|next",
                     "110|inport==vm1 && ip|drop",
                     "110|inport==vm1 && arp|drop",
                     "100|inport==vm1 && eth.src==02:00:00:00:00:01|next",
                 }));
  // Router ports and the default are unchanged logical flows; the L3 rules are host flows of
  // vm1's host only (h2 runs ls1 too, for the router, and gets just the L2 rule).
  auto all = StageRows(*st, "ls1", "ls_in_port_sec");
  EXPECT_EQ(all, (std::set<std::string>{"100|inport==rtr:r1|next", "0|1|drop", "100|inport==vm1 && eth.src==02:00:00:00:00:01|next"}));
  EXPECT_EQ(PortSecRows(*st, "h2", "ls1", "vm1"), (std::set<std::string>{"100|inport==vm1 && eth.src==02:00:00:00:00:01|next"}));
}

TEST(LogicalStagePortSec, Ipv6PortMaySendFromItsAddressesItsLinkLocalAndUnspecified) {
  auto st = Stage();
  ASSERT_TRUE(st->SetSpec(Parse(Hosts(2) + DualTopology("A"))).ok());
  const std::string p = "inport==vm61 && eth.src==02:00:00:00:00:61 && ";
  const std::string mac = "02:00:00:00:00:61", none = "00:00:00:00:00:00";
  const std::vector<std::string> srcs = {"2002:c612:1::11", "fe80::ff:fe00:61"};
  std::set<std::string> want = {
      "110|inport==vm61 && ip|drop",
      "110|inport==vm61 && arp|drop",
      "140|inport==vm61 && nd.ns|drop",
      "140|inport==vm61 && nd.na|drop",
      "100|" + p.substr(0, p.size() - 4) + "|next",
      "120|" + p + "ip6.src==::|next",
      "150|" + p + "ip6.src==:: && nd.ns && nd.sll==" + none + "|next",
  };
  for (const auto& src : srcs) {
    want.insert("120|" + p + "ip6.src==" + src + "|next");
    for (const auto& sll : {mac, none}) want.insert("150|" + p + "ip6.src==" + src + " && nd.ns && nd.sll==" + sll + "|next");
    for (const auto& target : srcs) {
      for (const auto& tll : {mac, none}) {
        want.insert("150|" + p + "ip6.src==" + src + " && nd.na && nd.target==" + target + " && nd.tll==" + tll + "|next");
      }
    }
  }
  EXPECT_EQ(PortSecRows(*st, "h1", "ls6", "vm61"), want);
  EXPECT_EQ(want.size(), 7u + 2 * (1 + 2 + 4));
}

TEST(LogicalStagePortSec, PortWithoutAddressesKeepsTheL2RuleOnly) {
  auto st = Stage();
  std::string spec = Hosts(2) + DualTopology("A") + PortDoc("A", "ls1", "vm0", 0x10, "", "h1") +
                     PortDoc("A", "ls6", "vm60", 0x60, "", "h2");
  ASSERT_TRUE(st->SetSpec(Parse(spec)).ok());
  for (const char* sw : {"ls1", "ls6"}) {
    std::string port = std::string(sw) == "ls1" ? "vm0" : "vm60";
    std::set<std::string> rows = PortSecRows(*st, std::string(sw) == "ls1" ? "h1" : "h2", sw, port);
    std::string m = std::string(sw) == "ls1" ? "02:00:00:00:00:10" : "02:00:00:00:00:60";
    EXPECT_EQ(rows, (std::set<std::string>{"100|inport==" + port + " && eth.src==" + m + "|next"})) << sw;
  }
  // Giving vm0 an address turns its port security on, taking it away turns it off again: the
  // delta holds exactly vm0's L3 flows (host flows of h1) each way.
  std::string with = Hosts(2) + DualTopology("A") + PortDoc("A", "ls1", "vm0", 0x10, "198.18.1.20", "h1") +
                     PortDoc("A", "ls6", "vm60", 0x60, "", "h2");
  auto d = st->SetSpec(Parse(with));
  ASSERT_TRUE(d.ok());
  auto count = [](const nlog::Delta& delta, bool inserted) {
    size_t n = 0;
    auto it = delta.tables.find("PFlow");
    if (it == delta.tables.end()) return n;
    for (const auto& r : inserted ? it->second.inserted : it->second.deleted) {
      EXPECT_EQ(r[1].ToString(), "h1");
      EXPECT_EQ(r[3].ToString(), "ls_in_port_sec");
      EXPECT_NE(r[5].ToString().find("inport==vm0 && "), std::string::npos) << r[5].ToString();
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count(*d, true), 4u);  // ip4.src, arp, ip drop, arp drop
  EXPECT_EQ(count(*d, false), 0u);
  d = st->SetSpec(Parse(spec));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(count(*d, false), 4u);
  EXPECT_EQ(count(*d, true), 0u);
}

}  // namespace
}  // namespace rampart::controller
