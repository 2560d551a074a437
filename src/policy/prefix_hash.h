// Private to the policy component: hashing of Prefix for absl containers.
#ifndef RAMPART_POLICY_PREFIX_HASH_H_
#define RAMPART_POLICY_PREFIX_HASH_H_

#include <cstddef>
#include <tuple>

#include "absl/hash/hash.h"
#include "common/ip.h"

namespace rampart::policy_internal {

struct PrefixHash {
  size_t operator()(const Prefix& p) const {
    return absl::Hash<std::tuple<uint64_t, uint64_t, uint8_t>>()(std::make_tuple(p.addr.hi, p.addr.lo, p.len));
  }
};

}  // namespace rampart::policy_internal

#endif  // RAMPART_POLICY_PREFIX_HASH_H_
