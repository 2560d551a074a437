// FEI reconciliation: brings rampart-fwd's services, instances, slice tags and policies to what
// a host's records say (docs/records.md: Service, Instance, Slice, FwRule, FwGroup), touching
// only what differs: an agent restart against unchanged records makes no mutating call (no
// connection is lost).
//
// It reads service.list / instance.list / tag.list / policy.get and then, in an order that never
// lets a frame reach an instance without its policy, nor a redirect rule without its service:
//   phase "add" (before flows steer traffic there): service.set (new or changed services),
//   instance.create (with the instance's tenant), policy.set (changed policies only), tag.unbind
//   of tags bound differently, tag.bind;
//   phase "remove" (after the flows stopped steering there): tag.unbind of tags no longer
//   wanted, instance.delete of instances no longer wanted, service.delete of services no longer
//   wanted.
// A Service row with a bad value is skipped (FeiReport::problems names it): redirects to that
// service then fail closed in rampart-fwd (unknown service), and the other records still apply.
//
// Thread-safety: not thread-safe; one agent thread calls it.
#ifndef RAMPART_AGENT_FEI_RECONCILE_H_
#define RAMPART_AGENT_FEI_RECONCILE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "records/records.h"

namespace rampart::agent {

// The FEI (docs/fei.md) as the agent uses it: one request, one response. Production: FeiSocket
// (rampart-fwd's unix socket); tests: an in-memory fake.
class FeiApi {
 public:
  virtual ~FeiApi() = default;
  virtual absl::StatusOr<nlohmann::json> Call(const std::string& method,
                                              const nlohmann::json& params = nlohmann::json::object()) = 0;
};

// Connects to rampart-fwd's FEI socket.
absl::StatusOr<std::unique_ptr<FeiApi>> ConnectFei(const std::string& socket_path);

struct FeiReport {
  size_t instances_created = 0;
  size_t instances_deleted = 0;
  size_t policies_set = 0;      // policy.set calls (only for policies that differ)
  size_t tags_bound = 0;
  size_t tags_unbound = 0;
  size_t services_set = 0;      // service.set calls (new or changed services only)
  size_t services_deleted = 0;
  std::vector<std::string> problems;  // records skipped, each with the reason
  size_t mutations() const {
    return instances_created + instances_deleted + policies_set + tags_bound + tags_unbound + services_set +
           services_deleted;
  }
};

enum class FeiPhase { kAdd, kRemove };

// One phase of the reconciliation (see the file comment). Errors name the instance or tag.
absl::StatusOr<FeiReport> ReconcileFei(FeiApi& fei, const records::RecordSet& records, FeiPhase phase);

// The policy document (docs/policy.md JSON) of instance (tenant, inst) from the records.
// service.set params (docs/fei.md) from one `Service` row (docs/records.md), validated as
// rampart-fwd validates them; the error names the row and the field.
absl::StatusOr<nlohmann::json> ServiceParams(const records::Record& row);

absl::StatusOr<std::string> InstancePolicyJson(const records::RecordSet& records, const std::string& tenant,
                                               const std::string& inst);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_FEI_RECONCILE_H_
