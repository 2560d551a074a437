// Firewall instances (slices) and how external 802.1Q tags bind to them.
//
// An instance is one firewall: a vNIC policy protecting VM ports, or a logical firewall. It has
// its own policy snapshot, its own connection tables (one per protected port) and its own
// counters. Frames reach it through tag bindings: the outer 802.1Q VID of a frame names an
// (instance, port, direction), so the direction never depends on packet contents a VM controls.
//
// Thread-safety: plain values (the Engine, engine.h, holds the live state).
#ifndef RAMPART_ENGINE_INSTANCE_H_
#define RAMPART_ENGINE_INSTANCE_H_

#include <cstdint>
#include <string>

#include "packet/packet.h"

namespace rampart {

using InstanceId = uint32_t;  // chosen by the caller (the control plane), unique per engine
using PortId = uint32_t;      // a protected VM port (vNIC) or one side of an inline firewall

constexpr uint16_t kNoReturnTag = 0xffff;  // send the frame back with the tag it came in with
constexpr int kMaxVlanId = 4095;

// What later fragments do when their first fragment was not seen (or its entry expired).
enum class FragmentPolicy : uint8_t {
  kDrop = 0,      // counted "fragment-without-first" (default)
  kClassify = 1,  // classify on addresses and protocol alone (ports 0), no conntrack
};

struct InstanceOptions {
  // Strict TCP (default): only a SYN starts a connection; a mid-stream segment of an unknown
  // connection is dropped "invalid". Loose: conntrack may pick up connections mid-stream.
  bool loose_tcp = false;
  // After a rule-set change, re-classify each established connection on its next packet; drop
  // and forget it if the new rules no longer allow it. Off (default): connections keep the
  // verdict cached when they started (seed 001 behaviour).
  bool revalidate_on_change = false;
  FragmentPolicy fragment_policy = FragmentPolicy::kDrop;
  // Connection limits; 0 = conntrack's default. The instance limit applies per worker.
  uint32_t max_conns_per_port = 0;
  uint32_t max_conns_per_instance = 0;
};

struct InstanceInfo {
  InstanceId id = 0;
  std::string name;
  InstanceOptions options;
  // The tenant whose services `redirect:NAME` rules of this instance name (Engine::InternService).
  // Empty for callers that have no tenants (tools, tests): their redirects resolve in tenant "".
  std::string tenant;
};

// One external tag's meaning. A protected vNIC gets two tags (kFromVm and kToVm) on the same
// port; an inline firewall gets one tag per side, each naming the other side's tag as
// `return_tag`, so an allowed frame leaves with the other side's tag.
struct TagBinding {
  InstanceId instance_id = 0;
  PortId port_id = 0;
  Direction direction = Direction::kFromVm;
  uint16_t return_tag = kNoReturnTag;  // kNoReturnTag = same tag as the frame came in with
};

}  // namespace rampart

#endif  // RAMPART_ENGINE_INSTANCE_H_
