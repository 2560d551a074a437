// NbCatalog: the stored northbound objects as the REST API last read them, indexed by what their
// validity depends on (nb_objects.h ObjectDeps: references and unique claims), so that an apply
// or delete validates only the objects it can affect instead of every stored object.
//
// Why this is exact. The stored set is valid (every write went through validation). A change
// (objects replaced, added or deleted) can break a check only if the check involves a changed
// object: its own references and claims (the changed object itself), a reference TO a changed
// object (the objects that refer to it), or a claim equal to one of a changed object's new claims
// (the other claimants). Scope() returns those stored objects plus, transitively, every object
// they refer to (so that their own reference checks resolve as in the whole set). Validating
// Scope() + the new documents with ParseNbSources gives the same verdict as validating the whole
// merged set; test/controller/api/nb_catalog_test.cc checks that on random specs and random changes.
//
// Thread-safety: none; the API server uses one catalog under its write lock.
#ifndef RAMPART_CONTROLLER_API_NB_CATALOG_H_
#define RAMPART_CONTROLLER_API_NB_CATALOG_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "controller/api/nb_objects.h"
#include "store/store.h"

namespace rampart::controller {

class NbCatalog {
 public:
  struct Object {
    NbObjectId id;
    store::KeyValue kv;
    NbObjectDeps deps;
  };

  // Brings the catalog to `kvs` (everything a Range of kNbPrefix returned; other keys are
  // ignored): objects whose mod_revision changed are indexed again, missing ones dropped.
  // An object whose key or value does not parse is an error naming its key (the catalog is then
  // empty, and valid() false until a Sync succeeds).
  absl::Status Sync(const std::vector<store::KeyValue>& kvs, int64_t revision);

  // Records a write this process committed: an object put (kv.mod_revision = the commit's
  // revision) or deleted. Put fails, changing nothing, if the key or value does not parse.
  absl::Status Put(const store::KeyValue& kv);
  void Erase(const std::string& key);

  bool valid() const { return valid_; }
  void Invalidate();
  int64_t revision() const { return revision_; }
  void set_revision(int64_t r) { revision_ = r; }

  const Object* Find(const std::string& key) const;
  const std::map<std::string, Object>& objects() const { return objects_; }

  // One object an apply or delete changes: its key and, unless it is deleted, its new deps.
  struct Change {
    std::string key;
    std::optional<NbObjectDeps> after;  // nullopt = deleted
  };
  // The keys of the stored objects (none of the changed ones) that must be validated together
  // with the changes' new versions. Sorted.
  std::vector<std::string> Scope(const std::vector<Change>& changes) const;

  // The references other stored objects make to `id`, in key order.
  std::vector<NbReference> Referrers(const NbObjectId& id) const;

 private:
  void Index(const std::string& key, const Object& o, bool add);

  bool valid_ = false;
  int64_t revision_ = 0;
  std::map<std::string, Object> objects_;
  // referenced object key -> keys of the objects referring to it
  std::unordered_map<std::string, std::set<std::string>> referrers_;
  // unique claim -> keys of the objects claiming it
  std::unordered_map<std::string, std::set<std::string>> claimants_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_API_NB_CATALOG_H_
