#include "classifier/classbench.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rampart {

namespace {

// A cursor over one line. Every Parse* returns false (and sets err_) without reading past end_.
class LineCursor {
 public:
  explicit LineCursor(std::string_view line) : s_(line) {}

  bool AtEnd() const { return pos_ >= s_.size(); }
  const std::string& error() const { return err_; }

  void SkipBlanks() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  // At least one blank (field separator).
  bool Sep(const char* what) {
    if (pos_ >= s_.size() || (s_[pos_] != ' ' && s_[pos_] != '\t')) return Fail(absl::StrCat("expected a tab before ", what));
    SkipBlanks();
    return true;
  }
  bool Char(char c, const char* what) {
    if (pos_ >= s_.size() || s_[pos_] != c) {
      return Fail(absl::StrCat("expected '", std::string(1, c), "' in ", what));
    }
    ++pos_;
    return true;
  }
  // Decimal unsigned, at most `max`.
  bool Dec(uint64_t max, const char* what, uint64_t* out) {
    size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      v = v * 10 + static_cast<uint64_t>(s_[pos_] - '0');
      if (v > max) return Fail(absl::StrCat(what, " is larger than ", max));
      ++pos_;
    }
    if (pos_ == start) return Fail(absl::StrCat("expected a decimal number for ", what));
    *out = v;
    return true;
  }
  // "0x" then 1..max_digits hex digits.
  bool Hex(int max_digits, const char* what, uint64_t* out) {
    if (pos_ + 1 >= s_.size() || s_[pos_] != '0' || (s_[pos_ + 1] != 'x' && s_[pos_ + 1] != 'X')) {
      return Fail(absl::StrCat("expected 0x... for ", what));
    }
    pos_ += 2;
    size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < s_.size() && std::isxdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (static_cast<int>(pos_ - start) >= max_digits) {
        return Fail(absl::StrCat(what, " has more than ", max_digits, " hex digits"));
      }
      char c = s_[pos_];
      int d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
      v = v * 16 + static_cast<uint64_t>(d);
      ++pos_;
    }
    if (pos_ == start) return Fail(absl::StrCat("expected hex digits for ", what));
    *out = v;
    return true;
  }
  // A 0-based rule index, or -1 (no match) which becomes kNoMatch.
  bool RuleIndex(const char* what, uint32_t* out) {
    uint64_t v;
    if (pos_ < s_.size() && s_[pos_] == '-') {
      ++pos_;
      if (!Dec(1, what, &v) || v != 1) return Fail(absl::StrCat(what, ": the only negative value is -1"));
      *out = kNoMatch;
      return true;
    }
    if (!Dec(0xfffffffeu, what, &v)) return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }
  bool Ipv4Prefix(const char* what, Prefix* out) {
    uint32_t addr = 0;
    for (int i = 0; i < 4; ++i) {
      uint64_t octet;
      if (i > 0 && !Char('.', what)) return false;
      if (!Dec(255, what, &octet)) return false;
      addr = (addr << 8) | static_cast<uint32_t>(octet);
    }
    uint64_t len;
    if (!Char('/', what) || !Dec(32, absl::StrCat(what, " length").c_str(), &len)) return false;
    uint32_t host_mask = len == 0 ? ~0u : (len == 32 ? 0u : (~0u >> len));
    if (addr & host_mask) {
      return Fail(absl::StrCat(what, " has bits set below its length /", len));
    }
    *out = Prefix::V4(addr, static_cast<int>(len));
    return true;
  }
  bool PortRangeField(const char* what, PortRange* out) {
    uint64_t lo, hi;
    if (!Dec(65535, what, &lo)) return false;
    SkipBlanks();
    if (!Char(':', what)) return false;
    SkipBlanks();
    if (!Dec(65535, what, &hi)) return false;
    if (lo > hi) return Fail(absl::StrCat(what, " range ", lo, " : ", hi, " is reversed"));
    *out = PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
    return true;
  }
  bool Fail(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
    return false;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  std::string err_;
};

// Calls fn(line, line_number) for each non-blank line; stops at the first error.
template <typename Fn>
absl::Status ForEachLine(std::string_view text, std::string_view name, Fn fn) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    bool blank = true;
    for (char c : line) {
      if (c != ' ' && c != '\t' && c != '\r') blank = false;
    }
    if (blank) continue;
    std::string err = fn(line);
    if (!err.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(name), ":", line_no, ": ", err));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

}  // namespace

absl::StatusOr<std::vector<ClassRule>> ParseClassBenchRules(std::string_view text,
                                                            std::string_view name) {
  std::vector<ClassRule> rules;
  absl::Status st = ForEachLine(text, name, [&](std::string_view line) -> std::string {
    LineCursor c(line);
    c.SkipBlanks();
    ClassRule r;
    r.priority = r.id = r.value = static_cast<uint32_t>(rules.size());
    r.match.family = 4;
    uint64_t proto, proto_mask, flags, flags_mask;
    bool ok = c.Char('@', "source address") && c.Ipv4Prefix("source address", &r.match.src) &&
              c.Sep("destination address") &&
              c.Ipv4Prefix("destination address", &r.match.dst) && c.Sep("source port") &&
              c.PortRangeField("source port", &r.match.sport) && c.Sep("destination port") &&
              c.PortRangeField("destination port", &r.match.dport) && c.Sep("protocol") &&
              c.Hex(2, "protocol", &proto) && c.Char('/', "protocol") &&
              c.Hex(2, "protocol mask", &proto_mask) && c.Sep("flags") &&
              c.Hex(4, "flags", &flags) && c.Char('/', "flags") && c.Hex(4, "flags mask", &flags_mask);
    if (!ok) return c.error();
    c.SkipBlanks();
    if (!c.AtEnd()) return "unexpected text after the flags field";
    if (rules.size() >= 0xfffffffeu) return "too many rules";
    r.match.proto = static_cast<uint8_t>(proto);
    r.match.proto_mask = static_cast<uint8_t>(proto_mask);
    rules.push_back(r);
    return "";
  });
  if (!st.ok()) return st;
  return rules;
}

absl::StatusOr<std::vector<ClassBenchHeader>> ParseClassBenchTrace(std::string_view text,
                                                                   std::string_view name) {
  std::vector<ClassBenchHeader> out;
  absl::Status st = ForEachLine(text, name, [&](std::string_view line) -> std::string {
    LineCursor c(line);
    c.SkipBlanks();
    uint64_t sa, da, sp, dp, proto, flags, gen = 0;
    bool ok = c.Dec(0xffffffffu, "source address", &sa) && c.Sep("destination address") &&
              c.Dec(0xffffffffu, "destination address", &da) && c.Sep("source port") &&
              c.Dec(65535, "source port", &sp) && c.Sep("destination port") &&
              c.Dec(65535, "destination port", &dp) && c.Sep("protocol") &&
              c.Dec(255, "protocol", &proto) && c.Sep("flags") &&
              c.Dec(0xffffffffu, "flags", &flags);
    if (!ok) return c.error();
    c.SkipBlanks();
    if (!c.AtEnd() && !c.Dec(0xffffffffu, "generating rule", &gen)) return c.error();
    c.SkipBlanks();
    if (!c.AtEnd()) return "unexpected text after the generating-rule column";
    ClassBenchHeader h;
    h.key.src = Ip::V4(static_cast<uint32_t>(sa));
    h.key.dst = Ip::V4(static_cast<uint32_t>(da));
    h.key.sport = static_cast<uint16_t>(sp);
    h.key.dport = static_cast<uint16_t>(dp);
    h.key.proto = static_cast<uint8_t>(proto);
    h.key.family = 4;
    h.key.direction = 0;
    h.flags = static_cast<uint32_t>(flags);
    h.gen_rule = static_cast<uint32_t>(gen);
    out.push_back(h);
    return "";
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<uint32_t>> ParseClassBenchExpected(std::string_view text,
                                                              std::string_view name) {
  std::vector<uint32_t> out;
  absl::Status st = ForEachLine(text, name, [&](std::string_view line) -> std::string {
    LineCursor c(line);
    c.SkipBlanks();
    uint32_t first, with_flags;
    if (!c.RuleIndex("first match", &first)) return c.error();
    c.SkipBlanks();
    // Column 2 (first match with flags) is optional and unused; when present it must be an index.
    if (!c.AtEnd() && !c.RuleIndex("first match with flags", &with_flags)) return c.error();
    c.SkipBlanks();
    if (!c.AtEnd()) return "unexpected text after the second column";
    out.push_back(first);
    return "";
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<ClassRule>> ReadClassBenchRules(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseClassBenchRules(*text, path);
}

absl::StatusOr<std::vector<ClassBenchHeader>> ReadClassBenchTrace(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseClassBenchTrace(*text, path);
}

absl::StatusOr<std::vector<uint32_t>> ReadClassBenchExpected(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseClassBenchExpected(*text, path);
}

std::string FormatClassBenchRule(const ClassRule& rule) {
  const RuleMatch& m = rule.match;
  auto v4 = [](const Prefix& p) {
    uint32_t a = p.len == 0 ? 0 : p.addr.V4Addr();
    int len = p.len == 0 ? 0 : p.len - 96;
    return absl::StrFormat("%u.%u.%u.%u/%d", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
  };
  return absl::StrFormat("@%s\t%s\t%u : %u\t%u : %u\t0x%02x/0x%02X\t0x0000/0x0000\t\n", v4(m.src),
                         v4(m.dst), m.sport.lo, m.sport.hi, m.dport.lo, m.dport.hi, m.proto,
                         m.proto_mask);
}

}  // namespace rampart
