// A policy compiled for the data plane: the classifier snapshot plus the per-rule actions the
// engine needs after a lookup. Immutable once made; the engine's workers hold a
// std::shared_ptr<const CompiledPolicy> and the control thread swaps in a new one atomically.
//
// PolicyCompiler (control thread only, not thread-safe) keeps the source Policy and turns edits
// (add/remove/replace a rule, add/remove a prefix in an address group) into a new snapshot by
// Classifier::WithChanges, at a cost proportional to the edit, never a full rebuild.
#ifndef RAMPART_POLICY_COMPILED_POLICY_H_
#define RAMPART_POLICY_COMPILED_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/classifier.h"
#include "policy/policy.h"

namespace rampart {

// What the engine needs to know about the rule a lookup returned.
struct CompiledRule {
  uint32_t rule_id = 0;      // Rule::id; kDefaultRuleId for the default rule
  Action action = Action::kDrop;
  bool log = false;
  bool stateless = false;
  uint16_t redirect_service = 0;  // index into CompiledPolicy::services (kRedirect only)
};

constexpr uint32_t kDefaultRuleId = 0xfffffffeu;
// rule_id of a CompiledPolicy::rules slot that no classifier entry refers to (a removed rule's
// slot, kept so the other slots keep their indexes; reused by a later rule).
constexpr uint32_t kFreeSlotRuleId = 0xffffffffu;

struct CompiledPolicy {
  // Classifier values are indexes into `rules`. The default rule is always present and matches
  // every key, so a lookup on a CompiledPolicy never returns kNoMatch.
  std::shared_ptr<const Classifier> classifier;
  std::vector<CompiledRule> rules;
  std::vector<std::string> services;  // redirect targets by index
  uint64_t generation = 0;            // increases with every new snapshot from one compiler
  uint32_t default_index = 0;         // index in `rules` of the default rule

  // Slots are stable across a PolicyCompiler's incremental edits: a rule keeps its index in
  // `rules` until it is removed (see policy/compiler.h). Unused slots carry kFreeSlotRuleId.

  const CompiledRule& Classify(const ClassKey& key) const { return rules[classifier->Lookup(key)]; }
};

}  // namespace rampart

#endif  // RAMPART_POLICY_COMPILED_POLICY_H_
