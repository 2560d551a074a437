// ObjectRowsCache (per-rule split of Firewall/VnicPolicy objects) == ObjectRows of the whole
// object, on the example specs and on generated firewalls changed rule by rule.
#include "controller/server/object_rows_cache.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "controller/api/nb_objects.h"
#include "nlohmann/json.hpp"

namespace rampart::controller {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> RowStrings(const std::vector<InputRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.table + nlog::RowToString(r.row));
  return out;
}

void ExpectSame(ObjectRowsCache& cache, const std::string& key, const std::string& json) {
  auto whole = ObjectRows(key, json);
  auto split = cache.Rows(key, json);
  ASSERT_EQ(whole.ok(), split.ok()) << key << ": " << whole.status() << " vs " << split.status();
  if (whole.ok()) {
    EXPECT_EQ(RowStrings(*split), RowStrings(*whole)) << key;
  }
}

TEST(ObjectRowsCache, EqualsObjectRowsOnTheExamples) {
  for (const char* f : {"seed-attached.yaml", "seed-inline.yaml", "tenant-b-overlap.yaml"}) {
    const std::string text = ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + f);
    auto docs = ParseNbDocuments(text, f);
    ASSERT_TRUE(docs.ok()) << docs.status();
    ObjectRowsCache cache;
    for (const auto& d : *docs) ExpectSame(cache, NbObjectKey({d.kind, d.tenant, d.name}), d.json);
  }
}

// A firewall (or a vNIC policy) with many rules, some with explicit ids/priorities, some with
// defaults, groups and prefixes; then random edits (add, remove, change, reorder, header change),
// each compared. The first sight and every header change cache the rules from one parse of the
// whole object (FillFromWhole); other edits parse the changed rules alone: both are compared.
void RandomEdits(bool vnic, uint32_t seed) {
  std::mt19937 rng(seed);
  auto rule = [&](int n) {
    nlohmann::json r;
    if (n % 3 != 0) r["id"] = 100 + n;
    if (n % 4 == 1) r["priority"] = n % 7;
    r["protocol"] = n % 2 ? "tcp" : "udp";
    r["destination_ports"] = nlohmann::json::array({1000 + n});
    if (n % 5 == 0) {
      r["source"] = nlohmann::json::array({nlohmann::json{{"group", "web"}}});
    } else {
      r["source"] = nlohmann::json::array({"198.18." + std::to_string(n % 200) + ".0/24"});
    }
    r["action"] = n % 6 ? "allow" : "drop";
    return r;
  };
  nlohmann::json fw = vnic ? nlohmann::json{{"kind", "VnicPolicy"}, {"tenant", "A"}, {"name", "fw"},
                                             {"applied_to", nlohmann::json::array({"vm1", "vm2"})}, {"default", "drop"},
                                             {"rules", nlohmann::json::array()}}
                           : nlohmann::json{{"kind", "Firewall"}, {"tenant", "A"}, {"name", "fw"},
                                             {"placement", {{"attached_to_router", "r1"}}}, {"default", "drop"},
                                             {"rules", nlohmann::json::array()}};
  for (int i = 0; i < 40; ++i) fw["rules"].push_back(rule(i));
  const std::string key = vnic ? "/rampart/nb/VnicPolicy/A/fw" : "/rampart/nb/Firewall/A/fw";
  ObjectRowsCache cache;
  ExpectSame(cache, key, fw.dump());
  int next = 1000;
  for (int step = 0; step < 60; ++step) {
    auto& rules = fw["rules"];
    switch (rng() % 5) {
      case 0:
        rules.push_back(rule(next++));
        break;
      case 1:
        if (rules.size() > 2) rules.erase(rules.begin() + rng() % rules.size());
        break;
      case 2:
        rules[rng() % rules.size()] = rule(next++);
        break;
      case 3:
        std::swap(rules[rng() % rules.size()], rules[rng() % rules.size()]);
        break;
      case 4:
        fw["default"] = fw["default"] == "drop" ? "allow" : "drop";
        break;
    }
    // Now and then pretty-printed (the rules are cut out of the text, whatever its layout).
    ExpectSame(cache, key, step % 7 == 3 ? fw.dump(2) : fw.dump());
  }
  EXPECT_LE(cache.cached_rules(), fw["rules"].size());
  EXPECT_GT(cache.cached_rules(), 0u);  // the split path ran (not only the whole-object fallback)
  // A rewrite of most rules at once goes through FillFromWhole again.
  for (auto& r : fw["rules"]) r["destination_ports"] = nlohmann::json::array({next++});
  ExpectSame(cache, key, fw.dump());
  ExpectSame(cache, key, fw.dump());  // and is then served from the cache
}

TEST(ObjectRowsCache, EqualsObjectRowsThroughRandomEdits) {
  for (uint32_t seed : {3u, 4u, 5u}) {
    RandomEdits(false, seed);
    RandomEdits(true, seed);
  }
}

TEST(ObjectRowsCache, BadObjectsFailLikeObjectRows) {
  ObjectRowsCache cache;
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw", "{not json");
  // Cut off inside the rules array, inside a string, after it; a duplicate "rules" key.
  const std::string good =
      R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},"default":"drop",)"
      R"("rules":[{"action":"allow","protocol":"tcp","id":1,"priority":1},{"action":"drop","id":2,"priority":2}]})";
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw", good);
  for (size_t cut : {good.size() - 1, good.size() - 3, good.size() - 20, good.size() / 2}) {
    ExpectSame(cache, "/rampart/nb/Firewall/A/fw", good.substr(0, cut));
  }
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw", good.substr(0, good.size() - 1) + R"(,"rules":[]})");
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw", good + " x");
  // Found by fuzz/object_rows_cache_fuzz: two rules with one id (explicit, or a default that
  // equals another rule's id) are refused by the whole parser, which no single rule's parse sees;
  // a duplicate key inside a rule must not be hidden by re-printing the rule.
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw",
             R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},"default":"drop",)"
             R"("rules":[{"action":"allow","id":2,"priority":1},{"action":"drop","id":2,"priority":2}]})");
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw",
             R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},"default":"drop",)"
             R"("rules":[{"action":"allow","id":1},{"action":"drop"}]})");
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw",
             R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},"default":"drop",)"
             R"("rules":[{"action":"allow","id":1,"priority":1},{"action":"drop","protocol":"udp","protocol":"icmp"}]})");
  ExpectSame(cache, "/rampart/nb/Firewall/A/fw",
             R"({"kind":"Firewall","tenant":"A","name":"fw","placement":{"attached_to_router":"r1"},"default":"drop",)"
             R"("rules":[{"action":"allow","protocol":"tcp"},{"action":"nope"}]})");
}

// ObjectRowCounts: after every batch of object changes (puts and deletes, several objects,
// rows shared between objects), Rows() equals SpecToRows of the stored objects, the transaction
// turns the previous rows into the new ones exactly, and Rollback restores the state before it.
TEST(ObjectRowCounts, TransactionsFollowTheStoredObjects) {
  const std::string text = ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/seed-attached.yaml");
  auto docs = ParseNbDocuments(text, "seed-attached.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  std::map<std::string, std::string> pool;  // key -> JSON: every object the test may store
  for (const auto& d : *docs) pool[NbObjectKey({d.kind, d.tenant, d.name})] = d.json;
  // Variants: the firewall with rules dropped/duplicated, a second switch sharing nothing.
  std::vector<std::pair<std::string, std::string>> variants(pool.begin(), pool.end());
  for (const auto& [k, j] : pool) {
    auto obj = nlohmann::json::parse(j);
    if (obj.contains("rules") && obj["rules"].size() >= 2) {
      auto fewer = obj;
      fewer["rules"].erase(fewer["rules"].begin());
      variants.emplace_back(k, fewer.dump());
      auto more = obj;
      auto extra = obj["rules"][0];
      extra["id"] = 999;
      more["rules"].push_back(extra);
      variants.emplace_back(k, more.dump());
    }
  }
  std::mt19937 rng(11);
  ObjectRowCounts counts;
  std::map<std::string, std::string> stored;
  std::set<std::string> have;  // the rows the transactions produced so far
  auto rows_of = [](const std::map<std::string, std::string>& objs) {
    std::set<std::string> out;
    for (const auto& [k, v] : objs) {
      auto r = ObjectRows(k, v);
      EXPECT_TRUE(r.ok()) << k;
      if (r.ok()) for (const auto& s : RowStrings(*r)) out.insert(s);
    }
    return out;
  };
  for (int step = 0; step < 80; ++step) {
    ObjectRowCounts::Changes batch;
    std::map<std::string, std::string> next = stored;
    for (int n = 1 + rng() % 3; n > 0; --n) {
      const auto& [k, j] = variants[rng() % variants.size()];
      if (rng() % 4 == 0) {
        batch[k] = std::nullopt;
        next.erase(k);
      } else {
        batch[k] = j;
        next[k] = j;
      }
    }
    auto res = counts.Apply(batch);
    EXPECT_TRUE(res.bad.empty());
    if (step % 5 == 4) {  // now and then the logical stage refuses: roll back, state unchanged
      counts.Rollback();
      std::set<std::string> rows;
      for (const auto& s : RowStrings(counts.Rows())) rows.insert(s);
      EXPECT_EQ(rows, have) << "step " << step << ": rollback";
      continue;
    }
    for (const auto& c : res.tx.changes()) {
      const std::string s = c.table + nlog::RowToString(c.row);
      if (c.insert) {
        EXPECT_TRUE(have.insert(s).second) << "step " << step << ": inserted twice " << s;
      } else {
        EXPECT_EQ(have.erase(s), 1u) << "step " << step << ": deleted but absent " << s;
      }
    }
    stored = next;
    if (step % 3 == 0) counts.Commit();  // the controller commits a batch that went through
    EXPECT_EQ(have, rows_of(stored)) << "step " << step;
    std::set<std::string> rows;
    for (const auto& s : RowStrings(counts.Rows())) rows.insert(s);
    EXPECT_EQ(rows, have) << "step " << step;
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace rampart::controller
