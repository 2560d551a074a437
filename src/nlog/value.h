// nlog values: a compact tagged variant (12 bytes) for the column types of nlog tables.
//
// Strings are interned process-wide (ids are stable for the life of the process, never freed);
// equality and hashing of values compare ids, ordering and the `hash` builtin use the text, so
// results are deterministic across runs. Addresses: an IPv4(-mapped) address or prefix is held
// inline; any other IPv6 address (of an ip or a prefix) is interned like a string, so one
// content has one encoding and equality stays a plain comparison of the 12 bytes. Ordering,
// StableHash and the accessors see the full 128-bit address either way.
//
// Thread-safety: Value is a plain value; the string interner is internally synchronized.
#ifndef RAMPART_NLOG_VALUE_H_
#define RAMPART_NLOG_VALUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/hash/hash.h"
#include "common/ip.h"

namespace rampart::nlog {

enum class Type : uint8_t { kInt, kString, kBool, kIp, kPrefix, kMac };

const char* TypeName(Type t);
std::optional<Type> ParseTypeName(std::string_view name);

class Value {
 public:
  Value() = default;  // int 0
  static Value Int(int64_t v) { return Value(Type::kInt, static_cast<uint64_t>(v), 0, 0); }
  static Value Bool(bool v) { return Value(Type::kBool, v ? 1 : 0, 0, 0); }
  static Value String(std::string_view s);
  static Value FromIp(const Ip& ip) {
    return ip.IsV4() ? Value(Type::kIp, ip.V4Addr(), 0, 0) : Value(Type::kIp, InternIp6(ip), 0, kInterned);
  }
  static Value FromPrefix(const Prefix& p) {
    return p.addr.IsV4() ? Value(Type::kPrefix, p.addr.V4Addr(), p.len, 0)
                         : Value(Type::kPrefix, InternIp6(p.addr), p.len, kInterned);
  }
  static Value Mac(uint64_t mac48) { return Value(Type::kMac, mac48 & 0xffffffffffffull, 0, 0); }
  // Parses text in the given type's literal syntax ("198.18.0.1", "198.18.0.0/15",
  // "02:00:00:00:00:01", "17", "true"); strings are taken verbatim.
  static std::optional<Value> Parse(Type t, std::string_view text);

  Type type() const { return type_; }
  int64_t AsInt() const { return static_cast<int64_t>(payload()); }
  bool AsBool() const { return payload() != 0; }
  std::string_view AsString() const;  // REQUIRES: type() == kString
  uint64_t StringId() const { return payload(); }
  Ip AsIp() const { return flags_ & kInterned ? Ip6At(lo_) : Ip::V4(lo_); }
  Prefix AsPrefix() const { return Prefix{AsIp(), len_}; }
  uint64_t AsMac() const { return payload(); }

  // Text form: strings unquoted, ip/prefix/mac in their usual notation.
  std::string ToString() const;
  // nlog literal form: strings quoted and escaped, others as ToString().
  std::string ToLiteral() const;
  // Stable 64-bit hash of the value's content (not of interned ids), for the `hash` builtin.
  uint64_t StableHash(uint64_t seed) const;

  friend bool operator==(const Value& x, const Value& y) {
    return x.lo_ == y.lo_ && x.hi_ == y.hi_ && x.tail() == y.tail();
  }
  friend bool operator!=(const Value& x, const Value& y) { return !(x == y); }
  // Total order: by type, then by content (strings by text, ints signed, addresses numerically).
  friend int Compare(const Value& x, const Value& y);
  friend bool operator<(const Value& x, const Value& y) { return Compare(x, y) < 0; }

  template <typename H>
  friend H AbslHashValue(H h, const Value& v) {
    return H::combine(std::move(h), v.payload(), v.tail());
  }
  // Fast in-process hash (uses interned ids).
  uint64_t FastHash() const {
    uint64_t h = payload() * 0x9e3779b97f4a7c15ull ^ (0x632be59bd9b4e019ull + tail());
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
  }

 private:
  static constexpr uint8_t kInterned = 1;  // flags_: lo_ is an interned IPv6 address id
  Value(Type t, uint64_t payload, uint8_t len, uint8_t flags)
      : lo_(static_cast<uint32_t>(payload)), hi_(static_cast<uint32_t>(payload >> 32)), len_(len), type_(t),
        flags_(flags) {}
  uint64_t payload() const { return uint64_t{hi_} << 32 | lo_; }
  // len_, type_ and flags_ as one word (the padding byte is never read).
  uint32_t tail() const {
    return uint32_t{len_} | uint32_t{static_cast<uint8_t>(type_)} << 8 | uint32_t{flags_} << 16;
  }
  static uint64_t InternIp6(const Ip& ip);
  static Ip Ip6At(uint32_t id);

  // 8 bytes of payload as two 32-bit halves, so a Value is 12 bytes aligned to 4: int (64-bit),
  // bool, string id, MAC, IPv4 address (lo_), or interned IPv6 address id (lo_).
  uint32_t lo_ = 0;
  uint32_t hi_ = 0;
  uint8_t len_ = 0;  // prefix length (0..128, IPv4 /n = 96+n)
  Type type_ = Type::kInt;
  uint8_t flags_ = 0;
};
static_assert(sizeof(Value) == 12);

using Row = std::vector<Value>;

// The process-wide string pool (interned strings are never freed).
struct StringPoolStats {
  size_t strings = 0;  // distinct strings
  size_t bytes = 0;    // text, string objects, chunks and the lookup map (estimate; not the fixed
                       // 8 MiB chunk table, whose untouched pages cost nothing)
};
StringPoolStats GetStringPoolStats();

// Lexicographic comparison of rows (by Compare on each column).
bool RowLess(const Row& a, const Row& b);
std::string RowToString(const Row& row);

}  // namespace rampart::nlog

#endif  // RAMPART_NLOG_VALUE_H_
