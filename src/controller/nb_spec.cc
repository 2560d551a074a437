#include "controller/nb_spec.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "policy/policy_parser.h"
#include "policy/rule_line.h"
#include "yaml-cpp/yaml.h"

namespace rampart::controller {
namespace {

// Where a document came from, for error messages.
struct DocCtx {
  std::string file;
  int index = 0;      // 1-based document number
  int base_line = 0;  // 0-based line of the document's first line in the file
  std::string kind;
  std::string name;
};

struct SpecError {
  std::string message;
};

std::string Where(const DocCtx& c, int line0) {
  std::string what = c.kind.empty() ? "" : (" (" + c.kind + (c.name.empty() ? "" : " " + c.name) + ")");
  if (c.index == 0) return absl::StrCat(c.file, what);  // e.g. a stored object: its key names it
  return absl::StrCat(c.file, ":", c.base_line + line0 + 1, ": document ", c.index, what);
}

[[noreturn]] void Fail(const DocCtx& c, const YAML::Node& at, std::string_view path, std::string_view reason) {
  int line = at.IsDefined() ? at.Mark().line : 0;
  if (line < 0) line = 0;
  throw SpecError{absl::StrCat(Where(c, line), ": ", path.empty() ? std::string() : absl::StrCat(std::string(path), ": "), std::string(reason))};
}

std::string TypeOf(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    case YAML::NodeType::Null: return "nothing";
    default: return "an undefined value";
  }
}

std::string Join(std::string_view a, std::string_view b) {
  return a.empty() ? std::string(b) : absl::StrCat(std::string(a), ".", std::string(b));
}

// Checks that `n` is a map whose keys are all in `known` (each once).
void CheckFields(const DocCtx& c, const YAML::Node& n, std::string_view path,
                 const std::vector<std::string>& known) {
  if (!n.IsMap()) Fail(c, n, path, "expected a map, got " + TypeOf(n));
  std::set<std::string> seen;
  for (const auto& kv : n) {
    if (!kv.first.IsScalar()) Fail(c, kv.first, path, "field names must be plain words");
    const std::string& k = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end())
      Fail(c, kv.first, Join(path, k),
           absl::StrCat("unknown field '", k, "' (known fields: ", absl::StrJoin(known, ", "), ")"));
    if (!seen.insert(k).second) Fail(c, kv.first, Join(path, k), "field given twice");
  }
}

std::string Scalar(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  if (!n.IsScalar()) Fail(c, n, path, "expected a word, got " + TypeOf(n));
  if (n.Scalar().empty()) Fail(c, n, path, "must not be empty");
  return n.Scalar();
}

std::string Required(const DocCtx& c, const YAML::Node& doc, const std::string& key, std::string_view path) {
  YAML::Node n = doc[key];
  if (!n.IsDefined() || n.IsNull()) Fail(c, doc, Join(path, key), "required field is missing");
  return Scalar(c, n, Join(path, key));
}

std::string Name(const DocCtx& c, const YAML::Node& doc, const std::string& key, std::string_view path) {
  std::string s = Required(c, doc, key, path);
  for (char ch : s) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.';
    if (!ok)
      Fail(c, doc[key], Join(path, key),
           absl::StrCat("name '", s, "' may contain only letters, digits, '-', '_' and '.'"));
  }
  return s;
}

Ip ParseIpField(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  std::string s = Scalar(c, n, path);
  auto ip = Ip::Parse(s);
  if (!ip) Fail(c, n, path, absl::StrCat("'", s, "' is not an IPv4 or IPv6 address"));
  return *ip;
}

Prefix ParsePrefixField(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  std::string s = Scalar(c, n, path);
  auto p = Prefix::Parse(s);
  if (!p && s.find('/') != std::string::npos) {
    auto addr = Ip::Parse(s.substr(0, s.find('/')));
    char* end = nullptr;
    std::string len_text = s.substr(s.find('/') + 1);
    long len = std::strtol(len_text.c_str(), &end, 10);
    int max = addr && addr->IsV4() ? 32 : 128;
    if (addr && !len_text.empty() && *end == '\0' && len >= 0 && len <= max) {
      Prefix m = Prefix::Make(*addr, static_cast<int>(addr->IsV4() ? 96 + len : len));
      Fail(c, n, path, absl::StrCat("prefix '", s, "' has host bits set (did you mean ", m.ToString(), "?)"));
    }
  }
  if (!p) Fail(c, n, path, absl::StrCat("'", s, "' is not a prefix like 198.18.1.0/24"));
  return *p;
}

uint64_t ParseMacField(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  std::string s = Scalar(c, n, path);
  auto v = nlog::Value::Parse(nlog::Type::kMac, s);
  if (!v) Fail(c, n, path, absl::StrCat("'", s, "' is not a MAC address like 02:00:00:00:00:01"));
  uint64_t mac = v->AsMac();
  if (mac & (uint64_t{1} << 40)) Fail(c, n, path, absl::StrCat("'", s, "' is a multicast MAC address"));
  return mac;
}

YAML::Node List(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  if (!n.IsSequence()) Fail(c, n, path, "expected a list, got " + TypeOf(n));
  return n;
}

std::map<std::string, std::string> Labels(const DocCtx& c, const YAML::Node& n, std::string_view path) {
  if (!n.IsMap()) Fail(c, n, path, "expected a map of label: value, got " + TypeOf(n));
  std::map<std::string, std::string> out;
  for (const auto& kv : n) {
    std::string k = Scalar(c, kv.first, path);
    out[k] = Scalar(c, kv.second, Join(path, k));
  }
  return out;
}

uint64_t Fnv(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// A document's rules parsed alone (group references not resolved), per rule its groups by side.
struct RulesAlone {
  std::vector<NbRule> rules;
  std::vector<std::vector<std::string>> src_groups, dst_groups;
};

struct PendingRules {  // rules are checked once every AddressGroup is known
  DocCtx ctx;
  YAML::Node doc;
  std::string tenant;
  std::string default_action;
  std::vector<NbRule>* out;
  std::shared_ptr<RulesAlone>* cached = nullptr;  // the cache entry's slot, if any
};

}  // namespace

// A document's parse, carried by its NbSource from ParseNbDocuments to ParseNbSources.
struct NbParsedDoc {
  bool ready = false;  // root is set
  YAML::Node root;     // `revision` removed
  std::shared_ptr<RulesAlone> rules;
};

struct NbParseCache::Impl {
  struct Entry {
    YAML::Node root;
    std::shared_ptr<RulesAlone> rules;
    uint64_t used = 0;
  };
  std::unordered_map<std::string, Entry> by_text;
  uint64_t generation = 0;
};

NbParseCache::NbParseCache() : impl_(std::make_unique<Impl>()) {}
NbParseCache::~NbParseCache() = default;
size_t NbParseCache::size() const { return impl_->by_text.size(); }

namespace {

class Parser {
 public:
  // Splits `text` into documents (one NbSource each; comment-only documents are skipped).
  static std::vector<NbSource> Split(std::string_view text, const std::string& file) {
    // Split on "---" lines ourselves: each document is loaded with YAML::Load (yaml-cpp's
    // LoadAll can loop forever on malformed input, see src/policy/policy_parser.cc). A "---"
    // splits only at column 0 and outside an indented block scalar's content.
    std::vector<std::pair<int, std::string>> chunks;  // (first line, text)
    std::string cur;
    int start = 0, line = 0;
    int block_parent = -2;  // indentation of the line that opened a block scalar; -2 = none
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      int indent = 0;
      while (indent < static_cast<int>(l.size()) && l[indent] == ' ') ++indent;
      bool blank = l.find_first_not_of(" \t\r") == std::string_view::npos;
      if (block_parent != -2 && !blank && indent <= block_parent) block_parent = -2;
      bool sep = block_parent == -2 && l.substr(0, 3) == "---" &&
                 (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
      if (sep) {
        chunks.emplace_back(start, cur);
        cur.clear();
        start = line;  // keep the separator line so line numbers match (it parses as a marker)
      }
      cur.append(l).append("\n");
      if (block_parent == -2 && OpensBlockScalar(l)) block_parent = sep ? -1 : indent;
      ++line;
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    chunks.emplace_back(start, cur);
    std::vector<NbSource> out;
    int index = 0;
    for (auto& [first, body] : chunks) {
      if (!HasContent(body)) continue;  // empty document (comments only)
      out.push_back(NbSource{std::move(body), file, ++index, first});
    }
    return out;
  }

  // Anything besides blank lines, comments and document markers? (Cheaper than loading it; a
  // document that loads as nothing, e.g. "~", is reported by Run.)
  static bool HasContent(std::string_view body) {
    size_t pos = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      std::string_view l = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? body.size() : nl + 1;
      if (l.substr(0, 3) == "---" || l.substr(0, 3) == "...") l.remove_prefix(3);
      size_t i = l.find_first_not_of(" \t\r");
      if (i != std::string_view::npos && l[i] != '#') return true;
    }
    return false;
  }

  // Does this line end in a block scalar indicator ("key: |", "- >-", "--- |2")?
  static bool OpensBlockScalar(std::string_view l) {
    size_t hash = l.find(" #");
    if (hash != std::string_view::npos) l = l.substr(0, hash);
    while (!l.empty() && (l.back() == ' ' || l.back() == '\t' || l.back() == '\r')) l.remove_suffix(1);
    size_t i = l.size();
    while (i > 0 && (l[i - 1] == '-' || l[i - 1] == '+' || (l[i - 1] >= '1' && l[i - 1] <= '9'))) --i;
    if (i == 0 || (l[i - 1] != '|' && l[i - 1] != '>')) return false;
    --i;
    if (i == 0) return true;
    return l[i - 1] == ' ' || l[i - 1] == '\t';
  }

  // Parses every source; `check_refs` = validate references on the whole set (else each
  // document alone, as ParseNbDocuments does). Returns the documents' roots (revision removed).
  NbSpec Run(const std::vector<NbSource>& docs, std::vector<YAML::Node>* roots = nullptr,
             std::vector<int64_t>* revisions = nullptr, NbParseCache::Impl* cache = nullptr) {
    if (cache) ++cache->generation;
    struct Prune {  // drop what this call did not use, also when it fails
      NbParseCache::Impl* c;
      ~Prune() {
        if (!c) return;
        for (auto it = c->by_text.begin(); it != c->by_text.end();)
          it = it->second.used == c->generation ? std::next(it) : c->by_text.erase(it);
      }
    } prune{cache};
    for (const NbSource& d : docs) {
      DocCtx c{d.file, d.index, d.first_line, "", ""};
      YAML::Node root;
      NbParseCache::Impl::Entry* entry = nullptr;
      if (d.parsed && d.parsed->ready) {  // parsed before (ParseNbDocuments)
        rules_slot_ = &d.parsed->rules;
        Document(c, d.parsed->root);
        if (roots) roots->push_back(d.parsed->root);
        if (revisions) revisions->push_back(-1);
        continue;
      }
      if (cache) {
        auto it = cache->by_text.find(d.text);
        if (it != cache->by_text.end()) {
          entry = &it->second;
          root = entry->root;
        }
      }
      if (!entry) {
        try {
          root = YAML::Load(d.text);
        } catch (const YAML::Exception& e) {
          throw SpecError{absl::StrCat(Where(c, e.mark.line < 0 ? 0 : e.mark.line), ": YAML syntax error: ", e.msg)};
        }
        // Only documents without `revision` are cached (Run takes that field out of the tree).
        if (cache && root.IsMap() && !root["revision"].IsDefined()) entry = &cache->by_text[d.text];
        if (entry) entry->root = root;
      }
      if (entry) entry->used = cache->generation;
      rules_slot_ = entry ? &entry->rules : nullptr;
      if (!root.IsDefined() || root.IsNull()) Fail(c, root, "", "the document is empty");
      int64_t revision = -1;
      if (root.IsMap() && root["revision"].IsDefined()) {
        YAML::Node rv = root["revision"];
        std::string s = rv.IsScalar() ? rv.Scalar() : "";
        char* end = nullptr;
        long long v = s.empty() ? -1 : std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v < 0 || s.size() > 18)
          Fail(c, rv, "revision", "expected the object's revision (a number >= 0), got " + TypeOf(rv));
        revision = v;
        root.remove("revision");
      }
      if (d.parsed) {
        d.parsed->root = root;
        d.parsed->ready = true;
        if (!entry) rules_slot_ = &d.parsed->rules;
      }
      Document(c, root);
      if (roots) roots->push_back(root);
      if (revisions) revisions->push_back(revision);
    }
    if (check_refs_) {
      CrossCheck();
    } else {
      ParseAllRules();
    }
    return std::move(spec_);
  }

  explicit Parser(bool check_refs) : check_refs_(check_refs) {}

 private:
  void Document(DocCtx& c, const YAML::Node& root) {
    if (!root.IsMap()) Fail(c, root, "", "a document must be a map with a 'kind' field, got " + TypeOf(root));
    YAML::Node k = root["kind"];
    if (!k.IsDefined()) Fail(c, root, "kind", "required field is missing");
    c.kind = Scalar(c, k, "kind");
    if (root["name"].IsDefined() && root["name"].IsScalar()) c.name = root["name"].Scalar();
    if (c.kind == "Tenant") {
      CheckFields(c, root, "", {"kind", "name"});
      std::string n = Name(c, root, "name", "");
      if (!tenants_.insert(n).second) Fail(c, root["name"], "name", "tenant '" + n + "' is defined twice");
      spec_.tenants.push_back(n);
    } else if (c.kind == "Host") {
      CheckFields(c, root, "", {"kind", "name", "underlay"});
      NbHost h{Name(c, root, "name", ""), ParseIpField(c, Need(c, root, "underlay"), "underlay")};
      if (!hosts_.insert(h.name).second) Fail(c, root["name"], "name", "host '" + h.name + "' is defined twice");
      spec_.hosts.push_back(h);
    } else if (c.kind == "LogicalSwitch") {
      CheckFields(c, root, "", {"kind", "tenant", "name", "cidr"});
      NbSwitch s{Name(c, root, "tenant", ""), Name(c, root, "name", ""), ParsePrefixField(c, Need(c, root, "cidr"), "cidr")};
      Unique(c, root, "switch", s.tenant, s.name);
      switches_[{s.tenant, s.name}] = s.cidr;
      spec_.switches.push_back(s);
      ctx_.push_back({c, root});
    } else if (c.kind == "LogicalRouter") {
      Router(c, root);
    } else if (c.kind == "Port") {
      PortDoc(c, root);
    } else if (c.kind == "AddressGroup") {
      CheckFields(c, root, "", {"kind", "tenant", "name", "prefixes", "ports", "selector"});
      NbAddressGroup g;
      g.tenant = Name(c, root, "tenant", "");
      g.name = Name(c, root, "name", "");
      Unique(c, root, "address group", g.tenant, g.name);
      if (root["prefixes"].IsDefined()) {
        YAML::Node l = List(c, root["prefixes"], "prefixes");
        std::set<Prefix> seen;
        for (size_t i = 0; i < l.size(); ++i) {
          std::string p = absl::StrCat("prefixes[", i, "]");
          Prefix x = ParsePrefixField(c, l[i], p);
          if (!seen.insert(x).second) Fail(c, l[i], p, "prefix " + x.ToString() + " is listed twice");
          g.prefixes.push_back(x);
        }
      }
      g.members = Members(c, root, g.tenant);
      if (!root["prefixes"].IsDefined() && !root["ports"].IsDefined() && !root["selector"].IsDefined())
        Fail(c, root, "", "an AddressGroup needs prefixes, ports or a selector");
      groups_[g.tenant].insert(g.name);
      spec_.groups.push_back(g);
    } else if (c.kind == "Firewall") {
      FirewallDoc(c, root);
    } else if (c.kind == "VnicPolicy") {
      CheckFields(c, root, "", {"kind", "tenant", "name", "applied_to", "default", "rules"});
      NbVnicPolicy v;
      v.tenant = Name(c, root, "tenant", "");
      v.name = Name(c, root, "name", "");
      Unique(c, root, "firewall or vnic policy", v.tenant, v.name);
      YAML::Node at = List(c, Need(c, root, "applied_to"), "applied_to");
      if (at.size() == 0) Fail(c, at, "applied_to", "must name at least one port or a selector");
      for (size_t i = 0; i < at.size(); ++i) {
        std::string p = absl::StrCat("applied_to[", i, "]");
        if (at[i].IsMap()) {
          CheckFields(c, at[i], p, {"selector"});
          if (!v.applied_to.selector.empty()) Fail(c, at[i], p, "only one selector is allowed");
          v.applied_to.selector = Labels(c, at[i]["selector"], Join(p, "selector"));
          if (v.applied_to.selector.empty()) Fail(c, at[i], Join(p, "selector"), "must list at least one label");
        } else {
          std::string port = Scalar(c, at[i], p);
          pending_ports_.push_back({c, at[i], p, v.tenant, port});
          v.applied_to.ports.push_back(port);
        }
      }
      v.default_action = Default(c, root);
      spec_.vnic_policies.push_back(v);
      pending_rules_.push_back({c, root, v.tenant, v.default_action, nullptr, rules_slot_});
      vnic_rule_index_.push_back(spec_.vnic_policies.size() - 1);
    } else if (c.kind == "ServiceVM") {
      ServiceDoc(c, root);
    } else {
      Fail(c, k, "kind",
           "unknown kind '" + c.kind +
               "' (known: Tenant, Host, LogicalSwitch, LogicalRouter, Port, AddressGroup, ServiceVM, Firewall, "
               "VnicPolicy)");
    }
    tenant_refs_.push_back({c, root});
  }

  YAML::Node Need(const DocCtx& c, const YAML::Node& doc, const std::string& key) {
    YAML::Node n = doc[key];
    if (!n.IsDefined() || n.IsNull()) Fail(c, doc, key, "required field is missing");
    return n;
  }

  void Unique(const DocCtx& c, const YAML::Node& doc, const std::string& what, const std::string& t,
              const std::string& n) {
    if (!names_[what].insert({t, n}).second)
      Fail(c, doc["name"], "name", absl::StrCat(what, " '", n, "' is defined twice in tenant '", t, "'"));
    // Switches and routers are both logical datapaths: one namespace per tenant.
    const std::string other = what == "switch" ? "router" : what == "router" ? "switch" : "";
    if (!other.empty() && names_[other].count({t, n}))
      Fail(c, doc["name"], "name", absl::StrCat("a ", other, " named '", n, "' already exists in tenant '", t,
                                                "' (switches and routers share one namespace)"));
  }

  std::string Default(const DocCtx& c, const YAML::Node& root) {
    if (!root["default"].IsDefined()) return "drop";
    std::string d = Scalar(c, root["default"], "default");
    if (d != "drop" && d != "allow" && d != "reject")
      Fail(c, root["default"], "default", "expected drop, allow or reject, got '" + d + "'");
    return d;
  }

  NbSelectorSet Members(const DocCtx& c, const YAML::Node& root, const std::string& tenant) {
    NbSelectorSet m;
    if (root["ports"].IsDefined()) {
      YAML::Node l = List(c, root["ports"], "ports");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string p = absl::StrCat("ports[", i, "]");
        std::string port = Scalar(c, l[i], p);
        pending_ports_.push_back({c, l[i], p, tenant, port});
        m.ports.push_back(port);
      }
    }
    if (root["selector"].IsDefined()) {
      m.selector = Labels(c, root["selector"], "selector");
      if (m.selector.empty()) Fail(c, root["selector"], "selector", "must list at least one label");
    }
    return m;
  }

  void Router(const DocCtx& c, const YAML::Node& root) {
    CheckFields(c, root, "", {"kind", "tenant", "name", "ports", "static_routes", "policy_routes"});
    NbRouter r;
    r.tenant = Name(c, root, "tenant", "");
    r.name = Name(c, root, "name", "");
    Unique(c, root, "router", r.tenant, r.name);
    YAML::Node ports = List(c, Need(c, root, "ports"), "ports");
    std::set<std::string> sws;
    for (size_t i = 0; i < ports.size(); ++i) {
      std::string p = absl::StrCat("ports[", i, "]");
      CheckFields(c, ports[i], p, {"switch", "ip"});
      NbRouterPort rp;
      rp.sw = Name(c, ports[i], "switch", p);
      rp.ip = ParseIpField(c, Need(c, ports[i], "ip"), Join(p, "ip"));
      if (!sws.insert(rp.sw).second) Fail(c, ports[i], Join(p, "switch"), "the router has a port on '" + rp.sw + "' already");
      uint64_t h = Fnv(absl::StrCat(r.tenant, "/", r.name, "/", rp.sw));
      rp.mac = 0x025200000000ull | (h & 0xffffffffull);  // locally administered, stable
      r.ports.push_back(rp);
      pending_router_ports_.push_back({c, ports[i], p, r.tenant, rp.sw, rp.ip});
    }
    if (root["static_routes"].IsDefined()) {
      YAML::Node l = List(c, root["static_routes"], "static_routes");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string p = absl::StrCat("static_routes[", i, "]");
        CheckFields(c, l[i], p, {"prefix", "nexthop"});
        NbStaticRoute s{ParsePrefixField(c, Need(c, l[i], "prefix"), Join(p, "prefix")),
                        ParseIpField(c, Need(c, l[i], "nexthop"), Join(p, "nexthop"))};
        pending_nexthops_.push_back({c, l[i], Join(p, "nexthop"), r.tenant, r.name, s.nexthop});
        r.static_routes.push_back(s);
      }
    }
    if (root["policy_routes"].IsDefined()) {
      YAML::Node l = List(c, root["policy_routes"], "policy_routes");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string p = absl::StrCat("policy_routes[", i, "]");
        CheckFields(c, l[i], p, {"priority", "match", "action"});
        NbPolicyRoute pr;
        pr.priority = 1000 - static_cast<int>(i);  // list order
        if (l[i]["priority"].IsDefined()) {
          std::string s = Scalar(c, l[i]["priority"], Join(p, "priority"));
          char* end = nullptr;
          long v = std::strtol(s.c_str(), &end, 10);
          if (*end != '\0' || v < 1 || v > 60000)
            Fail(c, l[i]["priority"], Join(p, "priority"), "expected a number 1..60000 (higher first), got '" + s + "'");
          pr.priority = static_cast<int>(v);
        }
        pr.src = *Prefix::Parse("0.0.0.0/0");
        pr.dst = pr.src;
        YAML::Node m = Need(c, l[i], "match");
        CheckFields(c, m, Join(p, "match"), {"source", "destination"});
        if (m["source"].IsDefined()) pr.src = ParsePrefixField(c, m["source"], Join(p, "match.source"));
        if (m["destination"].IsDefined()) pr.dst = ParsePrefixField(c, m["destination"], Join(p, "match.destination"));
        if (pr.src.IsV4() != pr.dst.IsV4())
          Fail(c, m, Join(p, "match"), "source and destination are of different address families");
        std::string a = Scalar(c, Need(c, l[i], "action"), Join(p, "action"));
        if (a == "drop" || a == "allow") {
          pr.action = a;
        } else if (a.rfind("firewall ", 0) == 0 && a.size() > 9) {
          pr.action = "firewall";
          pr.firewall = a.substr(9);
          pending_fw_refs_.push_back({c, l[i]["action"], Join(p, "action"), r.tenant, pr.firewall, r.name});
        } else {
          Fail(c, l[i]["action"], Join(p, "action"), "expected 'firewall NAME', 'drop' or 'allow', got '" + a + "'");
        }
        r.policy_routes.push_back(pr);
      }
    }
    routers_[{r.tenant, r.name}] = sws;
    spec_.routers.push_back(r);
  }

  void PortDoc(const DocCtx& c, const YAML::Node& root) {
    CheckFields(c, root, "", {"kind", "tenant", "switch", "name", "mac", "ips", "host", "labels"});
    NbPort p;
    p.tenant = Name(c, root, "tenant", "");
    p.name = Name(c, root, "name", "");
    p.sw = Name(c, root, "switch", "");
    Unique(c, root, "port", p.tenant, p.name);
    p.mac = ParseMacField(c, Need(c, root, "mac"), "mac");
    if (!macs_.insert({p.tenant, p.mac}).second)
      Fail(c, root["mac"], "mac", "MAC " + root["mac"].Scalar() + " is used by another port of tenant '" + p.tenant + "'");
    if (root["ips"].IsDefined()) {
      YAML::Node l = List(c, root["ips"], "ips");
      for (size_t i = 0; i < l.size(); ++i) {
        std::string path = absl::StrCat("ips[", i, "]");
        Ip ip = ParseIpField(c, l[i], path);
        pending_ips_.push_back({c, l[i], path, p.tenant, p.sw, ip});
        p.ips.push_back(ip);
      }
    }
    if (root["host"].IsDefined()) {
      p.host = Name(c, root, "host", "");
      pending_hosts_.push_back({c, root["host"], "host", p.host});
    }
    if (root["labels"].IsDefined()) p.labels = Labels(c, root["labels"], "labels");
    pending_switches_.push_back({c, root["switch"], "switch", p.tenant, p.sw});
    spec_.ports.push_back(p);
  }

  // One of `allowed` (a word), or `def` when the field is absent.
  std::string OneOf(const DocCtx& c, const YAML::Node& root, const std::string& key,
                    const std::vector<std::string>& allowed, const std::string& def) {
    if (!root[key].IsDefined()) return def;
    std::string v = Scalar(c, root[key], key);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      Fail(c, root[key], key, absl::StrCat("expected ", absl::StrJoin(allowed, ", "), "; got '", v, "'"));
    return v;
  }

  // kind: ServiceVM: a partner service VM's registration and behaviour (seed 001 §II).
  void ServiceDoc(const DocCtx& c, const YAML::Node& root) {
    CheckFields(c, root, "",
                {"kind", "tenant", "name", "on_failure", "check", "nth", "relay", "same_host", "migration"});
    NbServiceVm v;
    v.tenant = Name(c, root, "tenant", "");
    v.name = Name(c, root, "name", "");
    Unique(c, root, "service VM", v.tenant, v.name);
    v.on_failure = OneOf(c, root, "on_failure", {"drop", "allow"}, "drop");
    v.check = OneOf(c, root, "check", {"cached", "every-packet", "every-nth"}, "cached");
    YAML::Node nth = root["nth"];
    if (v.check == "every-nth") {
      if (!nth.IsDefined() || nth.IsNull())
        Fail(c, root, "nth", "required when check is every-nth (check with the service VM every nth packet, n >= 2)");
      std::string s = Scalar(c, nth, "nth");
      char* end = nullptr;
      errno = 0;
      long long n = std::strtoll(s.c_str(), &end, 10);
      bool digits = !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (!digits || *end != '\0' || errno == ERANGE || n < 2 || n > 2147483647)
        Fail(c, nth, "nth", "expected a whole number from 2 to 2147483647, got '" + s + "'");
      v.nth = n;
    } else if (nth.IsDefined()) {
      Fail(c, nth, "nth", "only check: every-nth takes nth (check is '" + v.check + "')");
    }
    if (root["relay"].IsDefined()) {
      std::string r = Scalar(c, root["relay"], "relay");
      if (r != "true" && r != "false") Fail(c, root["relay"], "relay", "expected true or false, got '" + r + "'");
      v.relay = r == "true";
      if (v.relay && v.check == "every-packet")
        Fail(c, root["relay"], "relay",
             "relay: true needs check cached or every-nth (with every-packet no packet is answered from the cache)");
    }
    v.same_host = OneOf(c, root, "same_host", {"both", "source", "destination"}, "both");
    v.migration = OneOf(c, root, "migration", {"engine", "svm-review", "svm"}, "engine");
    services_[v.tenant].insert(v.name);
    spec_.services.push_back(v);
  }

  void FirewallDoc(const DocCtx& c, const YAML::Node& root) {
    CheckFields(c, root, "", {"kind", "tenant", "name", "placement", "default", "rules"});
    NbFirewall f;
    f.tenant = Name(c, root, "tenant", "");
    f.name = Name(c, root, "name", "");
    Unique(c, root, "firewall or vnic policy", f.tenant, f.name);
    YAML::Node pl = Need(c, root, "placement");
    CheckFields(c, pl, "placement", {"attached_to_router", "inline"});
    if (pl.size() != 1) Fail(c, pl, "placement", "give exactly one of attached_to_router or inline");
    if (pl["attached_to_router"].IsDefined()) {
      f.placement = "attached";
      f.router = Name(c, pl, "attached_to_router", "placement");
      pending_routers_.push_back({c, pl["attached_to_router"], "placement.attached_to_router", f.tenant, f.router, ""});
    } else {
      f.placement = "inline";
      YAML::Node in = pl["inline"];
      CheckFields(c, in, "placement.inline", {"switch", "router"});
      f.sw = Name(c, in, "switch", "placement.inline");
      f.router = Name(c, in, "router", "placement.inline");
      pending_routers_.push_back({c, in["router"], "placement.inline.router", f.tenant, f.router, f.sw});
      if (!inline_.insert({f.tenant, f.sw, f.router}).second)
        Fail(c, in, "placement.inline", "another inline firewall already sits between '" + f.sw + "' and '" + f.router + "'");
    }
    f.default_action = Default(c, root);
    fw_placement_[{f.tenant, f.name}] = f.placement == "attached" ? f.router : "";
    spec_.firewalls.push_back(f);
    pending_rules_.push_back({c, root, f.tenant, f.default_action, nullptr, rules_slot_});
    vnic_rule_index_.push_back(-1 - static_cast<long>(spec_.firewalls.size() - 1));
  }

  // The rules of one document parsed alone: every {group: NAME} it uses is taken to exist (the
  // merged check resolves them in Rules()), so the result depends on the document only.
  RulesAlone ParseRulesAlone(const PendingRules& pr) {
    const DocCtx& c = pr.ctx;
    YAML::Node rules = pr.doc["rules"];
    RulesAlone out;
    if (!rules.IsDefined() || rules.IsNull()) return out;
    List(c, rules, "rules");
    // The rules as a policy document (policy/policy_parser.h) that shares the rules' nodes: no
    // text is emitted and parsed again.
    YAML::Node doc(YAML::NodeType::Map);
    doc["default"] = pr.default_action;
    YAML::Node groups(YAML::NodeType::Sequence);
    std::set<std::string> used;
    GroupNames(rules, &used);
    for (const auto& g : used) {
      YAML::Node gn(YAML::NodeType::Map);
      gn["name"] = g;
      gn["prefixes"] = YAML::Node(YAML::NodeType::Sequence);
      groups.push_back(gn);
    }
    doc["address_groups"] = groups;
    doc["rules"] = rules;
    auto pol = ParsePolicyNode(doc, "@");
    if (!pol.ok()) {
      // "@:L:C: rules[3].x: reason" -> our location of rules[3], the path and the reason.
      std::string msg(pol.status().message());
      std::string rest = msg;
      if (msg.rfind("@: ", 0) == 0) {
        rest = msg.substr(3);
      } else if (msg.rfind("@:", 0) == 0) {
        size_t a = msg.find(": ", 2);
        if (a != std::string::npos) rest = msg.substr(a + 2);
      }
      YAML::Node at = rules;
      if (rest.rfind("rules[", 0) == 0) {
        size_t i = std::strtoul(rest.c_str() + 6, nullptr, 10);
        if (i < rules.size()) at = rules[i];
      }
      int line = at.Mark().line < 0 ? 0 : at.Mark().line;
      throw SpecError{absl::StrCat(Where(c, line), ": ", rest)};
    }
    for (const Rule& r : pol->rules) {
      NbRule nr{r.id, r.priority, policy::RuleLine(r), {}, {}};  // canonical one-line form
      if (r.action == Action::kRedirect) nr.service = r.redirect_service;
      std::set<std::string> gs(r.src.groups.begin(), r.src.groups.end());
      gs.insert(r.dst.groups.begin(), r.dst.groups.end());
      nr.groups.assign(gs.begin(), gs.end());
      out.rules.push_back(nr);
      out.src_groups.push_back(r.src.groups);
      out.dst_groups.push_back(r.dst.groups);
    }
    return out;
  }

  void Rules(PendingRules& pr, std::vector<NbRule>& out) {
    std::shared_ptr<RulesAlone> alone = pr.cached ? *pr.cached : nullptr;
    if (!alone) {
      alone = std::make_shared<RulesAlone>(ParseRulesAlone(pr));
      if (pr.cached) *pr.cached = alone;
    }
    if (check_refs_) {
      const auto& known = groups_[pr.tenant];
      YAML::Node rules = pr.doc["rules"];
      for (size_t i = 0; i < alone->rules.size(); ++i) {
        for (int side = 0; side < 2; ++side) {
          for (const auto& g : side == 0 ? alone->src_groups[i] : alone->dst_groups[i]) {
            if (known.count(g)) continue;
            YAML::Node at = i < rules.size() ? rules[i] : rules;
            Fail(pr.ctx, at, absl::StrCat("rules[", i, "].", side == 0 ? "source" : "destination"),
                 absl::StrCat("unknown address group '", g, "'"));
          }
        }
        const std::string& svc = alone->rules[i].service;
        if (!svc.empty() && !services_[pr.tenant].count(svc)) {
          YAML::Node at = i < rules.size() ? rules[i] : rules;
          if (at.IsMap() && at["redirect_to"].IsDefined()) at = at["redirect_to"];
          Fail(pr.ctx, at, absl::StrCat("rules[", i, "].redirect_to"),
               absl::StrCat("unknown ServiceVM '", svc, "' in tenant '", pr.tenant, "' (add a 'kind: ServiceVM' document)"));
        }
      }
    }
    out = alone->rules;
  }

  // Every {group: NAME} inside a rules node.
  static void GroupNames(const YAML::Node& n, std::set<std::string>* out) {
    if (n.IsSequence()) {
      for (const auto& e : n) GroupNames(e, out);
    } else if (n.IsMap()) {
      for (const auto& kv : n) {
        if (kv.first.IsScalar() && kv.first.Scalar() == "group" && kv.second.IsScalar()) out->insert(kv.second.Scalar());
        GroupNames(kv.second, out);
      }
    }
  }

  void ParseAllRules() {
    for (size_t i = 0; i < pending_rules_.size(); ++i) {
      long k = vnic_rule_index_[i];
      std::vector<NbRule>& out = k >= 0 ? spec_.vnic_policies[k].rules : spec_.firewalls[-1 - k].rules;
      Rules(pending_rules_[i], out);
    }
  }

  struct Ref { DocCtx c; YAML::Node at; std::string path, tenant, name; };
  struct IpRef { DocCtx c; YAML::Node at; std::string path, tenant, sw; Ip ip; };
  struct RouterRef { DocCtx c; YAML::Node at; std::string path, tenant, router, sw; };
  struct FwRef { DocCtx c; YAML::Node at; std::string path, tenant, fw, router; };
  struct HostRef { DocCtx c; YAML::Node at; std::string path, host; };
  struct NhRef { DocCtx c; YAML::Node at; std::string path, tenant, router; Ip ip; };
  struct Ctx { DocCtx c; YAML::Node doc; };

  void CrossCheck() {
    for (auto& [c, doc] : tenant_refs_) {
      YAML::Node t = doc["tenant"];
      if (t.IsDefined() && !tenants_.count(t.Scalar()))
        Fail(c, t, "tenant", "unknown tenant '" + t.Scalar() + "' (add a 'kind: Tenant' document)");
    }
    for (auto& r : pending_switches_)
      if (!switches_.count({r.tenant, r.name}))
        Fail(r.c, r.at, r.path, absl::StrCat("unknown LogicalSwitch '", r.name, "' in tenant '", r.tenant, "'"));
    for (auto& r : pending_router_ports_) {
      auto it = switches_.find({r.tenant, r.sw});
      if (it == switches_.end())
        Fail(r.c, r.at, Join(r.path, "switch"), absl::StrCat("unknown LogicalSwitch '", r.sw, "' in tenant '", r.tenant, "'"));
      if (!it->second.Contains(r.ip))
        Fail(r.c, r.at, Join(r.path, "ip"), absl::StrCat(r.ip.ToString(), " is outside the switch's cidr ", it->second.ToString()));
    }
    for (auto& r : pending_ips_) {
      auto it = switches_.find({r.tenant, r.sw});
      if (it != switches_.end() && !it->second.Contains(r.ip))
        Fail(r.c, r.at, r.path, absl::StrCat(r.ip.ToString(), " is outside switch '", r.sw, "' (", it->second.ToString(), ")"));
      if (!ips_.insert({r.tenant, r.ip}).second)
        Fail(r.c, r.at, r.path, absl::StrCat(r.ip.ToString(), " is used by another port of tenant '", r.tenant, "'"));
    }
    for (auto& r : pending_hosts_)
      if (!hosts_.count(r.host)) Fail(r.c, r.at, r.path, "unknown host '" + r.host + "' (add a 'kind: Host' document)");
    for (auto& r : pending_ports_)
      if (!names_["port"].count({r.tenant, r.name}))
        Fail(r.c, r.at, r.path, absl::StrCat("unknown Port '", r.name, "' in tenant '", r.tenant, "'"));
    for (auto& r : pending_nexthops_) {
      bool ok = false;
      for (const auto& sw : routers_[{r.tenant, r.router}]) {
        auto it = switches_.find({r.tenant, sw});
        if (it != switches_.end() && it->second.Contains(r.ip)) ok = true;
      }
      if (!ok) Fail(r.c, r.at, r.path, absl::StrCat("next hop ", r.ip.ToString(), " is on none of router '", r.router, "''s switches"));
    }
    for (auto& r : pending_routers_) {
      auto it = routers_.find({r.tenant, r.router});
      if (it == routers_.end())
        Fail(r.c, r.at, r.path, absl::StrCat("unknown LogicalRouter '", r.router, "' in tenant '", r.tenant, "'"));
      if (!r.sw.empty() && !it->second.count(r.sw))
        Fail(r.c, r.at, r.path, absl::StrCat("router '", r.router, "' has no port on switch '", r.sw, "'"));
    }
    for (auto& r : pending_fw_refs_) {
      auto it = fw_placement_.find({r.tenant, r.fw});
      if (it == fw_placement_.end())
        Fail(r.c, r.at, r.path, absl::StrCat("unknown Firewall '", r.fw, "' in tenant '", r.tenant, "'"));
      if (it->second != r.router)
        Fail(r.c, r.at, r.path, absl::StrCat("firewall '", r.fw, "' is not attached to router '", r.router,
                                             "' (placement: attached_to_router)"));
    }
    ParseAllRules();
  }

  bool check_refs_ = true;
  std::shared_ptr<RulesAlone>* rules_slot_ = nullptr;  // the current document's cache slot
  NbSpec spec_;
  std::set<std::string> tenants_, hosts_;
  std::map<std::string, std::set<std::pair<std::string, std::string>>> names_;
  std::map<std::pair<std::string, std::string>, Prefix> switches_;
  std::map<std::pair<std::string, std::string>, std::set<std::string>> routers_;
  std::map<std::pair<std::string, std::string>, std::string> fw_placement_;
  std::map<std::string, std::set<std::string>> groups_;
  std::map<std::string, std::set<std::string>> services_;  // tenant -> ServiceVM names
  std::set<std::tuple<std::string, std::string, std::string>> inline_;
  std::set<std::pair<std::string, uint64_t>> macs_;
  std::set<std::pair<std::string, Ip>> ips_;
  std::vector<Ctx> ctx_, tenant_refs_;
  std::vector<Ref> pending_switches_, pending_ports_;
  std::vector<RouterRef> pending_routers_;
  std::vector<IpRef> pending_router_ports_, pending_ips_;
  std::vector<HostRef> pending_hosts_;
  std::vector<NhRef> pending_nexthops_;
  std::vector<FwRef> pending_fw_refs_;
  std::vector<PendingRules> pending_rules_;
  std::vector<long> vnic_rule_index_;
};

// Canonical JSON of a parsed document: maps -> objects (keys sorted), sequences -> arrays,
// unquoted integers and true/false -> numbers/booleans, null -> null, every other scalar -> string.
nlohmann::json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.IsScalar() ? kv.first.Scalar() : YAML::Dump(kv.first)] = ToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(ToJson(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "?") {  // plain (unquoted) scalar
        if (s == "true") return true;
        if (s == "false") return false;
        bool digits = !s.empty() && s.size() <= 18;
        for (size_t i = 0; i < s.size() && digits; ++i)
          digits = (s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-' && s.size() > 1);
        size_t first = s[0] == '-' ? 1 : 0;
        if (digits && (s[first] != '0' || s.size() == first + 1) && s != "-0") return std::stoll(s);
      }
      return s;
    }
    default:
      return nullptr;
  }
}

template <typename F>
auto Guard(std::string_view file, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const SpecError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(file), ": YAML error: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<NbSpec> ParseNbSpec(std::string_view text, std::string_view file) {
  return Guard(file, [&]() -> absl::StatusOr<NbSpec> {
    std::vector<NbSource> docs = Parser::Split(text, std::string(file));
    if (docs.empty()) throw SpecError{absl::StrCat(std::string(file), ": no documents")};
    Parser p(true);
    return p.Run(docs);
  });
}

absl::StatusOr<NbSpec> ParseNbSources(const std::vector<NbSource>& docs, NbParseCache* cache) {
  return Guard(docs.empty() ? "" : docs[0].file, [&]() -> absl::StatusOr<NbSpec> {
    Parser p(true);
    return p.Run(docs, nullptr, nullptr, cache ? cache->impl_.get() : nullptr);
  });
}

absl::StatusOr<NbSpec> ParseNbDocumentAlone(const NbSource& doc) {
  return Guard(doc.file, [&]() -> absl::StatusOr<NbSpec> {
    Parser p(false);
    return p.Run({doc});
  });
}

absl::StatusOr<std::vector<NbDocument>> ParseNbDocuments(std::string_view text, std::string_view file,
                                                         std::vector<std::string>* all_errors, bool keep_parsed) {
  std::vector<NbSource> docs;
  absl::Status split = Guard(file, [&]() -> absl::Status {
    docs = Parser::Split(text, std::string(file));
    if (docs.empty()) throw SpecError{absl::StrCat(std::string(file), ": no documents")};
    return absl::OkStatus();
  });
  if (!split.ok()) {
    if (all_errors) all_errors->push_back(std::string(split.message()));
    return split;
  }
  std::vector<NbDocument> out;
  absl::Status first;
  for (NbSource& d : docs) {
    if (keep_parsed) d.parsed = std::make_shared<NbParsedDoc>();  // for ParseNbSources (the merged check)
    absl::Status st = Guard(d.file, [&]() -> absl::Status {
      Parser p(false);
      std::vector<YAML::Node> roots;
      std::vector<int64_t> revisions;
      NbSpec spec = p.Run({d}, &roots, &revisions);
      const YAML::Node& root = roots.at(0);
      NbDocument doc;
      doc.kind = root["kind"].Scalar();
      doc.name = root["name"].Scalar();
      if (doc.kind != "Tenant" && doc.kind != "Host") doc.tenant = root["tenant"].Scalar();
      doc.revision = revisions.at(0);
      try {
        doc.json = ToJson(root).dump();  // strict: invalid UTF-8 throws
      } catch (const nlohmann::json::exception&) {
        DocCtx c{d.file, d.index, d.first_line, doc.kind, doc.name};
        throw SpecError{absl::StrCat(Where(c, 0), ": the document is not valid UTF-8 text")};
      }
      doc.source = d;
      out.push_back(std::move(doc));
      return absl::OkStatus();
    });
    if (!st.ok()) {
      if (first.ok()) first = st;
      if (all_errors) all_errors->push_back(std::string(st.message()));
    }
  }
  if (!first.ok()) return first;
  return out;
}

const std::vector<std::string>& NbKinds() {
  static const std::vector<std::string> k = {"Tenant",       "Host",      "LogicalSwitch", "LogicalRouter", "Port",
                                             "AddressGroup", "ServiceVM", "Firewall",      "VnicPolicy"};
  return k;
}

absl::StatusOr<NbSpec> ParseNbSpecFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseNbSpec(ss.str(), path);
}

Ip Eui64LinkLocal(uint64_t mac) {
  uint8_t m[6];
  for (int i = 5; i >= 0; --i, mac >>= 8) m[i] = static_cast<uint8_t>(mac);
  const uint8_t b[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
  return Ip::V6(b);
}

std::vector<InputRow> SpecToRows(const NbSpec& spec) {
  using nlog::Value;
  auto S = [](const std::string& s) { return Value::String(s); };
  std::vector<InputRow> rows;
  auto add = [&](const char* t, nlog::Row r) { rows.push_back({t, std::move(r)}); };
  for (const auto& t : spec.tenants) add("Tenant", {S(t)});
  for (const auto& h : spec.hosts) add("Host", {S(h.name), Value::FromIp(h.underlay)});
  for (const auto& s : spec.switches) add("Switch", {S(s.tenant), S(s.name), Value::FromPrefix(s.cidr)});
  for (const auto& r : spec.routers) {
    add("Router", {S(r.tenant), S(r.name)});
    for (const auto& p : r.ports)
      add("RouterPort", {S(r.tenant), S(r.name), S(p.sw), Value::FromIp(p.ip), Value::Mac(p.mac)});
    for (const auto& s : r.static_routes)
      add("StaticRoute", {S(r.tenant), S(r.name), Value::FromPrefix(s.dst), Value::FromIp(s.nexthop)});
    for (const auto& p : r.policy_routes)
      add("PolicyRoute", {S(r.tenant), S(r.name), Value::Int(p.priority), Value::FromPrefix(p.src),
                          Value::FromPrefix(p.dst), S(p.action), S(p.firewall)});
  }
  for (const auto& p : spec.ports) {
    add("Port", {S(p.tenant), S(p.name), S(p.sw), Value::Mac(p.mac)});
    for (const auto& ip : p.ips) add("PortIp", {S(p.tenant), S(p.name), Value::FromIp(ip)});
    add("PortLinkLocal", {S(p.tenant), S(p.name), Value::FromIp(Eui64LinkLocal(p.mac))});
    if (!p.host.empty()) add("PortHost", {S(p.tenant), S(p.name), S(p.host)});
    for (const auto& [k, v] : p.labels) add("PortLabel", {S(p.tenant), S(p.name), S(k), S(v)});
  }
  auto members = [&](const std::string& t, const char* kind, const std::string& owner, const NbSelectorSet& m) {
    for (const auto& p : m.ports) add("GroupPort", {S(t), S(kind), S(owner), S(p)});
    for (const auto& [k, v] : m.selector) add("GroupSelector", {S(t), S(kind), S(owner), S(k), S(v)});
  };
  for (const auto& g : spec.groups) {
    for (const auto& p : g.prefixes) add("GroupPrefix", {S(g.tenant), S(g.name), Value::FromPrefix(p)});
    members(g.tenant, "group", g.name, g.members);
  }
  auto rules = [&](const std::string& t, const std::string& inst, const std::vector<NbRule>& rs) {
    for (const auto& r : rs) {
      add("FwRule", {S(t), S(inst), Value::Int(r.id), Value::Int(r.priority), S(r.text)});
      for (const auto& g : r.groups) add("FwRuleGroup", {S(t), S(inst), Value::Int(r.id), S(g)});
      if (!r.service.empty()) add("FwRuleService", {S(t), S(inst), Value::Int(r.id), S(r.service)});
    }
  };
  for (const auto& v : spec.services)
    add("ServiceVM", {S(v.tenant), S(v.name), S(v.on_failure), S(v.check), Value::Int(v.nth),
                      S(v.relay ? "true" : "false"), S(v.same_host), S(v.migration)});
  for (const auto& f : spec.firewalls) {
    add("Firewall", {S(f.tenant), S(f.name), S(f.placement), S(f.router), S(f.sw), S(f.default_action)});
    rules(f.tenant, f.name, f.rules);
  }
  for (const auto& v : spec.vnic_policies) {
    add("VnicPolicy", {S(v.tenant), S(v.name), S(v.default_action)});
    members(v.tenant, "vnic", v.name, v.applied_to);
    rules(v.tenant, v.name, v.rules);
  }
  std::sort(rows.begin(), rows.end(), [](const InputRow& a, const InputRow& b) {
    if (a.table != b.table) return a.table < b.table;
    return nlog::RowLess(a.row, b.row);
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const InputRow& a, const InputRow& b) { return a.table == b.table && a.row == b.row; }),
             rows.end());
  return rows;
}

}  // namespace rampart::controller
