#include "fwd/service_registry.h"

#include <array>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rampart::fwd {

using nlohmann::json;

namespace {

constexpr size_t kMaxNameLen = 255;

template <typename E, size_t N>
struct Names {
  std::array<std::pair<E, const char*>, N> v;
  const char* Of(E e) const {
    for (const auto& [k, s] : v) {
      if (k == e) return s;
    }
    return "?";
  }
  std::string List() const {
    std::string out;
    for (const auto& [k, s] : v) absl::StrAppend(&out, out.empty() ? "" : ", ", s);
    return out;
  }
};

constexpr Names<OnFailure, 2> kOnFailure{{{{OnFailure::kDrop, "drop"}, {OnFailure::kAllow, "allow"}}}};
constexpr Names<ServiceCheck, 3> kCheck{
    {{{ServiceCheck::kCached, "cached"}, {ServiceCheck::kEveryPacket, "every-packet"}, {ServiceCheck::kEveryNth, "every-nth"}}}};
constexpr Names<SameHost, 3> kSameHost{
    {{{SameHost::kBoth, "both"}, {SameHost::kSource, "source"}, {SameHost::kDestination, "destination"}}}};
constexpr Names<MigrationMode, 3> kMigration{
    {{{MigrationMode::kEngine, "engine"}, {MigrationMode::kSvmReview, "svm-review"}, {MigrationMode::kSvm, "svm"}}}};

absl::Status Bad(const char* method, const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(method, ": field '", field, "': ", why));
}

template <typename E, size_t N>
absl::Status Enum(const json& p, const char* method, const char* field, const Names<E, N>& names, E* out) {
  if (!p.contains(field)) return absl::OkStatus();
  const json& v = p[field];
  if (!v.is_string()) return Bad(method, field, absl::StrCat("must be a string, one of ", names.List()));
  const std::string s = v.get<std::string>();
  for (const auto& [k, n] : names.v) {
    if (s == n) {
      *out = k;
      return absl::OkStatus();
    }
  }
  return Bad(method, field, absl::StrCat("'", s, "' is not one of ", names.List()));
}

absl::Status Name(const json& p, const char* method, const char* field, bool required, std::string* out) {
  if (!p.contains(field)) {
    return required ? Bad(method, field, "is required") : absl::OkStatus();
  }
  const json& v = p[field];
  if (!v.is_string()) return Bad(method, field, "must be a string");
  std::string s = v.get<std::string>();
  if (required && s.empty()) return Bad(method, field, "must not be empty");
  if (s.size() > kMaxNameLen) return Bad(method, field, absl::StrCat("is longer than ", kMaxNameLen, " bytes"));
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return Bad(method, field, "contains a control character");
  }
  *out = std::move(s);
  return absl::OkStatus();
}

absl::Status OnlyFields(const json& p, const char* method, std::initializer_list<std::string_view> known) {
  if (!p.is_object()) return absl::InvalidArgumentError(absl::StrCat(method, ": params must be an object"));
  for (const auto& [k, v] : p.items()) {
    bool ok = false;
    for (auto f : known) ok |= k == f;
    if (!ok) return Bad(method, k, "unknown field");
  }
  return absl::OkStatus();
}

}  // namespace

const char* OnFailureName(OnFailure v) { return kOnFailure.Of(v); }
const char* ServiceCheckName(ServiceCheck v) { return kCheck.Of(v); }
const char* SameHostName(SameHost v) { return kSameHost.Of(v); }
const char* MigrationModeName(MigrationMode v) { return kMigration.Of(v); }

absl::StatusOr<ServiceConfig> ParseServiceConfig(const json& p) {
  constexpr const char* m = "service.set";
  if (auto st = OnlyFields(p, m, {"tenant", "name", "on_failure", "check", "nth", "relay", "same_host", "migration"});
      !st.ok()) {
    return st;
  }
  ServiceConfig c;
  if (auto st = Name(p, m, "tenant", false, &c.tenant); !st.ok()) return st;
  if (auto st = Name(p, m, "name", true, &c.name); !st.ok()) return st;
  if (auto st = Enum(p, m, "on_failure", kOnFailure, &c.on_failure); !st.ok()) return st;
  if (auto st = Enum(p, m, "check", kCheck, &c.check); !st.ok()) return st;
  if (auto st = Enum(p, m, "same_host", kSameHost, &c.same_host); !st.ok()) return st;
  if (auto st = Enum(p, m, "migration", kMigration, &c.migration); !st.ok()) return st;
  if (p.contains("relay")) {
    if (!p["relay"].is_boolean()) return Bad(m, "relay", "must be true or false");
    c.relay = p["relay"].get<bool>();
  }
  if (p.contains("nth")) {
    const json& v = p["nth"];
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0) || v.get<uint64_t>() > 0xffffffffu) {
      return Bad(m, "nth", "must be an integer 0..4294967295");
    }
    c.nth = static_cast<uint32_t>(v.get<uint64_t>());
  }
  if (c.check == ServiceCheck::kEveryNth && c.nth < 2) {
    return Bad(m, "nth", absl::StrCat("check every-nth needs nth >= 2, not ", c.nth));
  }
  if (c.check != ServiceCheck::kEveryNth && c.nth != 0) {
    return Bad(m, "nth", absl::StrCat("must be 0 unless check is every-nth (check is ", ServiceCheckName(c.check), ")"));
  }
  if (c.relay && c.check == ServiceCheck::kEveryPacket) {
    return Bad(m, "relay", "must be false with check every-packet (no packet is answered from the cache)");
  }
  return c;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseServiceKey(const json& p) {
  constexpr const char* m = "service.delete";
  if (auto st = OnlyFields(p, m, {"tenant", "name"}); !st.ok()) return st;
  std::pair<std::string, std::string> key;
  if (auto st = Name(p, m, "tenant", false, &key.first); !st.ok()) return st;
  if (auto st = Name(p, m, "name", true, &key.second); !st.ok()) return st;
  return key;
}

json ServiceConfigJson(const ServiceConfig& c) {
  return {{"tenant", c.tenant},
          {"name", c.name},
          {"on_failure", OnFailureName(c.on_failure)},
          {"check", ServiceCheckName(c.check)},
          {"nth", c.nth},
          {"relay", c.relay},
          {"same_host", SameHostName(c.same_host)},
          {"migration", MigrationModeName(c.migration)}};
}

RedirectTotals ApplyServiceFailure(const ServiceTable& table, std::span<Frame> frames, WorkerServiceCounters& counters) {
  RedirectTotals t;
  const size_t n_table = table.by_id.size();
  const size_t n_cells = counters.size();
  for (Frame& f : frames) {
    if (f.verdict != Verdict::kRedirect) continue;
    ++t.redirected;
    const uint16_t id = f.service_id;
    if (id < n_cells) counters[id].redirected.Add(1);
    const ServiceFallback fb = id < n_table ? table.by_id[id] : ServiceFallback::kUnknown;
    switch (fb) {
      case ServiceFallback::kAllow:
        f.verdict = Verdict::kAllow;
        ++t.failure_allowed;
        if (id < n_cells) counters[id].failure_allowed.Add(1);
        break;
      case ServiceFallback::kDrop:
        f.verdict = Verdict::kDrop;
        ++t.failure_dropped;
        if (id < n_cells) counters[id].failure_dropped.Add(1);
        break;
      case ServiceFallback::kUnknown:
        f.verdict = Verdict::kDrop;
        ++t.unknown_service;
        break;
    }
  }
  return t;
}

ServiceRegistry::ServiceRegistry(Engine& engine, size_t max_services) : engine_(engine), max_services_(max_services) {
  for (int i = 0; i < engine.num_workers(); ++i) counters_.push_back(std::make_unique<WorkerServiceCounters>(max_services));
  Publish();
}

void ServiceRegistry::Publish() {
  auto t = std::make_shared<ServiceTable>();
  t->by_id.assign(max_services_, ServiceFallback::kUnknown);
  for (const auto& [key, v] : services_) {
    const auto& [config, id] = v;
    if (id < t->by_id.size()) {
      t->by_id[id] = config.on_failure == OnFailure::kAllow ? ServiceFallback::kAllow : ServiceFallback::kDrop;
    }
  }
  published_.store(std::shared_ptr<const ServiceTable>(std::move(t)), std::memory_order_release);
}

absl::StatusOr<bool> ServiceRegistry::Set(const ServiceConfig& config) {
  auto key = std::make_pair(config.tenant, config.name);
  auto it = services_.find(key);
  if (it != services_.end() && it->second.first == config) return false;
  auto id = engine_.InternService(config.tenant, config.name);
  if (!id.ok()) return id.status();
  if (*id >= max_services_) {
    return absl::ResourceExhaustedError(absl::StrCat("service ", config.tenant, "/", config.name, ": id ", *id,
                                                     " is beyond the registry's ", max_services_, " entries"));
  }
  services_[key] = {config, *id};
  Publish();
  return true;
}

absl::Status ServiceRegistry::Delete(const std::string& tenant, const std::string& name) {
  if (services_.erase({tenant, name}) == 0) {
    return absl::NotFoundError(absl::StrCat("service '", name, "' of tenant '", tenant, "' is not registered"));
  }
  Publish();
  return absl::OkStatus();
}

ServiceRegistry::Entry ServiceRegistry::Summed(uint16_t id) const {
  Entry e;
  e.id = id;
  if (id >= max_services_) return e;
  for (const auto& c : counters_) {
    e.redirected += (*c)[id].redirected.Get();
    e.failure_dropped += (*c)[id].failure_dropped.Get();
    e.failure_allowed += (*c)[id].failure_allowed.Get();
  }
  return e;
}

std::vector<ServiceRegistry::Entry> ServiceRegistry::List() const {
  std::vector<Entry> out;
  for (const auto& [key, v] : services_) {
    Entry e = Summed(v.second);
    e.config = v.first;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<ServiceRegistry::Entry> ServiceRegistry::Unregistered() const {
  std::vector<Entry> out;
  const auto names = engine_.ServiceNames();
  for (size_t id = 0; id < names.size(); ++id) {
    if (services_.count({names[id].tenant, names[id].name})) continue;
    Entry e = Summed(static_cast<uint16_t>(id));
    e.config.tenant = names[id].tenant;
    e.config.name = names[id].name;
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace rampart::fwd
