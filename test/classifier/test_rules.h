// Random rules and keys for classifier tests: overlapping and nested prefixes drawn from a small
// pool, IPv4 and IPv6, family-0 rules, port ranges with shared end points, protocol wildcards and
// direction masks; keys biased to rule corners so that many rules overlap each key.
#ifndef RAMPART_TEST_CLASSIFIER_TEST_RULES_H_
#define RAMPART_TEST_CLASSIFIER_TEST_RULES_H_

#include <cstdint>
#include <random>
#include <vector>

#include "classifier/match.h"
#include "common/ip.h"

namespace rampart::testing_rules {

class RuleGen {
 public:
  explicit RuleGen(uint64_t seed, bool ipv6 = true) : rng_(seed), ipv6_(ipv6) {
    for (int i = 0; i < 6; ++i) v4_pool_.push_back(static_cast<uint32_t>(0xC6120000u | (rng_() & 0x1ffff)));
    for (int i = 0; i < 4; ++i) {
      uint8_t b[16];
      for (auto& x : b) x = static_cast<uint8_t>(rng_());
      b[0] = 0x20;
      b[1] = 0x01;
      b[2] = 0x0d;
      b[3] = 0xb8;
      v6_pool_.push_back(Ip::V6(b));
    }
  }

  uint32_t Uniform(uint32_t n) { return static_cast<uint32_t>(rng_() % n); }
  bool Coin(int percent) { return Uniform(100) < static_cast<uint32_t>(percent); }

  Prefix V4Prefix() {
    static constexpr int kLens[] = {0, 8, 15, 16, 17, 20, 24, 28, 31, 32};
    uint32_t a = v4_pool_[Uniform(v4_pool_.size())] ^ (Coin(30) ? Uniform(256) : 0);
    return Prefix::V4(a, kLens[Uniform(std::size(kLens))]);
  }
  Prefix V6Prefix() {
    static constexpr int kLens[] = {0, 16, 32, 48, 56, 64, 65, 80, 96, 112, 127, 128};
    Ip a = v6_pool_[Uniform(v6_pool_.size())];
    if (Coin(30)) a.lo ^= Uniform(1024);
    if (Coin(20)) a.hi ^= uint64_t{Uniform(16)} << 8;
    return Prefix::Make(a, kLens[Uniform(std::size(kLens))]);
  }
  PortRange Ports() {
    static constexpr uint16_t kPoints[] = {0, 1, 22, 53, 80, 443, 1023, 1024, 8080, 65535};
    switch (Uniform(5)) {
      case 0: return PortRange{};
      case 1: {
        uint16_t p = kPoints[Uniform(std::size(kPoints))];
        return PortRange{p, p};
      }
      case 2: return Coin(50) ? PortRange{0, 1023} : PortRange{1024, 65535};
      default: {
        uint16_t a = kPoints[Uniform(std::size(kPoints))], b = kPoints[Uniform(std::size(kPoints))];
        return PortRange{std::min(a, b), std::max(a, b)};
      }
    }
  }

  RuleMatch Match() {
    RuleMatch m;
    int kind = static_cast<int>(Uniform(10));
    if (kind == 0) {
      m.family = 0;  // any family: addresses must be /0
    } else if (ipv6_ && kind <= 3) {
      m.family = 6;
      m.src = Coin(20) ? Prefix{} : V6Prefix();
      m.dst = Coin(20) ? Prefix{} : V6Prefix();
    } else {
      m.family = 4;
      m.src = Coin(15) ? Prefix{} : V4Prefix();
      m.dst = Coin(15) ? Prefix{} : V4Prefix();
    }
    m.sport = Ports();
    m.dport = Ports();
    if (Coin(60)) {
      static constexpr uint8_t kProtos[] = {1, 6, 17, 58};
      m.proto = kProtos[Uniform(std::size(kProtos))];
      m.proto_mask = 0xff;
    }
    static constexpr uint8_t kDirs[] = {1, 2, 3, 3, 3};
    m.direction_mask = kDirs[Uniform(std::size(kDirs))];
    return m;
  }

  // Priorities collide often so the id tie-break is exercised.
  ClassRule Rule(uint32_t id) {
    ClassRule r;
    r.id = id;
    r.priority = Uniform(64);
    r.value = id * 7 + 3;
    r.match = Match();
    return r;
  }

  std::vector<ClassRule> Rules(size_t n, uint32_t first_id = 0) {
    std::vector<ClassRule> out;
    for (size_t i = 0; i < n; ++i) out.push_back(Rule(first_id + static_cast<uint32_t>(i)));
    return out;
  }

  // A point inside (usually on a corner of) a prefix.
  Ip Corner(const Prefix& p, bool v6) {
    if (p.len == 0) {
      if (v6) {
        Ip a = v6_pool_[Uniform(v6_pool_.size())];
        a.lo ^= Uniform(4);
        return a;
      }
      return Ip::V4(Coin(50) ? v4_pool_[Uniform(v4_pool_.size())] : static_cast<uint32_t>(rng_()));
    }
    Ip lo = MaskIp(p.addr, p.len);
    Ip ones = MaskIp(Ip{~0ull, ~0ull}, p.len);  // the prefix's network mask
    Ip hi{lo.hi | ~ones.hi, lo.lo | ~ones.lo};
    switch (Uniform(4)) {
      case 0: return lo;
      case 1: return hi;
      case 2: {  // just outside the low end
        Ip x = lo;
        if (x.lo-- == 0) x.hi--;
        return x;
      }
      default: {  // just outside the high end
        Ip x = hi;
        if (++x.lo == 0) x.hi++;
        return x;
      }
    }
  }
  uint16_t PortCorner(const PortRange& r) {
    switch (Uniform(5)) {
      case 0: return r.lo;
      case 1: return r.hi;
      case 2: return static_cast<uint16_t>(r.lo - 1);
      case 3: return static_cast<uint16_t>(r.hi + 1);
      default: return static_cast<uint16_t>(rng_());
    }
  }

  // A key near a rule's corner (or, 10% of the time, fully random within the pools).
  ClassKey Key(const std::vector<ClassRule>& rules) {
    ClassKey k;
    if (rules.empty() || Coin(10)) {
      bool v6 = ipv6_ && Coin(40);
      k.family = v6 ? 6 : 4;
      k.src = Corner(Prefix{}, v6);
      k.dst = Corner(Prefix{}, v6);
      k.sport = static_cast<uint16_t>(rng_());
      k.dport = static_cast<uint16_t>(rng_());
      k.proto = static_cast<uint8_t>(Coin(50) ? 6 : rng_());
      k.direction = static_cast<uint8_t>(Uniform(2));
      return k;
    }
    const RuleMatch& m = rules[Uniform(rules.size())].match;
    bool v6 = m.family == 6 || (m.family == 0 && ipv6_ && Coin(50));
    // Rarely, flip the family to test that family-specific rules do not leak across.
    if (Coin(3) && ipv6_) v6 = !v6;
    k.family = v6 ? 6 : 4;
    k.src = Corner(m.src.len == 0 || m.src.IsV4() == v6 ? Prefix{} : m.src, v6);
    k.dst = Corner(m.dst.len == 0 || m.dst.IsV4() == v6 ? Prefix{} : m.dst, v6);
    if (!v6) {  // IPv4 keys must be IPv4-mapped
      if (!k.src.IsV4()) k.src = Ip::V4(static_cast<uint32_t>(k.src.lo));
      if (!k.dst.IsV4()) k.dst = Ip::V4(static_cast<uint32_t>(k.dst.lo));
    }
    k.sport = PortCorner(m.sport);
    k.dport = PortCorner(m.dport);
    k.proto = Coin(80) ? m.proto : static_cast<uint8_t>(rng_());
    k.direction = static_cast<uint8_t>(Uniform(2));
    return k;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  bool ipv6_;
  std::vector<uint32_t> v4_pool_;
  std::vector<Ip> v6_pool_;
};

}  // namespace rampart::testing_rules

#endif  // RAMPART_TEST_CLASSIFIER_TEST_RULES_H_
