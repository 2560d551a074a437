// NbCatalog: validating a change with only Scope()'s stored objects gives the same verdict as
// validating every object (ParseNbSources of the whole merged set), on random specs and random
// changes aimed at every cross-object check (references, cidrs, duplicate MACs/IPs/names,
// inline wires, deletions); and Referrers() equals a scan of every object's references.
#include "controller/api/nb_catalog.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/nb_spec.h"
#include "nlohmann/json.hpp"
#include "test/controller/api/random_spec.h"

namespace rampart::controller {
namespace {

using nlohmann::json;
using Stored = std::map<std::string, std::string>;  // key -> canonical JSON

Stored Store(const std::string& yaml) {
  auto docs = ParseNbDocuments(yaml, "spec.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  Stored out;
  if (!docs.ok()) return out;
  for (const NbDocument& d : *docs) out[NbObjectKey({d.kind, d.tenant, d.name})] = d.json;
  return out;
}

std::vector<store::KeyValue> Kvs(const Stored& s, int64_t rev) {
  std::vector<store::KeyValue> out;
  for (const auto& [k, v] : s) out.push_back(store::KeyValue{k, v, rev, rev, 1, 0});
  return out;
}

absl::Status Whole(const Stored& s) {
  std::vector<NbSource> docs;
  for (const auto& [k, v] : s) docs.push_back(NbSource{v, k, 0, 0});
  return ParseNbSources(docs).status();
}

// The verdict on `after` (= stored with `changes` applied) from the scope only.
absl::Status Scoped(const NbCatalog& cat, const Stored& after, const std::vector<std::string>& changed) {
  std::vector<NbCatalog::Change> changes;
  for (const std::string& key : changed) {
    auto it = after.find(key);
    if (it == after.end()) {
      changes.push_back({key, std::nullopt});
      continue;
    }
    auto id = ParseNbObjectKey(key);
    EXPECT_TRUE(id.ok());
    auto deps = ObjectDeps(*id, it->second);
    EXPECT_TRUE(deps.ok()) << deps.status();
    changes.push_back({key, *deps});
  }
  std::vector<NbSource> docs;
  for (const std::string& key : cat.Scope(changes)) docs.push_back(NbSource{after.at(key), key, 0, 0});
  for (const std::string& key : changed)
    if (after.count(key)) docs.push_back(NbSource{after.at(key), key, 0, 0});
  return ParseNbSources(docs).status();
}

// Objects of one kind (optionally one tenant) in `s`.
std::vector<std::string> OfKind(const Stored& s, const std::string& kind, const std::string& tenant = "") {
  std::vector<std::string> out;
  for (const auto& [k, v] : s) {
    auto id = ParseNbObjectKey(k);
    if (id.ok() && id->kind == kind && (tenant.empty() || id->tenant == tenant)) out.push_back(k);
  }
  return out;
}

// One random change to `s` (returns the keys it touched). Aimed at the checks that cross objects.
std::vector<std::string> Mutate(std::mt19937& rng, Stored& s, const Stored& other) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto any = [&](const std::vector<std::string>& v) { return v.empty() ? std::string() : v[pick(v.size())]; };
  auto get = [&](const std::string& k) { return json::parse(s.at(k)); };
  auto put = [&](const std::string& k, const json& j) { s[k] = j.dump(); };
  std::vector<std::string> ports = OfKind(s, "Port"), switches = OfKind(s, "LogicalSwitch");
  switch (pick(14)) {
    case 0: {  // delete anything (it may be referred to)
      std::vector<std::string> all;
      for (const auto& [k, v] : s) all.push_back(k);
      std::string k = any(all);
      s.erase(k);
      return {k};
    }
    case 1: {  // a port takes another port's MAC (same tenant: duplicate)
      std::string a = any(ports), b = any(ports);
      if (a.empty()) return {};
      json j = get(a);
      j["mac"] = get(b)["mac"];
      put(a, j);
      return {a};
    }
    case 2: {  // a port takes another port's IP (and switch, so the cidr fits)
      std::string a = any(ports), b = any(ports);
      if (a.empty()) return {};
      json j = get(a), jb = get(b);
      if (ParseNbObjectKey(a)->tenant != ParseNbObjectKey(b)->tenant) return {};
      j["ips"] = jb["ips"];
      j["switch"] = jb["switch"];
      put(a, j);
      return {a};
    }
    case 3: {  // a switch moves to another cidr (its ports and router ports fall outside)
      std::string k = any(switches);
      if (k.empty()) return {};
      json j = get(k);
      j["cidr"] = absl::StrCat("198.18.", 100 + pick(50), ".0/24");
      put(k, j);
      return {k};
    }
    case 4: {  // a reference to something that may not exist
      std::string k = any(ports);
      if (k.empty()) return {};
      json j = get(k);
      if (pick(2)) j["switch"] = absl::StrCat("s", pick(5));
      else j["host"] = absl::StrCat("h", pick(5));
      put(k, j);
      return {k};
    }
    case 5: {  // a switch named like the router (one datapath namespace)
      std::string t = ParseNbObjectKey(any(OfKind(s, "Tenant")).empty() ? "/rampart/nb/Tenant/-/T0" : any(OfKind(s, "Tenant")))->name;
      std::string k = NbObjectKey({"LogicalSwitch", t, pick(2) ? "r0" : absl::StrCat("s", 5 + pick(3))});
      put(k, json{{"kind", "LogicalSwitch"}, {"tenant", t}, {"name", ParseNbObjectKey(k)->name}, {"cidr", "198.18.60.0/24"}});
      return {k};
    }
    case 6: {  // a vNIC policy named like a firewall (one namespace)
      std::string p = any(ports);
      if (p.empty()) return {};
      auto id = *ParseNbObjectKey(p);
      std::string name = pick(2) ? "fw" : "vp2";
      std::string k = NbObjectKey({"VnicPolicy", id.tenant, name});
      put(k, json{{"kind", "VnicPolicy"}, {"tenant", id.tenant}, {"name", name}, {"applied_to", json::array({id.name})}});
      return {k};
    }
    case 7: {  // a second inline firewall, maybe on the same wire
      std::vector<std::string> fws = OfKind(s, "Firewall");
      for (const std::string& f : fws) {
        json j = get(f);
        if (!j["placement"].contains("inline")) continue;
        auto id = *ParseNbObjectKey(f);
        j["name"] = "fwj";
        if (pick(2)) j["placement"]["inline"]["switch"] = absl::StrCat("s", pick(4));
        std::string k = NbObjectKey({"Firewall", id.tenant, "fwj"});
        put(k, j);
        return {k};
      }
      return {};
    }
    case 8: {  // a rule naming a group that may not exist
      std::vector<std::string> fws = OfKind(s, "Firewall");
      std::string f = any(fws);
      if (f.empty()) return {};
      json j = get(f);
      json rule = {{"id", 999}, {"source", json::array({json{{"group", absl::StrCat("g", pick(4))}}})}, {"action", "allow"}};
      if (!j.contains("rules")) j["rules"] = json::array();
      j["rules"].push_back(rule);
      put(f, j);
      return {f};
    }
    case 9: {  // a policy route to a firewall that may not exist or not be attached here
      std::vector<std::string> rs = OfKind(s, "LogicalRouter");
      std::string r = any(rs);
      if (r.empty()) return {};
      json j = get(r);
      j["policy_routes"] = json::array({json{{"match", json{{"source", "198.18.0.0/24"}}}, {"action", pick(2) ? "firewall fwi" : "firewall fw"}}});
      put(r, j);
      return {r};
    }
    case 10: {  // a router drops its ports but one (nexthops, inline firewalls, router ports)
      std::vector<std::string> rs = OfKind(s, "LogicalRouter");
      std::string r = any(rs);
      if (r.empty()) return {};
      json j = get(r);
      if (j["ports"].size() > 1) j["ports"].erase(j["ports"].begin());
      put(r, j);
      return {r};
    }
    case 11: {  // a rule redirecting to a service VM that may not exist
      std::vector<std::string> owners = OfKind(s, pick(2) ? "Firewall" : "VnicPolicy");
      std::string f = any(owners);
      if (f.empty()) return {};
      json j = get(f);
      json rule = {{"id", 998}, {"action", "redirect"}, {"redirect_to", absl::StrCat("svc", pick(3))}};
      if (!j.contains("rules")) j["rules"] = json::array();
      j["rules"].push_back(rule);
      put(f, j);
      return {f};
    }
    case 12: {  // a service VM appears, or one goes (rules may redirect to it)
      std::vector<std::string> svcs = OfKind(s, "ServiceVM");
      if (!svcs.empty() && pick(2)) {
        std::string k = any(svcs);
        s.erase(k);
        return {k};
      }
      std::string tk = any(OfKind(s, "Tenant"));
      if (tk.empty()) return {};
      std::string t = ParseNbObjectKey(tk)->name, name = absl::StrCat("svc", pick(3));
      std::string k = NbObjectKey({"ServiceVM", t, name});
      put(k, json{{"kind", "ServiceVM"}, {"tenant", t}, {"name", name}, {"check", "every-packet"}});
      return {k};
    }
    default: {  // an object of another random spec (created or replaced)
      std::vector<std::string> all;
      for (const auto& [k, v] : other) all.push_back(k);
      std::string k = any(all);
      s[k] = other.at(k);
      return {k};
    }
  }
}

TEST(NbCatalog, ScopedValidationEqualsWholeValidation) {
  std::mt19937 rng(777);
#ifdef __SANITIZE_ADDRESS__
  constexpr int kSpecs = 20;  // 25-40 s under ASan on a loaded 2-core machine (30 took 61 s)
#else
  constexpr int kSpecs = 120;
#endif
  int accepted = 0, refused = 0;
  for (int i = 0; i < kSpecs; ++i) {
    Stored stored = Store(RandomSpec(rng));
    Stored other = Store(RandomSpec(rng));
    ASSERT_TRUE(Whole(stored).ok()) << "random spec " << i << " is not valid: " << Whole(stored);
    NbCatalog cat;
    int64_t rev = 1;
    ASSERT_TRUE(cat.Sync(Kvs(stored, rev), rev).ok());
    for (int step = 0; step < 40; ++step) {
      Stored after = stored;
      std::vector<std::string> changed;
      int n = 1 + static_cast<int>(rng() % 3);
      for (int m = 0; m < n; ++m)
        for (const std::string& k : Mutate(rng, after, other)) changed.push_back(k);
      std::sort(changed.begin(), changed.end());
      changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
      if (changed.empty()) continue;
      absl::Status whole = Whole(after);
      absl::Status scoped = Scoped(cat, after, changed);
      ASSERT_EQ(whole.ok(), scoped.ok()) << "spec " << i << " step " << step << "\nwhole:  " << whole
                                         << "\nscoped: " << scoped;
      if (!whole.ok()) {
        ++refused;
        continue;
      }
      ++accepted;
      stored = after;
      ++rev;
      // Half the time the catalog learns the commit object by object, half by a full sync.
      if (rng() % 2) {
        for (const std::string& k : changed) {
          if (stored.count(k)) ASSERT_TRUE(cat.Put(store::KeyValue{k, stored[k], rev, rev, 1, 0}).ok());
          else cat.Erase(k);
        }
      } else {
        ASSERT_TRUE(cat.Sync(Kvs(stored, rev), rev).ok());
      }
      // Referrers from the index == a scan of every object's references.
      for (const auto& [key, v] : stored) {
        NbObjectId id = *ParseNbObjectKey(key);
        std::vector<std::string> want, got;
        for (const auto& [k2, v2] : stored) {
          if (k2 == key) continue;
          auto refs = ObjectReferences(*ParseNbObjectKey(k2), v2);
          ASSERT_TRUE(refs.ok()) << refs.status();
          for (const NbReference& r : *refs)
            if (r.to == id) want.push_back(absl::StrCat(k2, " ", r.field));
        }
        for (const NbReference& r : cat.Referrers(id)) got.push_back(absl::StrCat(NbObjectKey(r.from), " ", r.field));
        ASSERT_EQ(want, got) << key;
      }
    }
  }
  // Both verdicts must actually occur, or the test proves nothing.
  EXPECT_GT(accepted, kSpecs * 5);
  EXPECT_GT(refused, kSpecs * 5);
  std::cout << accepted << " changes accepted, " << refused << " refused\n";
}

TEST(NbCatalog, SyncDropsObjectsThatAreGoneAndReindexesChangedOnes) {
  Stored s = Store(
      "kind: Tenant\nname: A\n---\nkind: LogicalSwitch\ntenant: A\nname: s0\ncidr: 198.18.0.0/24\n---\n"
      "kind: Port\ntenant: A\nswitch: s0\nname: p0\nmac: \"02:00:00:00:00:01\"\nips: [198.18.0.10]\n");
  NbCatalog cat;
  ASSERT_TRUE(cat.Sync(Kvs(s, 1), 1).ok());
  EXPECT_EQ(cat.Referrers({"LogicalSwitch", "A", "s0"}).size(), 1u);
  s.erase(NbObjectKey({"Port", "A", "p0"}));
  ASSERT_TRUE(cat.Sync(Kvs(s, 2), 2).ok());
  EXPECT_TRUE(cat.Referrers({"LogicalSwitch", "A", "s0"}).empty());
  EXPECT_EQ(cat.objects().size(), 2u);
  // A stored value that is not JSON: an error naming the key, and an invalid (empty) catalog.
  s[NbObjectKey({"Port", "A", "p1"})] = "{not json";
  absl::Status st = cat.Sync(Kvs(s, 3), 3);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/rampart/nb/Port/A/p1"), std::string::npos) << st;
  EXPECT_FALSE(cat.valid());
}

}  // namespace
}  // namespace rampart::controller
