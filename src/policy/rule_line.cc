#include "policy/rule_line.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace rampart::policy {

namespace {

// Debian's abseil has its own string_view type.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view S(absl::string_view s) { return std::string_view(s.data(), s.size()); }

bool ParseUint(std::string_view s, uint32_t max, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

absl::Status ParseSide(std::string_view v, AddressSpec* out) {
  if (v == "any") return absl::OkStatus();
  for (absl::string_view item_a : absl::StrSplit(A(v), ',')) {
    std::string_view item = S(item_a);
    if (item.substr(0, 6) == "group:") {
      if (item.size() == 6) return absl::InvalidArgumentError("empty group name");
      out->groups.emplace_back(item.substr(6));
      continue;
    }
    auto p = Prefix::Parse(item);
    if (!p) return absl::InvalidArgumentError(absl::StrCat("bad address '", A(item), "'"));
    out->prefixes.push_back(*p);
  }
  return absl::OkStatus();
}

absl::Status ParsePorts(std::string_view v, std::vector<PortRange>* out) {
  for (absl::string_view item_a : absl::StrSplit(A(v), ',')) {
    std::string_view item = S(item_a);
    uint32_t lo = 0, hi = 0;
    size_t dash = item.find('-');
    bool ok = dash == std::string_view::npos
                  ? ParseUint(item, 65535, &lo) && (hi = lo, true)
                  : ParseUint(item.substr(0, dash), 65535, &lo) && ParseUint(item.substr(dash + 1), 65535, &hi);
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad port or range '", A(item), "'"));
    if (lo > hi) return absl::InvalidArgumentError(absl::StrCat("port range '", A(item), "' is reversed"));
    out->push_back(PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
  }
  return absl::OkStatus();
}

std::string PortsText(const std::vector<PortRange>& v) {
  std::vector<std::string> s;
  for (const auto& r : v) s.push_back(r.lo == r.hi ? std::to_string(r.lo) : absl::StrCat(r.lo, "-", r.hi));
  return absl::StrJoin(s, ",");
}

std::string SideText(const AddressSpec& a) {
  if (a.IsAny()) return "any";
  std::vector<std::string> s;
  for (const auto& p : a.prefixes) s.push_back(p.ToString());
  for (const auto& g : a.groups) s.push_back("group:" + g);
  return absl::StrJoin(s, ",");
}

std::string ProtoName(uint8_t p) {
  switch (p) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 58: return "icmpv6";
    default: return std::to_string(p);
  }
}

const char* ActionText(Action a) {
  switch (a) {
    case Action::kAllow: return "allow";
    case Action::kDrop: return "drop";
    case Action::kReject: return "reject";
    default: return "redirect";
  }
}

}  // namespace

absl::StatusOr<Rule> ParseRuleLine(std::string_view line) {
  Rule r;
  std::set<std::string> seen;
  bool have_action = false;
  size_t pos = 0;
  int index = 0;
  while (pos < line.size()) {
    if (line[pos] == ' ') {
      ++pos;
      continue;
    }
    ++index;
    size_t end = line.find(' ', pos);
    std::string_view tok = line.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    // name= is last and takes the rest of the line (a label may contain spaces).
    if (tok.substr(0, 5) == "name=") tok = line.substr(pos), end = std::string_view::npos;
    pos = end == std::string_view::npos ? line.size() : end;
    auto fail = [&](std::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("rule line: token ", index, " '", A(tok), "': ", A(why)));
    };
    size_t eq = tok.find('=');
    std::string key(tok.substr(0, eq));
    std::string_view val = eq == std::string_view::npos ? std::string_view() : tok.substr(eq + 1);
    if (!seen.insert(key).second) return fail("given twice");
    if (eq == std::string_view::npos) {
      if (key == "log") r.log = true;
      else if (key == "stateless") r.stateless = true;
      else return fail("unknown flag (log, stateless)");
      continue;
    }
    if (key == "dir") {
      if (val == "any") r.direction_mask = 3;
      else if (val == "from-vm") r.direction_mask = 1;
      else if (val == "to-vm") r.direction_mask = 2;
      else return fail("direction must be any, from-vm or to-vm");
    } else if (key == "family") {
      if (val == "ipv4") r.family = 4;
      else if (val == "ipv6") r.family = 6;
      else return fail("family must be ipv4 or ipv6");
    } else if (key == "proto") {
      uint32_t n = 0;
      if (val == "any") r.proto.reset();
      else if (val == "icmp") r.proto = 1;
      else if (val == "tcp") r.proto = 6;
      else if (val == "udp") r.proto = 17;
      else if (val == "icmpv6") r.proto = 58;
      else if (ParseUint(val, 255, &n)) r.proto = static_cast<uint8_t>(n);
      else return fail("protocol must be any, tcp, udp, icmp, icmpv6 or 0..255");
    } else if (key == "src" || key == "dst") {
      if (auto st = ParseSide(val, key == "src" ? &r.src : &r.dst); !st.ok()) return fail(S(st.message()));
    } else if (key == "sport" || key == "dport") {
      if (auto st = ParsePorts(val, key == "sport" ? &r.sports : &r.dports); !st.ok()) return fail(S(st.message()));
    } else if (key == "icmp_type" || key == "icmp_code") {
      uint32_t n = 0;
      if (!ParseUint(val, 255, &n)) return fail("must be 0..255");
      (key == "icmp_type" ? r.icmp_type : r.icmp_code) = static_cast<uint8_t>(n);
    } else if (key == "action") {
      have_action = true;
      if (val == "allow") r.action = Action::kAllow;
      else if (val == "drop") r.action = Action::kDrop;
      else if (val == "reject") r.action = Action::kReject;
      else if (val.substr(0, 9) == "redirect:" && val.size() > 9) {
        r.action = Action::kRedirect;
        r.redirect_service = std::string(val.substr(9));
      } else {
        return fail("action must be allow, drop, reject or redirect:SERVICE");
      }
    } else if (key == "name") {
      if (val.empty()) return fail("empty name");
      r.name = std::string(val);
    } else {
      return fail("unknown field (dir, family, proto, src, dst, sport, dport, icmp_type, icmp_code, action, log, stateless, name)");
    }
  }
  if (!have_action) return absl::InvalidArgumentError(absl::StrCat("rule line '", A(line), "': no action= given"));
  return r;
}

std::string RuleLine(const Rule& r) {
  std::string dir = r.direction_mask == 3 ? "any" : (r.direction_mask == 1 ? "from-vm" : "to-vm");
  std::string out = absl::StrCat("dir=", dir);
  if (r.family) absl::StrAppend(&out, " family=ipv", r.family);
  absl::StrAppend(&out, " proto=", r.proto ? ProtoName(*r.proto) : "any");
  absl::StrAppend(&out, " src=", SideText(r.src), " dst=", SideText(r.dst));
  if (!r.sports.empty()) absl::StrAppend(&out, " sport=", PortsText(r.sports));
  if (!r.dports.empty()) absl::StrAppend(&out, " dport=", PortsText(r.dports));
  if (r.icmp_type) absl::StrAppend(&out, " icmp_type=", *r.icmp_type);
  if (r.icmp_code) absl::StrAppend(&out, " icmp_code=", *r.icmp_code);
  absl::StrAppend(&out, " action=", ActionText(r.action));
  if (r.action == Action::kRedirect) absl::StrAppend(&out, ":", r.redirect_service);
  if (r.log) absl::StrAppend(&out, " log");
  if (r.stateless) absl::StrAppend(&out, " stateless");
  if (!r.name.empty()) absl::StrAppend(&out, " name=", r.name);
  return out;
}

absl::StatusOr<Policy> BuildPolicy(std::string_view name, const std::vector<RuleRow>& rules,
                                   const std::vector<GroupRow>& groups, std::string_view default_action) {
  Policy p;
  p.name = std::string(name);
  if (default_action == "allow") p.default_action = Action::kAllow;
  else if (default_action == "drop") p.default_action = Action::kDrop;
  else if (default_action == "reject") p.default_action = Action::kReject;
  else return absl::InvalidArgumentError(absl::StrCat("policy '", A(name), "': default action '", A(default_action), "' is not allow, drop or reject"));
  std::vector<const RuleRow*> order;
  for (const auto& r : rules) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const RuleRow* a, const RuleRow* b) {
    return a->priority != b->priority ? a->priority < b->priority : a->id < b->id;
  });
  std::map<std::string, std::vector<Prefix>> by_group;
  for (const auto& g : groups) by_group[g.group].push_back(g.prefix);
  std::set<uint32_t> ids;
  for (const RuleRow* row : order) {
    if (!ids.insert(row->id).second) return absl::InvalidArgumentError(absl::StrCat("policy '", A(name), "': rule ", row->id, " given twice"));
    auto r = ParseRuleLine(row->text);
    if (!r.ok()) return absl::InvalidArgumentError(absl::StrCat("policy '", A(name), "': rule ", row->id, ": ", std::string(r.status().message())));
    r->id = row->id;
    r->priority = row->priority;
    for (const auto* side : {&r->src, &r->dst})
      for (const auto& g : side->groups) by_group.try_emplace(g);
    p.rules.push_back(std::move(*r));
  }
  for (auto& [g, prefixes] : by_group) {
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    p.groups.push_back(AddressGroup{g, prefixes});
  }
  return p;
}

std::string PolicyToJson(const Policy& p) {
  using nlohmann::json;
  auto ports = [](const std::vector<PortRange>& v) {
    json a = json::array();
    for (const auto& r : v) {
      if (r.lo == r.hi) a.push_back(r.lo);
      else a.push_back(absl::StrCat(r.lo, "-", r.hi));
    }
    return a;
  };
  auto side = [](const AddressSpec& s) {
    json a = json::array();
    for (const auto& x : s.prefixes) a.push_back(x.ToString());
    for (const auto& g : s.groups) a.push_back(json{{"group", g}});
    return a;
  };
  json doc;
  doc["kind"] = "FirewallPolicy";
  if (!p.name.empty()) doc["name"] = p.name;
  doc["default"] = ActionText(p.default_action);
  if (p.default_log) doc["default_log"] = true;
  json groups = json::array();
  for (const auto& g : p.groups) {
    json pf = json::array();
    for (const auto& x : g.prefixes) pf.push_back(x.ToString());
    groups.push_back(json{{"name", g.name}, {"prefixes", pf}});
  }
  doc["address_groups"] = groups;
  json rules = json::array();
  for (const auto& r : p.rules) {
    json j;
    j["id"] = r.id;
    if (!r.name.empty()) j["name"] = r.name;
    j["priority"] = r.priority;
    j["direction"] = r.direction_mask == 3 ? "any" : (r.direction_mask == 1 ? "from-vm" : "to-vm");
    if (r.family) j["family"] = r.family == 4 ? "ipv4" : "ipv6";
    if (!r.src.IsAny()) j["source"] = side(r.src);
    if (!r.dst.IsAny()) j["destination"] = side(r.dst);
    if (r.proto) {
      std::string n = ProtoName(*r.proto);
      if (n[0] >= '0' && n[0] <= '9') j["protocol"] = *r.proto;
      else j["protocol"] = n;
    }
    if (!r.sports.empty()) j["source_ports"] = ports(r.sports);
    if (!r.dports.empty()) j["destination_ports"] = ports(r.dports);
    if (r.icmp_type) j["icmp_type"] = *r.icmp_type;
    if (r.icmp_code) j["icmp_code"] = *r.icmp_code;
    j["action"] = ActionText(r.action);
    if (r.action == Action::kRedirect) j["redirect_to"] = r.redirect_service;
    if (r.log) j["log"] = true;
    if (r.stateless) j["stateless"] = true;
    rules.push_back(std::move(j));
  }
  doc["rules"] = rules;
  return doc.dump();
}

}  // namespace rampart::policy
