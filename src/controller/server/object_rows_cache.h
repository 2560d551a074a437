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

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/nb_spec.h"

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
    std::map<std::string, std::vector<InputRow>> rule_rows;  // rule JSON (id/priority filled) -> rows
  };
  std::map<std::string, Object> objects_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_SERVER_OBJECT_ROWS_CACHE_H_
