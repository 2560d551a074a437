// Physical stage: per-host records (docs/records.md) from the logical stage's deltas.
// The oracle for the incremental stage is a fresh stage run once on the final spec: compared
// after mapping every allocated number to the name it stands for, and exactly when the fresh
// stage loads the same store's allocations.
#include "controller/physical/physical_stage.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "controller/logical_stage.h"
#include "controller/nb_spec.h"
#include "rampart/agent.pb.h"
#include "records/wire.h"
#include "test/controller/physical/fake_store.h"

namespace rampart::controller {
namespace {

using records::Record;
using records::RecordSet;

// Every examples/specs/*.yaml, by name without the extension.
std::vector<std::string> ExampleNames() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(RAMPART_SOURCE_DIR) + "/examples/specs")) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

NbSpec Example(const std::string& name) {
  auto spec = ParseNbSpecFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + name + ".yaml");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : NbSpec{};
}

// A logical stage + physical stage pair, and the record sets the "agents" hold, kept by
// applying every delta (so the deltas themselves are checked, not only the stage's snapshots).
struct Pipeline {
  explicit Pipeline(store::Store* store = nullptr, PhysicalOptions opt = {}) : physical(store, opt) {
    auto ls = LogicalStage::Create();
    EXPECT_TRUE(ls.ok());
    logical = std::move(*ls);
  }
  // Applies `spec`; returns the per-host deltas (or the error).
  absl::StatusOr<std::map<std::string, records::Delta>> Set(const NbSpec& spec) {
    auto d = logical->SetSpec(spec);
    if (!d.ok()) return d.status();
    auto out = physical.Apply(logical->engine(), *d);
    if (!out.ok()) return out.status();
    for (const auto& [h, delta] : *out) {
      EXPECT_EQ(delta.revision, agents[h].revision() + 1) << h;
      agents[h].Apply(delta);
      EXPECT_EQ(agents[h].inconsistencies(), 0u) << h << " got a delta that does not fit its rows";
    }
    return out;
  }
  std::map<std::string, std::set<Record>> Snapshots() const {
    std::map<std::string, std::set<Record>> m;
    for (const auto& h : physical.Hosts()) m[h] = physical.Snapshot(h).rows();
    return m;
  }
  std::unique_ptr<LogicalStage> logical;
  PhysicalStage physical;
  std::map<std::string, RecordSet> agents;
};

// Every allocated number replaced by what it stands for.
std::set<std::string> Canonical(const std::set<Record>& rows) {
  std::map<std::string, std::string> tag_label;  // tag -> tenant/inst/side/direction
  std::map<std::string, std::string> inst_kind;  // tenant/inst -> kind
  for (const Record& r : rows) {
    if (r.table == "Instance") inst_kind[r.values[0] + "/" + r.values[1]] = r.values[2];
  }
  for (const Record& r : rows) {
    if (r.table == "Slice") tag_label[r.values[4]] = r.values[0] + "/" + r.values[1] + "/" + r.values[2] + "/" + r.values[3];
  }
  std::set<std::string> out;
  for (Record r : rows) {
    auto& v = r.values;
    if (r.table == "Datapath") v[3] = "key(" + v[0] + "/" + v[1] + ")";
    if (r.table == "PortKey") v[3] = "key(" + v[0] + "/" + v[1] + "/" + v[2] + ")";
    if (r.table == "Instance") v[4] = "id(" + v[0] + "/" + v[1] + ")";
    if (r.table == "Slice") {
      v[4] = "tag(" + tag_label[v[4]] + ")";
      v[5] = "tag(" + tag_label[v[5]] + ")";
      if (inst_kind[v[0] + "/" + v[1]] == "vnic") v[6] = "eport(" + v[0] + "/" + v[2] + ")";
    }
    out.insert(records::ToString(r));
  }
  return out;
}

std::map<std::string, std::set<std::string>> Canonical(const std::map<std::string, std::set<Record>>& m) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [h, rows] : m) out[h] = Canonical(rows);
  return out;
}

// Numbers are unique where docs/records.md says so, and agree across hosts.
void CheckNumbering(const std::map<std::string, std::set<Record>>& snaps) {
  std::map<std::string, std::string> dp_key;   // key -> t/dp (global)
  std::map<std::string, std::string> dp_of;    // t/dp -> key
  for (const auto& [h, rows] : snaps) {
    std::map<std::string, std::string> tags, inst_ids, port_keys, eports;
    std::set<std::string> tenants_dps_here;
    for (const Record& r : rows) {
      const auto& v = r.values;
      if (r.table == "Datapath") {
        std::string name = v[0] + "/" + v[1];
        int key = std::stoi(v[3]);
        EXPECT_GE(key, 1);
        EXPECT_LE(key, (1 << 24) - 1);
        auto [it, fresh] = dp_key.emplace(v[3], name);
        EXPECT_EQ(it->second, name) << "datapath key " << v[3] << " used twice";
        auto [it2, fresh2] = dp_of.emplace(name, v[3]);
        EXPECT_EQ(it2->second, v[3]) << name << " has two keys";
        tenants_dps_here.insert(name);
      }
      if (r.table == "PortKey") {
        std::string scope = v[0] + "/" + v[1] + "#" + v[3];
        auto [it, fresh] = port_keys.emplace(scope, v[2]);
        EXPECT_TRUE(fresh) << h << ": port key " << v[3] << " of " << v[0] << "/" << v[1] << " used twice";
        int key = std::stoi(v[3]);
        EXPECT_GE(key, 1);
        EXPECT_LE(key, 32767);
      }
      if (r.table == "Instance") {
        auto [it, fresh] = inst_ids.emplace(v[4], v[0] + "/" + v[1]);
        EXPECT_TRUE(fresh) << h << ": instance id " << v[4] << " used twice";
      }
      if (r.table == "Slice") {
        int tag = std::stoi(v[4]);
        EXPECT_GE(tag, 1);
        EXPECT_LE(tag, 4094);
        auto [it, fresh] = tags.emplace(v[4], v[0] + "/" + v[1] + "/" + v[2] + "/" + v[3]);
        EXPECT_TRUE(fresh) << h << ": tag " << v[4] << " used by " << it->second << " and " << v[1] << "/" << v[2];
      }
    }
    // Every PortKey row belongs to a datapath the host runs; every return tag is a tag here.
    for (const Record& r : rows) {
      if (r.table == "PortKey") {
        EXPECT_TRUE(tenants_dps_here.count(r.values[0] + "/" + r.values[1])) << records::ToString(r);
      }
      if (r.table == "Slice") {
        EXPECT_TRUE(tags.count(r.values[5])) << h << ": " << records::ToString(r);
      }
    }
  }
}

// The incremental pipeline's state equals a fresh one on the same spec: up to numbering, and
// exactly when the fresh stage loads the incremental one's allocations from the store.
void CheckAgainstFresh(const Pipeline& p, const NbSpec& spec, testing::FakeStore* store) {
  auto snaps = p.Snapshots();
  for (const auto& [h, rs] : p.agents) {
    auto it = snaps.find(h);
    if (it == snaps.end()) {
      EXPECT_TRUE(rs.rows().empty()) << h << " holds rows the stage no longer has";
    } else {
      EXPECT_EQ(rs.rows(), it->second) << h << ": rows from deltas differ from the snapshot";
    }
  }
  CheckNumbering(snaps);
  // The fanned-out rows (flows per datapath, rules and group addresses per instance) equal a
  // plain scan-and-join of the logical stage's tables for every host (BuildHostView).
  for (const std::string& h : KnownHosts(p.logical->engine())) {
    HostView v = BuildHostView(p.logical->engine(), h);
    std::set<Record> want, have;
    for (const auto& f : v.flows)
      want.insert(Record{"Flow", {f.tenant, f.dp, f.stage, std::to_string(f.priority), f.match, f.actions}});
    for (const auto& i : v.instances) {
      for (const auto& [k, text] : i.rules)
        want.insert(Record{"FwRule", {i.tenant, i.name, std::to_string(k.second), std::to_string(k.first), text}});
      for (const auto& [g, x] : i.group_addrs) want.insert(Record{"FwGroup", {i.tenant, i.name, g, x}});
    }
    for (const auto& sv : v.services)
      want.insert(Record{"Service", {sv.tenant, sv.name, sv.on_failure, sv.check, std::to_string(sv.nth), sv.relay,
                                     sv.same_host, sv.migration}});
    if (auto it = snaps.find(h); it != snaps.end()) {
      for (const Record& r : it->second)
        if (r.table == "Flow" || r.table == "FwRule" || r.table == "FwGroup" || r.table == "Service") have.insert(r);
    }
    EXPECT_EQ(have, want) << h << ": fanned-out rows differ from the logical stage's join";
  }
  Pipeline fresh;
  ASSERT_TRUE(fresh.Set(spec).ok());
  EXPECT_EQ(Canonical(snaps), Canonical(fresh.Snapshots()));
  if (store != nullptr) {
    Pipeline restarted(store);
    ASSERT_TRUE(restarted.physical.Load().ok());
    int commits = store->commits();
    ASSERT_TRUE(restarted.Set(spec).ok());
    EXPECT_EQ(snaps, restarted.Snapshots()) << "a restarted stage numbers things differently";
    EXPECT_EQ(store->commits(), commits) << "a restart with nothing changed wrote allocations";
  }
}

TEST(PhysicalStage, ExampleSpecsMatchFreshAndSurviveRestart) {
  ASSERT_GE(ExampleNames().size(), 3u);
  for (const std::string& name : ExampleNames()) {
    SCOPED_TRACE(name);
    NbSpec spec = Example(name);
    testing::FakeStore store;
    Pipeline p(&store);
    ASSERT_TRUE(p.physical.Load().ok());
    auto d = p.Set(spec);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_FALSE(d->empty());
    CheckAgainstFresh(p, spec, &store);
    // Unchanged spec: nothing for anyone.
    auto again = p.Set(spec);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->empty());
  }
}

TEST(PhysicalStage, SeedAttachedRecords) {
  Pipeline p;
  ASSERT_TRUE(p.Set(Example("seed-attached")).ok());
  auto h1 = p.physical.Snapshot("h1");
  // The firewall attached to r1 has one slice per host: (attach, from-vm, T, T, 1).
  auto slices = h1.Table("Slice");
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]->values[2], "attach");
  EXPECT_EQ(slices[0]->values[3], "from-vm");
  EXPECT_EQ(slices[0]->values[4], slices[0]->values[5]);
  EXPECT_EQ(slices[0]->values[6], "1");
  // Datapaths ls1, ls2 and r1 with their kinds; the router's ports are its switches and the
  // firewall side; the host knows its own underlay.
  std::map<std::string, std::string> kinds;
  for (const Record* r : h1.Table("Datapath")) kinds[r->values[1]] = r->values[2];
  EXPECT_EQ(kinds["r1"], "router");
  EXPECT_EQ(kinds["ls1"], "switch");
  std::set<std::string> r1_ports;
  for (const Record* r : h1.Table("PortKey")) {
    if (r->values[1] == "r1") r1_ports.insert(r->values[2]);
  }
  EXPECT_TRUE(r1_ports.count("ls1"));
  EXPECT_TRUE(r1_ports.count("firewall:fw:attach")) << "r1 ports: " << r1_ports.size();
  bool self = false;
  for (const Record* r : h1.Table("Host")) self |= r->values[0] == "h1";
  EXPECT_TRUE(self);
  // VmPort rows carry the iface-id.
  bool vm1 = false;
  for (const Record* r : h1.Table("VmPort")) {
    if (r->values[1] == "vm1") {
      vm1 = true;
      EXPECT_EQ(r->values[4], "A/vm1");
    }
  }
  EXPECT_TRUE(vm1);
  EXPECT_FALSE(h1.Table("Flow").empty());
  EXPECT_FALSE(h1.Table("FwRule").empty());
}

TEST(PhysicalStage, InlineSlicesReturnOnTheOtherSide) {
  Pipeline p;
  ASSERT_TRUE(p.Set(Example("seed-inline")).ok());
  auto h1 = p.physical.Snapshot("h1");
  std::map<std::string, std::vector<std::string>> by_side;
  for (const Record* r : h1.Table("Slice")) {
    if (r->values[1] == "fw-inline") by_side[r->values[2]] = r->values;
  }
  ASSERT_EQ(by_side.size(), 2u);
  EXPECT_EQ(by_side["switch"][3], "from-vm");
  EXPECT_EQ(by_side["router"][3], "to-vm");
  EXPECT_EQ(by_side["switch"][5], by_side["router"][4]);
  EXPECT_EQ(by_side["router"][5], by_side["switch"][4]);
  EXPECT_NE(by_side["switch"][4], by_side["router"][4]);
}

std::vector<Record> Rows(const std::vector<Record>& v, const std::string& table) {
  std::vector<Record> out;
  for (const auto& r : v) {
    if (r.table == table) out.push_back(r);
  }
  return out;
}

TEST(PhysicalStage, VmMoveMovesItsRows) {
  NbSpec spec = Example("seed-attached");
  Pipeline p;
  ASSERT_TRUE(p.Set(spec).ok());
  std::string from;
  for (auto& port : spec.ports) {
    if (port.tenant == "A" && port.name == "vm1") from = port.host;
  }
  ASSERT_FALSE(from.empty());
  std::string to = from == "h1" ? "h2" : "h1";
  for (auto& port : spec.ports) {
    if (port.tenant == "A" && port.name == "vm1") port.host = to;
  }
  auto d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->count(from) && d->count(to));
  auto gone = Rows((*d)[from].deletes, "VmPort");
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].values[1], "vm1");
  auto came = Rows((*d)[to].inserts, "VmPort");
  ASSERT_EQ(came.size(), 1u);
  EXPECT_EQ(came[0], gone[0]);
  EXPECT_TRUE(Rows((*d)[from].inserts, "VmPort").empty());
  CheckAgainstFresh(p, spec, nullptr);
}

TEST(PhysicalStage, RuleOnSomeVmsReachesOnlyTheirHosts) {
  NbSpec spec = Example("seed-inline");
  Pipeline p;
  ASSERT_TRUE(p.Set(spec).ok());
  // B's vNIC policy protects vm2 only; vm2 is on one host.
  std::string host;
  for (const auto& port : spec.ports) {
    if (port.tenant == "B" && port.name == "vm2") host = port.host;
  }
  NbVnicPolicy* vp = nullptr;
  for (auto& v : spec.vnic_policies) {
    if (v.tenant == "B" && v.name == "protect-vm2") vp = &v;
  }
  ASSERT_NE(vp, nullptr);
  vp->rules.push_back(NbRule{777, 5, "dir=any proto=udp dport=53 action=allow", {}});
  auto d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 1u);
  ASSERT_EQ(d->begin()->first, host);
  const auto& delta = d->begin()->second;
  EXPECT_TRUE(delta.deletes.empty());
  ASSERT_EQ(delta.inserts.size(), 1u);
  EXPECT_EQ(delta.inserts[0].table, "FwRule");
  EXPECT_EQ(delta.inserts[0].values[2], "777");
}

// seed-inline: A/fw-inline (instances on h1 and h2) redirects HTTPS to ServiceVM A/ngfw; B/ids
// is used by no rule.
TEST(PhysicalStage, ServiceRowsReachExactlyTheHostsOfRedirectingInstances) {
  NbSpec spec = Example("seed-inline");
  Pipeline p;
  ASSERT_TRUE(p.Set(spec).ok());
  const Record ngfw{"Service", {"A", "ngfw", "drop", "every-nth", "100", "true", "source", "svm-review"}};
  auto services = [&](const std::string& h) { return Rows(std::vector<Record>(p.agents[h].rows().begin(), p.agents[h].rows().end()), "Service"); };
  EXPECT_EQ(services("h1"), (std::vector<Record>{ngfw}));
  EXPECT_EQ(services("h2"), (std::vector<Record>{ngfw}));
  EXPECT_TRUE(services("h3").empty());
  auto svc = [&](const std::string& t, const std::string& n) -> NbServiceVm& {
    for (auto& v : spec.services)
      if (v.tenant == t && v.name == n) return v;
    ADD_FAILURE() << "no service " << t << "/" << n;
    return spec.services.front();
  };
  // A behaviour change reaches h1 and h2 only, as one replaced Service row each.
  svc("A", "ngfw").on_failure = "allow";
  auto d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  Record allow = ngfw;
  allow.values[2] = "allow";
  for (const auto& [h, delta] : *d) {
    EXPECT_TRUE(h == "h1" || h == "h2") << h;
    EXPECT_EQ(delta.deletes, (std::vector<Record>{ngfw})) << h;
    EXPECT_EQ(delta.inserts, (std::vector<Record>{allow})) << h;
  }
  // A service no rule uses reaches no host.
  svc("B", "ids").check = "every-packet";
  d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->empty());
  // A second instance on h1 redirecting to ngfw (a vNIC policy of A on vm3): h1 gets the
  // instance, not a second Service row (the agents' RecordSets count any duplicate).
  NbVnicPolicy vp;
  vp.tenant = "A";
  vp.name = "vp3";
  vp.default_action = "allow";
  vp.applied_to.ports = {"vm3"};
  vp.rules.push_back(NbRule{1, 1, "dir=any proto=tcp action=redirect:ngfw", {}, "ngfw"});
  spec.vnic_policies.push_back(vp);
  d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->count("h1"), 1u);
  EXPECT_TRUE(Rows(d->at("h1").inserts, "Service").empty());
  EXPECT_FALSE(Rows(d->at("h1").inserts, "Instance").empty());
  // fw-inline stops redirecting: h2 loses the row, h1 keeps it (vp3 still redirects there).
  for (auto& f : spec.firewalls) {
    if (f.name != "fw-inline") continue;
    f.rules.erase(std::remove_if(f.rules.begin(), f.rules.end(), [](const NbRule& r) { return !r.service.empty(); }),
                  f.rules.end());
  }
  d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Rows(d->at("h2").deletes, "Service"), (std::vector<Record>{allow}));
  EXPECT_TRUE(d->count("h1") == 0 || Rows(d->at("h1").deletes, "Service").empty());
  EXPECT_EQ(services("h1"), (std::vector<Record>{allow}));
  EXPECT_TRUE(services("h2").empty());
  // The last one goes: h1 loses it too; the snapshots agree with the agents.
  spec.vnic_policies.pop_back();
  d = p.Set(spec);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(Rows(d->at("h1").deletes, "Service"), (std::vector<Record>{allow}));
  CheckAgainstFresh(p, spec, nullptr);
}

TEST(PhysicalStage, UnderlayChangeReachesThePeersOnly) {
  NbSpec spec = Example("tenant-b-overlap");
  Pipeline p;
  ASSERT_TRUE(p.Set(spec).ok());
  // Hosts holding a Host row for h1 before the change.
  std::set<std::string> holders;
  for (const auto& [h, rows] : p.Snapshots()) {
    for (const Record& r : rows) {
      if (r.table == "Host" && r.values[0] == "h1") holders.insert(h);
    }
  }
  ASSERT_FALSE(holders.empty());
  for (auto& h : spec.hosts) {
    if (h.name == "h1") h.underlay = *Ip::Parse("198.19.255.77");
  }
  auto d = p.Set(spec);  // the logical stage's delta is empty: Host feeds no rule
  ASSERT_TRUE(d.ok()) << d.status();
  std::set<std::string> reached;
  for (const auto& [h, delta] : *d) {
    reached.insert(h);
    ASSERT_EQ(delta.deletes.size(), 1u);
    ASSERT_EQ(delta.inserts.size(), 1u);
    EXPECT_EQ(delta.inserts[0], (Record{"Host", {"h1", "198.19.255.77"}}));
  }
  EXPECT_EQ(reached, holders);
  CheckAgainstFresh(p, spec, nullptr);
}

TEST(PhysicalStage, DefaultActionChangeKeepsTheInstanceId) {
  NbSpec spec = Example("seed-inline");
  Pipeline p;
  ASSERT_TRUE(p.Set(spec).ok());
  for (auto& v : spec.vnic_policies) v.default_action = v.default_action == "drop" ? "allow" : "drop";
  auto d = p.Set(spec);
  ASSERT_TRUE(d.ok());
  ASSERT_FALSE(d->empty());
  for (const auto& [h, delta] : *d) {
    auto del = Rows(delta.deletes, "Instance");
    auto ins = Rows(delta.inserts, "Instance");
    ASSERT_EQ(del.size(), ins.size());
    for (size_t i = 0; i < del.size(); ++i) EXPECT_EQ(del[i].values[4], ins[i].values[4]);
    EXPECT_TRUE(Rows(delta.inserts, "Slice").empty()) << "slices must not change";
  }
}

// Random spec edits, each applied incrementally; after every step the state equals a fresh
// computation on the same spec.
class Editor {
 public:
  explicit Editor(uint32_t seed) : rng_(seed) {}
  int Pick(size_t n) { return static_cast<int>(std::uniform_int_distribution<size_t>(0, n - 1)(rng_)); }
  bool Coin() { return Pick(2) == 0; }

  void Edit(NbSpec& s) {
    switch (Pick(11)) {
      case 0: MovePort(s); break;
      case 1: AddPort(s); break;
      case 2: RemovePort(s); break;
      case 3: AddRule(s); break;
      case 4: RemoveRule(s); break;
      case 5: AddVnicPolicy(s); break;
      case 6: RemoveVnicPolicy(s); break;
      case 7: ToggleFirewall(s); break;
      case 8: ToggleRedirect(s); break;
      case 9: EditService(s); break;
      default: Relabel(s); break;
    }
  }
  // A rule redirecting to a service of its tenant appears (the service too, if needed), or one goes.
  void ToggleRedirect(NbSpec& s) {
    size_t n = s.firewalls.size() + s.vnic_policies.size();
    if (n == 0) return;
    size_t i = Pick(n);
    auto& rules = i < s.firewalls.size() ? s.firewalls[i].rules : s.vnic_policies[i - s.firewalls.size()].rules;
    const std::string& tenant = i < s.firewalls.size() ? s.firewalls[i].tenant : s.vnic_policies[i - s.firewalls.size()].tenant;
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      if (!it->service.empty() && Coin()) {
        rules.erase(it);
        return;
      }
    }
    std::string svc = "svc" + std::to_string(Pick(2));
    bool exists = false;
    for (const auto& v : s.services) exists |= v.tenant == tenant && v.name == svc;
    if (!exists) s.services.push_back(NbServiceVm{tenant, svc});
    uint32_t id = 5000 + ++serial_;
    rules.push_back(NbRule{id, static_cast<int32_t>(Pick(100)), "dir=any proto=udp action=redirect:" + svc, {}, svc});
  }
  void EditService(NbSpec& s) {
    if (s.services.empty()) return;
    NbServiceVm& v = s.services[Pick(s.services.size())];
    switch (Pick(4)) {
      case 0: v.on_failure = v.on_failure == "drop" ? "allow" : "drop"; break;
      case 1: v.check = v.check == "every-nth" ? "cached" : "every-nth", v.nth = v.check == "every-nth" ? 2 + Pick(50) : 0; break;
      case 2: v.same_host = Coin() ? "source" : "destination"; break;
      default: v.migration = Coin() ? "svm" : "svm-review", v.relay = !v.relay; break;
    }
  }
  void MovePort(NbSpec& s) {
    if (s.ports.empty() || s.hosts.empty()) return;
    auto& p = s.ports[Pick(s.ports.size())];
    p.host = Pick(5) == 0 ? "" : s.hosts[Pick(s.hosts.size())].name;
  }
  void AddPort(NbSpec& s) {
    if (s.switches.empty() || s.hosts.empty()) return;
    const NbSwitch& sw = s.switches[Pick(s.switches.size())];
    NbPort p;
    p.tenant = sw.tenant;
    p.sw = sw.name;
    p.name = "p" + std::to_string(++serial_);
    p.mac = 0x020000aa0000ull + serial_;
    Ip ip = sw.cidr.addr;
    ip.lo += 100 + serial_ % 120;
    for (const auto& q : s.ports) {
      for (const Ip& x : q.ips) {
        if (q.tenant == p.tenant && x == ip) return;  // address taken: skip this edit
      }
    }
    p.ips = {ip};
    p.host = s.hosts[Pick(s.hosts.size())].name;
    if (Coin()) p.labels["tier"] = "web";
    s.ports.push_back(p);
  }
  void RemovePort(NbSpec& s) {
    if (s.ports.size() <= 1) return;
    size_t i = Pick(s.ports.size());
    NbPort gone = s.ports[i];
    s.ports.erase(s.ports.begin() + i);
    auto drop = [&](NbSelectorSet& set, const std::string& tenant) {
      if (tenant != gone.tenant) return;
      set.ports.erase(std::remove(set.ports.begin(), set.ports.end(), gone.name), set.ports.end());
    };
    for (auto& g : s.groups) drop(g.members, g.tenant);
    for (auto& v : s.vnic_policies) drop(v.applied_to, v.tenant);
  }
  std::vector<NbRule>* RandomRules(NbSpec& s) {
    size_t n = s.firewalls.size() + s.vnic_policies.size();
    if (n == 0) return nullptr;
    size_t i = Pick(n);
    return i < s.firewalls.size() ? &s.firewalls[i].rules : &s.vnic_policies[i - s.firewalls.size()].rules;
  }
  void AddRule(NbSpec& s) {
    auto* rules = RandomRules(s);
    if (!rules) return;
    uint32_t id = 1000 + ++serial_;
    rules->push_back(NbRule{id, static_cast<int32_t>(Pick(100)),
                            "dir=any proto=tcp dport=" + std::to_string(1000 + serial_) + " action=allow", {}});
  }
  void RemoveRule(NbSpec& s) {
    auto* rules = RandomRules(s);
    if (!rules || rules->empty()) return;
    rules->erase(rules->begin() + Pick(rules->size()));
  }
  void AddVnicPolicy(NbSpec& s) {
    if (s.ports.empty()) return;
    const NbPort& p = s.ports[Pick(s.ports.size())];
    NbVnicPolicy v;
    v.tenant = p.tenant;
    v.name = "vp" + std::to_string(++serial_);
    v.default_action = Coin() ? "drop" : "allow";
    if (Coin()) v.applied_to.ports = {p.name};
    else v.applied_to.selector["tier"] = "web";
    v.rules.push_back(NbRule{1, 1, "dir=any proto=icmp action=allow", {}});
    s.vnic_policies.push_back(v);
  }
  void RemoveVnicPolicy(NbSpec& s) {
    if (s.vnic_policies.empty()) return;
    s.vnic_policies.erase(s.vnic_policies.begin() + Pick(s.vnic_policies.size()));
  }
  void ToggleFirewall(NbSpec& s) {
    if (!s.firewalls.empty() && Coin()) {
      size_t i = Pick(s.firewalls.size());
      NbFirewall gone = s.firewalls[i];
      s.firewalls.erase(s.firewalls.begin() + i);
      for (auto& r : s.routers) {
        if (r.tenant != gone.tenant) continue;
        r.policy_routes.erase(std::remove_if(r.policy_routes.begin(), r.policy_routes.end(),
                                             [&](const NbPolicyRoute& pr) { return pr.firewall == gone.name; }),
                              r.policy_routes.end());
      }
      return;
    }
    if (s.routers.empty()) return;
    const NbRouter& r = s.routers[Pick(s.routers.size())];
    NbFirewall f;
    f.tenant = r.tenant;
    f.name = "fw" + std::to_string(++serial_);
    f.placement = "attached";
    f.router = r.name;
    f.default_action = "drop";
    f.rules.push_back(NbRule{1, 1, "dir=any proto=tcp dport=22 action=drop", {}});
    s.firewalls.push_back(f);
  }
  void Relabel(NbSpec& s) {
    if (s.ports.empty()) return;
    auto& p = s.ports[Pick(s.ports.size())];
    if (p.labels.count("tier")) p.labels.erase("tier");
    else p.labels["tier"] = "web";
  }

 private:
  std::mt19937 rng_;
  int serial_ = 0;
};

TEST(PhysicalStage, RandomEditsEqualFreshComputation) {
  for (const std::string& name : ExampleNames()) {
    for (uint32_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(name + " seed " + std::to_string(seed));
      NbSpec spec = Example(name);
      testing::FakeStore store;
      Pipeline p(&store);
      ASSERT_TRUE(p.physical.Load().ok());
      ASSERT_TRUE(p.Set(spec).ok());
      Editor ed(seed * 7919 + 13);
      int changed = 0;
      for (int step = 0; step < 25; ++step) {
        NbSpec next = spec;
        ed.Edit(next);
        if (ed.Pick(3) == 0) ed.Edit(next);  // sometimes two edits in one apply
        auto d = p.Set(next);
        ASSERT_TRUE(d.ok()) << "step " << step << ": " << d.status();
        changed += !d->empty();
        spec = next;
        if (step % 5 == 4) {
          CheckAgainstFresh(p, spec, &store);
          if (::testing::Test::HasFailure()) return;
        }
      }
      CheckAgainstFresh(p, spec, &store);
      EXPECT_GE(changed, 8) << "the edits should change most steps";
    }
  }
}

// ApplyForSnapshots changes the stage exactly as Apply does and names exactly the hosts Apply
// sends a delta to, with the same revisions, without building any row.
TEST(PhysicalStage, ApplyForSnapshotsMatchesApply) {
  for (const std::string& name : ExampleNames()) {
    SCOPED_TRACE(name);
    auto ls = LogicalStage::Create();
    ASSERT_TRUE(ls.ok());
    PhysicalStage with_rows, without_rows;
    NbSpec spec = Example(name);
    Editor ed(4242);
    for (int step = 0; step < 30; ++step) {
      auto d = (*ls)->SetSpec(spec);
      ASSERT_TRUE(d.ok()) << d.status();
      auto a = with_rows.Apply((*ls)->engine(), *d);
      auto b = without_rows.ApplyForSnapshots((*ls)->engine(), *d);
      ASSERT_TRUE(a.ok() && b.ok());
      std::map<std::string, uint64_t> ra, rb;
      for (const auto& [h, delta] : *a) ra[h] = delta.revision;
      for (const auto& [h, delta] : *b) {
        rb[h] = delta.revision;
        EXPECT_TRUE(delta.snapshot && delta.inserts.empty() && delta.deletes.empty()) << h;
      }
      EXPECT_EQ(ra, rb) << "step " << step;
      EXPECT_EQ(with_rows.Hosts(), without_rows.Hosts());
      for (const std::string& h : with_rows.Hosts()) {
        EXPECT_EQ(with_rows.Snapshot(h).rows(), without_rows.Snapshot(h).rows()) << h << " step " << step;
      }
      EXPECT_EQ(with_rows.RowCount(), without_rows.RowCount());
      if (::testing::Test::HasFailure()) return;
      ed.Edit(spec);
      if (ed.Pick(3) == 0) ed.Edit(spec);
    }
  }
}

// SnapshotEncoded, decoded by libprotobuf, holds exactly SnapshotDelta's records for every host,
// chunked as asked, every chunk at the given revision and byte for byte what protobuf itself
// writes for it. Returns how many (host, datapath) pairs had a tunnel-to-self flow left out
// (the per-host exception inside a shared block), so callers can check that case was met.
size_t CheckEncoded(const PhysicalStage& ps, uint64_t revision, size_t chunk_rows, const std::string& where) {
  size_t self_left_out = 0;
  for (const std::string& h : ps.Hosts()) {
    records::EncodedSnapshot e = ps.SnapshotEncoded(h, revision, chunk_rows);
    std::vector<Record> got;
    EXPECT_FALSE(e.chunks.empty()) << h;
    for (size_t i = 0; i < e.chunks.size(); ++i) {
      ::rampart::agent::v1::Snapshot snap;
      EXPECT_TRUE(snap.ParseFromString(e.chunks[i])) << h << " chunk " << i;
      EXPECT_EQ(snap.revision(), revision) << h;
      EXPECT_EQ(snap.more(), i + 1 < e.chunks.size()) << h;
      if (i + 1 < e.chunks.size()) {
        EXPECT_EQ(static_cast<size_t>(snap.records_size()), chunk_rows) << h;
      } else {
        EXPECT_LE(static_cast<size_t>(snap.records_size()), chunk_rows) << h;
      }
      EXPECT_EQ(snap.SerializeAsString(), e.chunks[i]) << h << " chunk " << i;
      for (const auto& r : snap.records()) got.push_back(Record{r.table(), {r.values().begin(), r.values().end()}});
    }
    EXPECT_EQ(e.rows, got.size()) << h;
    EXPECT_EQ(e.revision, revision);
    records::Delta want = ps.SnapshotDelta(h);
    std::sort(got.begin(), got.end());
    std::sort(want.inserts.begin(), want.inserts.end());
    EXPECT_EQ(got, want.inserts) << h << " " << where;
    // Flows of h's datapaths that tunnel to h: held by other hosts, never by h.
    std::set<std::pair<std::string, std::string>> dps;
    for (const Record& r : want.inserts) {
      if (r.table == "Datapath") dps.emplace(r.values[0], r.values[1]);
    }
    std::set<std::pair<std::string, std::string>> counted;
    for (const std::string& other : ps.Hosts()) {
      if (other == h) continue;
      for (const Record& r : ps.SnapshotDelta(other).inserts) {
        if (r.table == "Flow" && r.values.size() == 6 && r.values[5] == "output(tunnel:" + h + ")" &&
            dps.count({r.values[0], r.values[1]}) && counted.emplace(r.values[0], r.values[1]).second) {
          ++self_left_out;
        }
      }
    }
  }
  return self_left_out;
}

// Random edits through Apply and ApplyForSnapshots (alternating), the encoded snapshots checked
// after every step: the per-bag cache survives between steps, so a bag Apply changed but whose
// stale block were still used would show here.
TEST(PhysicalStage, EncodedSnapshotsEqualTheRecordSnapshots) {
  size_t self_left_out = 0;
  for (const std::string& name : ExampleNames()) {
    for (uint32_t seed = 1; seed <= 2; ++seed) {
      SCOPED_TRACE(name + " seed " + std::to_string(seed));
      auto ls = LogicalStage::Create();
      ASSERT_TRUE(ls.ok());
      PhysicalStage ps;
      NbSpec spec = Example(name);
      Editor ed(seed * 104729 + 7);
      for (int step = 0; step < 20; ++step) {
        auto d = (*ls)->SetSpec(spec);
        ASSERT_TRUE(d.ok()) << d.status();
        auto out = step % 2 ? ps.ApplyForSnapshots((*ls)->engine(), *d) : ps.Apply((*ls)->engine(), *d);
        ASSERT_TRUE(out.ok()) << out.status();
        const std::string where = "step " + std::to_string(step);
        const uint64_t revisions[] = {0, 1, 200, (uint64_t{7} << 32) | 3};
        self_left_out += CheckEncoded(ps, revisions[step % 4], step % 3 == 0 ? 3 : 4096, where);
        if (step == 10) {
          EXPECT_GT(ps.SnapshotCacheBytes(), 0u);
          ps.DropSnapshotCache();
          EXPECT_EQ(ps.SnapshotCacheBytes(), 0u);
          CheckEncoded(ps, 5, 1, where + " after dropping the cache");
        }
        if (::testing::Test::HasFailure()) return;
        ed.Edit(spec);
        if (ed.Pick(3) == 0) ed.Edit(spec);
      }
    }
  }
  EXPECT_GT(self_left_out, 0u) << "no example met a tunnel-to-self flow: that exception went untested";
}

// Snapshot threads encode concurrently (each filling the shared cache): every thread's bytes
// equal a single thread's.
TEST(PhysicalStage, EncodedSnapshotsFromSeveralThreadsAgree) {
  for (const std::string& name : ExampleNames()) {
    SCOPED_TRACE(name);
    auto ls = LogicalStage::Create();
    ASSERT_TRUE(ls.ok());
    PhysicalStage ps;
    auto d = (*ls)->SetSpec(Example(name));
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(ps.ApplyForSnapshots((*ls)->engine(), *d).ok());
    const std::vector<std::string> hosts = ps.Hosts();
    std::map<std::string, std::vector<std::string>> want;
    for (const std::string& h : hosts) want[h] = ps.SnapshotEncoded(h, 9, 4096).chunks;
    ps.DropSnapshotCache();
    std::vector<std::map<std::string, std::vector<std::string>>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = 0; i < hosts.size(); ++i) {
          const std::string& h = hosts[(i + t) % hosts.size()];
          got[t][h] = ps.SnapshotEncoded(h, 9, 4096).chunks;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const auto& g : got) EXPECT_EQ(g, want);
  }
}

TEST(PhysicalStage, AllocationsArePersistedFreedAndReused) {
  NbSpec spec = Example("seed-inline");
  testing::FakeStore store;
  Pipeline p(&store);
  ASSERT_TRUE(p.physical.Load().ok());
  ASSERT_TRUE(p.Set(spec).ok());
  auto counts = p.physical.Allocations();
  size_t keys = store.Contents().size();
  EXPECT_EQ(keys, counts.datapath_keys + counts.port_keys + counts.tags + counts.instance_ids + counts.engine_ports);
  for (const auto& [k, kv] : store.Contents()) EXPECT_EQ(k.rfind(kAllocPrefix, 0), 0u) << k;
  EXPECT_GT(counts.tags, 0u);
  EXPECT_GT(counts.engine_ports, 0u);
  // Remove every vNIC policy: their tags, instance ids and engine ports are freed (in the store too).
  NbSpec less = spec;
  less.vnic_policies.clear();
  ASSERT_TRUE(p.Set(less).ok());
  auto after = p.physical.Allocations();
  EXPECT_LT(after.tags, counts.tags);
  EXPECT_EQ(after.engine_ports, 0u);
  EXPECT_LT(after.instance_ids, counts.instance_ids);
  EXPECT_EQ(store.Contents().size(),
            after.datapath_keys + after.port_keys + after.tags + after.instance_ids + after.engine_ports);
  // Back again: numbers are allocated anew and the state matches a fresh computation.
  ASSERT_TRUE(p.Set(spec).ok());
  EXPECT_EQ(p.physical.Allocations().tags, counts.tags);
  CheckAgainstFresh(p, spec, &store);
}

TEST(PhysicalStage, RestartFreesWhatNoLongerExists) {
  NbSpec spec = Example("seed-inline");
  testing::FakeStore store;
  {
    Pipeline p(&store);
    ASSERT_TRUE(p.physical.Load().ok());
    ASSERT_TRUE(p.Set(spec).ok());
  }
  // The controller comes back with a smaller spec: what vanished while it was down is freed.
  NbSpec less = spec;
  less.vnic_policies.clear();
  Pipeline p(&store);
  ASSERT_TRUE(p.physical.Load().ok());
  // An empty delta first (a controller with no objects yet) frees nothing.
  size_t keys = store.Contents().size();
  auto empty = p.physical.Apply(p.logical->engine(), nlog::Delta{});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(store.Contents().size(), keys);
  ASSERT_TRUE(p.Set(less).ok());
  auto c = p.physical.Allocations();
  EXPECT_EQ(c.engine_ports, 0u);
  EXPECT_EQ(store.Contents().size(), c.datapath_keys + c.port_keys + c.tags + c.instance_ids + c.engine_ports);
}

// A spec with `n` VMs on host h1, each under its own vNIC policy (2 tags each).
NbSpec ManyVnicPorts(int n) {
  std::ostringstream y;
  y << "kind: Host\nname: h1\nunderlay: 198.19.255.1\n---\nkind: Host\nname: h2\nunderlay: 198.19.255.2\n"
       "---\nkind: Tenant\nname: A\n---\nkind: LogicalSwitch\ntenant: A\nname: ls1\ncidr: 198.18.0.0/16\n";
  for (int i = 0; i < n; ++i) {
    char mac[32];
    std::snprintf(mac, sizeof(mac), "02:00:00:00:%02x:%02x", (i + 1) >> 8, (i + 1) & 255);
    y << "---\nkind: Port\ntenant: A\nswitch: ls1\nname: vm" << i << "\nmac: \"" << mac << "\"\nips: [198.18."
      << ((i + 1) >> 8) << "." << ((i + 1) & 255) << "]\nhost: h1\n";
  }
  auto spec = ParseNbSpec(y.str(), "many.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status();
  NbSpec s = spec.ok() ? *spec : NbSpec{};
  // One policy per port (applied_to by name), so each port has its own pair of slices.
  s.vnic_policies.clear();
  for (int i = 0; i < n; ++i) {
    NbVnicPolicy v;
    v.tenant = "A";
    v.name = "vp" + std::to_string(i);
    v.default_action = "drop";
    v.applied_to.ports = {"vm" + std::to_string(i)};
    s.vnic_policies.push_back(v);
  }
  return s;
}

TEST(PhysicalStage, TagExhaustionNamesTheHostAndChangesNothing) {
  PhysicalOptions opt;
  opt.max_tag = 6;  // 3 vNIC-protected ports fit, the 4th does not
  testing::FakeStore store;
  Pipeline p(&store, opt);
  ASSERT_TRUE(p.physical.Load().ok());
  NbSpec three = ManyVnicPorts(3);
  ASSERT_TRUE(p.Set(three).ok());
  auto before = p.Snapshots();
  auto store_before = store.Contents();
  auto alloc_before = p.physical.Allocations();
  NbSpec four = ManyVnicPorts(4);
  auto d = p.Set(four);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("host h1"), std::string::npos) << d.status();
  EXPECT_NE(d.status().message().find("slice tag"), std::string::npos) << d.status();
  EXPECT_EQ(p.Snapshots(), before);
  EXPECT_EQ(store.Contents().size(), store_before.size());
  EXPECT_EQ(p.physical.Allocations().tags, alloc_before.tags);
  // The caller restores the logical stage (that rollback's delta is not applied here), then
  // carries on: moving one port elsewhere makes room.
  ASSERT_TRUE(p.logical->SetSpec(three).ok());
  four.ports[0].host = "h2";
  auto ok = p.Set(four);
  ASSERT_TRUE(ok.ok()) << ok.status();
  CheckAgainstFresh(p, four, &store);
  // Freeing and allocating within one apply at full capacity works: swap which ports are on h1.
  NbSpec swapped = four;
  swapped.ports[0].host = "h1";
  swapped.ports[1].host = "h2";
  auto sw = p.Set(swapped);
  ASSERT_TRUE(sw.ok()) << sw.status();
  CheckAgainstFresh(p, swapped, &store);
}

TEST(PhysicalStage, PortKeyExhaustionNamesTheDatapath) {
  PhysicalOptions opt;
  opt.max_port_key = 4;
  Pipeline p(nullptr, opt);
  NbSpec three = ManyVnicPorts(2);  // ls1: vm0, vm1 and their two vNIC slice ports = 4 names
  ASSERT_TRUE(p.Set(three).ok());
  auto before = p.Snapshots();
  auto d = p.Set(ManyVnicPorts(3));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(d.status().message().find("datapath A/ls1"), std::string::npos) << d.status();
  EXPECT_NE(d.status().message().find("logical port key"), std::string::npos) << d.status();
  EXPECT_EQ(p.Snapshots(), before);
}

TEST(PhysicalStage, RealTagLimitIs4094PerHost) {
  Pipeline p;
  ASSERT_TRUE(p.Set(ManyVnicPorts(2047)).ok());  // 4094 tags on h1
  EXPECT_EQ(p.physical.Allocations().tags, 4094u);
  auto d = p.Set(ManyVnicPorts(2048));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("host h1"), std::string::npos) << d.status();
  EXPECT_NE(d.status().message().find("4094"), std::string::npos) << d.status();
}

TEST(PhysicalStage, StoreFailureChangesNothing) {
  NbSpec spec = Example("seed-attached");
  testing::FakeStore store;
  Pipeline p(&store);
  ASSERT_TRUE(p.physical.Load().ok());
  ASSERT_TRUE(p.Set(spec).ok());
  auto before = p.Snapshots();
  NbSpec more = spec;
  NbVnicPolicy v;
  v.tenant = "A";
  v.name = "guard-vm1";
  v.default_action = "drop";
  v.applied_to.ports = {"vm1"};
  more.vnic_policies.push_back(v);
  store.fail_commits = true;
  auto d = p.Set(more);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(p.Snapshots(), before);
  store.fail_commits = false;
  ASSERT_TRUE(p.logical->SetSpec(spec).ok());  // roll the logical stage back
  ASSERT_TRUE(p.Set(more).ok());
  CheckAgainstFresh(p, more, &store);
}

TEST(PhysicalStage, LoadRejectsMalformedKeys) {
  testing::FakeStore store;
  ASSERT_TRUE(store.Put(std::string(kAllocPrefix) + "tag/h1/A/fw/attach/from-vm", "9999", 0).ok());
  PhysicalStage s(&store);
  auto st = s.Load();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tag/h1/A/fw/attach/from-vm"), std::string::npos) << st;
  testing::FakeStore store2;
  ASSERT_TRUE(store2.Put(std::string(kAllocPrefix) + "bogus/x", "1", 0).ok());
  PhysicalStage s2(&store2);
  EXPECT_FALSE(s2.Load().ok());
  testing::FakeStore store3;
  ASSERT_TRUE(store3.Put(std::string(kAllocPrefix) + "tag/h1/A/fw", "7", 0).ok());
  PhysicalStage s3(&store3);
  auto st3 = s3.Load();
  ASSERT_FALSE(st3.ok());
  EXPECT_NE(st3.message().find("path parts"), std::string::npos) << st3;
}

TEST(PhysicalStage, NamesWithSlashesRoundTripThroughTheStore) {
  NbSpec spec = Example("seed-attached");
  // Rename tenant A's port vm1 to a name with characters the store key escapes.
  for (auto& p : spec.ports) {
    if (p.tenant == "A" && p.name == "vm1") p.name = "web/1 %x";
  }
  for (auto& g : spec.groups) {
    for (auto& n : g.members.ports) if (n == "vm1") n = "web/1 %x";
  }
  for (auto& v : spec.vnic_policies) {
    for (auto& n : v.applied_to.ports) if (n == "vm1") n = "web/1 %x";
  }
  testing::FakeStore store;
  Pipeline p(&store);
  ASSERT_TRUE(p.physical.Load().ok());
  ASSERT_TRUE(p.Set(spec).ok());
  CheckAgainstFresh(p, spec, &store);
}

}  // namespace
}  // namespace rampart::controller
