// NB objects in the store: keys, ParseStoredObjects (the whole spec, references checked, errors
// name the key) and ObjectRows (one object's rows; their union equals SpecToRows of the whole
// spec) on the example specs and on random specs.
#include "controller/api/nb_objects.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "test/controller/api/random_spec.h"

namespace rampart::controller {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The documents of `text` as stored key/values (what the API writes).
std::vector<store::KeyValue> Stored(const std::string& text) {
  auto docs = ParseNbDocuments(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  std::vector<store::KeyValue> kvs;
  if (!docs.ok()) return kvs;
  int64_t rev = 1;
  for (const auto& d : *docs) kvs.push_back({NbObjectKey({d.kind, d.tenant, d.name}), d.json, rev, rev, 1, 0}), ++rev;
  std::sort(kvs.begin(), kvs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return kvs;
}

std::vector<InputRow> SortedUnique(std::vector<InputRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const InputRow& a, const InputRow& b) {
    return a.table != b.table ? a.table < b.table : nlog::RowLess(a.row, b.row);
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const InputRow& a, const InputRow& b) { return a.table == b.table && a.row == b.row; }),
             rows.end());
  return rows;
}

std::string RowsText(const std::vector<InputRow>& rows) {
  std::string out;
  for (const auto& r : rows) {
    absl::StrAppend(&out, r.table, "(");
    for (const auto& v : r.row) absl::StrAppend(&out, v.ToString(), ",");
    absl::StrAppend(&out, ")\n");
  }
  return out;
}

// Checks the three ways to get rows agree: ParseNbSpec(text), ParseStoredObjects, ObjectRows.
void ExpectRowsAgree(const std::string& text, const std::string& what) {
  auto spec = ParseNbSpec(text, "t.yaml");
  ASSERT_TRUE(spec.ok()) << what << ": " << spec.status() << "\n" << text;
  std::string want = RowsText(SpecToRows(*spec));
  auto kvs = Stored(text);
  auto stored = ParseStoredObjects(kvs);
  ASSERT_TRUE(stored.ok()) << what << ": " << stored.status();
  EXPECT_EQ(RowsText(SpecToRows(*stored)), want) << what;
  std::vector<InputRow> all;
  for (const auto& kv : kvs) {
    auto rows = ObjectRows(kv.key, kv.value);
    ASSERT_TRUE(rows.ok()) << what << ": " << kv.key << ": " << rows.status();
    all.insert(all.end(), rows->begin(), rows->end());
  }
  EXPECT_EQ(RowsText(SortedUnique(all)), want) << what;
  // Every reference an object makes names an object that exists (the spec is valid).
  std::set<std::string> keys;
  for (const auto& kv : kvs) keys.insert(kv.key);
  for (const auto& kv : kvs) {
    auto refs = ObjectReferences(*ParseNbObjectKey(kv.key), kv.value);
    ASSERT_TRUE(refs.ok()) << refs.status();
    for (const auto& r : *refs) EXPECT_TRUE(keys.count(NbObjectKey(r.to))) << what << ": " << kv.key << " " << r.field << " -> " << NbObjectKey(r.to);
  }
}

TEST(NbObjects, KeysRoundTrip) {
  EXPECT_EQ(NbObjectKey({"Port", "A", "vm1"}), "/rampart/nb/Port/A/vm1");
  EXPECT_EQ(NbObjectKey({"Host", "", "h1"}), "/rampart/nb/Host/-/h1");
  auto id = ParseNbObjectKey("/rampart/nb/Host/-/h1");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, (NbObjectId{"Host", "", "h1"}));
  EXPECT_FALSE(ParseNbObjectKey("/rampart/nb/Bogus/A/x").ok());
  EXPECT_FALSE(ParseNbObjectKey("/rampart/nb/Port/-/x").ok());
  EXPECT_FALSE(ParseNbObjectKey("/rampart/nb/Host/A/h1").ok());
  EXPECT_FALSE(ParseNbObjectKey("/rampart/nb/Port/A").ok());
  EXPECT_FALSE(ParseNbObjectKey("/other/Port/A/x").ok());
}

TEST(NbObjects, ExampleSpecsGiveTheSameRowsThreeWays) {
  for (const char* f : {"seed-attached", "seed-inline", "tenant-b-overlap"}) {
    ExpectRowsAgree(ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + f + ".yaml"), f);
  }
}

TEST(NbObjects, StoredErrorsNameTheKey) {
  std::vector<store::KeyValue> kvs = {
      {"/rampart/nb/Tenant/-/A", R"({"kind":"Tenant","name":"A"})", 1, 1, 1, 0},
      {"/rampart/nb/Port/A/vm1", R"({"kind":"Port","tenant":"A","name":"vm1","switch":"ls9","mac":"02:00:00:00:00:01"})", 2, 2, 1, 0},
  };
  auto s = ParseStoredObjects(kvs);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "/rampart/nb/Port/A/vm1 (Port vm1): switch: unknown LogicalSwitch 'ls9' in tenant 'A'");
  // A value whose identity disagrees with its key.
  kvs[1].value = R"({"kind":"Port","tenant":"A","name":"vm2","switch":"ls9","mac":"02:00:00:00:00:01"})";
  s = ParseStoredObjects(kvs);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("does not match its key"), std::string::npos) << s.status();
  EXPECT_FALSE(ObjectRows(kvs[1].key, kvs[1].value).ok());
  // Keys outside the NB prefix are not objects.
  kvs.pop_back();
  kvs.push_back({"/rampart/hosts/h1/tag", "7", 3, 3, 1, 0});
  EXPECT_TRUE(ParseStoredObjects(kvs).ok());
}

TEST(NbObjects, ObjectRowsOfOneObjectNeedNoOtherObjects) {
  // A Firewall's rows alone (its router and groups are not given): rules and their groups.
  std::string json = R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},)"
                     R"("rules":[{"id":10,"source":[{"group":"web"}],"protocol":"tcp","action":"allow"}]})";
  auto rows = ObjectRows("/rampart/nb/Firewall/A/fw", json);
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::string text = RowsText(*rows);
  EXPECT_NE(text.find("Firewall(A,fw,attached,r1,,drop,)"), std::string::npos) << text;
  EXPECT_NE(text.find("FwRuleGroup(A,fw,10,web,)"), std::string::npos) << text;
  // Bad values are still errors alone.
  auto bad = ObjectRows("/rampart/nb/Port/A/p", R"({"kind":"Port","tenant":"A","name":"p","switch":"s","mac":"zz"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "/rampart/nb/Port/A/p (Port p): mac: 'zz' is not a MAC address like 02:00:00:00:00:01");
}

TEST(NbObjects, ReferencesOfAnObject) {
  auto refs = ObjectReferences({"Port", "A", "vm1"},
                               R"({"kind":"Port","tenant":"A","name":"vm1","switch":"ls1","host":"h1","mac":"02:00:00:00:00:01"})");
  ASSERT_TRUE(refs.ok()) << refs.status();
  std::vector<std::string> got;
  for (const auto& r : *refs) got.push_back(absl::StrCat(r.field, "->", NbObjectName(r.to)));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"host->Host h1", "switch->LogicalSwitch A/ls1", "tenant->Tenant A"}));
}

TEST(NbObjects, RandomSpecsGiveTheSameRowsThreeWays) {
  std::mt19937 rng(12345);
#ifdef __SANITIZE_ADDRESS__
  constexpr int kSpecs = 40;  // keeps the sanitizer run of this binary well under a minute
#else
  constexpr int kSpecs = 150;
#endif
  for (int i = 0; i < kSpecs; ++i) {
    std::string text = RandomSpec(rng);
    ExpectRowsAgree(text, absl::StrCat("random spec ", i));
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace rampart::controller
