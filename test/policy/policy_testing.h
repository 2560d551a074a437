// Test helpers for the policy component: a reference evaluator that walks a Policy's rules in
// (priority, position) order with the documented semantics (independent of the compiler's
// expansion), and generators of random policies and of keys biased to their corners.
#ifndef RAMPART_TEST_POLICY_POLICY_TESTING_H_
#define RAMPART_TEST_POLICY_POLICY_TESTING_H_

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "classifier/match.h"
#include "packet/packet.h"
#include "policy/compiled_policy.h"
#include "policy/policy.h"

namespace rampart::testing {

// ---- reference evaluator -------------------------------------------------------------------

inline bool RefInPrefix(const Prefix& p, const Ip& a, uint8_t family) {
  // A prefix is IPv4 (mapped) or IPv6; it only ever matches keys of its own family.
  if (p.IsV4() != (family == 4)) return false;
  return p.Contains(a);
}

inline bool RefSide(const Policy& policy, const AddressSpec& side, const Ip& a, uint8_t family) {
  if (side.prefixes.empty() && side.groups.empty()) return true;
  for (const Prefix& p : side.prefixes) {
    if (RefInPrefix(p, a, family)) return true;
  }
  for (const std::string& name : side.groups) {
    for (const AddressGroup& g : policy.groups) {
      if (g.name != name) continue;
      for (const Prefix& p : g.prefixes) {
        if (RefInPrefix(p, a, family)) return true;
      }
    }
  }
  return false;
}

inline bool RefPorts(const std::vector<PortRange>& ranges, uint16_t port) {
  if (ranges.empty()) return true;
  for (const PortRange& r : ranges) {
    if (r.lo <= port && port <= r.hi) return true;
  }
  return false;
}

inline bool RefRuleMatches(const Policy& policy, const Rule& r, const ClassKey& k) {
  if (r.family == 4 && k.family != 4) return false;
  if (r.family == 6 && k.family != 6) return false;
  if (!((r.direction_mask >> k.direction) & 1)) return false;
  if (r.proto) {
    if (k.proto != *r.proto) return false;
    if (*r.proto == kProtoIcmp && k.family != 4) return false;    // ICMP is IPv4's
    if (*r.proto == kProtoIcmpV6 && k.family != 6) return false;  // ICMPv6 is IPv6's
  }
  if (r.proto == kProtoIcmp || r.proto == kProtoIcmpV6) {
    if (r.icmp_type && k.sport != *r.icmp_type) return false;
    if (r.icmp_code && k.dport != *r.icmp_code) return false;
  } else {
    if (!RefPorts(r.sports, k.sport) || !RefPorts(r.dports, k.dport)) return false;
  }
  return RefSide(policy, r.src, k.src, k.family) && RefSide(policy, r.dst, k.dst, k.family);
}

// The reference for one policy: rules in (priority, position) order, first match wins.
class Reference {
 public:
  explicit Reference(const Policy& policy) : policy_(policy), order_(policy.rules.size()) {
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(),
                     [&](size_t a, size_t b) { return policy.rules[a].priority < policy.rules[b].priority; });
  }
  // Rule id of the first match, or kDefaultRuleId.
  uint32_t Classify(const ClassKey& k) const {
    for (size_t i : order_) {
      if (RefRuleMatches(policy_, policy_.rules[i], k)) return policy_.rules[i].id;
    }
    return kDefaultRuleId;
  }

 private:
  const Policy& policy_;
  std::vector<size_t> order_;
};

inline uint32_t RefClassify(const Policy& policy, const ClassKey& k) { return Reference(policy).Classify(k); }

// ---- generators ----------------------------------------------------------------------------

class PolicyGen {
 public:
  explicit PolicyGen(uint64_t seed) : rng_(seed) {}

  std::mt19937_64& rng() { return rng_; }
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Uniform(0, 99) < percent; }

  // Addresses from a small space so that prefixes nest and overlap.
  Prefix V4Prefix() {
    static const int kLens[] = {0, 8, 15, 16, 20, 24, 24, 28, 30, 32, 32};
    int len = kLens[Uniform(0, 10)];
    uint32_t a = (198u << 24) | (18u << 16) | (static_cast<uint32_t>(Uniform(0, 3)) << 8) |
                 static_cast<uint32_t>(Uniform(0, 3) * 64 + Uniform(0, 3));
    if (Chance(10)) a ^= 1u << 16;  // 198.19.x.x
    return Prefix::V4(a, len);
  }
  Prefix V6Prefix() {
    static const int kLens[] = {0, 16, 32, 48, 64, 64, 96, 120, 128, 128};
    int len = kLens[Uniform(0, 9)];
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    b[5] = static_cast<uint8_t>(Uniform(0, 2));
    b[7] = static_cast<uint8_t>(Uniform(0, 1));
    b[15] = static_cast<uint8_t>(Uniform(0, 3));
    return Prefix::Make(Ip::V6(b), len);
  }
  Prefix AnyPrefix(uint8_t families) {
    if (families == 1) return V4Prefix();
    if (families == 2) return V6Prefix();
    return Chance(60) ? V4Prefix() : V6Prefix();
  }
  PortRange Ports() {
    static const uint16_t kPoints[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8000, 8080, 65535};
    uint16_t a = kPoints[Uniform(0, 10)], b = kPoints[Uniform(0, 10)];
    if (Chance(30)) b = a;
    return PortRange{std::min(a, b), std::max(a, b)};
  }

  AddressGroup Group(const std::string& name) {
    AddressGroup g;
    g.name = name;
    int n = Uniform(0, 4);
    for (int i = 0; i < n; ++i) {
      Prefix p = AnyPrefix(3);
      if (std::find(g.prefixes.begin(), g.prefixes.end(), p) == g.prefixes.end()) g.prefixes.push_back(p);
    }
    return g;
  }

  AddressSpec Side(const Policy& p, uint8_t families) {
    AddressSpec s;
    if (Chance(35)) return s;  // any
    int n = Uniform(0, 3);
    for (int i = 0; i < n; ++i) s.prefixes.push_back(AnyPrefix(families));
    if (!p.groups.empty()) {
      for (const AddressGroup& g : p.groups) {
        if (Chance(25)) s.groups.push_back(g.name);
      }
    }
    if (s.IsAny() && Chance(50)) s.prefixes.push_back(AnyPrefix(families));
    return s;
  }

  Rule MakeRule(const Policy& p, uint32_t id) {
    Rule r;
    r.id = id;
    r.name = Chance(30) ? "r" + std::to_string(id) : "";
    r.priority = Chance(50) ? Uniform(0, 5) : Uniform(-3, 100);
    int proto = Uniform(0, 9);
    if (proto <= 2) r.proto = kProtoTcp;
    else if (proto <= 4) r.proto = kProtoUdp;
    else if (proto == 5) r.proto = kProtoIcmp;
    else if (proto == 6) r.proto = kProtoIcmpV6;
    else if (proto == 7) r.proto = 47;
    if (Chance(15)) r.family = Chance(50) ? 4 : 6;
    if (r.proto == kProtoIcmp && r.family == 6) r.family = 4;
    if (r.proto == kProtoIcmpV6 && r.family == 4) r.family = 6;
    uint8_t fam = 3;
    if (r.family == 4 || r.proto == kProtoIcmp) fam = 1;
    if (r.family == 6 || r.proto == kProtoIcmpV6) fam = 2;
    r.src = Side(p, fam);
    r.dst = Side(p, fam);
    if (r.proto == kProtoIcmp || r.proto == kProtoIcmpV6) {
      if (Chance(50)) r.icmp_type = static_cast<uint8_t>(Uniform(0, 1) ? 8 : 3);
      if (Chance(30)) r.icmp_code = static_cast<uint8_t>(Uniform(0, 1));
    } else {
      int ns = Chance(70) ? 0 : Uniform(1, 2), nd = Chance(40) ? 0 : Uniform(1, 3);
      for (int i = 0; i < ns; ++i) r.sports.push_back(Ports());
      for (int i = 0; i < nd; ++i) r.dports.push_back(Ports());
    }
    int dir = Uniform(0, 5);
    r.direction_mask = dir == 0 ? 1 : dir == 1 ? 2 : 3;
    r.action = static_cast<Action>(Uniform(0, 3));
    if (r.action == Action::kRedirect) r.redirect_service = Chance(50) ? "svm-1" : "svm-2";
    r.log = Chance(30);
    r.stateless = Chance(20);
    return r;
  }

  Policy MakePolicy(int max_rules) {
    Policy p;
    int ng = Uniform(0, 4);
    for (int i = 0; i < ng; ++i) p.groups.push_back(Group("g" + std::to_string(i)));
    int n = Uniform(0, max_rules);
    for (int i = 0; i < n; ++i) p.rules.push_back(MakeRule(p, static_cast<uint32_t>(i * 3 + Uniform(0, 2))));
    p.default_action = static_cast<Action>(Uniform(0, 2));
    p.default_log = Chance(50);
    return p;
  }

  // `n` keys near the corners of the policy's prefixes and port ranges.
  std::vector<ClassKey> Keys(const Policy& p, int n) {
    std::vector<Prefix> pool[2];  // IPv4, IPv6
    auto add = [&](const std::vector<Prefix>& v) {
      for (const Prefix& x : v) pool[x.IsV4() ? 0 : 1].push_back(x);
    };
    for (const AddressGroup& g : p.groups) add(g.prefixes);
    for (const Rule& r : p.rules) {
      add(r.src.prefixes);
      add(r.dst.prefixes);
    }
    std::vector<ClassKey> keys;
    for (int i = 0; i < n; ++i) keys.push_back(Key(pool));
    return keys;
  }
  ClassKey Key(const Policy& p) { return Keys(p, 1)[0]; }

  ClassKey Key(const std::vector<Prefix> (&pool)[2]) {
    ClassKey k;
    k.family = Chance(55) ? 4 : 6;
    auto addr = [&]() -> Ip {
      const std::vector<Prefix>& fam = pool[k.family == 4 ? 0 : 1];
      Prefix base = fam.empty() || Chance(10) ? (k.family == 4 ? V4Prefix() : V6Prefix())
                                              : fam[static_cast<size_t>(Uniform(0, static_cast<int>(fam.size()) - 1))];
      if (k.family == 6 && base.len < 96 && base.addr.hi == 0) base = V6Prefix();  // keep clear of the mapped range
      Ip a = base.addr;
      int host_bits = 128 - base.len;
      uint64_t r = rng_();
      int mode = Uniform(0, 2);  // first, last, random address of the prefix
      for (int bit = 0; bit < host_bits; ++bit) {
        bool set = mode == 1 || (mode == 2 && ((r >> (bit % 64)) & 1));
        if (k.family == 4 && bit >= 32) set = false;  // stay IPv4-mapped
        if (!set) continue;
        if (bit < 64) a.lo |= 1ull << bit;
        else a.hi |= 1ull << (bit - 64);
      }
      if (k.family == 4) a = Ip::V4(a.V4Addr());
      if (k.family == 6 && a.IsV4()) a.hi |= 1ull << 60;
      return a;
    };
    k.src = addr();
    k.dst = addr();
    static const uint8_t kProtos[] = {kProtoTcp, kProtoUdp, kProtoIcmp, kProtoIcmpV6, 47, 0, 255};
    k.proto = kProtos[Uniform(0, 6)];
    auto port = [&]() -> uint16_t {
      if (k.proto == kProtoIcmp || k.proto == kProtoIcmpV6) {
        static const uint16_t kTypes[] = {0, 1, 3, 8};
        return kTypes[Uniform(0, 3)];
      }
      PortRange r = Ports();
      int m = Uniform(0, 3);
      int v = m == 0 ? r.lo : m == 1 ? r.hi : m == 2 ? r.lo - 1 : r.hi + 1;
      return static_cast<uint16_t>(std::clamp(v, 0, 65535));
    };
    k.sport = port();
    k.dport = port();
    k.direction = static_cast<uint8_t>(Uniform(0, 1));
    return k;
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace rampart::testing

#endif  // RAMPART_TEST_POLICY_POLICY_TESTING_H_
