// Test helper: runs the real etcd (/usr/bin/etcd) as a 1- or 3-member cluster on free loopback
// ports in a temporary directory; kills the members and removes the directory when destroyed.
#ifndef RAMPART_TEST_STORE_ETCD_CLUSTER_H_
#define RAMPART_TEST_STORE_ETCD_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rampart::store {

class EtcdCluster {
 public:
  static constexpr const char* kEtcdBinary = "/usr/bin/etcd";
  static bool Available();
  // Starts `members` members and waits (up to 30 s) until every one answers.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(int members);
  ~EtcdCluster();

  const std::vector<std::string>& endpoints() const { return endpoints_; }  // "127.0.0.1:P"
  // The member index that is the raft leader (asks each member); -1 if none answers.
  int Leader() const;
  // kill -9 one member and reap it.
  void Kill(int member);
  bool alive(int member) const { return pids_[member] > 0; }

 private:
  EtcdCluster() = default;
  std::string dir_;
  std::vector<std::string> endpoints_;
  std::vector<pid_t> pids_;
};

}  // namespace rampart::store

#endif  // RAMPART_TEST_STORE_ETCD_CLUSTER_H_
