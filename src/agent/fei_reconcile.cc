#include "agent/fei_reconcile.h"

#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "fwd/fei_server.h"
#include "fwd/service_registry.h"
#include "policy/policy_parser.h"
#include "policy/rule_line.h"

namespace rampart::agent {

namespace {

using nlohmann::json;

class FeiSocket final : public FeiApi {
 public:
  explicit FeiSocket(std::unique_ptr<fwd::FeiClient> c) : client_(std::move(c)) {}
  absl::StatusOr<json> Call(const std::string& method, const json& params) override { return client_->Call(method, params); }

 private:
  std::unique_ptr<fwd::FeiClient> client_;
};

std::optional<uint64_t> U64(const std::string& s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

struct Desired {
  struct Inst { std::string tenant, inst, name, default_action; };
  std::map<uint32_t, Inst> instances;
  std::map<uint16_t, json> tags;
  std::map<std::pair<std::string, std::string>, fwd::ServiceConfig> services;  // (tenant, name)
  std::vector<std::string> problems;
};

Desired DesiredState(const records::RecordSet& rs) {
  Desired d;
  for (const auto* r : rs.Table("Service")) {
    auto params = ServiceParams(*r);
    auto config = params.ok() ? fwd::ParseServiceConfig(*params) : absl::StatusOr<fwd::ServiceConfig>(params.status());
    if (!config.ok()) {
      d.problems.push_back(std::string(config.status().message()));
      continue;
    }
    d.services[{config->tenant, config->name}] = *config;
  }
  std::map<std::pair<std::string, std::string>, uint32_t> ids;
  for (const auto* r : rs.Table("Instance")) {
    if (r->values.size() != 5) continue;
    auto id = U64(r->values[4]);
    if (!id || *id == 0 || *id > 0xffffffffu) continue;
    d.instances[static_cast<uint32_t>(*id)] = {r->values[0], r->values[1], r->values[0] + "/" + r->values[1], r->values[3]};
    ids[{r->values[0], r->values[1]}] = static_cast<uint32_t>(*id);
  }
  for (const auto* r : rs.Table("Slice")) {
    if (r->values.size() != 7) continue;
    auto it = ids.find({r->values[0], r->values[1]});
    auto tag = U64(r->values[4]), ret = U64(r->values[5]), port = U64(r->values[6]);
    if (it == ids.end() || !tag || !ret || !port || *tag == 0 || *tag > 4094 || *ret == 0 || *ret > 4094) continue;
    d.tags[static_cast<uint16_t>(*tag)] = json{{"vid", *tag}, {"instance", it->second}, {"port", *port},
                                               {"direction", r->values[3]}, {"return_tag", *ret}};
  }
  return d;
}

absl::StatusOr<Policy> InstancePolicy(const records::RecordSet& rs, const std::string& tenant, const std::string& inst) {
  std::string default_action;
  for (const auto* r : rs.Table("Instance")) {
    if (r->values.size() == 5 && r->values[0] == tenant && r->values[1] == inst) default_action = r->values[3];
  }
  std::vector<policy::RuleRow> rules;
  for (const auto* r : rs.Table("FwRule")) {
    if (r->values.size() != 5 || r->values[0] != tenant || r->values[1] != inst) continue;
    auto id = U64(r->values[2]);
    int64_t prio = 0;
    auto [p, ec] = std::from_chars(r->values[3].data(), r->values[3].data() + r->values[3].size(), prio);
    if (!id || ec != std::errc() || p != r->values[3].data() + r->values[3].size()) {
      return absl::InvalidArgumentError(absl::StrCat("instance ", tenant, "/", inst, ": malformed ", records::ToString(*r)));
    }
    rules.push_back({static_cast<uint32_t>(*id), static_cast<int32_t>(prio), r->values[4]});
  }
  std::vector<policy::GroupRow> groups;
  for (const auto* r : rs.Table("FwGroup")) {
    if (r->values.size() != 4 || r->values[0] != tenant || r->values[1] != inst) continue;
    auto p = Prefix::Parse(r->values[3]);
    if (!p) return absl::InvalidArgumentError(absl::StrCat("instance ", tenant, "/", inst, ": bad prefix in ", records::ToString(*r)));
    groups.push_back({r->values[2], *p});
  }
  return policy::BuildPolicy(tenant + "/" + inst, rules, groups, default_action);
}

bool SameBinding(const json& a, const json& b) {
  for (const char* k : {"instance", "port", "direction", "return_tag"}) {
    if (!a.contains(k) || !b.contains(k) || a[k] != b[k]) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<json> ServiceParams(const records::Record& r) {
  static constexpr const char* kColumns[] = {"tenant", "name", "on_failure", "check", "nth", "relay", "same_host", "migration"};
  if (r.values.size() != 8) {
    return absl::InvalidArgumentError(absl::StrCat(records::ToString(r), ": a Service row has 8 columns, not ", r.values.size()));
  }
  json p = json::object();
  for (size_t i = 0; i < 8; ++i) p[kColumns[i]] = r.values[i];
  // nth and relay travel as numbers/booleans; a value that is neither stays a string, which the
  // validation below refuses naming the column.
  if (auto n = U64(r.values[4])) p["nth"] = *n;
  if (r.values[5] == "true" || r.values[5] == "false") p["relay"] = r.values[5] == "true";
  auto config = fwd::ParseServiceConfig(p);
  if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat(records::ToString(r), ": ", config.status().message()));
  return fwd::ServiceConfigJson(*config);
}

absl::StatusOr<std::unique_ptr<FeiApi>> ConnectFei(const std::string& socket_path) {
  auto c = fwd::FeiClient::Connect(socket_path);
  if (!c.ok()) return c.status();
  return std::unique_ptr<FeiApi>(new FeiSocket(std::move(*c)));
}

absl::StatusOr<std::string> InstancePolicyJson(const records::RecordSet& rs, const std::string& tenant,
                                               const std::string& inst) {
  auto p = InstancePolicy(rs, tenant, inst);
  if (!p.ok()) return p.status();
  return policy::PolicyToJson(*p);
}

absl::StatusOr<FeiReport> ReconcileFei(FeiApi& fei, const records::RecordSet& rs, FeiPhase phase) {
  FeiReport report;
  Desired want = DesiredState(rs);
  report.problems = want.problems;
  auto svc_list = fei.Call("service.list");
  if (!svc_list.ok()) return absl::Status(svc_list.status().code(), "service.list: " + Msg(svc_list.status()));
  std::map<std::pair<std::string, std::string>, std::optional<fwd::ServiceConfig>> have_services;
  for (const auto& e : (*svc_list).value("services", json::array())) {
    json p = json::object();
    for (const char* k : {"tenant", "name", "on_failure", "check", "nth", "relay", "same_host", "migration"}) {
      if (e.contains(k)) p[k] = e[k];
    }
    auto c = fwd::ParseServiceConfig(p);  // unreadable: replaced below
    have_services[{p.value("tenant", ""), p.value("name", "")}] = c.ok() ? std::optional(*c) : std::nullopt;
  }
  auto list = fei.Call("instance.list");
  if (!list.ok()) return absl::Status(list.status().code(), "instance.list: " + Msg(list.status()));
  std::map<uint32_t, std::string> have;  // id -> name
  std::map<uint32_t, std::string> have_tenant;  // only where rampart-fwd reports one
  for (const auto& i : (*list)["instances"]) {
    have[i["id"].get<uint32_t>()] = i.value("name", "");
    if (i.contains("tenant") && i["tenant"].is_string()) have_tenant[i["id"].get<uint32_t>()] = i["tenant"].get<std::string>();
  }
  auto tags = fei.Call("tag.list");
  if (!tags.ok()) return absl::Status(tags.status().code(), "tag.list: " + Msg(tags.status()));
  std::map<uint16_t, json> bound;
  for (const auto& b : (*tags)["bindings"]) bound[b["vid"].get<uint16_t>()] = b;

  if (phase == FeiPhase::kRemove) {
    for (const auto& [vid, b] : bound) {
      if (want.tags.count(vid)) continue;
      if (auto r = fei.Call("tag.unbind", {{"vid", vid}}); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("tag.unbind ", vid, ": ", Msg(r.status())));
      ++report.tags_unbound;
    }
    for (const auto& [id, name] : have) {
      if (want.instances.count(id)) continue;
      if (auto r = fei.Call("instance.delete", {{"id", id}}); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("instance.delete ", id, " (", name, "): ", Msg(r.status())));
      ++report.instances_deleted;
    }
    for (const auto& [key, c] : have_services) {
      if (want.services.count(key)) continue;
      if (auto r = fei.Call("service.delete", {{"tenant", key.first}, {"name", key.second}}); !r.ok()) {
        return absl::Status(r.status().code(), absl::StrCat("service.delete ", key.first, "/", key.second, ": ", Msg(r.status())));
      }
      ++report.services_deleted;
    }
    return report;
  }

  for (const auto& [key, c] : want.services) {
    auto h = have_services.find(key);
    if (h != have_services.end() && h->second && *h->second == c) continue;
    if (auto r = fei.Call("service.set", fwd::ServiceConfigJson(c)); !r.ok()) {
      return absl::Status(r.status().code(), absl::StrCat("service.set ", key.first, "/", key.second, ": ", Msg(r.status())));
    }
    ++report.services_set;
  }

  for (const auto& [id, inst] : want.instances) {
    auto h = have.find(id);
    bool fresh = false;
    auto ht = have_tenant.find(id);
    if (h != have.end() && (h->second != inst.name || (ht != have_tenant.end() && ht->second != inst.tenant))) {
      // The id now belongs to another instance: the old one goes with its state.
      if (auto r = fei.Call("instance.delete", {{"id", id}}); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("instance.delete ", id, " (", h->second, "): ", Msg(r.status())));
      ++report.instances_deleted;
      for (auto it = bound.begin(); it != bound.end();) it = (*it).second.value("instance", 0u) == id ? bound.erase(it) : std::next(it);
      h = have.end();
    }
    if (h == have.end()) {
      auto r = fei.Call("instance.create", {{"id", id}, {"name", inst.name}, {"tenant", inst.tenant}, {"options", json::object()}});
      if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("instance.create ", id, " (", inst.name, "): ", Msg(r.status())));
      ++report.instances_created;
      fresh = true;
    }
    auto desired = InstancePolicy(rs, inst.tenant, inst.inst);
    if (!desired.ok()) return desired.status();
    bool same = false;
    if (!fresh) {
      auto cur = fei.Call("policy.get", {{"instance", id}});
      if (cur.ok() && (*cur).contains("policy") && (*cur)["policy"].is_string()) {
        auto parsed = ParsePolicyYaml((*cur)["policy"].get<std::string>(), "policy.get");
        if (parsed.ok()) {
          Policy a = *desired, b = *parsed;
          a.name.clear();
          b.name.clear();
          same = PolicyEquals(a, b);
        }
      }
    }
    if (!same) {
      auto r = fei.Call("policy.set", {{"instance", id}, {"policy", policy::PolicyToJson(*desired)}, {"name", absl::StrCat("instance ", id, " (", inst.name, ") policy")}});
      if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("policy.set ", id, " (", inst.name, "): ", Msg(r.status())));
      ++report.policies_set;
    }
  }
  for (const auto& [vid, b] : want.tags) {
    auto it = bound.find(vid);
    if (it != bound.end() && SameBinding(it->second, b)) continue;
    if (it != bound.end()) {
      if (auto r = fei.Call("tag.unbind", {{"vid", vid}}); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("tag.unbind ", vid, ": ", Msg(r.status())));
      ++report.tags_unbound;
    }
    if (auto r = fei.Call("tag.bind", b); !r.ok()) return absl::Status(r.status().code(), absl::StrCat("tag.bind ", vid, ": ", Msg(r.status())));
    ++report.tags_bound;
  }
  return report;
}

}  // namespace rampart::agent
