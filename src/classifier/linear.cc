#include "classifier/linear.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "classifier/validate.h"

namespace rampart {

using classifier_internal::OrderKey;

absl::StatusOr<std::shared_ptr<const LinearClassifier>> LinearClassifier::Make(
    std::span<const ClassRule> rules) {
  if (absl::Status s = classifier_internal::ValidateRules(rules); !s.ok()) return s;
  std::vector<ClassRule> sorted(rules.begin(), rules.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const ClassRule& a, const ClassRule& b) { return OrderKey(a) < OrderKey(b); });
  return std::make_shared<const LinearClassifier>(std::move(sorted));
}

absl::StatusOr<std::shared_ptr<const Classifier>> LinearClassifier::WithChanges(
    std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const {
  absl::flat_hash_set<uint32_t> ids;
  for (const ClassRule& r : rules_) ids.insert(r.id);
  if (absl::Status s = classifier_internal::ValidateChanges(
          add, remove_ids, [&](uint32_t id) { return ids.contains(id); });
      !s.ok()) {
    return s;
  }
  absl::flat_hash_set<uint32_t> removed(remove_ids.begin(), remove_ids.end());
  std::vector<ClassRule> next;
  for (const ClassRule& r : rules_) {
    if (!removed.contains(r.id)) next.push_back(r);
  }
  next.insert(next.end(), add.begin(), add.end());
  auto made = Make(next);
  if (!made.ok()) return made.status();
  return std::shared_ptr<const Classifier>(*std::move(made));
}

const ClassRule* LinearClassifier::Find(const ClassKey& key) const {
  for (const ClassRule& r : rules_) {
    if (r.match.Matches(key)) return &r;
  }
  return nullptr;
}

uint32_t LinearClassifier::Lookup(const ClassKey& key) const {
  const ClassRule* r = Find(key);
  return r ? r->value : kNoMatch;
}

void LinearClassifier::LookupBatch(const ClassKey* keys, size_t n, uint32_t* out) const {
  for (size_t i = 0; i < n; ++i) out[i] = Lookup(keys[i]);
}

ClassifierStats LinearClassifier::Stats() const {
  return ClassifierStats{rules_.size(), rules_.capacity() * sizeof(ClassRule), 1};
}

}  // namespace rampart
