// nlog values: a compact tagged variant (24 bytes) for the column types of nlog tables.
//
// Strings are interned process-wide (ids are stable for the life of the process, never freed);
// equality and hashing of values compare ids, ordering and the `hash` builtin use the text, so
// results are deterministic across runs.
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
  static Value FromIp(const Ip& ip) { return Value(Type::kIp, ip.hi, ip.lo, 0); }
  static Value FromPrefix(const Prefix& p) { return Value(Type::kPrefix, p.addr.hi, p.addr.lo, p.len); }
  static Value Mac(uint64_t mac48) { return Value(Type::kMac, mac48 & 0xffffffffffffull, 0, 0); }
  // Parses text in the given type's literal syntax ("198.18.0.1", "198.18.0.0/15",
  // "02:00:00:00:00:01", "17", "true"); strings are taken verbatim.
  static std::optional<Value> Parse(Type t, std::string_view text);

  Type type() const { return type_; }
  int64_t AsInt() const { return static_cast<int64_t>(a_); }
  bool AsBool() const { return a_ != 0; }
  std::string_view AsString() const;  // REQUIRES: type() == kString
  uint64_t StringId() const { return a_; }
  Ip AsIp() const { return Ip{a_, b_}; }
  Prefix AsPrefix() const { return Prefix{Ip{a_, b_}, len_}; }
  uint64_t AsMac() const { return a_; }

  // Text form: strings unquoted, ip/prefix/mac in their usual notation.
  std::string ToString() const;
  // nlog literal form: strings quoted and escaped, others as ToString().
  std::string ToLiteral() const;
  // Stable 64-bit hash of the value's content (not of interned ids), for the `hash` builtin.
  uint64_t StableHash(uint64_t seed) const;

  friend bool operator==(const Value& x, const Value& y) {
    return x.a_ == y.a_ && x.b_ == y.b_ && x.len_ == y.len_ && x.type_ == y.type_;
  }
  friend bool operator!=(const Value& x, const Value& y) { return !(x == y); }
  // Total order: by type, then by content (strings by text, ints signed, addresses numerically).
  friend int Compare(const Value& x, const Value& y);
  friend bool operator<(const Value& x, const Value& y) { return Compare(x, y) < 0; }

  template <typename H>
  friend H AbslHashValue(H h, const Value& v) {
    return H::combine(std::move(h), v.a_, v.b_, v.len_, static_cast<uint8_t>(v.type_));
  }
  // Fast in-process hash (uses interned ids).
  uint64_t FastHash() const {
    uint64_t h = a_ * 0x9e3779b97f4a7c15ull ^ (b_ + 0x632be59bd9b4e019ull + (uint64_t{len_} << 8) +
                                               static_cast<uint64_t>(type_));
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
  }

 private:
  Value(Type t, uint64_t a, uint64_t b, uint8_t len) : a_(a), b_(b), len_(len), type_(t) {}
  uint64_t a_ = 0;
  uint64_t b_ = 0;
  uint8_t len_ = 0;
  Type type_ = Type::kInt;
};
static_assert(sizeof(Value) == 24);

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
