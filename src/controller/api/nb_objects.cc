#include "controller/api/nb_objects.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

absl::StatusOr<std::vector<NbReference>> ObjectReferences(const NbObjectId& id, std::string_view json) {
  auto spec = ParseNbDocumentAlone(NbSource{std::string(json), NbObjectKey(id), 0, 0});
  if (!spec.ok()) return spec.status();
  std::vector<NbReference> out;
  auto ref = [&](std::string field, std::string kind, std::string tenant, std::string name) {
    out.push_back({id, std::move(field), NbObjectId{std::move(kind), std::move(tenant), std::move(name)}});
  };
  const std::string& t = id.tenant;
  if (!t.empty()) ref("tenant", "Tenant", "", t);
  auto rules = [&](const std::vector<NbRule>& rs) {
    std::set<std::string> groups;
    for (const auto& r : rs) groups.insert(r.groups.begin(), r.groups.end());
    for (const auto& g : groups) ref("rules", "AddressGroup", t, g);
  };
  auto members = [&](const NbSelectorSet& m, const std::string& field) {
    for (size_t i = 0; i < m.ports.size(); ++i) ref(absl::StrCat(field, "[", i, "]"), "Port", t, m.ports[i]);
  };
  for (const auto& r : spec->routers) {
    for (size_t i = 0; i < r.ports.size(); ++i) ref(absl::StrCat("ports[", i, "].switch"), "LogicalSwitch", t, r.ports[i].sw);
    for (size_t i = 0; i < r.policy_routes.size(); ++i)
      if (!r.policy_routes[i].firewall.empty())
        ref(absl::StrCat("policy_routes[", i, "].action"), "Firewall", t, r.policy_routes[i].firewall);
  }
  for (const auto& p : spec->ports) {
    ref("switch", "LogicalSwitch", t, p.sw);
    if (!p.host.empty()) ref("host", "Host", "", p.host);
  }
  for (const auto& g : spec->groups) members(g.members, "ports");
  for (const auto& f : spec->firewalls) {
    if (f.placement == "attached") {
      ref("placement.attached_to_router", "LogicalRouter", t, f.router);
    } else {
      ref("placement.inline.router", "LogicalRouter", t, f.router);
      ref("placement.inline.switch", "LogicalSwitch", t, f.sw);
    }
    rules(f.rules);
  }
  for (const auto& v : spec->vnic_policies) {
    members(v.applied_to, "applied_to");
    rules(v.rules);
  }
  return out;
}

}  // namespace rampart::controller
