// The Store conformance suite: every backend must pass it. A test binary instantiates it with
//   INSTANTIATE_TEST_SUITE_P(Name, StoreConformance, ::testing::Values(StoreFactory{...}), FactoryName);
// Each test works under its own key prefix, so backends that share a server (etcd) can run the
// tests one after another against the same cluster.
#ifndef RAMPART_TEST_STORE_STORE_CONFORMANCE_H_
#define RAMPART_TEST_STORE_STORE_CONFORMANCE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "store/store.h"

namespace rampart::store {

struct StoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<Store>>()> open;
  // Revisions go up by exactly one per change (the store has no other writers).
  bool exact_revisions = true;
};

inline std::string FactoryName(const ::testing::TestParamInfo<StoreFactory>& info) { return info.param.name; }

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  std::string K(std::string_view s) const { return prefix_ + std::string(s); }
  std::unique_ptr<Store> store_;
  std::string prefix_;
};

}  // namespace rampart::store

#endif  // RAMPART_TEST_STORE_STORE_CONFORMANCE_H_
