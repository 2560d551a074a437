// Private to the classifier: checks shared by every Classifier implementation, so the fast
// classifier and the linear reference reject exactly the same inputs with the same messages.
#ifndef RAMPART_CLASSIFIER_VALIDATE_H_
#define RAMPART_CLASSIFIER_VALIDATE_H_

#include <cstdint>
#include <span>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "classifier/match.h"

namespace rampart::classifier_internal {

// One rule on its own: family 0/4/6, prefixes fit the family, port ranges not reversed,
// prefix lengths <= 128. The message names the rule id.
absl::Status ValidateRule(const ClassRule& r);

// Every rule, plus unique ids among `rules`.
absl::Status ValidateRules(std::span<const ClassRule> rules);

// A change set against a classifier whose ids satisfy `has_id`: removes must name present ids
// (each at most once), adds must be valid and their ids unique after the removals.
template <typename HasId>
absl::Status ValidateChanges(std::span<const ClassRule> add, std::span<const uint32_t> remove_ids,
                             const HasId& has_id);

// (priority, id) as one integer: the order in which rules win.
inline uint64_t OrderKey(const ClassRule& r) { return (uint64_t{r.priority} << 32) | r.id; }

}  // namespace rampart::classifier_internal

// ---- implementation of the template ----
#include "absl/strings/str_cat.h"

namespace rampart::classifier_internal {

template <typename HasId>
absl::Status ValidateChanges(std::span<const ClassRule> add, std::span<const uint32_t> remove_ids,
                             const HasId& has_id) {
  absl::flat_hash_set<uint32_t> removed;
  for (uint32_t id : remove_ids) {
    if (!has_id(id)) {
      return absl::NotFoundError(absl::StrCat("remove: no rule with id ", id, " in the classifier"));
    }
    if (!removed.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("remove: rule id ", id, " listed twice"));
    }
  }
  absl::flat_hash_set<uint32_t> added;
  for (const ClassRule& r : add) {
    if (absl::Status s = ValidateRule(r); !s.ok()) return s;
    if (!added.insert(r.id).second || (has_id(r.id) && !removed.contains(r.id))) {
      return absl::AlreadyExistsError(absl::StrCat("add: rule id ", r.id, " already exists"));
    }
  }
  return absl::OkStatus();
}

}  // namespace rampart::classifier_internal

#endif  // RAMPART_CLASSIFIER_VALIDATE_H_
