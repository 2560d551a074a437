// FEI reconciliation against an in-memory fake of rampart-fwd's control API.
#include "agent/fei_reconcile.h"

#include <gtest/gtest.h>

#include "spec_records.h"

namespace rampart::agent {
namespace {

using nlohmann::json;

// Just enough of docs/fei.md: instances, tags, policies; counts every mutating call.
class FakeFei : public FeiApi {
 public:
  absl::StatusOr<json> Call(const std::string& m, const json& p) override {
    calls.push_back(m);
    if (m == "instance.list") {
      json a = json::array();
      for (const auto& [id, i] : instances) a.push_back({{"id", id}, {"name", i.name}, {"options", json::object()}});
      return json{{"instances", a}};
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
      instances[id] = {p["name"], "default: drop", 0};
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

  struct Inst { std::string name, policy; int generation = 0; };
  std::map<uint32_t, Inst> instances;
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
