#include "nlog/value.h"

#include <cstdio>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"

namespace rampart::nlog {
namespace {

// Process-wide string interner. The text lives in 64 KiB blocks (a long string in its own
// block) and each id's string_view in fixed-size chunks; neither ever moves, so Get() needs no
// lock: an id is only known to a thread after Intern() published its string. The lookup set
// holds only ids (5 bytes a slot) and hashes the text through them.
class Interner {
 public:
  uint64_t Intern(std::string_view s) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = ids_.find(s);
    if (it != ids_.end()) return *it;
    const uint32_t id = next_;
    if (id == kMaxIds) std::abort();  // 2^32 - 1 distinct strings
    std::string_view* chunk = chunks_[id >> kChunkBits].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
      chunk = new std::string_view[size_t{1} << kChunkBits];
      chunks_[id >> kChunkBits].store(chunk, std::memory_order_release);
      ++num_chunks_;
    }
    chunk[id & kChunkMask] = Store(s);
    ++next_;
    ids_.insert(id);
    return id;
  }
  StringPoolStats Stats() {
    std::lock_guard<std::mutex> l(mu_);
    StringPoolStats st;
    st.strings = next_;
    st.bytes = ids_.capacity() * (sizeof(uint32_t) + 1) + num_chunks_ * (sizeof(std::string_view) << kChunkBits) +
               text_bytes_;
    return st;
  }
  std::string_view Get(uint64_t id) const {
    return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & kChunkMask];
  }

 private:
  static constexpr int kChunkBits = 12;
  static constexpr uint64_t kChunkMask = (uint64_t{1} << kChunkBits) - 1;
  static constexpr size_t kMaxChunks = size_t{1} << 20;
  static constexpr uint32_t kMaxIds = 0xffffffffu;
  static constexpr size_t kBlockSize = 64 * 1024;

  struct Hash {
    using is_transparent = void;
    const Interner* in;
    size_t operator()(std::string_view s) const { return absl::Hash<std::string_view>()(s); }
    size_t operator()(uint32_t id) const { return (*this)(in->Get(id)); }
  };
  struct Eq {
    using is_transparent = void;
    const Interner* in;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, std::string_view b) const { return in->Get(a) == b; }
    bool operator()(std::string_view a, uint32_t b) const { return a == in->Get(b); }
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };

  // Copies the text into a block (never moved nor freed). REQUIRES: mu_ held.
  std::string_view Store(std::string_view s) {
    if (s.empty()) return std::string_view();
    char* p;
    if (s.size() > kBlockSize / 4) {
      p = new char[s.size()];
      text_bytes_ += s.size();
    } else {
      if (block_left_ < s.size()) {
        block_ = new char[kBlockSize];
        block_left_ = kBlockSize;
        text_bytes_ += kBlockSize;
      }
      p = block_;
      block_ += s.size();
      block_left_ -= s.size();
    }
    std::memcpy(p, s.data(), s.size());
    return std::string_view(p, s.size());
  }

  std::mutex mu_;
  uint32_t next_ = 0;
  size_t num_chunks_ = 0, text_bytes_ = 0, block_left_ = 0;
  char* block_ = nullptr;
  std::atomic<std::string_view*> chunks_[kMaxChunks] = {};
  absl::flat_hash_set<uint32_t, Hash, Eq> ids_{0, Hash{this}, Eq{this}};
};

// Process-wide pool of the IPv6 addresses held by values (IPv4-mapped ones are inline), the
// same way: fixed chunks that never move, lock-free Get.
class Ip6Pool {
 public:
  uint32_t Intern(const Ip& ip) {
    std::lock_guard<std::mutex> l(mu_);
    auto [it, fresh] = ids_.try_emplace(std::make_pair(ip.hi, ip.lo), next_);
    if (!fresh) return it->second;
    uint32_t id = next_++;
    if (id >= (uint64_t{kMaxChunks} << kChunkBits)) std::abort();  // 2^28 distinct addresses
    Ip* chunk = chunks_[id >> kChunkBits].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
      chunk = new Ip[size_t{1} << kChunkBits];
      chunks_[id >> kChunkBits].store(chunk, std::memory_order_release);
    }
    chunk[id & kChunkMask] = ip;
    return id;
  }
  Ip Get(uint32_t id) const { return chunks_[id >> kChunkBits].load(std::memory_order_acquire)[id & kChunkMask]; }

 private:
  static constexpr int kChunkBits = 12;
  static constexpr uint32_t kChunkMask = (uint32_t{1} << kChunkBits) - 1;
  static constexpr size_t kMaxChunks = size_t{1} << 16;
  std::mutex mu_;
  uint32_t next_ = 0;
  std::atomic<Ip*> chunks_[kMaxChunks] = {};
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, uint32_t> ids_;
};

Ip6Pool& GlobalIp6Pool() {
  static Ip6Pool* pool = new Ip6Pool();
  return *pool;
}

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

std::string_view Value::AsString() const { return GlobalInterner().Get(payload()); }

uint64_t Value::InternIp6(const Ip& ip) { return GlobalIp6Pool().Intern(ip); }

Ip Value::Ip6At(uint32_t id) { return GlobalIp6Pool().Get(id); }

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
    case Type::kBool: return AsBool() ? "true" : "false";
    case Type::kIp: return AsIp().ToString();
    case Type::kPrefix: return AsPrefix().ToString();
    case Type::kMac: {
      const uint64_t m = AsMac();
      char buf[18];
      std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", unsigned(m >> 40 & 0xff),
                    unsigned(m >> 32 & 0xff), unsigned(m >> 24 & 0xff), unsigned(m >> 16 & 0xff),
                    unsigned(m >> 8 & 0xff), unsigned(m & 0xff));
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
  // The content as the earlier 24-byte layout held it (a, b, len): `hash()` results are part of
  // programs' outputs and must not change with the encoding.
  uint64_t h = Mix(seed ^ 0xcbf29ce484222325ull, static_cast<uint64_t>(type_));
  if (type_ == Type::kString) {
    for (unsigned char c : AsString()) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
    h = Mix(h, AsString().size());
  } else {
    uint64_t a = payload(), b = 0;
    if (type_ == Type::kIp || type_ == Type::kPrefix) {
      const Ip ip = AsIp();
      a = ip.hi;
      b = ip.lo;
    }
    h = Mix(Mix(Mix(h, a), b), len_);
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
      if (x.payload() == y.payload()) return 0;
      int c = x.AsString().compare(y.AsString());
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    case Type::kIp:
    case Type::kPrefix: {
      // By the 128-bit address, then the length (inline IPv4-mapped addresses compare as such).
      if ((x.flags_ | y.flags_) == 0) {
        if (x.lo_ != y.lo_) return x.lo_ < y.lo_ ? -1 : 1;
      } else if (x.flags_ != y.flags_ || x.lo_ != y.lo_) {
        const Ip a = x.AsIp(), b = y.AsIp();
        if (a != b) return a < b ? -1 : 1;
      }
      if (x.len_ != y.len_) return x.len_ < y.len_ ? -1 : 1;
      return 0;
    }
    default: {
      const uint64_t a = x.payload(), b = y.payload();
      return a < b ? -1 : a > b ? 1 : 0;
    }
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
