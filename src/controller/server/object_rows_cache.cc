#include "controller/server/object_rows_cache.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

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
  const uint64_t gen = ++o.generation;
  std::vector<InputRow> out = o.header_rows;
  for (size_t i = 0; i < rules.size(); ++i) {
    const nlohmann::json& given = rules[i];
    if (!given.is_object()) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    // Defaults of the rule parser, which depend on the position in the whole list.
    std::string rj;
    if (given.contains("id") && given.contains("priority")) {
      rj = given.dump();
    } else {
      nlohmann::json r = given;
      if (!r.contains("id")) r["id"] = i;
      if (!r.contains("priority")) r["priority"] = i;
      rj = r.dump();
    }
    auto cached = o.rule_rows.find(rj);
    if (cached == o.rule_rows.end()) {
      j["rules"] = nlohmann::json::array({nlohmann::json::parse(rj)});
      auto rows = ObjectRows(key, j.dump());
      if (!rows.ok()) {
        objects_.erase(key);
        return ObjectRows(key, json);
      }
      cached = o.rule_rows.emplace(std::move(rj), Object::Rule{Minus(*rows, o.header_rows), gen}).first;
    }
    cached->second.generation = gen;
    out.insert(out.end(), cached->second.rows.begin(), cached->second.rows.end());
  }
  // Rules no longer in the object leave the cache.
  absl::erase_if(o.rule_rows, [gen](const auto& kv) { return kv.second.generation != gen; });
  std::sort(out.begin(), out.end(), Less);
  out.erase(std::unique(out.begin(), out.end(), Equal), out.end());
  return out;
}

bool ObjectRowCounts::Less::operator()(const InputRow& a, const InputRow& b) const {
  if (a.table != b.table) return a.table < b.table;
  return nlog::RowLess(a.row, b.row);
}

ObjectRowCounts::Result ObjectRowCounts::Apply(const Changes& changes) {
  Result res;
  saved_objects_.clear();
  saved_counts_.clear();
  const Less less;
  for (const auto& [key, value] : changes) {
    std::vector<InputRow> new_rows;
    if (value.has_value()) {
      const auto t0 = std::chrono::steady_clock::now();
      auto rows = cache_.Rows(key, *value);
      res.cache_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!rows.ok()) {
        res.bad.push_back(absl::StrCat(key, ": ", rows.status().message()));
        continue;  // keep what the object contributed before
      }
      new_rows = *std::move(rows);
    }
    // Both lists are sorted and without duplicates: merge them into what was lost and gained.
    auto it = object_rows_.find(key);
    static const std::vector<InputRow> kNoRows;
    const std::vector<InputRow>& old_rows = it == object_rows_.end() ? kNoRows : it->second;
    std::vector<const InputRow*> lost, gained;
    for (size_t i = 0, j = 0; i < old_rows.size() || j < new_rows.size();) {
      if (j == new_rows.size() || (i < old_rows.size() && less(old_rows[i], new_rows[j]))) {
        lost.push_back(&old_rows[i++]);
      } else if (i == old_rows.size() || less(new_rows[j], old_rows[i])) {
        gained.push_back(&new_rows[j++]);
      } else {
        ++i, ++j;
      }
    }
    for (const InputRow* r : lost) {
      auto c = counts_.find(*r);
      saved_counts_.try_emplace(*r, c->second);
      if (--c->second == 0) counts_.erase(c);
    }
    for (const InputRow* r : gained) {
      auto [c, inserted] = counts_.try_emplace(*r, 0);
      saved_counts_.try_emplace(*r, inserted ? 0 : c->second);
      ++c->second;
    }
    if (it == object_rows_.end()) {
      saved_objects_.try_emplace(key, std::nullopt);
    } else {
      saved_objects_.try_emplace(key, std::move(it->second));  // `lost` pointed into it: done with it
    }
    if (value.has_value()) {
      object_rows_[key] = std::move(new_rows);
    } else {
      cache_.Forget(key);
      if (it != object_rows_.end()) object_rows_.erase(it);
    }
  }
  for (const auto& [row, count_before] : saved_counts_) {
    auto c = counts_.find(row);
    const int after = c == counts_.end() ? 0 : c->second;
    if (count_before > 0 && after == 0) {
      res.tx.Delete(row.table, row.row);
      res.undo.Insert(row.table, row.row);
    } else if (count_before == 0 && after > 0) {
      res.tx.Insert(row.table, row.row);
      res.undo.Delete(row.table, row.row);
    }
  }
  return res;
}

void ObjectRowCounts::Rollback() {
  for (const auto& [row, count_before] : saved_counts_) {
    if (count_before == 0) {
      counts_.erase(row);
    } else {
      counts_[row] = count_before;
    }
  }
  for (auto& [key, rows] : saved_objects_) {
    if (rows.has_value()) {
      object_rows_[key] = std::move(*rows);
    } else {
      object_rows_.erase(key);
    }
  }
  saved_objects_.clear();
  saved_counts_.clear();
}

std::vector<InputRow> ObjectRowCounts::Rows() const {
  std::vector<InputRow> out;
  out.reserve(counts_.size());
  for (const auto& [r, n] : counts_) out.push_back(r);
  return out;
}

std::vector<std::string> ObjectRowCounts::Keys() const {
  std::vector<std::string> out;
  for (const auto& [k, rows] : object_rows_) out.push_back(k);
  return out;
}

}  // namespace rampart::controller
