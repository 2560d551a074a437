#include "nlog/value.h"

#include <cstdio>
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"

namespace rampart::nlog {
namespace {

// Process-wide string interner. Strings live in fixed-size chunks that never move, so Get()
// needs no lock: an id is only known to a thread after Intern() published its string.
class Interner {
 public:
  uint64_t Intern(std::string_view s) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = ids_.find(s);
    if (it != ids_.end()) return it->second;
    uint64_t id = next_++;
    if (id >= (uint64_t{kMaxChunks} << kChunkBits)) std::abort();  // 2^32 distinct strings
    std::string* chunk = chunks_[id >> kChunkBits].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
      chunk = new std::string[size_t{1} << kChunkBits];
      chunks_[id >> kChunkBits].store(chunk, std::memory_order_release);
    }
    chunk[id & kChunkMask] = std::string(s);
    ids_.emplace(std::string_view(chunk[id & kChunkMask]), id);
    return id;
  }
  StringPoolStats Stats() {
    std::lock_guard<std::mutex> l(mu_);
    StringPoolStats st;
    st.strings = next_;
    st.bytes = ids_.capacity() * (sizeof(std::pair<const std::string_view, uint64_t>) + 1);
    const size_t chunks = (next_ + (size_t{1} << kChunkBits) - 1) >> kChunkBits;
    st.bytes += chunks * (sizeof(std::string) << kChunkBits);
    for (uint64_t id = 0; id < next_; ++id) {
      const std::string& str = chunks_[id >> kChunkBits].load(std::memory_order_relaxed)[id & kChunkMask];
      if (str.capacity() > 15) st.bytes += str.capacity() + 1;  // beyond the SSO buffer
    }
    return st;
  }
  std::string_view Get(uint64_t id) const {
    return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & kChunkMask];
  }

 private:
  static constexpr int kChunkBits = 12;
  static constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;
  static constexpr size_t kMaxChunks = size_t{1} << 20;
  std::mutex mu_;
  uint64_t next_ = 0;
  std::atomic<std::string*> chunks_[kMaxChunks] = {};
  absl::flat_hash_map<std::string_view, uint64_t> ids_;
};

Interner& GlobalInterner() {
  static Interner* interner = new Interner();
  return *interner;
}

uint64_t Mix(uint64_t h, uint64_t v) {
  // FNV-1a over the 8 bytes of v, then a final avalanche in StableHash.
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::optional<uint64_t> ParseMac(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    int byte = 0;
    for (int j = 0; j < 2; ++j) {
      char c = s[i * 3 + j];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return std::nullopt;
      byte = byte * 16 + d;
    }
    v = (v << 8) | static_cast<uint64_t>(byte);
  }
  return v;
}

}  // namespace

StringPoolStats GetStringPoolStats() { return GlobalInterner().Stats(); }

const char* TypeName(Type t) {
  switch (t) {
    case Type::kInt: return "int";
    case Type::kString: return "string";
    case Type::kBool: return "bool";
    case Type::kIp: return "ip";
    case Type::kPrefix: return "prefix";
    case Type::kMac: return "mac";
  }
  return "?";
}

std::optional<Type> ParseTypeName(std::string_view name) {
  for (Type t : {Type::kInt, Type::kString, Type::kBool, Type::kIp, Type::kPrefix, Type::kMac}) {
    if (name == TypeName(t)) return t;
  }
  return std::nullopt;
}

Value Value::String(std::string_view s) { return Value(Type::kString, GlobalInterner().Intern(s), 0, 0); }

std::string_view Value::AsString() const { return GlobalInterner().Get(a_); }

std::optional<Value> Value::Parse(Type t, std::string_view text) {
  switch (t) {
    case Type::kInt: {
      int64_t v;
      if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &v)) return std::nullopt;
      return Int(v);
    }
    case Type::kString: return String(text);
    case Type::kBool:
      if (text == "true") return Bool(true);
      if (text == "false") return Bool(false);
      return std::nullopt;
    case Type::kIp: {
      auto ip = Ip::Parse(text);
      if (!ip) return std::nullopt;
      return FromIp(*ip);
    }
    case Type::kPrefix: {
      auto p = Prefix::Parse(text);
      if (!p) return std::nullopt;
      return FromPrefix(*p);
    }
    case Type::kMac: {
      auto m = ParseMac(text);
      if (!m) return std::nullopt;
      return Mac(*m);
    }
  }
  return std::nullopt;
}

std::string Value::ToString() const {
  switch (type_) {
    case Type::kInt: return std::to_string(AsInt());
    case Type::kString: return std::string(AsString());
    case Type::kBool: return a_ ? "true" : "false";
    case Type::kIp: return AsIp().ToString();
    case Type::kPrefix: return AsPrefix().ToString();
    case Type::kMac: {
      char buf[18];
      std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", unsigned(a_ >> 40 & 0xff),
                    unsigned(a_ >> 32 & 0xff), unsigned(a_ >> 24 & 0xff), unsigned(a_ >> 16 & 0xff),
                    unsigned(a_ >> 8 & 0xff), unsigned(a_ & 0xff));
      return buf;
    }
  }
  return "?";
}

std::string Value::ToLiteral() const {
  if (type_ == Type::kInt || type_ == Type::kBool) return ToString();
  std::string out = "\"";
  for (char c : ToString()) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

uint64_t Value::StableHash(uint64_t seed) const {
  uint64_t h = Mix(seed ^ 0xcbf29ce484222325ull, static_cast<uint64_t>(type_));
  if (type_ == Type::kString) {
    for (unsigned char c : AsString()) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h = Mix(h, AsString().size());
  } else {
    h = Mix(Mix(Mix(h, a_), b_), len_);
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

int Compare(const Value& x, const Value& y) {
  if (x.type_ != y.type_) return x.type_ < y.type_ ? -1 : 1;
  switch (x.type_) {
    case Type::kInt: {
      int64_t a = x.AsInt(), b = y.AsInt();
      return a < b ? -1 : a > b ? 1 : 0;
    }
    case Type::kString: {
      if (x.a_ == y.a_) return 0;
      int c = x.AsString().compare(y.AsString());
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    default:
      if (x.a_ != y.a_) return x.a_ < y.a_ ? -1 : 1;
      if (x.b_ != y.b_) return x.b_ < y.b_ ? -1 : 1;
      if (x.len_ != y.len_) return x.len_ < y.len_ ? -1 : 1;
      return 0;
  }
}

bool RowLess(const Row& a, const Row& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    int c = Compare(a[i], b[i]);
    if (c != 0) return c < 0;
  }
  return a.size() < b.size();
}

std::string RowToString(const Row& row) {
  std::string out = "(";
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) out += ", ";
    out += row[i].ToLiteral();
  }
  return out + ")";
}

}  // namespace rampart::nlog
