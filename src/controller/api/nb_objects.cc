#include "controller/api/nb_objects.h"

#include <algorithm>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ip.h"
#include "nlog/value.h"
#include "nlohmann/json.hpp"

namespace rampart::controller {
namespace {

bool TenantLess(const std::string& kind) { return kind == "Tenant" || kind == "Host"; }

// The key must agree with the object's own kind/tenant/name.
absl::Status CheckKeyMatches(const NbObjectId& id, std::string_view key, std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(std::string(key), ": stored value is not a JSON object"));
  auto str = [&](const char* f) -> std::string {
    auto it = j.find(f);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  NbObjectId in{str("kind"), TenantLess(id.kind) ? "" : str("tenant"), str("name")};
  if (in != id)
    return absl::InvalidArgumentError(absl::StrCat(std::string(key), ": stored object is ", NbObjectName(in),
                                                   ", which does not match its key"));
  return absl::OkStatus();
}

}  // namespace

std::string NbObjectKey(const NbObjectId& id) {
  return absl::StrCat(std::string(kNbPrefix), id.kind, "/", id.tenant.empty() ? "-" : id.tenant, "/", id.name);
}

std::string NbObjectName(const NbObjectId& id) {
  return id.tenant.empty() ? absl::StrCat(id.kind, " ", id.name) : absl::StrCat(id.kind, " ", id.tenant, "/", id.name);
}

absl::StatusOr<NbObjectId> ParseNbObjectKey(std::string_view key) {
  if (key.substr(0, kNbPrefix.size()) != kNbPrefix)
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(key), "' is not under ", std::string(kNbPrefix)));
  std::vector<std::string> parts = absl::StrSplit(std::string(key.substr(kNbPrefix.size())), '/');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || parts[2].empty())
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(key), "' is not ", std::string(kNbPrefix), "<Kind>/<tenant>/<name>"));
  const auto& kinds = NbKinds();
  if (std::find(kinds.begin(), kinds.end(), parts[0]) == kinds.end())
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(key), "': unknown kind '", parts[0], "'"));
  NbObjectId id{parts[0], parts[1], parts[2]};
  if (TenantLess(id.kind)) {
    if (id.tenant != "-")
      return absl::InvalidArgumentError(absl::StrCat("'", std::string(key), "': a ", id.kind, " has no tenant (use '-')"));
    id.tenant.clear();
  } else if (id.tenant == "-") {
    return absl::InvalidArgumentError(absl::StrCat("'", std::string(key), "': a ", id.kind, " needs a tenant"));
  }
  return id;
}

absl::StatusOr<NbSpec> ParseStoredObjects(const std::vector<store::KeyValue>& kvs) {
  std::vector<NbSource> docs;
  docs.reserve(kvs.size());
  for (const auto& kv : kvs) {
    if (kv.key.compare(0, kNbPrefix.size(), kNbPrefix) != 0) continue;
    auto id = ParseNbObjectKey(kv.key);
    if (!id.ok()) return id.status();
    if (auto st = CheckKeyMatches(*id, kv.key, kv.value); !st.ok()) return st;
    docs.push_back(NbSource{kv.value, kv.key, 0, 0});
  }
  return ParseNbSources(docs);
}

absl::StatusOr<std::vector<InputRow>> ObjectRows(std::string_view key, std::string_view json) {
  auto id = ParseNbObjectKey(key);
  if (!id.ok()) return id.status();
  if (auto st = CheckKeyMatches(*id, key, json); !st.ok()) return st;
  auto spec = ParseNbDocumentAlone(NbSource{std::string(json), std::string(key), 0, 0});
  if (!spec.ok()) return spec.status();
  return SpecToRows(*spec);
}

absl::StatusOr<NbObjectDeps> ObjectDeps(const NbObjectId& id, std::string_view json) {
  // Read straight from the canonical JSON (no YAML or rule parsing: describe and delete look at
  // every stored object). Shapes were validated when the object was applied.
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError(absl::StrCat(NbObjectKey(id), ": stored value is not a JSON object"));
  NbObjectDeps deps;
  std::vector<NbReference>& out = deps.refs;
  const std::string& t = id.tenant;
  auto text = [](const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer() || v.is_boolean()) return v.dump();
    return "";
  };
  auto ref = [&](std::string field, const char* kind, const std::string& tenant, const nlohmann::json& name) {
    std::string n = text(name);
    if (!n.empty()) out.push_back({id, std::move(field), NbObjectId{kind, tenant, n}});
  };
  auto field = [&](const char* f) -> const nlohmann::json& {
    static const nlohmann::json kNull;
    auto it = j.find(f);
    return it == j.end() ? kNull : *it;
  };
  // Claims are "<what>/<tenant>/<value>", values in one normal form (a MAC or address written
  // two ways is one claim).
  auto claim = [&](const char* what, const std::string& value) {
    deps.unique.push_back(absl::StrCat(what, "/", t, "/", value));
  };
  if (!t.empty()) ref("tenant", "Tenant", "", nlohmann::json(t));
  if (id.kind == "LogicalSwitch") {
    claim("datapath", id.name);  // switches and routers share one namespace
  } else if (id.kind == "Port") {
    ref("switch", "LogicalSwitch", t, field("switch"));
    ref("host", "Host", "", field("host"));
    if (auto mac = nlog::Value::Parse(nlog::Type::kMac, text(field("mac"))))
      claim("mac", absl::StrCat(mac->AsMac()));
    const auto& ips = field("ips");
    for (size_t i = 0; ips.is_array() && i < ips.size(); ++i)
      if (auto ip = Ip::Parse(text(ips[i]))) claim("ip", ip->ToString());
  } else if (id.kind == "LogicalRouter") {
    claim("datapath", id.name);
    const auto& ports = field("ports");
    for (size_t i = 0; ports.is_array() && i < ports.size(); ++i)
      if (ports[i].is_object() && ports[i].contains("switch"))
        ref(absl::StrCat("ports[", i, "].switch"), "LogicalSwitch", t, ports[i]["switch"]);
    const auto& prs = field("policy_routes");
    for (size_t i = 0; prs.is_array() && i < prs.size(); ++i) {
      if (!prs[i].is_object() || !prs[i].contains("action")) continue;
      std::string a = text(prs[i]["action"]);
      if (a.rfind("firewall ", 0) == 0 && a.size() > 9)
        ref(absl::StrCat("policy_routes[", i, "].action"), "Firewall", t, nlohmann::json(a.substr(9)));
    }
  } else if (id.kind == "AddressGroup" || id.kind == "VnicPolicy") {
    if (id.kind == "VnicPolicy") claim("policy", id.name);  // firewalls and vNIC policies share one namespace
    const char* f = id.kind == "AddressGroup" ? "ports" : "applied_to";
    const auto& l = field(f);
    for (size_t i = 0; l.is_array() && i < l.size(); ++i)
      if (!l[i].is_object()) ref(absl::StrCat(f, "[", i, "]"), "Port", t, l[i]);
  } else if (id.kind == "Firewall") {
    claim("policy", id.name);
    const auto& pl = field("placement");
    if (pl.is_object() && pl.contains("attached_to_router")) {
      ref("placement.attached_to_router", "LogicalRouter", t, pl["attached_to_router"]);
    } else if (pl.is_object() && pl.contains("inline") && pl["inline"].is_object()) {
      const auto& in = pl["inline"];
      if (in.contains("router")) ref("placement.inline.router", "LogicalRouter", t, in["router"]);
      if (in.contains("switch")) ref("placement.inline.switch", "LogicalSwitch", t, in["switch"]);
      if (in.contains("router") && in.contains("switch"))
        claim("inline", absl::StrCat(text(in["switch"]), "/", text(in["router"])));
    }
  }
  // Rules name address groups as {group: NAME} anywhere inside.
  std::set<std::string> groups;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
    if (v.is_array()) {
      for (const auto& e : v) walk(e);
    } else if (v.is_object()) {
      for (const auto& [k, e] : v.items()) {
        if (k == "group" && !text(e).empty()) groups.insert(text(e));
        walk(e);
      }
    }
  };
  walk(field("rules"));
  for (const auto& g : groups) ref("rules", "AddressGroup", t, nlohmann::json(g));
  // A redirect rule names a ServiceVM of the tenant (`redirect_to` of a rule; the rule parser
  // refuses redirect_to with any other action).
  const auto& rules = field("rules");
  for (size_t i = 0; rules.is_array() && i < rules.size(); ++i)
    if (rules[i].is_object() && rules[i].contains("redirect_to"))
      ref(absl::StrCat("rules[", i, "].redirect_to"), "ServiceVM", t, rules[i]["redirect_to"]);
  return deps;
}

absl::StatusOr<std::vector<NbReference>> ObjectReferences(const NbObjectId& id, std::string_view json) {
  auto deps = ObjectDeps(id, json);
  if (!deps.ok()) return deps.status();
  return std::move(deps->refs);
}

}  // namespace rampart::controller
