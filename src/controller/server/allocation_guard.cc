#include "controller/server/allocation_guard.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "controller/physical/physical_stage.h"

namespace rampart::controller {
namespace {

bool IsAllocationTxn(const store::Txn& txn) {
  if (!txn.compares.empty() || txn.ops.empty()) return false;
  for (const store::Op& op : txn.ops) {
    if (op.kind == store::Op::Kind::kDeletePrefix || op.lease != 0) return false;
    if (!absl::StartsWith(op.key, kAllocPrefix)) return false;
  }
  return true;
}

std::string Shown(const std::optional<std::string>& v) { return v ? *v : std::string("(none)"); }

}  // namespace

absl::StatusOr<store::RangeResult> AllocationGuard::Range(std::string_view prefix) {
  auto r = inner_->Range(prefix);
  if (r.ok() && prefix == kAllocPrefix) {
    seen_.clear();
    for (const store::KeyValue& kv : r->kvs) seen_[kv.key] = kv.value;
  }
  return r;
}

std::optional<std::string> AllocationGuard::conflict() const {
  std::lock_guard<std::mutex> l(mu_);
  return conflict_;
}

absl::StatusOr<store::TxnResult> AllocationGuard::Commit(const store::Txn& txn) {
  if (!IsAllocationTxn(txn)) return inner_->Commit(txn);
  auto seen = [&](const std::string& key) -> std::optional<std::string> {
    auto it = seen_.find(key);
    return it == seen_.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto remember = [&](const std::string& key, const std::optional<std::string>& v) {
    if (v) {
      seen_[key] = *v;
    } else {
      seen_.erase(key);
    }
  };
  std::vector<store::Op> ops = txn.ops;
  for (int attempt = 0; attempt < 8; ++attempt) {
    store::Txn guarded;
    for (const store::Op& op : ops) {
      std::optional<std::string> before = seen(op.key);
      guarded.compares.push_back(before ? store::Compare::ValueIs(op.key, *before) : store::Compare::Absent(op.key));
    }
    guarded.ops = ops;
    auto r = inner_->Commit(guarded);
    if (!r.ok()) return r;
    if (r->succeeded) {
      for (const store::Op& op : ops)
        remember(op.key, op.kind == store::Op::Kind::kPut ? std::optional<std::string>(op.value) : std::nullopt);
      return r;
    }
    // Another controller wrote some of these keys since this one last saw them: read them (all
    // at once for a large transaction, such as a first computation's).
    absl::flat_hash_map<std::string, std::string> current;
    const bool whole = ops.size() > 256;
    if (whole) {
      auto all = inner_->Range(kAllocPrefix);
      if (!all.ok()) return all.status();
      for (const store::KeyValue& kv : all->kvs) current[kv.key] = kv.value;
    }
    std::vector<store::Op> rest;
    for (const store::Op& op : ops) {
      std::optional<std::string> now;
      if (whole) {
        auto it = current.find(op.key);
        if (it != current.end()) now = it->second;
      } else {
        auto kv = inner_->Get(op.key);
        if (!kv.ok()) return kv.status();
        if (kv->has_value()) now = (*kv)->value;
      }
      const std::optional<std::string> want =
          op.kind == store::Op::Kind::kPut ? std::optional<std::string>(op.value) : std::nullopt;
      if (now == want) {  // the other controller decided the same
        remember(op.key, now);
        ++adopted_;
        continue;
      }
      if (now == seen(op.key)) {  // untouched by the other: still ours to write
        rest.push_back(op);
        continue;
      }
      std::lock_guard<std::mutex> l(mu_);
      if (!conflict_) {
        conflict_ = absl::StrCat(op.key, ": the store holds ", Shown(now), ", this controller chose ", Shown(want));
      }
      auto rev = inner_->CurrentRevision();
      return store::TxnResult{false, rev.ok() ? *rev : 0};
    }
    if (rest.empty()) {
      auto rev = inner_->CurrentRevision();
      if (!rev.ok()) return rev.status();
      return store::TxnResult{true, *rev};
    }
    ops = std::move(rest);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!conflict_) conflict_ = "allocations kept changing under this controller (8 attempts)";
  auto rev = inner_->CurrentRevision();
  return store::TxnResult{false, rev.ok() ? *rev : 0};
}

}  // namespace rampart::controller
