#include "controller/server/object_rows_cache.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
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

// ---- A structural scan of JSON text (no values decoded): enough to cut a stored object's
// "rules" array into the elements' texts without parsing the object, and to see which keys an
// element has. Anything unexpected makes the caller fall back to the parser.

size_t SkipWs(std::string_view s, size_t p) {
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) ++p;
  return p;
}

// The end (one past) of the JSON value starting at p, or npos.
size_t SkipValue(std::string_view s, size_t p) {
  if (p >= s.size()) return std::string_view::npos;
  if (s[p] == '"') {
    for (size_t q = p + 1; q < s.size(); ++q) {
      if (s[q] == '\\') {
        ++q;
      } else if (s[q] == '"') {
        return q + 1;
      }
    }
    return std::string_view::npos;
  }
  if (s[p] == '{' || s[p] == '[') {
    int depth = 0;
    for (size_t q = p; q < s.size(); ++q) {
      const char c = s[q];
      if (c == '"') {
        q = SkipValue(s, q);
        if (q == std::string_view::npos) return q;
        --q;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return q + 1;
      }
    }
    return std::string_view::npos;
  }
  size_t q = p;
  while (q < s.size() && s[q] != ',' && s[q] != '}' && s[q] != ']' && s[q] != ' ' && s[q] != '\n' &&
         s[q] != '\t' && s[q] != '\r') {
    ++q;
  }
  return q == p ? std::string_view::npos : q;
}

// Calls f(key text with quotes, value text) for each member of the object `s`; false if `s` is
// not an object by this scan.
template <typename F>
bool ForEachMember(std::string_view s, F&& f) {
  size_t p = SkipWs(s, 0);
  if (p >= s.size() || s[p] != '{') return false;
  p = SkipWs(s, p + 1);
  if (p < s.size() && s[p] == '}') return SkipWs(s, p + 1) == s.size();
  while (true) {
    if (p >= s.size() || s[p] != '"') return false;
    const size_t kend = SkipValue(s, p);
    if (kend == std::string_view::npos) return false;
    const std::string_view k = s.substr(p, kend - p);
    p = SkipWs(s, kend);
    if (p >= s.size() || s[p] != ':') return false;
    p = SkipWs(s, p + 1);
    const size_t vend = SkipValue(s, p);
    if (vend == std::string_view::npos) return false;
    f(k, p, vend);
    p = SkipWs(s, vend);
    if (p < s.size() && s[p] == ',') {
      p = SkipWs(s, p + 1);
      continue;
    }
    return p < s.size() && s[p] == '}' && SkipWs(s, p + 1) == s.size();
  }
}

struct RulesSplit {
  std::string_view before, after;      // the object's text around the rules array
  std::vector<std::string_view> rules;  // each element's text
};

std::optional<RulesSplit> SplitRules(std::string_view s) {
  size_t start = std::string_view::npos, end = 0;
  int found = 0;
  if (!ForEachMember(s, [&](std::string_view k, size_t vb, size_t ve) {
        if (k == "\"rules\"") {
          ++found;
          start = vb;
          end = ve;
        }
      })) {
    return std::nullopt;
  }
  if (found != 1 || s[start] != '[') return std::nullopt;
  RulesSplit out;
  out.before = s.substr(0, start);
  out.after = s.substr(end);
  size_t p = SkipWs(s, start + 1);
  if (p < end && s[p] == ']') return out;
  while (p < end) {
    const size_t e = SkipValue(s, p);
    if (e == std::string_view::npos || e > end) return std::nullopt;
    out.rules.push_back(s.substr(p, e - p));
    p = SkipWs(s, e);
    if (p < end && s[p] == ',') {
      p = SkipWs(s, p + 1);
      continue;
    }
    if (p + 1 == end && s[p] == ']') return out;
    return std::nullopt;
  }
  return std::nullopt;
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
  // The rules' texts are cut out of the stored JSON without parsing it (a firewall of 400 rules
  // is ~60 KB: parsing it and printing every rule again cost more than the rest of a change).
  std::optional<RulesSplit> split = SplitRules(json);
  if (!split || split->rules.size() < 2) {
    objects_.erase(key);
    return ObjectRows(key, json);  // nothing to gain (and the whole parser reports the errors)
  }
  std::string header = std::string(split->before) + "[]" + std::string(split->after);
  Object& o = objects_[key];
  if (o.header_json != header) {
    auto h = ObjectRows(key, header);
    if (!h.ok()) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    o.header_json = std::move(header);
    o.header_rows = *std::move(h);
    o.rule_rows.clear();
  }
  const uint64_t gen = ++o.generation;
  // Each rule's cache key: its text with the defaults filled in.
  std::vector<std::string> rule_keys;
  rule_keys.reserve(split->rules.size());
  size_t misses = 0;
  absl::flat_hash_set<int64_t> ids;
  for (size_t i = 0; i < split->rules.size(); ++i) {
    const std::string_view text = split->rules[i];
    // A rule without `id` or `priority` gets its list index (the rule parser's default): its
    // cache key is the rule with the defaults filled in.
    bool has_id = false, has_priority = false;
    std::string_view id_text;
    if (!ForEachMember(text, [&](std::string_view k, size_t vb, size_t ve) {
          if (k == "\"id\"") {
            has_id = true;
            id_text = text.substr(vb, ve - vb);
          }
          has_priority |= k == "\"priority\"";
        })) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    // Rule ids must differ across the object (a check no single rule's parse can make): an id
    // seen twice, or one that is not a plain integer, goes to the whole-object parser.
    int64_t rule_id = static_cast<int64_t>(i);
    if (has_id && !absl::SimpleAtoi(absl::string_view(id_text.data(), id_text.size()), &rule_id)) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    if (!ids.insert(rule_id).second) {
      objects_.erase(key);
      return ObjectRows(key, json);
    }
    // The defaults are written into the text, which is otherwise kept as it is (re-printing it
    // through a JSON library would, e.g., drop a duplicate key the whole-object parser refuses).
    std::string rj;
    if (has_id && has_priority) {
      rj = std::string(text);
    } else {
      const size_t open = text.find('{');  // ForEachMember accepted it: an object
      std::string defaults;
      if (!has_id) defaults += "\"id\":" + std::to_string(i);
      if (!has_priority) defaults += std::string(defaults.empty() ? "" : ",") + "\"priority\":" + std::to_string(i);
      const bool empty = SkipWs(text, open + 1) < text.size() && text[SkipWs(text, open + 1)] == '}';
      rj = std::string(text.substr(0, open + 1)) + defaults + (empty ? "" : ",") + std::string(text.substr(open + 1));
    }
    misses += !o.rule_rows.contains(rj);
    rule_keys.push_back(std::move(rj));
  }
  // Many rules not seen before (a controller's first computation, a rewritten firewall): parse
  // the object once and give each such rule the rows of the object cut down to that rule, instead
  // of parsing every rule alone (the whole object's rules parse in one pass; 50,000 rules: ~2.5x
  // less CPU). What a rule gets is what parsing it alone gives: its fields, with the defaults
  // filled in as its key has them (object_rows_cache_test compares both ways).
  if (misses > 8 && misses * 4 > rule_keys.size()) FillFromWhole(key, json, rule_keys, o);
  std::vector<InputRow> out = o.header_rows;
  for (size_t i = 0; i < rule_keys.size(); ++i) {
    std::string& rj = rule_keys[i];
    auto cached = o.rule_rows.find(rj);
    if (cached == o.rule_rows.end()) {
      auto rows = ObjectRows(key, std::string(split->before) + "[" + rj + "]" + std::string(split->after));
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

void ObjectRowsCache::FillFromWhole(const std::string& key, const std::string& json,
                                    const std::vector<std::string>& rule_keys, Object& o) {
  auto spec = ParseNbDocumentAlone(NbSource{json, key, 0, 0});
  if (!spec.ok()) return;  // the rules alone report it (or the whole-object fallback does)
  std::vector<NbRule>* rules = nullptr;
  if (spec->firewalls.size() == 1 && spec->vnic_policies.empty()) rules = &spec->firewalls[0].rules;
  if (spec->vnic_policies.size() == 1 && spec->firewalls.empty()) rules = &spec->vnic_policies[0].rules;
  if (rules == nullptr || rules->size() != rule_keys.size()) return;
  std::vector<NbRule> all = std::move(*rules);
  rules->clear();
  for (size_t i = 0; i < all.size(); ++i) {
    if (o.rule_rows.contains(rule_keys[i])) continue;
    rules->assign(1, std::move(all[i]));
    o.rule_rows.emplace(rule_keys[i], Object::Rule{Minus(SpecToRows(*spec), o.header_rows), o.generation});
  }
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

void ObjectRowCounts::Commit() {
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
