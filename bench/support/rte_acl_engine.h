// DPDK rte_acl as a measurement anchor for `rampart-bench classify` (IPv4 5-tuple only).
// Compiled into rampart-bench only; every function reports "unavailable" when the build has no
// DPDK (RAMPART_HAVE_DPDK unset).
//
// Field layout as in DPDK's l3fwd-acl/test-acl: proto (1 byte, BITMASK), source and destination
// IPv4 (MASK), source+destination ports (RANGE, one 4-byte input). Rule i gets priority
// RTE_ACL_MAX_PRIORITY - i (higher wins in rte_acl) and userdata i + 1 (0 = no match).
//
// Thread-safety: EAL is initialised once per process (InitEal); an AclEngine is used by one thread.
#ifndef RAMPART_BENCH_SUPPORT_RTE_ACL_ENGINE_H_
#define RAMPART_BENCH_SUPPORT_RTE_ACL_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "classifier/match.h"

struct rte_acl_ctx;  // DPDK

namespace rampart::bench {

// rte_acl's input record: network byte order, as a packet would hold it.
struct AclKey {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t src;
  uint32_t dst;
  uint16_t sport;
  uint16_t dport;
};

bool AclAvailable();

// Initialises EAL once (--no-huge --no-pci -m <mem_mb> --no-shconf -l 0 --log-level=error and a
// per-process --file-prefix). Later calls return the first result.
absl::Status InitEal(int mem_mb);

class AclEngine {
 public:
  ~AclEngine();
  // Builds a context from family-4 rules in priority order (rules[i] has priority i).
  static absl::StatusOr<std::unique_ptr<AclEngine>> Build(const std::vector<ClassRule>& rules);

  // out[i] = rule index + 1 of the first match, 0 when none.
  void Classify(const uint8_t** data, uint32_t* out, size_t n) const;

  static AclKey MakeKey(const ClassKey& k);
  // Name of the classify algorithm the context uses ("avx2", "sse", ...).
  std::string AlgorithmName() const;
  size_t memory_bytes() const { return memory_bytes_; }

 private:
  AclEngine() = default;
  ::rte_acl_ctx* ctx_ = nullptr;
  size_t memory_bytes_ = 0;
};

}  // namespace rampart::bench

#endif  // RAMPART_BENCH_SUPPORT_RTE_ACL_ENGINE_H_
