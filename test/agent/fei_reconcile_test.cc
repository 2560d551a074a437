// FEI reconciliation against an in-memory fake of rampart-fwd's control API.
#include "agent/fei_reconcile.h"

#include <gtest/gtest.h>

#include "fwd/service_registry.h"

#include "spec_records.h"

namespace rampart::agent {
namespace {

using nlohmann::json;

// Just enough of docs/fei.md: services, instances, tags, policies; counts every mutating call.
// service.set params are checked with rampart-fwd's own validation.
class FakeFei : public FeiApi {
 public:
  absl::StatusOr<json> Call(const std::string& m, const json& p) override {
    calls.push_back(m);
    if (m == "instance.list") {
      json a = json::array();
      for (const auto& [id, i] : instances) {
        a.push_back({{"id", id}, {"name", i.name}, {"tenant", i.tenant}, {"options", json::object()}});
      }
      return json{{"instances", a}};
    }
    if (m == "service.list") {
      json a = json::array();
      for (const auto& [key, c] : services) {
        json e = c;
        e["id"] = 0;
        e["counters"] = {{"redirected", 7}, {"failure_dropped", 7}, {"failure_allowed", 0}};
        a.push_back(e);
      }
      return json{{"services", a}, {"unregistered", json::array()}};
    }
    if (m == "tag.list") {
      json a = json::array();
      for (const auto& [vid, b] : tags) a.push_back(b);
      return json{{"bindings", a}};
    }
    if (m == "policy.get") {
      auto it = instances.find(p["instance"].get<uint32_t>());
      if (it == instances.end()) return absl::NotFoundError("no such instance");
      return json{{"policy", it->second.policy}, {"generation", it->second.generation}};
    }
    ++mutations;
    if (fail_method == m) return absl::InvalidArgumentError("refused by the fake");
    if (m == "instance.create") {
      uint32_t id = p["id"];
      if (instances.count(id)) return absl::AlreadyExistsError("taken");
      instances[id] = {p["name"], "default: drop", 0, p.value("tenant", "")};
      return json::object();
    }
    if (m == "service.set") {
      auto c = fwd::ParseServiceConfig(p);
      if (!c.ok()) return c.status();
      services[{c->tenant, c->name}] = fwd::ServiceConfigJson(*c);
      return json{{"changed", true}};
    }
    if (m == "service.delete") {
      if (!services.erase({p.value("tenant", ""), p.value("name", "")})) return absl::NotFoundError("no such service");
      return json::object();
    }
    if (m == "instance.delete") {
      uint32_t id = p["id"];
      if (!instances.erase(id)) return absl::NotFoundError("no such instance");
      for (auto it = tags.begin(); it != tags.end();) it = it->second["instance"] == id ? tags.erase(it) : std::next(it);
      return json::object();
    }
    if (m == "policy.set") {
      auto it = instances.find(p["instance"].get<uint32_t>());
      if (it == instances.end()) return absl::NotFoundError("no such instance");
      it->second.policy = p["policy"];
      ++it->second.generation;
      return json{{"mode", "full"}};
    }
    if (m == "tag.bind") {
      uint16_t vid = p["vid"];
      if (tags.count(vid)) return absl::AlreadyExistsError("tag bound");
      if (!instances.count(p["instance"].get<uint32_t>())) return absl::NotFoundError("no such instance");
      tags[vid] = p;
      return json::object();
    }
    if (m == "tag.unbind") {
      if (!tags.erase(p["vid"].get<uint16_t>())) return absl::NotFoundError("not bound");
      return json::object();
    }
    return absl::UnimplementedError(m);
  }

  struct Inst { std::string name, policy; int generation = 0; std::string tenant; };
  std::map<uint32_t, Inst> instances;
  std::map<std::pair<std::string, std::string>, json> services;
  std::map<uint16_t, json> tags;
  std::vector<std::string> calls;
  int mutations = 0;
  std::string fail_method;
};

records::RecordSet Records(const char* spec, const char* host) {
  auto sr = testing::RecordsForSpec(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + spec + ".yaml");
  return sr.hosts[host];
}

FeiReport Both(FakeFei& f, const records::RecordSet& rs) {
  auto a = ReconcileFei(f, rs, FeiPhase::kAdd);
  EXPECT_TRUE(a.ok()) << a.status();
  auto r = ReconcileFei(f, rs, FeiPhase::kRemove);
  EXPECT_TRUE(r.ok()) << r.status();
  FeiReport sum = a.ok() ? *a : FeiReport{};
  if (r.ok()) {
    sum.instances_deleted += r->instances_deleted;
    sum.tags_unbound += r->tags_unbound;
    sum.services_deleted += r->services_deleted;
  }
  return sum;
}

TEST(FeiReconcile, CreatesInstancesPoliciesAndTagsOnce) {
  FakeFei f;
  records::RecordSet rs = Records("seed-inline", "h1");
  FeiReport r = Both(f, rs);
  EXPECT_EQ(r.instances_created, 2u);  // A/fw-inline, B/protect-vm2
  EXPECT_EQ(r.policies_set, 2u);
  EXPECT_EQ(r.tags_bound, 4u);          // inline: switch + router sides; vNIC: from-vm + to-vm
  ASSERT_EQ(f.instances.size(), 2u);
  // The policy document is the records' rules, in rampart-fwd's format.
  const auto& fw = f.instances.begin()->second;
  EXPECT_EQ(fw.name, "A/fw-inline");
  EXPECT_NE(fw.policy.find("\"destination_ports\":[80,5201]"), std::string::npos) << fw.policy;
  // Inline slices: frames allowed on one tag leave on the other.
  bool crossed = false;
  for (const auto& [vid, b] : f.tags) crossed |= b["return_tag"] != b["vid"];
  EXPECT_TRUE(crossed);

  // Unchanged records (an agent restart): not one mutating call.
  f.mutations = 0;
  r = Both(f, rs);
  EXPECT_EQ(r.mutations(), 0u);
  EXPECT_EQ(f.mutations, 0);
}

TEST(FeiReconcile, OnlyTheChangedPolicyIsSet) {
  FakeFei f;
  records::RecordSet rs = Records("seed-inline", "h1");
  Both(f, rs);
  int gen_b = f.instances.rbegin()->second.generation;
  // A rule of A/fw-inline changes.
  records::RecordSet changed;
  for (auto r : rs.rows()) {
    if (r.table == "FwRule" && r.values[1] == "fw-inline") r.values[4] = "dir=any proto=tcp src=198.18.1.0/24 dst=group:web dport=443 action=allow";
    changed.Insert(r);
  }
  f.mutations = 0;
  FeiReport r = Both(f, changed);
  EXPECT_EQ(r.policies_set, 1u);
  EXPECT_EQ(r.mutations(), 1u);
  EXPECT_EQ(f.instances.rbegin()->second.generation, gen_b);
  EXPECT_NE(f.instances.begin()->second.policy.find("[443]"), std::string::npos);
}

TEST(FeiReconcile, RemovalsWaitForTheRemovePhase) {
  FakeFei f;
  records::RecordSet rs = Records("seed-inline", "h1");
  Both(f, rs);
  records::RecordSet less;
  for (const auto& r : rs.rows()) {
    if (r.values.size() > 1 && r.values[0] == "B" && r.table != "Flow") continue;  // tenant B's instance leaves
    less.Insert(r);
  }
  auto add = ReconcileFei(f, less, FeiPhase::kAdd);
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_EQ(add->mutations(), 0u);
  EXPECT_EQ(f.instances.size(), 2u);  // still enforcing until the flows stop steering there
  auto rem = ReconcileFei(f, less, FeiPhase::kRemove);
  ASSERT_TRUE(rem.ok()) << rem.status();
  EXPECT_EQ(rem->tags_unbound, 2u);
  EXPECT_EQ(rem->instances_deleted, 1u);
  EXPECT_EQ(f.instances.size(), 1u);
  EXPECT_EQ(f.tags.size(), 2u);
}

TEST(FeiReconcile, ForeignStateIsCorrected) {
  FakeFei f;
  records::RecordSet rs = Records("seed-attached", "h1");
  // rampart-fwd holds an instance with our id but another name, a stray instance and a tag
  // bound to the wrong port.
  f.instances[1] = {"Z/old", "default: allow", 3};
  f.instances[77] = {"Z/stray", "default: allow", 1};
  f.tags[100] = json{{"vid", 100}, {"instance", 1}, {"port", 9}, {"direction", "from-vm"}, {"return_tag", 100}};
  FeiReport r = Both(f, rs);
  EXPECT_EQ(r.instances_deleted, 2u);
  EXPECT_EQ(r.instances_created, 1u);
  EXPECT_EQ(r.tags_bound, 1u);
  ASSERT_EQ(f.instances.size(), 1u);
  EXPECT_EQ(f.instances[1].name, "A/fw");
  ASSERT_EQ(f.tags.size(), 1u);
  EXPECT_EQ(f.tags.begin()->second["port"], 1);
}

records::Record ServiceRow(std::vector<std::string> v) { return records::Record{"Service", std::move(v)}; }

records::RecordSet WithServices(records::RecordSet rs, const std::vector<records::Record>& rows) {
  for (const auto& r : rows) rs.Insert(r);
  return rs;
}

TEST(FeiReconcile, ServicesAreSetBeforePoliciesAndOnlyWhenTheyDiffer) {
  FakeFei f;
  auto ips = ServiceRow({"A", "ips", "allow", "every-nth", "3", "true", "source", "svm-review"});
  auto av = ServiceRow({"A", "av", "drop", "cached", "0", "false", "both", "engine"});
  records::RecordSet rs = WithServices(Records("seed-attached", "h1"), {ips, av});
  FeiReport r = Both(f, rs);
  EXPECT_EQ(r.services_set, 2u);
  EXPECT_TRUE(r.problems.empty());
  ASSERT_EQ(f.services.size(), 2u);
  json want = {{"tenant", "A"}, {"name", "ips"}, {"on_failure", "allow"}, {"check", "every-nth"}, {"nth", 3},
               {"relay", true}, {"same_host", "source"}, {"migration", "svm-review"}};
  EXPECT_EQ(f.services[std::make_pair(std::string("A"), std::string("ips"))], want);
  // A redirect must never meet a missing service: services first, then instances and policies.
  auto first = [&](const std::string& m) { return std::find(f.calls.begin(), f.calls.end(), m) - f.calls.begin(); };
  EXPECT_LT(first("service.set"), first("instance.create"));
  EXPECT_LT(first("service.set"), first("policy.set"));
  // instance.create carries the instance's tenant (redirect:NAME resolves in it).
  EXPECT_EQ(f.instances[1].tenant, "A");

  // Unchanged (an agent restart against a rampart-fwd that kept its state): no mutating call,
  // although service.list also reports ids and counters.
  f.mutations = 0;
  r = Both(f, rs);
  EXPECT_EQ(r.mutations(), 0u);
  EXPECT_EQ(f.mutations, 0);

  // One field changes: one service.set, nothing else.
  auto ips2 = ips;
  ips2.values[2] = "drop";
  records::RecordSet changed = WithServices(Records("seed-attached", "h1"), {ips2, av});
  r = Both(f, changed);
  EXPECT_EQ(r.services_set, 1u);
  EXPECT_EQ(r.mutations(), 1u);
  EXPECT_EQ(f.services[std::make_pair(std::string("A"), std::string("ips"))]["on_failure"], "drop");

  // A service leaves: deleted in the remove phase only.
  records::RecordSet less = WithServices(Records("seed-attached", "h1"), {ips2});
  auto add = ReconcileFei(f, less, FeiPhase::kAdd);
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_EQ(add->mutations(), 0u);
  EXPECT_EQ(f.services.size(), 2u);
  auto rem = ReconcileFei(f, less, FeiPhase::kRemove);
  ASSERT_TRUE(rem.ok()) << rem.status();
  EXPECT_EQ(rem->services_deleted, 1u);
  EXPECT_EQ(f.services.size(), 1u);
  EXPECT_TRUE(f.services.count(std::make_pair(std::string("A"), std::string("ips"))));
}

TEST(FeiReconcile, MalformedServiceRowsAreSkippedAndNamed) {
  FakeFei f;
  records::RecordSet rs = WithServices(Records("seed-attached", "h1"),
                                       {ServiceRow({"A", "bad-check", "drop", "sometimes", "0", "false", "both", "engine"}),
                                        ServiceRow({"A", "bad-nth", "drop", "every-nth", "x", "false", "both", "engine"}),
                                        ServiceRow({"A", "short", "drop"}),
                                        ServiceRow({"A", "good", "allow", "cached", "0", "false", "both", "engine"})});
  FeiReport r = Both(f, rs);
  EXPECT_EQ(r.services_set, 1u);
  EXPECT_EQ(r.instances_created, 1u);  // the rest still applies
  ASSERT_EQ(r.problems.size(), 3u);
  EXPECT_NE(r.problems[0].find("bad-check"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[0].find("'check'"), std::string::npos) << r.problems[0];
  EXPECT_NE(r.problems[1].find("'nth'"), std::string::npos) << r.problems[1];
  EXPECT_NE(r.problems[2].find("8 columns"), std::string::npos) << r.problems[2];
  EXPECT_EQ(f.services.size(), 1u);
}

TEST(FeiReconcile, AnInstanceOfAnotherTenantUnderOurIdIsReplaced) {
  FakeFei f;
  records::RecordSet rs = Records("seed-attached", "h1");
  Both(f, rs);
  f.instances[1].tenant = "Z";  // same name, other tenant: its redirects would resolve wrongly
  f.mutations = 0;
  FeiReport r = Both(f, rs);
  EXPECT_EQ(r.instances_deleted, 1u);
  EXPECT_EQ(r.instances_created, 1u);
  EXPECT_EQ(f.instances[1].tenant, "A");
}

TEST(FeiReconcile, ErrorsNameTheCallAndInstance) {
  FakeFei f;
  f.fail_method = "policy.set";
  auto r = ReconcileFei(f, Records("seed-attached", "h1"), FeiPhase::kAdd);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("policy.set 1 (A/fw): refused by the fake"), std::string::npos) << r.status();
  EXPECT_TRUE(f.tags.empty());  // no tag feeds an instance whose policy failed
}

}  // namespace
}  // namespace rampart::agent
