// The etcd v3 store backend: talks to a real etcd cluster over its gRPC API
// (proto/etcd/*.proto, a field-compatible subset of etcd's own). docs/store.md has the details.
//
// Failover: every call goes to the member that answered last; on UNAVAILABLE or
// DEADLINE_EXCEEDED (short deadlines) it tries the next one, so a 3-member cluster keeps working
// with one member down. Watches run on a thread each and resume on another member from the last
// revision they saw.
#ifndef RAMPART_STORE_ETCD_STORE_H_
#define RAMPART_STORE_ETCD_STORE_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace rampart::store {

struct EtcdOptions {
  std::vector<std::string> endpoints;                   // "127.0.0.1:2379"
  std::chrono::milliseconds call_timeout{2000};         // one attempt on one member
  std::chrono::milliseconds total_timeout{15000};       // all attempts of one call
};

absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdOptions& options);

}  // namespace rampart::store

#endif  // RAMPART_STORE_ETCD_STORE_H_
