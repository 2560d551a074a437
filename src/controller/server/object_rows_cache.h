// Private to rampart_server: ObjectRows (controller/api/nb_objects.h) with Firewall and
// VnicPolicy objects split per rule, each rule's rows cached by the rule's JSON. A one-rule change
// to a firewall of 500 rules then parses one rule instead of the whole object (ObjectRows parses
// through yaml-cpp: ~0.5 ms per rule). The result equals ObjectRows of the whole object
// (object_rows_cache_test checks it): a rule without `id`/`priority` gets its list index for both,
// as the rule parser does, before it is parsed alone.
//
// Thread-safety: one thread at a time (the controller's worker).
#ifndef RAMPART_CONTROLLER_SERVER_OBJECT_ROWS_CACHE_H_
#define RAMPART_CONTROLLER_SERVER_OBJECT_ROWS_CACHE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "controller/nb_spec.h"
#include "nlog/engine.h"

namespace rampart::controller {

class ObjectRowsCache {
 public:
  absl::StatusOr<std::vector<InputRow>> Rows(const std::string& key, const std::string& json);
  // The object is gone: drop its cached rules.
  void Forget(const std::string& key) { objects_.erase(key); }
  size_t cached_rules() const;

 private:
  struct Object {
    std::string header_json;  // the object with "rules": []
    std::vector<InputRow> header_rows;
    struct Rule {
      std::vector<InputRow> rows;
      uint64_t generation = 0;  // the last Rows() call that saw the rule
    };
    absl::flat_hash_map<std::string, Rule> rule_rows;  // rule JSON (id/priority filled) -> rows
    uint64_t generation = 0;
  };
  // Caches the rows of every rule of `rule_keys` (the object's rules, in order) not cached yet,
  // from one parse of the whole object; leaves them to be parsed alone if that parse fails.
  void FillFromWhole(const std::string& key, const std::string& json, const std::vector<std::string>& rule_keys,
                     Object& o);
  std::map<std::string, Object> objects_;
};

// The controller's bookkeeping of stored objects -> nlog input rows: the rows each object
// contributes (through an ObjectRowsCache) and how many objects contribute each row. A batch of
// changed objects becomes one transaction: the rows whose count went from 0 to > 0 or back.
// Only the rows an object gained or lost are counted, so a one-rule change to a firewall of 400
// rules touches its few rows, not the object's ~1,000. Used by rampart-controller and by
// rampart-bench logical (which times this path).
class ObjectRowCounts {
 public:
  // key -> the object's stored JSON, or nullopt when it was deleted.
  using Changes = std::map<std::string, std::optional<std::string>>;
  struct Result {
    nlog::Transaction tx;    // the rows to insert/delete in the logical stage
    nlog::Transaction undo;  // its inverse
    std::vector<std::string> bad;  // "key: reason" of objects whose rows could not be built (they keep their old rows)
    double cache_ms = 0;     // time in ObjectRowsCache::Rows
  };
  Result Apply(const Changes& changes);
  // Restores the state before the last Apply (e.g. the logical stage refused its transaction).
  void Rollback();
  // The last Apply stays: drops what Rollback would need. Call it once the batch has gone
  // through, so that the saved state of a large batch (a controller's first: every object's
  // rows) is not freed by the next Apply, on the next change's critical path (~100 ms).
  void Commit();

  // Every object's rows, the distinct ones, sorted (SpecToRows' order).
  std::vector<InputRow> Rows() const;
  std::vector<std::string> Keys() const;
  size_t objects() const { return object_rows_.size(); }
  size_t cached_rules() const { return cache_.cached_rules(); }

  struct Less {
    bool operator()(const InputRow& a, const InputRow& b) const;
  };

 private:
  ObjectRowsCache cache_;
  std::map<std::string, std::vector<InputRow>> object_rows_;
  std::map<InputRow, int, Less> counts_;
  // Of the last Apply: the objects' rows before, and the counts before of every touched row.
  std::map<std::string, std::optional<std::vector<InputRow>>> saved_objects_;
  std::map<InputRow, int, Less> saved_counts_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_SERVER_OBJECT_ROWS_CACHE_H_
