// The REST API against a real ApiServer on 127.0.0.1 (a free port) over TLS with certificates
// from InitCerts, on a "mem:" store: every kind created, read, deleted; errors name document,
// field and reason and change nothing; all-or-nothing applies; stale revisions; concurrent
// applies serialize without lost updates; each role's permissions and tenant isolation.
#include "controller/api/api_server.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controller/api/api_client.h"
#include "controller/api/certs.h"
#include "controller/api/nb_objects.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "store/store.h"

namespace rampart::controller {
namespace {

using nlohmann::json;

constexpr char kAdmin[] = "admin-token-0123456789";
constexpr char kTenantA[] = "tenant-a-token-0123456789";
constexpr char kTenantB[] = "tenant-b-token-0123456789";
constexpr char kReader[] = "reader-token-0123456789";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<store::Store> MakeStore() {
  auto s = store::OpenStore("mem:");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

// Delegates to a real store; before each of the next `conflicts` commits, another writer (as
// another controller would) changes the NB objects, so that commit's compares fail.
class ConflictingStore : public store::Store {
 public:
  explicit ConflictingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}
  int conflicts = 0;
  absl::StatusOr<store::TxnResult> Commit(const store::Txn& txn) override {
    if (conflicts > 0) {
      --conflicts;
      if (auto r = inner_->Put("/rampart/nb/Tenant/-/Z", R"({"kind":"Tenant","name":"Z"})"); !r.ok()) return r.status();
      if (auto r = inner_->Put("/rampart/nb-guard", "other"); !r.ok()) return r.status();
    }
    return inner_->Commit(txn);
  }
  absl::StatusOr<std::optional<store::KeyValue>> Get(std::string_view k) override { return inner_->Get(k); }
  absl::StatusOr<store::RangeResult> Range(std::string_view p) override { return inner_->Range(p); }
  absl::StatusOr<int64_t> Put(std::string_view k, std::string_view v, int64_t l) override { return inner_->Put(k, v, l); }
  absl::StatusOr<int64_t> Delete(std::string_view k) override { return inner_->Delete(k); }
  absl::StatusOr<std::unique_ptr<store::WatchHandle>> Watch(std::string_view p, int64_t r, store::WatchCallbacks c) override {
    return inner_->Watch(p, r, std::move(c));
  }
  absl::StatusOr<int64_t> GrantLease(int64_t t) override { return inner_->GrantLease(t); }
  absl::Status KeepAlive(int64_t l) override { return inner_->KeepAlive(l); }
  absl::Status RevokeLease(int64_t l) override { return inner_->RevokeLease(l); }
  absl::StatusOr<int64_t> CurrentRevision() override { return inner_->CurrentRevision(); }
  std::string Describe() const override { return "conflicting " + inner_->Describe(); }

 private:
  std::unique_ptr<store::Store> inner_;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rampart-api-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto created = InitCerts({dir_, {"h1", "h2"}, {}, 30});
    ASSERT_TRUE(created.ok()) << created.status();
    store_ = MakeStore();
    ASSERT_NE(store_, nullptr);
    ApiOptions o;
    o.tokens = {{kAdmin, "root", "datacenter-admin", ""},
                {kTenantA, "alice", "tenant-admin", "A"},
                {kTenantB, "bob", "tenant-admin", "B"},
                {kReader, "auditor", "read-only", ""}};
    server_ = std::make_unique<ApiServer>(store_.get(), o);
    ASSERT_TRUE(server_->Start("127.0.0.1", 0, dir_ + "/server.pem", dir_ + "/server.key").ok());
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    std::filesystem::remove_all(dir_);
  }

  ApiClient Client(const std::string& token) {
    return ApiClient({absl::StrCat("https://127.0.0.1:", server_->port()), token, dir_ + "/ca.pem", 30});
  }
  ApiReply Apply(const std::string& token, const std::string& text, bool dry = false, const std::string& file = "t.yaml") {
    auto r = Client(token).Apply({{file, text}}, dry);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApiReply{};
  }
  ApiReply Get(const std::string& token, const std::string& path) {
    auto r = Client(token).Get(path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApiReply{};
  }
  ApiReply Delete(const std::string& token, const std::string& path) {
    auto r = Client(token).Delete(path);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApiReply{};
  }
  static std::string Message(const ApiReply& r) { return ApiClient::ErrorMessage(r); }
  static std::string Code(const ApiReply& r) {
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"]["code"].get<std::string>() : "";
  }
  int64_t StoreRevision() { return *store_->CurrentRevision(); }
  size_t ObjectCount() { return store_->Range(kNbPrefix)->kvs.size(); }
  std::string Example() { return ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/seed-inline.yaml"); }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ApiTest, EveryKindIsCreatedReadAndDeleted) {
  ApiReply r = Apply(kAdmin, Example());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  std::set<std::string> kinds;
  for (const auto& o : j["objects"]) {
    EXPECT_EQ(o["result"], "created") << o;
    EXPECT_EQ(o["revision"], j["revision"]) << o;
    kinds.insert(o["kind"].get<std::string>());
  }
  EXPECT_EQ(kinds.size(), NbKinds().size());  // the example has every kind
  EXPECT_EQ(ObjectCount(), j["objects"].size());
  // What is stored is the whole spec again.
  auto range = store_->Range(kNbPrefix);
  ASSERT_TRUE(range.ok());
  auto stored = ParseStoredObjects(range->kvs);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->ports.size(), 6u);

  // Every object reads back with its revision and spec.
  for (const auto& o : j["objects"]) {
    std::string path = absl::StrCat("/v1/objects/", o["kind"].get<std::string>(), "/",
                                    o["tenant"].get<std::string>().empty() ? "-" : o["tenant"].get<std::string>(), "/",
                                    o["name"].get<std::string>());
    ApiReply g = Get(kAdmin, path);
    ASSERT_EQ(g.status, 200) << path << " " << g.body;
    json obj = json::parse(g.body);
    EXPECT_EQ(obj["revision"], o["revision"]);
    EXPECT_EQ(obj["spec"]["kind"], o["kind"]);
    EXPECT_EQ(obj["spec"]["name"], o["name"]);
  }
  ApiReply sw = Get(kAdmin, "/v1/objects/LogicalSwitch/A/ls1");
  json swj = json::parse(sw.body);
  EXPECT_EQ(swj["spec"]["cidr"], "198.18.1.0/24");
  EXPECT_FALSE(swj["referrers"].empty()) << sw.body;  // its ports and the router

  // Applying the same text again changes nothing.
  int64_t before = StoreRevision();
  r = Apply(kAdmin, Example());
  ASSERT_EQ(r.status, 200) << r.body;
  json again = json::parse(r.body);
  for (const auto& o : again["objects"]) EXPECT_EQ(o["result"], "unchanged") << o;
  EXPECT_EQ(StoreRevision(), before);

  // Lists filter by kind and tenant.
  json ports = json::parse(Get(kAdmin, "/v1/objects?kind=Port").body);
  EXPECT_EQ(ports["objects"].size(), 6u);
  json b = json::parse(Get(kAdmin, "/v1/objects?tenant=B").body);
  for (const auto& o : b["objects"]) EXPECT_TRUE(o["tenant"] == "B" || (o["kind"] == "Tenant" && o["name"] == "B")) << o;
  EXPECT_EQ(Get(kAdmin, "/v1/objects?kind=Nope").status, 400);

  // Delete everything: referenced objects are refused (409, naming referrers) until their
  // referrers are gone; every object goes eventually.
  ApiReply refused = Delete(kAdmin, "/v1/objects/LogicalSwitch/A/ls1");
  EXPECT_EQ(refused.status, 409);
  EXPECT_EQ(Code(refused), "referenced");
  EXPECT_NE(Message(refused).find("Port A/vm1 (switch)"), std::string::npos) << refused.body;
  for (int round = 0; round < 10 && ObjectCount() > 0; ++round) {
    auto all = store_->Range(kNbPrefix);
    ASSERT_TRUE(all.ok());
    for (const auto& kv : all->kvs) {
      ApiReply d = Delete(kAdmin, "/v1/objects/" + kv.key.substr(kNbPrefix.size()));
      EXPECT_TRUE(d.status == 200 || (d.status == 409 && Code(d) == "referenced")) << d.body;
    }
  }
  EXPECT_EQ(ObjectCount(), 0u);
  EXPECT_EQ(Get(kAdmin, "/v1/objects/Tenant/-/A").status, 404);
  EXPECT_EQ(Delete(kAdmin, "/v1/objects/Tenant/-/A").status, 404);
}

TEST_F(ApiTest, BadDocumentsNameDocumentFieldAndReasonAndChangeNothing) {
  ASSERT_EQ(Apply(kAdmin, Example()).status, 200);
  int64_t rev = StoreRevision();
  size_t count = ObjectCount();
  // Unknown field: the file, line, document, kind/name, field and reason.
  ApiReply r = Apply(kAdmin, "kind: Tenant\nname: C\n---\nkind: LogicalSwitch\ntenant: C\nname: x\ncidr: 198.18.9.0/24\ncolour: red\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "invalid");
  EXPECT_EQ(Message(r), "t.yaml:8: document 2 (LogicalSwitch x): colour: unknown field 'colour' (known fields: kind, tenant, name, cidr)");
  // Unknown kind.
  r = Apply(kAdmin, "kind: Gizmo\nname: g\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("t.yaml:1: document 1 (Gizmo g): kind: unknown kind 'Gizmo'"), std::string::npos) << r.body;
  // A reference to nothing, checked against what is stored: document 2 is the bad one.
  r = Apply(kAdmin, "kind: Port\ntenant: A\nswitch: ls1\nname: vm9\nmac: \"02:00:00:00:09:09\"\n---\n"
                    "kind: Port\ntenant: A\nswitch: ls9\nname: vm10\nmac: \"02:00:00:00:09:10\"\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Message(r), "t.yaml:9: document 2 (Port vm10): switch: unknown LogicalSwitch 'ls9' in tenant 'A'");
  // Several bad documents: each is listed in details.
  r = Apply(kAdmin, "kind: Tenant\nname: bad name\n---\nkind: Host\nname: h9\nunderlay: nope\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["details"].size(), 2u) << r.body;
  // A change that breaks a stored object's reference (a switch cidr no longer containing its
  // ports' addresses) is refused and names the stored object.
  r = Apply(kAdmin, "kind: LogicalSwitch\ntenant: A\nname: ls1\ncidr: 198.18.77.0/24\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("is outside"), std::string::npos) << r.body;
  // The same document twice in one apply.
  r = Apply(kAdmin, "kind: Tenant\nname: C\n---\nkind: Tenant\nname: C\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("given twice"), std::string::npos) << r.body;
  // YAML syntax.
  r = Apply(kAdmin, "kind: Tenant\nname: [C\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("YAML syntax error"), std::string::npos) << r.body;
  EXPECT_EQ(StoreRevision(), rev);
  EXPECT_EQ(ObjectCount(), count);
}

// A redirect rule refers to a ServiceVM of its tenant: applying one that names a missing service
// is refused (scoped validation), deleting a service that rules use is refused naming the users,
// and a service no rule uses any more can go.
TEST_F(ApiTest, RedirectRulesReferToServiceVms) {
  ASSERT_EQ(Apply(kAdmin, Example()).status, 200);
  int64_t rev = StoreRevision();
  const std::string vnic = "kind: VnicPolicy\ntenant: B\nname: pv\napplied_to: [vm1]\nrules:\n"
                           "  - {id: 1, action: allow}\n  - {id: 2, protocol: tcp, action: redirect, redirect_to: ngfw}\n";
  // B has no ServiceVM ngfw (A has one: another tenant's does not count).
  ApiReply r = Apply(kAdmin, vnic);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Message(r), "t.yaml:7: document 1 (VnicPolicy pv): rules[1].redirect_to: unknown ServiceVM 'ngfw' in "
                        "tenant 'B' (add a 'kind: ServiceVM' document)");
  EXPECT_EQ(StoreRevision(), rev);
  // With the service in the same apply it is accepted.
  r = Apply(kAdmin, "kind: ServiceVM\ntenant: B\nname: ngfw\non_failure: allow\n---\n" + vnic);
  ASSERT_EQ(r.status, 200) << r.body;
  // The service is in use: deleting it is refused and names the rule's owner.
  ApiReply d = Delete(kAdmin, "/v1/objects/ServiceVM/B/ngfw");
  EXPECT_EQ(d.status, 409);
  EXPECT_EQ(Code(d), "referenced");
  EXPECT_NE(Message(d).find("VnicPolicy B/pv (rules[1].redirect_to)"), std::string::npos) << d.body;
  // describe (GET) lists the referrer too.
  json got = json::parse(Get(kAdmin, "/v1/objects/ServiceVM/B/ngfw").body);
  EXPECT_EQ(got["spec"]["on_failure"], "allow");
  EXPECT_NE(got["referrers"].dump().find("VnicPolicy"), std::string::npos) << got.dump();
  // A wrong behaviour field names document, field and reason.
  r = Apply(kAdmin, "kind: ServiceVM\ntenant: B\nname: ngfw\ncheck: every-nth\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("document 1 (ServiceVM ngfw): nth: required when check is every-nth"), std::string::npos)
      << r.body;
  // The rule stops redirecting: the service can go.
  ASSERT_EQ(Apply(kAdmin, "kind: VnicPolicy\ntenant: B\nname: pv\napplied_to: [vm1]\nrules:\n  - {id: 1, action: allow}\n")
                .status,
            200);
  EXPECT_EQ(Delete(kAdmin, "/v1/objects/ServiceVM/B/ngfw").status, 200);
  // A's ngfw is used by the example's inline firewall.
  d = Delete(kAdmin, "/v1/objects/ServiceVM/A/ngfw");
  EXPECT_EQ(d.status, 409);
  EXPECT_NE(Message(d).find("Firewall A/fw-inline (rules[1].redirect_to)"), std::string::npos) << d.body;
}

TEST_F(ApiTest, MultiDocumentApplyIsAllOrNothingAndDryRunChangesNothing) {
  std::string good = "kind: Tenant\nname: C\n---\nkind: LogicalSwitch\ntenant: C\nname: s1\ncidr: 198.18.1.0/24\n";
  // Valid documents followed by one with a bad reference: nothing is stored.
  ApiReply r = Apply(kAdmin, good + "---\nkind: Port\ntenant: C\nswitch: s2\nname: p\nmac: \"02:00:00:00:00:01\"\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ObjectCount(), 0u);
  // Dry run: reported as created, nothing stored.
  r = Apply(kAdmin, good, /*dry=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["dry_run"], true);
  EXPECT_EQ(j["objects"].size(), 2u);
  EXPECT_EQ(j["objects"][0]["result"], "created");
  EXPECT_EQ(ObjectCount(), 0u);
  // For real; then an update reports updated/unchanged per object.
  ASSERT_EQ(Apply(kAdmin, good).status, 200);
  r = Apply(kAdmin, "kind: Tenant\nname: C\n---\nkind: LogicalSwitch\ntenant: C\nname: s1\ncidr: 198.18.2.0/24\n");
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  EXPECT_EQ(j["objects"][0]["result"], "unchanged");
  EXPECT_EQ(j["objects"][1]["result"], "updated");
  // JSON documents are YAML too; the stored canonical JSON is the same for the same content.
  r = Apply(kAdmin, R"({"kind": "LogicalSwitch", "tenant": "C", "name": "s1", "cidr": "198.18.2.0/24"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["objects"][0]["result"], "unchanged");
}

TEST_F(ApiTest, StaleRevisionIsRefused) {
  ApiReply r = Apply(kAdmin, "kind: Tenant\nname: C\n---\nkind: LogicalSwitch\ntenant: C\nname: s1\ncidr: 198.18.1.0/24\nrevision: 0\n");
  ASSERT_EQ(r.status, 200) << r.body;  // revision 0 = "must not exist yet"
  int64_t r1 = json::parse(Get(kAdmin, "/v1/objects/LogicalSwitch/C/s1").body)["revision"];
  ASSERT_GT(r1, 0);
  r = Apply(kAdmin, absl::StrCat("kind: LogicalSwitch\ntenant: C\nname: s1\ncidr: 198.18.2.0/24\nrevision: ", r1, "\n"));
  ASSERT_EQ(r.status, 200) << r.body;
  int64_t rev = StoreRevision();
  // Someone applying on top of what they read at r1 again is refused.
  r = Apply(kAdmin, absl::StrCat("kind: LogicalSwitch\ntenant: C\nname: s1\ncidr: 198.18.3.0/24\nrevision: ", r1, "\n"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Code(r), "stale");
  EXPECT_NE(Message(r).find("t.yaml:1: document 1 (LogicalSwitch s1): revision: stale"), std::string::npos) << r.body;
  r = Apply(kAdmin, "kind: Tenant\nname: D\nrevision: 0\n---\nkind: Tenant\nname: C\nrevision: 0\n");
  EXPECT_EQ(r.status, 409) << r.body;  // C exists: the whole apply is refused, D not created
  EXPECT_EQ(Get(kAdmin, "/v1/objects/Tenant/-/D").status, 404);
  EXPECT_EQ(StoreRevision(), rev);
  // Delete with a stale revision is refused too.
  EXPECT_EQ(Delete(kAdmin, absl::StrCat("/v1/objects/LogicalSwitch/C/s1?revision=", r1)).status, 409);
  EXPECT_EQ(Delete(kAdmin, absl::StrCat("/v1/objects/LogicalSwitch/C/s1?revision=", rev)).status, 200);
}

TEST_F(ApiTest, ConcurrentReadModifyWriteLosesNoUpdate) {
  ASSERT_EQ(Apply(kAdmin, "kind: Tenant\nname: C\n---\nkind: AddressGroup\ntenant: C\nname: g\nprefixes: [198.18.0.0/24]\n").status, 200);
  // Each thread adds its own prefixes to the group by read (revision) - modify - apply, retrying
  // on 409 stale; and creates its own objects. Every addition must survive.
  constexpr int kThreads = 4, kEach = 4;
  std::atomic<int> stale{0}, failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        for (int attempt = 0; attempt < 100; ++attempt) {
          auto g = Client(kAdmin).Get("/v1/objects/AddressGroup/C/g");
          if (!g.ok() || g->status != 200) { ++failures; return; }
          json obj = json::parse(g->body);
          json spec = obj["spec"];
          spec["prefixes"].push_back(absl::StrCat("198.18.", 1 + t * kEach + i, ".0/24"));
          spec["revision"] = obj["revision"];
          std::string own = absl::StrCat("kind: Tenant\nname: T", t, "-", i, "\n");
          auto r = Client(kAdmin).Apply({{"t.json", spec.dump() + "\n---\n" + own}}, false);
          if (!r.ok()) { ++failures; return; }
          if (r->status == 200) break;
          if (r->status == 409) { ++stale; continue; }
          ++failures;
          return;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  json g = json::parse(Get(kAdmin, "/v1/objects/AddressGroup/C/g").body);
  EXPECT_EQ(g["spec"]["prefixes"].size(), 1u + kThreads * kEach) << g.dump();
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < kEach; ++i) EXPECT_EQ(Get(kAdmin, absl::StrCat("/v1/objects/Tenant/-/T", t, "-", i)).status, 200);
}

TEST_F(ApiTest, ConcurrentAppliesSerialize) {
  // Threads apply different values of one object (and nothing else): each apply succeeds and the
  // final value is the one of the apply with the highest revision.
  ASSERT_EQ(Apply(kAdmin, "kind: Tenant\nname: C\n").status, 200);
  constexpr int kThreads = 6;
  std::vector<int64_t> revs(kThreads, -1);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      auto r = Client(kAdmin).Apply({{"t.yaml", absl::StrCat("kind: LogicalSwitch\ntenant: C\nname: s\ncidr: 198.18.", t, ".0/24\n")}}, false);
      if (r.ok() && r->status == 200) revs[t] = json::parse(r->body)["revision"];
    });
  }
  for (auto& t : ts) t.join();
  int last = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_GT(revs[t], 0) << "apply " << t << " failed";
    if (revs[t] > revs[last]) last = t;
  }
  std::set<int64_t> distinct(revs.begin(), revs.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads));  // one revision each: serialized
  json sw = json::parse(Get(kAdmin, "/v1/objects/LogicalSwitch/C/s").body);
  EXPECT_EQ(sw["spec"]["cidr"], absl::StrCat("198.18.", last, ".0/24"));
  EXPECT_EQ(sw["revision"], revs[last]);
}

TEST_F(ApiTest, AuthenticationAndRoles) {
  ASSERT_EQ(Apply(kAdmin, Example()).status, 200);
  // No token / unknown token.
  EXPECT_EQ(Get("", "/v1/objects").status, 401);
  ApiReply r = Get("not-a-token-at-all-xx", "/v1/objects");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Message(r), "unknown token");
  // Health and the OpenAPI document need no token.
  EXPECT_EQ(Get("", "/healthz").status, 200);
  r = Get("", "/v1/openapi.yaml");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("openapi: 3.0", 0), 0u);

  // read-only: reads everything, changes nothing.
  EXPECT_EQ(Get(kReader, "/v1/objects/Port/B/vm1").status, 200);
  r = Apply(kReader, "kind: Tenant\nname: C\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Message(r), "read-only 'auditor' may not change Tenant C: the role is read-only");
  EXPECT_EQ(Delete(kReader, "/v1/objects/Port/A/vm1").status, 403);

  // tenant-admin of A: its own objects only.
  r = Apply(kTenantA, "kind: AddressGroup\ntenant: A\nname: g2\nprefixes: [198.18.50.0/24]\n");
  EXPECT_EQ(r.status, 200) << r.body;
  r = Apply(kTenantA, "kind: AddressGroup\ntenant: A\nname: g3\nprefixes: [198.18.51.0/24]\n---\n"
                      "kind: AddressGroup\ntenant: B\nname: g3\nprefixes: [198.18.51.0/24]\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Message(r), "tenant-admin 'alice' of tenant 'A' may not change AddressGroup B/g3: it belongs to tenant 'B'");
  EXPECT_EQ(Get(kAdmin, "/v1/objects/AddressGroup/A/g3").status, 404);  // nothing of it applied
  EXPECT_EQ(Apply(kTenantA, "kind: Host\nname: h9\nunderlay: 198.19.255.9\n").status, 403);
  EXPECT_EQ(Apply(kTenantA, "kind: Tenant\nname: A\n").status, 403);
  EXPECT_EQ(Get(kTenantA, "/v1/objects/Port/B/vm1").status, 403);
  EXPECT_EQ(Get(kTenantA, "/v1/objects/Port/A/vm1").status, 200);
  EXPECT_EQ(Get(kTenantA, "/v1/objects/Host/-/h1").status, 200);
  EXPECT_EQ(Get(kTenantA, "/v1/objects/Tenant/-/A").status, 200);
  EXPECT_EQ(Get(kTenantA, "/v1/objects/Tenant/-/B").status, 403);
  EXPECT_EQ(Delete(kTenantA, "/v1/objects/Port/B/vm1").status, 403);
  EXPECT_EQ(Delete(kTenantA, "/v1/objects/Host/-/h3").status, 403);
  EXPECT_EQ(Get(kTenantA, "/v1/objects?tenant=B").status, 403);
  json list = json::parse(Get(kTenantA, "/v1/objects").body);
  bool saw_host = false;
  for (const auto& o : list["objects"]) {
    saw_host |= o["kind"] == "Host";
    EXPECT_TRUE(o["kind"] == "Host" || o["tenant"] == "A" || (o["kind"] == "Tenant" && o["name"] == "A")) << o;
  }
  EXPECT_TRUE(saw_host);
  // Describing a Host shows only the caller's own referrers (B's port on h1 stays hidden).
  json h1 = json::parse(Get(kTenantA, "/v1/objects/Host/-/h1").body);
  for (const auto& ref : h1["referrers"]) EXPECT_EQ(ref["tenant"], "A") << h1.dump();
  json h1_admin = json::parse(Get(kAdmin, "/v1/objects/Host/-/h1").body);
  EXPECT_EQ(h1["referrers"].size(), 2u) << h1.dump();
  EXPECT_EQ(h1_admin["referrers"].size(), 3u) << h1_admin.dump();
  // tenant-admin of B may delete its own unreferenced object.
  EXPECT_EQ(Delete(kTenantB, "/v1/objects/VnicPolicy/B/protect-vm2").status, 200);
}

TEST_F(ApiTest, TlsNeedsTheRightCa) {
  // Plain HTTP to the TLS port fails; another CA fails verification.
  ApiClient plain({absl::StrCat("http://127.0.0.1:", server_->port()), kAdmin, "", 5});
  auto r = plain.Get("/healthz");
  EXPECT_TRUE(!r.ok() || r->status != 200);
  std::string other = dir_ + "/other";
  ASSERT_TRUE(InitCerts({other, {}, {}, 30}).ok());
  ApiClient wrong({absl::StrCat("https://127.0.0.1:", server_->port()), kAdmin, other + "/ca.pem", 5});
  r = wrong.Get("/healthz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ApiConflicts, AConcurrentWriterMakesTheApplyRetryOnceThenFail) {
  ConflictingStore st(MakeStore());
  ApiOptions o;
  o.tokens = {{kAdmin, "root", "datacenter-admin", ""}};
  ApiServer server(&st, o);  // not started: requests go straight to Handle()
  auto apply = [&](const std::string& text) {
    ApiRequest r{"POST", "/v1/apply", {}, std::string("Bearer ") + kAdmin, {{"t.yaml", text}}};
    return server.Handle(r);
  };
  // Bytes that are not UTF-8 in a document (and so in the error message) give a 400, not a crash.
  ApiResponse bad = apply("kind: Tenant\nname: A\n\x80\xff: 1\n");
  EXPECT_EQ(bad.status, 400) << bad.body;
  st.conflicts = 1;  // one concurrent write: re-read, re-check, commit
  ApiResponse r = apply("kind: Tenant\nname: A\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(st.Get("/rampart/nb/Tenant/-/A")->has_value());
  st.conflicts = 2;  // two in a row: 409, nothing of this apply is stored
  r = apply("kind: Tenant\nname: B\n---\nkind: Tenant\nname: C\n");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("\"conflict\""), std::string::npos) << r.body;
  EXPECT_FALSE(st.Get("/rampart/nb/Tenant/-/B")->has_value());
  EXPECT_FALSE(st.Get("/rampart/nb/Tenant/-/C")->has_value());
  st.conflicts = 2;
  ApiRequest del{"DELETE", "/v1/objects/Tenant/-/A", {}, std::string("Bearer ") + kAdmin, {}};
  EXPECT_EQ(server.Handle(del).status, 409);
  EXPECT_TRUE(st.Get("/rampart/nb/Tenant/-/A")->has_value());
  st.conflicts = 1;
  EXPECT_EQ(server.Handle(del).status, 200);
  EXPECT_FALSE(st.Get("/rampart/nb/Tenant/-/A")->has_value());
}

// The server validates against an index of the stored objects it keeps between requests
// (NbCatalog). Writes it did not make must reach that index: another API server's (the guard key
// changes) and writes around the API (a watch on the objects sees them).
TEST(ApiCatalog, WritesByOthersAreSeenBeforeTheNextValidation) {
  auto st = MakeStore();
  ApiOptions o;
  o.tokens = {{kAdmin, "root", "datacenter-admin", ""}};
  ApiServer a(st.get(), o), b(st.get(), o);  // two controllers' API servers on one store
  auto apply = [&](ApiServer& s, const std::string& text) {
    ApiRequest r{"POST", "/v1/apply", {}, std::string("Bearer ") + kAdmin, {{"t.yaml", text}}};
    return s.Handle(r);
  };
  auto get = [&](ApiServer& s, const std::string& path) {
    ApiRequest r{"GET", path, {}, std::string("Bearer ") + kAdmin, {}};
    return s.Handle(r);
  };
  const std::string sw = "kind: Tenant\nname: A\n---\nkind: LogicalSwitch\ntenant: A\nname: s1\ncidr: 198.18.1.0/24\n";
  const std::string port = "kind: Port\ntenant: A\nswitch: s1\nname: vm1\nmac: \"02:00:00:00:00:01\"\nips: [198.18.1.10]\n";
  ASSERT_EQ(apply(a, sw).status, 200);
  ASSERT_EQ(get(b, "/v1/objects/LogicalSwitch/A/s1").status, 200);  // b has read everything once
  // a deletes the switch; b must refuse a port on it (its index still had the switch).
  ApiRequest del{"DELETE", "/v1/objects/LogicalSwitch/A/s1", {}, std::string("Bearer ") + kAdmin, {}};
  ASSERT_EQ(a.Handle(del).status, 200);
  ApiResponse r = apply(b, port);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("unknown LogicalSwitch 's1'"), std::string::npos) << r.body;
  // b creates it again, a adds the port: a must know the switch exists.
  ASSERT_EQ(apply(b, sw).status, 200);
  r = apply(a, port);
  EXPECT_EQ(r.status, 200) << r.body;
  // a's describe of the switch lists the port b could not know of before.
  r = get(b, "/v1/objects/LogicalSwitch/A/s1");
  EXPECT_NE(r.body.find("vm1"), std::string::npos) << r.body;

  // Around the API: the port is deleted straight from the store. Once the watch has reported it,
  // deleting the switch is no longer refused. (The watch is asynchronous: poll for a while.)
  ASSERT_TRUE(st->Delete("/rampart/nb/Port/A/vm1").ok());
  int status = 0;
  for (int i = 0; i < 500 && status != 200; ++i) {
    status = a.Handle(del).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status, 200);
  // And a port written around the API on a switch that is gone makes the stored set invalid
  // for the objects it touches, not for the rest: an unrelated apply still goes through.
  ASSERT_EQ(apply(a, sw).status, 200);
  ASSERT_TRUE(st->Put("/rampart/nb/Port/A/vm9", R"({"kind":"Port","tenant":"A","switch":"s9","name":"vm9","mac":"02:00:00:00:00:09"})").ok());
  for (int i = 0; i < 500; ++i) {
    r = get(a, "/v1/objects/Port/A/vm9");
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(r.status, 200) << r.body;  // the watch reported the write
  ApiResponse h = apply(a, "kind: Host\nname: h1\nunderlay: 198.19.255.1\n");
  EXPECT_EQ(h.status, 200) << h.body;
  h = apply(a, "kind: LogicalSwitch\ntenant: A\nname: s9\ncidr: 198.18.9.0/24\n");  // vm9's switch appears
  EXPECT_EQ(h.status, 200) << h.body;
  r = get(a, "/v1/objects/LogicalSwitch/A/s9");
  EXPECT_NE(r.body.find("vm9"), std::string::npos) << r.body;
}

TEST(ApiStatus, ShowsTheControllersStatusToAnyRoleOr503WithoutOne) {
  auto st = MakeStore();
  ApiOptions o;
  o.tokens = {{kAdmin, "root", "datacenter-admin", ""}, {kReader, "auditor", "read-only", ""}, {kTenantA, "alice", "tenant-admin", "A"}};
  ApiServer bare(st.get(), o);
  ApiRequest get{"GET", "/v1/status", {}, std::string("Bearer ") + kReader, {}};
  ApiResponse r = bare.Handle(get);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("without a controller"), std::string::npos) << r.body;
  int calls = 0;
  o.status_json = [&calls] {
    ++calls;
    return std::string(R"({"id":"c1","epoch":3,"controllers":["c1"],"hosts":[{"host":"h1","owner":"c1","owned":true,"revision":7,"acked":7,"connected":1,"rows":12}]})");
  };
  ApiServer with(st.get(), o);
  for (const char* token : {kReader, kTenantA, kAdmin}) {
    get.authorization = std::string("Bearer ") + token;
    r = with.Handle(get);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = json::parse(r.body);
    EXPECT_EQ(j["controller"]["hosts"][0]["acked"], 7);
    EXPECT_EQ(j["api"]["store_revision"], *st->CurrentRevision());
  }
  EXPECT_EQ(calls, 3);
  get.authorization = "";
  EXPECT_EQ(with.Handle(get).status, 401);
  ApiRequest post{"POST", "/v1/status", {}, std::string("Bearer ") + kAdmin, {}};
  EXPECT_EQ(with.Handle(post).status, 405);
  o.status_json = [] { return std::string("not json"); };
  ApiServer broken(st.get(), o);
  get.authorization = std::string("Bearer ") + kAdmin;
  EXPECT_EQ(broken.Handle(get).status, 500);
}

TEST(Certs, InitKeepsExistingFilesAndAddsHosts) {
  char tmpl[] = "/tmp/rampart-certs-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto a = InitCerts({dir, {"h1"}, {}, 30});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size(), 7u);  // ca, server, h1 (pem + key each), tokens
  std::string ca = ReadFile(dir + "/ca.pem");
  auto b = InitCerts({dir, {"h1", "h2"}, {}, 30});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, (std::vector<std::string>{dir + "/hosts/h2.pem", dir + "/hosts/h2.key"}));
  EXPECT_EQ(ReadFile(dir + "/ca.pem"), ca);
  EXPECT_EQ(std::filesystem::status(dir + "/hosts/h2.key").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  auto tokens = LoadTokensFile(dir + "/tokens.yaml");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 1u);
  EXPECT_EQ((*tokens)[0].role, "datacenter-admin");
  EXPECT_EQ((*tokens)[0].token.size(), 64u);
  EXPECT_FALSE(InitCerts({dir, {"bad/name"}, {}, 30}).ok());
  std::filesystem::remove_all(dir);
}

TEST(Tokens, BadTokensFilesAreNamed) {
  char tmpl[] = "/tmp/rampart-tokens-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/tokens.yaml";
  std::ofstream(path) << "- {token: short, role: read-only}\n";
  auto t = LoadTokensFile(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), path + ": entry 1: token: must be at least 16 characters");
  std::ofstream(path) << "- {token: 0123456789abcdef0, role: tenant-admin}\n";
  EXPECT_NE(LoadTokensFile(path).status().message().find("needs its tenant"), std::string::npos);
  std::ofstream(path) << "- {token: 0123456789abcdef0, role: root}\n";
  EXPECT_NE(LoadTokensFile(path).status().message().find("role: expected"), std::string::npos);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace rampart::controller
