// Compiled first-match classifier.
//
// A Classifier is immutable once made: readers (packet workers) hold a
// std::shared_ptr<const Classifier> and look up without locks. Updates are persistent: WithChanges
// returns a new Classifier that shares every unchanged part with the old one, at a cost
// proportional to the change (not to the rule set), so the control thread can publish a new
// snapshot with one atomic pointer swap while workers keep using the old one.
//
// Results are, by contract, identical to LinearClassifier (linear.h) on the same rules: the
// matching ClassRule with the lowest (priority, id), and kNoMatch when none matches.
#ifndef RAMPART_CLASSIFIER_CLASSIFIER_H_
#define RAMPART_CLASSIFIER_CLASSIFIER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "classifier/match.h"

namespace rampart {

struct ClassifierStats {
  size_t rules = 0;         // ClassRule entries held
  size_t memory_bytes = 0;  // heap bytes owned by this snapshot (shared parts counted once)
  size_t tables = 0;        // implementation-defined sub-structures (for diagnostics)
};

class Classifier {
 public:
  virtual ~Classifier() = default;

  // Builds a classifier holding `rules`. Fails (InvalidArgument) on duplicate ids or malformed
  // matches (reversed port range, family/prefix mismatch), naming the offending rule id.
  static absl::StatusOr<std::shared_ptr<const Classifier>> Build(std::span<const ClassRule> rules);

  // A new snapshot = this one minus the entries whose id is in `remove_ids`, plus `add`.
  // Fails without side effects on an unknown remove id or a duplicate add id.
  virtual absl::StatusOr<std::shared_ptr<const Classifier>> WithChanges(
      std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const = 0;

  // Returns the winning ClassRule's value, or kNoMatch.
  virtual uint32_t Lookup(const ClassKey& key) const = 0;
  // Batched form: out[i] = Lookup(keys[i]). Implementations prefetch across the batch.
  virtual void LookupBatch(const ClassKey* keys, size_t n, uint32_t* out) const = 0;

  virtual ClassifierStats Stats() const = 0;
};

}  // namespace rampart

#endif  // RAMPART_CLASSIFIER_CLASSIFIER_H_
