// A tiny in-memory Store for the API tests (keys, revisions, transactions; no watches or
// leases), used where the real "mem:" backend (src/store) is not available.
#ifndef RAMPART_TEST_CONTROLLER_API_FAKE_STORE_H_
#define RAMPART_TEST_CONTROLLER_API_FAKE_STORE_H_

#include <map>
#include <mutex>

#include "store/store.h"

namespace rampart::test {

class FakeStore : public store::Store {
 public:
  absl::StatusOr<std::optional<store::KeyValue>> Get(std::string_view key) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = kvs_.find(std::string(key));
    if (it == kvs_.end()) return std::optional<store::KeyValue>();
    return std::optional<store::KeyValue>(it->second);
  }
  absl::StatusOr<store::RangeResult> Range(std::string_view prefix) override {
    std::lock_guard<std::mutex> l(mu_);
    store::RangeResult r;
    for (auto it = kvs_.lower_bound(std::string(prefix)); it != kvs_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      r.kvs.push_back(it->second);
    r.revision = rev_;
    return r;
  }
  absl::StatusOr<int64_t> Put(std::string_view key, std::string_view value, int64_t lease) override {
    store::Txn t;
    t.ops.push_back(store::Op::Put(std::string(key), std::string(value), lease));
    auto r = Commit(t);
    return r->revision;
  }
  absl::StatusOr<int64_t> Delete(std::string_view key) override {
    store::Txn t;
    t.ops.push_back(store::Op::Delete(std::string(key)));
    auto r = Commit(t);
    return r->revision;
  }
  absl::StatusOr<store::TxnResult> Commit(const store::Txn& txn) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& c : txn.compares) {
      auto it = kvs_.find(c.key);
      if (c.target == store::Compare::Target::kModRevision) {
        int64_t have = it == kvs_.end() ? 0 : it->second.mod_revision;
        if (have != c.mod_revision) return store::TxnResult{false, rev_};
      } else if (it == kvs_.end() || it->second.value != c.value) {
        return store::TxnResult{false, rev_};
      }
    }
    ++rev_;
    for (const auto& op : txn.ops) {
      if (op.kind == store::Op::Kind::kPut) {
        auto& kv = kvs_[op.key];
        if (kv.create_revision == 0) kv.create_revision = rev_;
        kv.key = op.key;
        kv.value = op.value;
        kv.mod_revision = rev_;
        ++kv.version;
      } else if (op.kind == store::Op::Kind::kDelete) {
        kvs_.erase(op.key);
      } else {
        for (auto it = kvs_.lower_bound(op.key); it != kvs_.end() && it->first.compare(0, op.key.size(), op.key) == 0;)
          it = kvs_.erase(it);
      }
    }
    return store::TxnResult{true, rev_};
  }
  absl::StatusOr<std::unique_ptr<store::WatchHandle>> Watch(std::string_view, int64_t, store::WatchCallbacks) override {
    return absl::UnimplementedError("FakeStore has no watches");
  }
  absl::StatusOr<int64_t> GrantLease(int64_t) override { return absl::UnimplementedError("FakeStore has no leases"); }
  absl::Status KeepAlive(int64_t) override { return absl::UnimplementedError("FakeStore has no leases"); }
  absl::Status RevokeLease(int64_t) override { return absl::UnimplementedError("FakeStore has no leases"); }
  absl::StatusOr<int64_t> CurrentRevision() override {
    std::lock_guard<std::mutex> l(mu_);
    return rev_;
  }
  std::string Describe() const override { return "fake (test)"; }

 private:
  std::mutex mu_;
  std::map<std::string, store::KeyValue> kvs_;
  int64_t rev_ = 0;
};

}  // namespace rampart::test

#endif  // RAMPART_TEST_CONTROLLER_API_FAKE_STORE_H_
