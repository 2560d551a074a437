#include "controller/api/nb_catalog.h"

#include <deque>

#include "absl/strings/str_cat.h"

namespace rampart::controller {

void NbCatalog::Index(const std::string& key, const Object& o, bool add) {
  auto edit = [&](std::unordered_map<std::string, std::set<std::string>>& m, const std::string& k) {
    if (add) {
      m[k].insert(key);
      return;
    }
    auto it = m.find(k);
    if (it == m.end()) return;
    it->second.erase(key);
    if (it->second.empty()) m.erase(it);
  };
  for (const NbReference& r : o.deps.refs) edit(referrers_, NbObjectKey(r.to));
  for (const std::string& u : o.deps.unique) edit(claimants_, u);
}

void NbCatalog::Invalidate() {
  valid_ = false;
  objects_.clear();
  referrers_.clear();
  claimants_.clear();
}

absl::Status NbCatalog::Put(const store::KeyValue& kv) {
  auto id = ParseNbObjectKey(kv.key);
  if (!id.ok()) return id.status();
  auto deps = ObjectDeps(*id, kv.value);
  if (!deps.ok()) return deps.status();
  Erase(kv.key);
  Object& o = objects_[kv.key];
  o = Object{*id, kv, std::move(*deps)};
  Index(kv.key, o, true);
  return absl::OkStatus();
}

void NbCatalog::Erase(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return;
  Index(key, it->second, false);
  objects_.erase(it);
}

absl::Status NbCatalog::Sync(const std::vector<store::KeyValue>& kvs, int64_t revision) {
  std::set<std::string> seen;
  for (const store::KeyValue& kv : kvs) {
    if (kv.key.compare(0, kNbPrefix.size(), kNbPrefix) != 0) continue;
    seen.insert(kv.key);
    const Object* o = Find(kv.key);
    if (o && o->kv.mod_revision == kv.mod_revision && o->kv.value == kv.value) continue;
    if (auto st = Put(kv); !st.ok()) {
      Invalidate();
      return absl::InvalidArgumentError(absl::StrCat(kv.key, ": ", st.message()));
    }
  }
  for (auto it = objects_.begin(); it != objects_.end();) {
    auto next = std::next(it);
    if (!seen.count(it->first)) Erase(it->first);
    it = next;
  }
  valid_ = true;
  revision_ = revision;
  return absl::OkStatus();
}

const NbCatalog::Object* NbCatalog::Find(const std::string& key) const {
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : &it->second;
}

std::vector<std::string> NbCatalog::Scope(const std::vector<Change>& changes) const {
  std::set<std::string> changed;
  for (const Change& c : changes) changed.insert(c.key);
  std::set<std::string> scope;
  std::deque<std::string> todo;
  auto add = [&](const std::string& key) {
    if (changed.count(key) || !objects_.count(key)) return;
    if (scope.insert(key).second) todo.push_back(key);
  };
  auto add_all = [&](const std::unordered_map<std::string, std::set<std::string>>& m, const std::string& k) {
    auto it = m.find(k);
    if (it == m.end()) return;
    for (const std::string& key : it->second) add(key);
  };
  for (const Change& c : changes) {
    // Whoever refers to the changed object (its old or new version, or its absence) is checked
    // again: the reference may no longer resolve, or resolve to something that fails the check
    // (a switch's cidr, a router's ports, a firewall's placement).
    add_all(referrers_, c.key);
    if (!c.after) continue;
    // Other claimants of its new claims (a duplicate MAC, IP, name or inline wire).
    for (const std::string& u : c.after->unique) add_all(claimants_, u);
    // What it refers to, so that its references resolve.
    for (const NbReference& r : c.after->refs) add(NbObjectKey(r.to));
  }
  // Everything an object in scope refers to, transitively (a port's switch, that switch's tenant).
  while (!todo.empty()) {
    std::string key = std::move(todo.front());
    todo.pop_front();
    for (const NbReference& r : objects_.at(key).deps.refs) add(NbObjectKey(r.to));
  }
  return {scope.begin(), scope.end()};
}

std::vector<NbReference> NbCatalog::Referrers(const NbObjectId& id) const {
  std::vector<NbReference> out;
  std::string key = NbObjectKey(id);
  auto it = referrers_.find(key);
  if (it == referrers_.end()) return out;
  for (const std::string& from : it->second) {
    if (from == key) continue;
    for (const NbReference& r : objects_.at(from).deps.refs)
      if (r.to == id) out.push_back(r);
  }
  return out;
}

}  // namespace rampart::controller
