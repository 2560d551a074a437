// IP addresses and prefixes shared by every component.
//
// One representation for both families: an IPv4 address is stored IPv4-mapped
// (::ffff:a.b.c.d), so an IPv4 prefix a.b.c.d/n is the IPv6 prefix ::ffff:a.b.c.d/(96+n).
// Code that must keep the families apart (rules, conntrack keys) carries the family
// explicitly or tests IsV4().
//
// Thread-safety: plain values.
#ifndef RAMPART_COMMON_IP_H_
#define RAMPART_COMMON_IP_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rampart {

struct Ip {
  // Big-endian halves: hi holds bytes 0..7 of the 16-byte address, lo bytes 8..15.
  uint64_t hi = 0;
  uint64_t lo = 0;

  static constexpr uint64_t kV4MappedHi = 0;
  static constexpr uint64_t kV4MappedLoTag = 0x0000ffff00000000ull;

  // `addr` in host byte order (a.b.c.d == a<<24|b<<16|c<<8|d).
  static constexpr Ip V4(uint32_t addr) { return Ip{0, kV4MappedLoTag | addr}; }
  // From 16 network-order bytes.
  static Ip V6(const uint8_t bytes[16]);

  constexpr bool IsV4() const { return hi == 0 && (lo >> 32) == 0xffff; }
  constexpr uint32_t V4Addr() const { return static_cast<uint32_t>(lo); }  // REQUIRES: IsV4()
  void ToBytes(uint8_t out[16]) const;

  // Parses "198.18.1.2" or "2001:db8::1".
  static std::optional<Ip> Parse(std::string_view text);
  // IPv4 in dotted quad, IPv6 in RFC 5952 form.
  std::string ToString() const;

  friend constexpr auto operator<=>(const Ip&, const Ip&) = default;
};

struct Prefix {
  Ip addr;          // bits below `len` are zero
  uint8_t len = 0;  // 0..128 in the mapped space; an IPv4 /n has len 96+n

  static Prefix V4(uint32_t addr, int v4_len);  // masks addr
  static Prefix Make(const Ip& addr, int len);  // masks addr
  // Parses "198.18.0.0/15", "2001:db8::/32", or a bare address (host prefix).
  static std::optional<Prefix> Parse(std::string_view text);
  std::string ToString() const;

  bool IsV4() const { return len >= 96 && addr.IsV4(); }
  bool Contains(const Ip& ip) const;
  bool Contains(const Prefix& other) const { return other.len >= len && Contains(other.addr); }

  friend constexpr auto operator<=>(const Prefix&, const Prefix&) = default;
};

// Mask of the top `len` bits (0..128) applied to ip.
Ip MaskIp(const Ip& ip, int len);

}  // namespace rampart

#endif  // RAMPART_COMMON_IP_H_
