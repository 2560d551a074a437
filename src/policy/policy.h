// The firewall policy model: what a user writes (docs/policy.md) and what the engine enforces.
//
// A Policy is an ordered list of Rules plus the AddressGroups they reference and a default
// rule that always exists (it matches everything not matched before it). First match wins,
// ordered by (priority, position in the list).
//
// Thread-safety: plain values; the control thread builds them and compiles them into immutable
// CompiledPolicy snapshots (compiled_policy.h) for the workers.
#ifndef RAMPART_POLICY_POLICY_H_
#define RAMPART_POLICY_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "classifier/match.h"
#include "common/ip.h"

namespace rampart {

enum class Action : uint8_t {
  kAllow = 0,
  kDrop = 1,
  kReject = 2,    // TCP: RST to the sender; otherwise ICMP/ICMPv6 unreachable
  kRedirect = 3,  // hand the packet to a service (SVMI) named by Rule::redirect_service
};
const char* ActionName(Action a);

// Addresses a rule matches on one side. Empty prefixes and empty groups = any address.
// Otherwise the side matches if the address is in any listed prefix or any listed group.
struct AddressSpec {
  std::vector<Prefix> prefixes;
  std::vector<std::string> groups;  // AddressGroup names
  bool IsAny() const { return prefixes.empty() && groups.empty(); }
};

struct AddressGroup {
  std::string name;
  std::vector<Prefix> prefixes;
};

struct Rule {
  uint32_t id = 0;           // stable numeric id, unique in the policy; counters are keyed by it
  std::string name;          // optional user label
  int32_t priority = 0;      // lower first; equal priorities keep list order
  uint8_t family = 0;        // 0 any, 4, 6 (implied by IPv4/IPv6 prefixes when given)
  AddressSpec src;
  AddressSpec dst;
  std::vector<PortRange> sports;   // empty = any. For ICMP rules unused (see icmp_*)
  std::vector<PortRange> dports;
  std::optional<uint8_t> proto;    // absent = any protocol
  std::optional<uint8_t> icmp_type;  // only with proto ICMP/ICMPv6
  std::optional<uint8_t> icmp_code;
  uint8_t direction_mask = 0x3;    // bit 0: from the VM, bit 1: to the VM
  Action action = Action::kDrop;
  bool log = false;
  bool stateless = false;          // bypasses conntrack: every packet is classified
  std::string redirect_service;    // for kRedirect
};

struct Policy {
  std::vector<Rule> rules;
  std::vector<AddressGroup> groups;
  Action default_action = Action::kDrop;  // the default rule; it always exists
  bool default_log = false;
  std::string name;  // optional label of the policy document (`name:`)
};

}  // namespace rampart

#endif  // RAMPART_POLICY_POLICY_H_
