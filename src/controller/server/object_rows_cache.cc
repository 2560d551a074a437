#include "controller/server/object_rows_cache.h"

#include <algorithm>

#include "controller/api/nb_objects.h"
#include "nlohmann/json.hpp"

namespace rampart::controller {
namespace {

bool Less(const InputRow& a, const InputRow& b) {
  if (a.table != b.table) return a.table < b.table;
  return nlog::RowLess(a.row, b.row);
}
bool Equal(const InputRow& a, const InputRow& b) { return !Less(a, b) && !Less(b, a); }

// `rows` minus `minus` (both sorted).
std::vector<InputRow> Minus(const std::vector<InputRow>& rows, const std::vector<InputRow>& minus) {
  std::vector<InputRow> out;
  std::set_difference(rows.begin(), rows.end(), minus.begin(), minus.end(), std::back_inserter(out), Less);
  return out;
}

}  // namespace

size_t ObjectRowsCache::cached_rules() const {
  size_t n = 0;
  for (const auto& [k, o] : objects_) n += o.rule_rows.size();
  return n;
}

absl::StatusOr<std::vector<InputRow>> ObjectRowsCache::Rows(const std::string& key, const std::string& json) {
  auto id = ParseNbObjectKey(key);
  if (!id.ok()) return id.status();
  if (id->kind != "Firewall" && id->kind != "VnicPolicy") return ObjectRows(key, json);
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("rules") || !j["rules"].is_array() || j["rules"].size() < 2) {
    objects_.erase(key);
    return ObjectRows(key, json);  // nothing to gain (and the whole parser reports the errors)
  }
  nlohmann::json rules = std::move(j["rules"]);
  j["rules"] = nlohmann::json::array();
  const std::string header = j.dump();
  Object& o = objects_[key];
  if (o.header_json != header) {
    auto h = ObjectRows(key, header);
    if (!h.ok()) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    o.header_json = header;
    o.header_rows = *std::move(h);
    o.rule_rows.clear();
  }
  std::map<std::string, std::vector<InputRow>> now;
  std::vector<InputRow> out = o.header_rows;
  for (size_t i = 0; i < rules.size(); ++i) {
    nlohmann::json r = rules[i];
    if (!r.is_object()) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    // Defaults of the rule parser, which depend on the position in the whole list.
    if (!r.contains("id")) r["id"] = i;
    if (!r.contains("priority")) r["priority"] = i;
    std::string rj = r.dump();
    auto cached = o.rule_rows.find(rj);
    if (cached == o.rule_rows.end()) {
      j["rules"] = nlohmann::json::array({r});
      auto rows = ObjectRows(key, j.dump());
      if (!rows.ok()) {
        objects_.erase(key);
        return ObjectRows(key, json);
      }
      cached = o.rule_rows.emplace(rj, Minus(*rows, o.header_rows)).first;
    }
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    now.emplace(std::move(rj), cached->second);
  }
  o.rule_rows = std::move(now);  // rules no longer in the object leave the cache
  std::sort(out.begin(), out.end(), Less);
  out.erase(std::unique(out.begin(), out.end(), Equal), out.end());
  return out;
}

}  // namespace rampart::controller
