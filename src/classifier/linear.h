// LinearClassifier: the reference first-match classifier. A plain scan over the rules sorted by
// (priority, id) with RuleMatch::Matches. It is the oracle the fast Classifier is tested against,
// so it stays obviously right rather than fast (O(rules) per lookup, O(rules) per change).
//
// Thread-safety: immutable once made; any number of threads may look up concurrently.
#ifndef RAMPART_CLASSIFIER_LINEAR_H_
#define RAMPART_CLASSIFIER_LINEAR_H_

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/classifier.h"
#include "classifier/match.h"

namespace rampart {

class LinearClassifier final : public Classifier {
 public:
  // Same validation (and messages) as Classifier::Build.
  static absl::StatusOr<std::shared_ptr<const LinearClassifier>> Make(
      std::span<const ClassRule> rules);

  absl::StatusOr<std::shared_ptr<const Classifier>> WithChanges(
      std::span<const ClassRule> add, std::span<const uint32_t> remove_ids) const override;
  uint32_t Lookup(const ClassKey& key) const override;
  void LookupBatch(const ClassKey* keys, size_t n, uint32_t* out) const override;
  ClassifierStats Stats() const override;

  // The winning rule itself (nullptr when none matches), for diagnostics and tests.
  const ClassRule* Find(const ClassKey& key) const;
  const std::vector<ClassRule>& rules() const { return rules_; }

  explicit LinearClassifier(std::vector<ClassRule> sorted_rules) : rules_(std::move(sorted_rules)) {}

 private:
  std::vector<ClassRule> rules_;  // sorted by (priority, id)
};

}  // namespace rampart

#endif  // RAMPART_CLASSIFIER_LINEAR_H_
