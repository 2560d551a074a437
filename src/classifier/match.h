// What the classifier matches on: one key per packet, one RuleMatch per (sub-)rule.
//
// A policy rule with address groups or several prefixes/port ranges expands to several
// RuleMatch entries that share its priority and value (the cross product); the classifier
// only ever sees these atomic matches.
//
// Thread-safety: plain values.
#ifndef RAMPART_CLASSIFIER_MATCH_H_
#define RAMPART_CLASSIFIER_MATCH_H_

#include <cstdint>

#include "common/ip.h"

namespace rampart {

// Lookup key for one packet. For ICMP/ICMPv6, sport = type and dport = code.
struct ClassKey {
  Ip src;
  Ip dst;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint8_t proto = 0;
  uint8_t direction = 0;  // static_cast<uint8_t>(Direction): 0 from VM, 1 to VM
  uint8_t family = 4;     // 4 or 6; must agree with src/dst (IPv4 keys are IPv4-mapped)
  uint8_t pad_ = 0;
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;  // inclusive
  bool Contains(uint16_t p) const { return lo <= p && p <= hi; }
  bool IsAny() const { return lo == 0 && hi == 65535; }
  friend constexpr bool operator==(const PortRange&, const PortRange&) = default;
};

struct RuleMatch {
  // 0 = either family (then src/dst must be /0), 4 = IPv4 only, 6 = IPv6 only.
  uint8_t family = 0;
  Prefix src;  // /0 = any address of the family
  Prefix dst;
  PortRange sport;  // ICMP: type range
  PortRange dport;  // ICMP: code range
  uint8_t proto = 0;
  uint8_t proto_mask = 0;         // 0 = any protocol, 0xff = exactly `proto`
  uint8_t direction_mask = 0x3;   // bit 0: from VM, bit 1: to VM

  bool Matches(const ClassKey& k) const {
    if (family != 0 && family != k.family) return false;
    if (k.direction >= 8 || !(direction_mask & (1u << k.direction))) return false;  // defined for any byte
    if ((k.proto & proto_mask) != (proto & proto_mask)) return false;
    if (!sport.Contains(k.sport) || !dport.Contains(k.dport)) return false;
    return src.Contains(k.src) && dst.Contains(k.dst);
  }
};

// One entry the classifier holds. Lower `priority` wins; among equal priorities the lower
// `id` wins, so every lookup has exactly one answer. `id` is unique within a classifier.
// `value` is what Lookup returns (the policy rule index, for example).
struct ClassRule {
  uint32_t priority = 0;
  uint32_t id = 0;
  uint32_t value = 0;
  RuleMatch match;
};

constexpr uint32_t kNoMatch = 0xffffffffu;

}  // namespace rampart

#endif  // RAMPART_CLASSIFIER_MATCH_H_
