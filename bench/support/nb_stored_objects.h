// The generated northbound spec as the controller stores it: one store key per object
// (controller/api/nb_objects.h, "/rampart/nb/<Kind>/<tenant>/<name>") whose value is the
// object's canonical JSON, exactly what `rampartctl apply` / the REST API put there
// (ParseNbDocuments' NbDocument::json of the document NbSpecToYaml writes for the object).
//
// StoredObjectDiff finds which stored objects a single change (AddOneRule, MoveOnePort,
// AddOnePort, nb_generator.h) touches without parsing the whole spec again: it compares the
// per-object YAML documents of the changed spec with the base spec's and parses only the
// documents that differ.
//
// Thread-safety: StoredObjectDiff is immutable after construction; functions are pure.
#ifndef RAMPART_BENCH_SUPPORT_NB_STORED_OBJECTS_H_
#define RAMPART_BENCH_SUPPORT_NB_STORED_OBJECTS_H_

#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/nb_spec.h"

namespace rampart::bench {

// store key -> canonical JSON
using StoredObjects = std::map<std::string, std::string>;

// NbSpecToYaml(spec) split into its documents (each starts with "kind: "), in output order.
std::vector<std::string> NbYamlDocuments(const controller::NbSpec& spec);

// Every object of `spec` as stored. Errors (a generated document that does not parse) name the
// document.
absl::StatusOr<StoredObjects> NbStoredObjects(const controller::NbSpec& spec);

// One stored object a change touches: its value before and after (nullopt = absent).
struct StoredObjectChange {
  std::string key;
  std::optional<std::string> before, after;
};

class StoredObjectDiff {
 public:
  // `objects` must be NbStoredObjects(base).
  StoredObjectDiff(const controller::NbSpec& base, StoredObjects objects);

  // The objects that differ between the base spec and `after`, sorted by key.
  absl::StatusOr<std::vector<StoredObjectChange>> Changes(const controller::NbSpec& after) const;

  const StoredObjects& objects() const { return objects_; }

 private:
  std::unordered_set<std::string> base_docs_;
  StoredObjects objects_;
};

}  // namespace rampart::bench

#endif  // RAMPART_BENCH_SUPPORT_NB_STORED_OBJECTS_H_
