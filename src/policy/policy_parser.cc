#include "policy/policy_parser.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "packet/packet.h"
#include "policy/validate.h"
#include "yaml-cpp/anchor.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace rampart {
namespace {

constexpr const char* kKind = "FirewallPolicy";

// Raised inside the parser and turned into a Status at its boundary (the parser is control-plane
// code and yaml-cpp reports syntax errors by exception anyway).
struct Fail {
  std::string field;
  std::string reason;
  YAML::Mark mark;
};

bool HasMark(const YAML::Mark& m) { return m.line >= 0 && m.column >= 0; }

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return absl::StrCat("'", n.Scalar(), "'");
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an undefined value";
  }
}

// Field names accept '-' for '_' (default-log == default_log).
std::string NormalizeKey(std::string k) {
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

class Parser {
 public:
  Policy Parse(const YAML::Node& root) {
    if (root.IsNull()) throw Fail{"", "document is empty", root.Mark()};
    if (!root.IsMap()) throw Fail{"", absl::StrCat("expected a map of policy fields, got ", TypeName(root)), root.Mark()};
    Policy p;
    Record("", root);
    auto fields = Fields(root, "", {"kind", "name", "default", "default_log", "address_groups", "rules"});
    if (auto it = fields.find("kind"); it != fields.end()) {
      std::string k = Scalar(it->second, "kind");
      if (k != kKind) throw Fail{"kind", absl::StrCat("kind is '", k, "', expected '", kKind, "'"), it->second.Mark()};
    }
    if (auto it = fields.find("name"); it != fields.end()) p.name = Scalar(it->second, "name");
    if (auto it = fields.find("default"); it != fields.end()) {
      p.default_action = ParseAction(it->second, "default");
      if (p.default_action == Action::kRedirect) {
        throw Fail{"default", "the default action must be allow, drop or reject", it->second.Mark()};
      }
    }
    if (auto it = fields.find("default_log"); it != fields.end()) p.default_log = Bool(it->second, "default_log");
    if (auto it = fields.find("address_groups"); it != fields.end()) {
      const YAML::Node& gs = Seq(it->second, "address_groups");
      for (size_t i = 0; i < gs.size(); ++i) p.groups.push_back(ParseGroup(gs[i], absl::StrCat("address_groups[", i, "]")));
    }
    if (auto it = fields.find("rules"); it != fields.end()) {
      const YAML::Node& rs = Seq(it->second, "rules");
      for (size_t i = 0; i < rs.size(); ++i) p.rules.push_back(ParseRule(rs[i], i));
    }
    if (auto issue = CheckPolicy(p)) throw Fail{issue->field, issue->reason, MarkFor(issue->field)};
    return p;
  }

 private:
  void Record(const std::string& field, const YAML::Node& n) {
    if (HasMark(n.Mark())) marks_[field] = n.Mark();
  }

  // The mark of the longest recorded path that is `field` or a prefix of it at a '.'/'[' boundary.
  YAML::Mark MarkFor(std::string field) const {
    while (true) {
      if (auto it = marks_.find(field); it != marks_.end()) return it->second;
      if (field.empty()) return YAML::Mark::null_mark();
      size_t cut = field.find_last_of(".[");
      field = cut == std::string::npos ? "" : field.substr(0, cut);
    }
  }

  // The map's entries by normalized key; unknown and repeated keys are errors.
  std::map<std::string, YAML::Node> Fields(const YAML::Node& map, const std::string& where,
                                           std::initializer_list<const char*> known) {
    std::map<std::string, YAML::Node> out;
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator's key/value are proxies that die with the iterator's temporaries.
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      if (!k.IsScalar()) throw Fail{where, absl::StrCat("field names must be text, got ", TypeName(k)), k.Mark()};
      std::string key = NormalizeKey(k.Scalar());
      std::string path = where.empty() ? key : absl::StrCat(where, ".", key);
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string best;
        size_t best_d = 3;
        for (const char* c : known) {
          size_t d = EditDistance(key, c);
          if (d < best_d) best_d = d, best = std::string(c);
        }
        std::string reason = absl::StrCat("unknown field '", k.Scalar(), "'");
        if (!best.empty()) absl::StrAppend(&reason, " (did you mean '", best, "'?)");
        else {
          std::string list;
          for (const char* c : known) absl::StrAppend(&list, list.empty() ? "" : ", ", c);
          absl::StrAppend(&reason, " (known fields: ", list, ")");
        }
        throw Fail{path, reason, k.Mark()};
      }
      if (out.count(key)) throw Fail{path, absl::StrCat("field '", k.Scalar(), "' given twice"), k.Mark()};
      if (v.IsNull()) throw Fail{path, "has no value (omit the field to use its default)", k.Mark()};
      Record(path, v);
      out.emplace(key, v);
    }
    return out;
  }

  std::string Scalar(const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar()) throw Fail{field, absl::StrCat("expected a single value, got ", TypeName(n)), n.Mark()};
    return n.Scalar();
  }

  const YAML::Node& Seq(const YAML::Node& n, const std::string& field) {
    if (!n.IsSequence()) throw Fail{field, absl::StrCat("expected a list, got ", TypeName(n)), n.Mark()};
    return n;
  }

  // A list, or a single value standing for a one-element list.
  std::vector<YAML::Node> Items(const YAML::Node& n, const std::string& field) {
    std::vector<YAML::Node> out;
    if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) out.push_back(n[i]);
      if (out.empty()) throw Fail{field, "the list is empty (omit the field to match any)", n.Mark()};
    } else {
      out.push_back(n);
    }
    return out;
  }

  std::string ItemPath(const YAML::Node& n, const std::string& field, size_t i) {
    return n.IsSequence() ? absl::StrCat(field, "[", i, "]") : field;
  }

  int64_t Integer(const YAML::Node& n, const std::string& field, int64_t lo, int64_t hi) {
    std::string s = Scalar(n, field);
    std::string_view v = s;
    bool neg = !v.empty() && v[0] == '-';
    if (neg) v.remove_prefix(1);
    if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      throw Fail{field, absl::StrCat("expected a whole number, got '", s, "'"), n.Mark()};
    }
    int64_t x = 0;
    for (char c : v) x = x * 10 + (c - '0');
    if (neg) x = -x;
    if (x < lo || x > hi) throw Fail{field, absl::StrCat(s, " is out of range ", lo, "..", hi), n.Mark()};
    return x;
  }

  bool Bool(const YAML::Node& n, const std::string& field) {
    std::string s = absl::AsciiStrToLower(Scalar(n, field));
    if (s == "true") return true;
    if (s == "false") return false;
    throw Fail{field, absl::StrCat("expected true or false, got '", n.Scalar(), "'"), n.Mark()};
  }

  Action ParseAction(const YAML::Node& n, const std::string& field) {
    std::string s = absl::AsciiStrToLower(Scalar(n, field));
    if (s == "allow") return Action::kAllow;
    if (s == "drop") return Action::kDrop;
    if (s == "reject") return Action::kReject;
    if (s == "redirect") return Action::kRedirect;
    throw Fail{field, absl::StrCat("unknown action '", n.Scalar(), "' (allow, drop, reject or redirect)"), n.Mark()};
  }

  Prefix ParsePrefix(const YAML::Node& n, const std::string& field) {
    std::string s = Scalar(n, field);
    auto p = Prefix::Parse(s);
    if (!p) {
      std::string why = "is not an address or prefix (e.g. 198.18.1.0/24, 2001:db8::/64)";
      size_t slash = s.find('/');
      if (slash != std::string::npos) {
        if (auto ip = Ip::Parse(s.substr(0, slash))) {
          std::string_view len = std::string_view(s).substr(slash + 1);
          int max = ip->IsV4() ? 32 : 128;
          bool digits = !len.empty() && len.size() <= 3 &&
                        std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; });
          if (!digits || std::stoi(std::string(len)) > max) {
            why = absl::StrCat("has an invalid prefix length (0..", max, ")");
          } else {
            why = absl::StrCat("has bits set below its length (did you mean ",
                               Prefix::Make(*ip, (ip->IsV4() ? 96 : 0) + std::stoi(std::string(len))).ToString(), "?)");
          }
        }
      }
      throw Fail{field, absl::StrCat("'", s, "' ", why), n.Mark()};
    }
    return *p;
  }

  AddressGroup ParseGroup(const YAML::Node& n, const std::string& field) {
    if (!n.IsMap()) throw Fail{field, absl::StrCat("expected an address group (a map with name and prefixes), got ", TypeName(n)), n.Mark()};
    Record(field, n);
    auto f = Fields(n, field, {"name", "prefixes"});
    AddressGroup g;
    auto name = f.find("name");
    if (name == f.end()) throw Fail{field, "address group has no name", n.Mark()};
    g.name = Scalar(name->second, field + ".name");
    if (auto it = f.find("prefixes"); it != f.end()) {
      std::string pf = field + ".prefixes";
      const YAML::Node& ps = Seq(it->second, pf);
      for (size_t i = 0; i < ps.size(); ++i) {
        std::string ef = absl::StrCat(pf, "[", i, "]");
        Record(ef, ps[i]);
        g.prefixes.push_back(ParsePrefix(ps[i], ef));
      }
    }
    return g;
  }

  AddressSpec ParseSide(const YAML::Node& n, const std::string& field) {
    AddressSpec spec;
    if (n.IsScalar() && absl::AsciiStrToLower(n.Scalar()) == "any") return spec;
    auto items = Items(n, field);
    for (size_t i = 0; i < items.size(); ++i) {
      std::string ef = ItemPath(n, field, i);
      const YAML::Node& e = items[i];
      Record(ef, e);
      if (e.IsMap()) {
        auto f = Fields(e, ef, {"group"});
        auto g = f.find("group");
        if (g == f.end()) throw Fail{ef, "expected {group: NAME}", e.Mark()};
        spec.groups.push_back(Scalar(g->second, ef + ".group"));
      } else if (e.IsScalar() && absl::AsciiStrToLower(e.Scalar()) == "any") {
        throw Fail{ef, "'any' cannot be combined with other entries (omit the field to match any address)", e.Mark()};
      } else {
        spec.prefixes.push_back(ParsePrefix(e, ef));
      }
    }
    return spec;
  }

  std::vector<PortRange> ParsePorts(const YAML::Node& n, const std::string& field) {
    std::vector<PortRange> out;
    auto items = Items(n, field);
    for (size_t i = 0; i < items.size(); ++i) {
      std::string ef = ItemPath(n, field, i);
      const YAML::Node& e = items[i];
      Record(ef, e);
      std::string s = Scalar(e, ef);
      size_t dash = s.find('-', 1);
      if (dash == std::string::npos) {
        uint16_t p = static_cast<uint16_t>(Integer(e, ef, 0, 65535));
        out.push_back(PortRange{p, p});
        continue;
      }
      auto num = [&](std::string t) -> uint16_t {
        t = std::string(absl::StripAsciiWhitespace(t));
        if (t.empty() || t.size() > 5 || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(t) > 65535) {
          throw Fail{ef, absl::StrCat("'", s, "' is not a port (0..65535) or a range like 8000-8080"), e.Mark()};
        }
        return static_cast<uint16_t>(std::stoi(t));
      };
      out.push_back(PortRange{num(s.substr(0, dash)), num(s.substr(dash + 1))});
    }
    return out;
  }

  uint8_t ParseProtocol(const YAML::Node& n, const std::string& field, bool* any) {
    std::string s = absl::AsciiStrToLower(Scalar(n, field));
    *any = false;
    static const std::pair<const char*, uint8_t> kNames[] = {
        {"tcp", kProtoTcp}, {"udp", kProtoUdp}, {"icmp", kProtoIcmp}, {"icmpv6", kProtoIcmpV6},
        {"icmp6", kProtoIcmpV6}, {"ipv6-icmp", kProtoIcmpV6}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"sctp", 132}};
    if (s == "any") {
      *any = true;
      return 0;
    }
    for (const auto& [name, num] : kNames) {
      if (s == name) return num;
    }
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return static_cast<uint8_t>(Integer(n, field, 0, 255));
    }
    throw Fail{field, absl::StrCat("unknown protocol '", n.Scalar(), "' (tcp, udp, icmp, icmpv6, any or a number 0..255)"), n.Mark()};
  }

  Rule ParseRule(const YAML::Node& n, size_t index) {
    std::string field = absl::StrCat("rules[", index, "]");
    if (!n.IsMap()) throw Fail{field, absl::StrCat("expected a rule (a map of rule fields), got ", TypeName(n)), n.Mark()};
    Record(field, n);
    auto f = Fields(n, field,
                    {"id", "name", "priority", "direction", "family", "source", "destination", "protocol",
                     "source_ports", "destination_ports", "icmp_type", "icmp_code", "action", "redirect_to",
                     "log", "stateless"});
    auto get = [&](const char* k) -> const YAML::Node* {
      auto it = f.find(k);
      return it == f.end() ? nullptr : &it->second;
    };
    auto path = [&](const char* k) { return absl::StrCat(field, ".", k); };
    Rule r;
    r.id = static_cast<uint32_t>(index);
    r.priority = static_cast<int32_t>(std::min<size_t>(index, INT32_MAX));
    if (auto* v = get("id")) r.id = static_cast<uint32_t>(Integer(*v, path("id"), 0, 0xfffffffdll));
    if (auto* v = get("name")) r.name = Scalar(*v, path("name"));
    if (auto* v = get("priority")) r.priority = static_cast<int32_t>(Integer(*v, path("priority"), INT32_MIN, INT32_MAX));
    if (auto* v = get("direction")) {
      std::string d = absl::AsciiStrToLower(Scalar(*v, path("direction")));
      if (d == "to-vm" || d == "to_vm") r.direction_mask = 1u << static_cast<int>(Direction::kToVm);
      else if (d == "from-vm" || d == "from_vm") r.direction_mask = 1u << static_cast<int>(Direction::kFromVm);
      else if (d == "any") r.direction_mask = 3;
      else throw Fail{path("direction"), absl::StrCat("unknown direction '", v->Scalar(), "' (to-vm, from-vm or any)"), v->Mark()};
    }
    if (auto* v = get("family")) {
      std::string s = absl::AsciiStrToLower(Scalar(*v, path("family")));
      if (s == "ipv4" || s == "4") r.family = 4;
      else if (s == "ipv6" || s == "6") r.family = 6;
      else if (s == "any") r.family = 0;
      else throw Fail{path("family"), absl::StrCat("unknown family '", v->Scalar(), "' (ipv4, ipv6 or any)"), v->Mark()};
    }
    if (auto* v = get("source")) r.src = ParseSide(*v, path("source"));
    if (auto* v = get("destination")) r.dst = ParseSide(*v, path("destination"));
    if (auto* v = get("protocol")) {
      bool any = false;
      uint8_t p = ParseProtocol(*v, path("protocol"), &any);
      if (!any) r.proto = p;
    }
    if (auto* v = get("source_ports")) r.sports = ParsePorts(*v, path("source_ports"));
    if (auto* v = get("destination_ports")) r.dports = ParsePorts(*v, path("destination_ports"));
    if (auto* v = get("icmp_type")) r.icmp_type = static_cast<uint8_t>(Integer(*v, path("icmp_type"), 0, 255));
    if (auto* v = get("icmp_code")) r.icmp_code = static_cast<uint8_t>(Integer(*v, path("icmp_code"), 0, 255));
    if (auto* v = get("action")) {
      r.action = ParseAction(*v, path("action"));
    } else {
      throw Fail{field, "rule has no action (allow, drop, reject or redirect)", n.Mark()};
    }
    if (auto* v = get("redirect_to")) r.redirect_service = Scalar(*v, path("redirect_to"));
    if (auto* v = get("log")) r.log = Bool(*v, path("log"));
    if (auto* v = get("stateless")) r.stateless = Bool(*v, path("stateless"));
    return r;
  }

  std::map<std::string, YAML::Mark> marks_;
};

// The offset of the first byte that is not part of a well-formed UTF-8 sequence, or npos.
size_t FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n;
  }
  return std::string_view::npos;
}

// Records where the latest document started; ignores everything else.
class DocumentStarts : public YAML::EventHandler {
 public:
  YAML::Mark last = YAML::Mark::null_mark();
  void OnDocumentStart(const YAML::Mark& mark) override { last = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

std::string Format(const std::string& doc, const Fail& f) {
  std::string out = doc;
  if (HasMark(f.mark)) absl::StrAppend(&out, ":", f.mark.line + 1, ":", f.mark.column + 1);
  absl::StrAppend(&out, ": ");
  if (!f.field.empty()) absl::StrAppend(&out, f.field, ": ");
  absl::StrAppend(&out, f.reason);
  return out;
}

void EmitPorts(YAML::Emitter& out, const std::vector<PortRange>& ports) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const PortRange& r : ports) {
    if (r.lo == r.hi) out << r.lo;
    else out << absl::StrCat(r.lo, "-", r.hi);
  }
  out << YAML::EndSeq;
}

void EmitSide(YAML::Emitter& out, const AddressSpec& side) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const Prefix& p : side.prefixes) out << YAML::DoubleQuoted << p.ToString();
  for (const std::string& g : side.groups) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "group" << YAML::Value << YAML::DoubleQuoted << g
        << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

bool SideEquals(const AddressSpec& a, const AddressSpec& b) {
  return a.prefixes == b.prefixes && a.groups == b.groups;
}

}  // namespace

absl::StatusOr<Policy> ParsePolicyYaml(std::string_view text, std::string_view doc_view) {
  const std::string doc_name(doc_view);
  const std::string input(text);
  if (size_t bad = FindInvalidUtf8(input); bad != std::string_view::npos) {
    int line = static_cast<int>(std::count(input.begin(), input.begin() + static_cast<ptrdiff_t>(bad), '\n'));
    size_t line_start = input.rfind('\n', bad == 0 ? 0 : bad - 1);
    int column = static_cast<int>(bad - (line_start == std::string::npos || bad == 0 ? 0 : line_start + 1));
    YAML::Mark mark;
    mark.pos = static_cast<int>(bad);
    mark.line = line;
    mark.column = column;
    return absl::InvalidArgumentError(Format(
        doc_name, Fail{"", absl::StrCat("invalid UTF-8 (byte 0x", absl::Hex(static_cast<unsigned char>(input[bad])),
                                        "); a policy document is UTF-8 text"),
                       mark}));
  }
  YAML::Node root;
  try {
    // Not YAML::LoadAll: in yaml-cpp 0.7 it can loop forever on some malformed input (upstream
    // jbeder/yaml-cpp#1319). Load the first document, then look for a second with a bounded scan.
    root = YAML::Load(input);
    std::istringstream in(input);
    YAML::Parser scan(in);
    DocumentStarts starts;
    if (scan.HandleNextDocument(starts) && scan.HandleNextDocument(starts)) {
      // A real second document starts with "---"; anything else is text yaml-cpp could not
      // consume (it then reports empty documents forever).
      size_t at = starts.last.pos >= 0 ? static_cast<size_t>(starts.last.pos) : input.size();
      bool marker = input.compare(std::min(at, input.size()), 3, "---") == 0;
      return absl::InvalidArgumentError(Format(
          doc_name, Fail{"", marker ? "a second YAML document starts here; a policy is one document"
                                    : "YAML syntax error: unexpected text after the document",
                         starts.last}));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Format(doc_name, Fail{"", absl::StrCat("YAML syntax error: ", e.msg), e.mark}));
  }
  return ParsePolicyNode(root, doc_name);
}

absl::StatusOr<Policy> ParsePolicyNode(const YAML::Node& root, std::string_view doc_view) {
  const std::string doc_name(doc_view);
  try {
    Parser p;
    return p.Parse(root);
  } catch (const Fail& f) {
    return absl::InvalidArgumentError(Format(doc_name, f));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Format(doc_name, Fail{"", absl::StrCat("invalid YAML: ", e.msg), e.mark}));
  }
}

absl::StatusOr<Policy> ParsePolicyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": read error"));
  return ParsePolicyYaml(ss.str(), path);
}

std::string SerializePolicyYaml(const Policy& policy) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "kind" << YAML::Value << std::string(kKind);
  if (!policy.name.empty()) out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << policy.name;
  out << YAML::Key << "default" << YAML::Value << ActionName(policy.default_action);
  if (policy.default_log) out << YAML::Key << "default_log" << YAML::Value << true;
  if (!policy.groups.empty()) {
    out << YAML::Key << "address_groups" << YAML::Value << YAML::BeginSeq;
    for (const AddressGroup& g : policy.groups) {
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << g.name;
      out << YAML::Key << "prefixes" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const Prefix& p : g.prefixes) out << YAML::DoubleQuoted << p.ToString();
      out << YAML::EndSeq << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!policy.rules.empty()) {
    out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    for (const Rule& r : policy.rules) {
      out << YAML::BeginMap;
      out << YAML::Key << "id" << YAML::Value << r.id;
      if (!r.name.empty()) out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted << r.name;
      out << YAML::Key << "priority" << YAML::Value << r.priority;
      if (r.direction_mask != 3) {
        out << YAML::Key << "direction" << YAML::Value
            << (r.direction_mask == (1u << static_cast<int>(Direction::kToVm)) ? "to-vm" : "from-vm");
      }
      if (r.family != 0) out << YAML::Key << "family" << YAML::Value << (r.family == 4 ? "ipv4" : "ipv6");
      if (!r.src.IsAny()) {
        out << YAML::Key << "source" << YAML::Value;
        EmitSide(out, r.src);
      }
      if (!r.dst.IsAny()) {
        out << YAML::Key << "destination" << YAML::Value;
        EmitSide(out, r.dst);
      }
      if (r.proto) {
        out << YAML::Key << "protocol" << YAML::Value;
        std::string name = ProtocolName(r.proto);
        if (name == std::to_string(*r.proto)) out << static_cast<int>(*r.proto);
        else out << name;
      }
      if (!r.sports.empty()) {
        out << YAML::Key << "source_ports" << YAML::Value;
        EmitPorts(out, r.sports);
      }
      if (!r.dports.empty()) {
        out << YAML::Key << "destination_ports" << YAML::Value;
        EmitPorts(out, r.dports);
      }
      if (r.icmp_type) out << YAML::Key << "icmp_type" << YAML::Value << static_cast<int>(*r.icmp_type);
      if (r.icmp_code) out << YAML::Key << "icmp_code" << YAML::Value << static_cast<int>(*r.icmp_code);
      out << YAML::Key << "action" << YAML::Value << ActionName(r.action);
      if (!r.redirect_service.empty()) {
        out << YAML::Key << "redirect_to" << YAML::Value << YAML::DoubleQuoted << r.redirect_service;
      }
      if (r.log) out << YAML::Key << "log" << YAML::Value << true;
      if (r.stateless) out << YAML::Key << "stateless" << YAML::Value << true;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

bool RuleEquals(const Rule& a, const Rule& b) {
  return a.id == b.id && a.name == b.name && a.priority == b.priority && a.family == b.family &&
         SideEquals(a.src, b.src) && SideEquals(a.dst, b.dst) && a.sports == b.sports && a.dports == b.dports &&
         a.proto == b.proto && a.icmp_type == b.icmp_type && a.icmp_code == b.icmp_code &&
         a.direction_mask == b.direction_mask && a.action == b.action && a.log == b.log &&
         a.stateless == b.stateless && a.redirect_service == b.redirect_service;
}

bool PolicyEquals(const Policy& a, const Policy& b) {
  if (a.rules.size() != b.rules.size() || a.groups.size() != b.groups.size()) return false;
  for (size_t i = 0; i < a.rules.size(); ++i) {
    if (!RuleEquals(a.rules[i], b.rules[i])) return false;
  }
  for (size_t i = 0; i < a.groups.size(); ++i) {
    if (a.groups[i].name != b.groups[i].name || a.groups[i].prefixes != b.groups[i].prefixes) return false;
  }
  return a.default_action == b.default_action && a.default_log == b.default_log && a.name == b.name;
}

}  // namespace rampart
