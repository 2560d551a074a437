// The policy compiler: Policy (policy.h) -> CompiledPolicy (compiled_policy.h), from scratch or
// by incremental edits. docs/policy.md ("How the compiler works") explains the expansion, the
// priority numbering and the edit algorithm; this header is the contract.
//
// Expansion: a rule becomes one classifier entry (ClassRule) per combination of
//   source prefix x destination prefix x source port range x destination port range
// (ICMP/ICMPv6: type x code, as ClassKey sport/dport), where a side's prefixes are its listed
// prefixes plus its groups' prefixes, and combinations whose address families differ are skipped
// (an IPv4 source never pairs with an IPv6 destination). An omitted side is "any address of the
// rule's families"; a side that lists only empty groups matches nothing, so the rule matches
// nothing until a prefix is added. All entries of a rule share its classifier priority and carry
// value = the rule's index in CompiledPolicy::rules. The default rule is one family-0 entry that
// matches every key, ordered after every rule.
//
// Ordering: rules are ordered by (priority, position in Policy::rules). Each rule gets a sparse
// 32-bit classifier priority ("key") that preserves this order; a new or moved rule takes a key
// between its neighbours', so no other rule is renumbered. Only when a gap is exhausted (about 16
// insertions at one spot) are all keys respread, which is a full rebuild (EditStats::rebuilt).
//
// Thread-safety: PolicyCompiler is a control-thread object, not thread-safe. The snapshots it
// returns are immutable and may be shared with any number of reader threads.
#ifndef RAMPART_POLICY_COMPILER_H_
#define RAMPART_POLICY_COMPILER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "policy/compiled_policy.h"
#include "policy/policy.h"

namespace rampart {

namespace policy_internal {
struct CompilerState;
}  // namespace policy_internal

struct CompilerOptions {
  // Guards against cross-product explosion: a rule (or the whole policy) that would expand to
  // more classifier entries is refused with an error naming the rule.
  size_t max_entries_per_rule = 1u << 16;
  size_t max_entries = 1u << 22;
  // Prefixes error messages ("policy: rules[3].source: ...").
  std::string doc_name = "policy";
};

// What the last edit did to the classifier.
struct EditStats {
  size_t entries_added = 0;
  size_t entries_removed = 0;
  bool rebuilt = false;  // the snapshot came from a full Classifier::Build
};

// One-shot compilation (generation 1). Errors: InvalidArgument naming the field and reason.
absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompilePolicy(const Policy& policy,
                                                                    const CompilerOptions& options = {});

class PolicyCompiler {
 public:
  using Snapshot = std::shared_ptr<const CompiledPolicy>;

  // Starts with an empty policy (no rules, default drop); the first call compiles it.
  explicit PolicyCompiler(CompilerOptions options = {});
  ~PolicyCompiler();
  PolicyCompiler(const PolicyCompiler&) = delete;
  PolicyCompiler& operator=(const PolicyCompiler&) = delete;

  // Every call returns the new snapshot, or an error that leaves the compiler exactly as it was
  // (policy, snapshot, numbering). A snapshot's CompiledPolicy::rules slots stay where they are
  // across incremental edits (a removed rule's slot is freed for reuse), except after a rebuild.

  // Replaces everything with `policy` (full build).
  absl::StatusOr<Snapshot> Reset(Policy policy);
  // Appends `rule` at the end of the list (it is ordered by its priority, then after every rule
  // already there). AlreadyExists if its id is taken.
  absl::StatusOr<Snapshot> AddRule(Rule rule);
  // NotFound if no rule has `id`.
  absl::StatusOr<Snapshot> RemoveRule(uint32_t id);
  // Replaces the rule with rule.id in place (same position). NotFound if there is none.
  absl::StatusOr<Snapshot> ReplaceRule(Rule rule);
  // Adds `prefix` to the group, creating the group if it does not exist. Adding a prefix the
  // group already has changes nothing and returns the current snapshot (same generation).
  absl::StatusOr<Snapshot> AddGroupPrefix(std::string_view group, const Prefix& prefix);
  // NotFound if the group does not exist or does not hold `prefix`. An emptied group stays.
  absl::StatusOr<Snapshot> RemoveGroupPrefix(std::string_view group, const Prefix& prefix);
  // The default rule's action (allow, drop or reject) and log flag; the classifier is unchanged.
  absl::StatusOr<Snapshot> SetDefault(Action action, bool log);

  const Policy& policy() const;
  // Null until the first successful call.
  const Snapshot& current() const { return current_; }
  const EditStats& last_edit() const { return last_edit_; }
  // Classifier entries in the current snapshot, the default entry included.
  size_t entries() const;

 private:
  using State = policy_internal::CompilerState;

  absl::Status EnsureBuilt();
  Snapshot Publish(const State& s);
  absl::StatusOr<Snapshot> RebuildWith(Policy policy);

  CompilerOptions options_;
  std::unique_ptr<State> state_;
  Snapshot current_;
  uint64_t generation_ = 0;
  EditStats last_edit_;
};

}  // namespace rampart

#endif  // RAMPART_POLICY_COMPILER_H_
