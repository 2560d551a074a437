// An in-memory store::Store for the physical stage's tests: revisions, Range, Txn with compares;
// `fail_commits` makes Commit return Unavailable (a store outage). No watches or leases.
#ifndef RAMPART_TEST_CONTROLLER_PHYSICAL_FAKE_STORE_H_
#define RAMPART_TEST_CONTROLLER_PHYSICAL_FAKE_STORE_H_

#include <map>
#include <mutex>
#include <string>

#include "store/store.h"

namespace rampart::testing {

class FakeStore : public store::Store {
 public:
  absl::StatusOr<std::optional<store::KeyValue>> Get(std::string_view key) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = kv_.find(std::string(key));
    if (it == kv_.end()) return std::optional<store::KeyValue>();
    return std::optional<store::KeyValue>(it->second);
  }
  absl::StatusOr<store::RangeResult> Range(std::string_view prefix) override {
    std::lock_guard<std::mutex> l(mu_);
    store::RangeResult r;
    r.revision = rev_;
    for (auto it = kv_.lower_bound(std::string(prefix)); it != kv_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      r.kvs.push_back(it->second);
    }
    return r;
  }
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease) override {
    store::Txn t;
    t.ops.push_back(store::Op::Put(std::string(key), std::string(value), lease));
    auto r = Commit(t);
    if (!r.ok()) return r.status();
    return r->revision;
  }
  absl::StatusOr<int64_t> Delete(std::string_view key) override {
    store::Txn t;
    t.ops.push_back(store::Op::Delete(std::string(key)));
    auto r = Commit(t);
    if (!r.ok()) return r.status();
    return r->revision;
  }
  absl::StatusOr<store::TxnResult> Commit(const store::Txn& txn) override {
    std::lock_guard<std::mutex> l(mu_);
    ++commits_;
    if (fail_commits) return absl::UnavailableError("fake store: down");
    for (const auto& c : txn.compares) {
      auto it = kv_.find(c.key);
      if (c.target == store::Compare::Target::kModRevision) {
        int64_t mr = it == kv_.end() ? 0 : it->second.mod_revision;
        if (mr != c.mod_revision) return store::TxnResult{false, rev_};
      } else if (it == kv_.end() || it->second.value != c.value) {
        return store::TxnResult{false, rev_};
      }
    }
    ++rev_;
    for (const auto& op : txn.ops) {
      if (op.kind == store::Op::Kind::kPut) {
        auto& kv = kv_[op.key];
        if (kv.key.empty()) { kv.key = op.key; kv.create_revision = rev_; }
        kv.value = op.value;
        kv.mod_revision = rev_;
        ++kv.version;
      } else if (op.kind == store::Op::Kind::kDelete) {
        kv_.erase(op.key);
      } else {
        for (auto it = kv_.lower_bound(op.key); it != kv_.end() && it->first.compare(0, op.key.size(), op.key) == 0;) it = kv_.erase(it);
      }
    }
    return store::TxnResult{true, rev_};
  }
  absl::StatusOr<std::unique_ptr<store::WatchHandle>> Watch(std::string_view, int64_t, store::WatchCallbacks) override {
    return absl::UnimplementedError("fake store: no watches");
  }
  absl::StatusOr<int64_t> GrantLease(int64_t) override { return absl::UnimplementedError("fake store: no leases"); }
  absl::Status KeepAlive(int64_t) override { return absl::UnimplementedError("fake store: no leases"); }
  absl::Status RevokeLease(int64_t) override { return absl::UnimplementedError("fake store: no leases"); }
  absl::StatusOr<int64_t> CurrentRevision() override {
    std::lock_guard<std::mutex> l(mu_);
    return rev_;
  }
  std::string Describe() const override { return "fake"; }

  std::map<std::string, store::KeyValue> Contents() {
    std::lock_guard<std::mutex> l(mu_);
    return kv_;
  }
  int commits() {
    std::lock_guard<std::mutex> l(mu_);
    return commits_;
  }
  bool fail_commits = false;

 private:
  std::mutex mu_;
  std::map<std::string, store::KeyValue> kv_;
  int64_t rev_ = 0;
  int commits_ = 0;
};

}  // namespace rampart::testing

#endif  // RAMPART_TEST_CONTROLLER_PHYSICAL_FAKE_STORE_H_
