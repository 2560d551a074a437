#include "controller/api/api_server.h"

// CPPHTTPLIB_OPENSSL_SUPPORT (TLS) comes from cpp-httplib.pc, as the library was built with it.
#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>
#include <optional>
#include <thread>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/api/nb_catalog.h"
#include "controller/api/nb_objects.h"
#include "controller/api/openapi_doc.h"
#include "controller/nb_spec.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace rampart::controller {

using nlohmann::json;

// Every NB write also puts this key (outside /rampart/nb/, so watchers of the objects do not see
// it) and compares its mod_revision as read: an apply validated against one set of objects can
// never commit over a set another writer changed meanwhile (references stay valid).
static constexpr char kGuardKey[] = "/rampart/nb-guard";

absl::StatusOr<std::vector<ApiToken>> LoadTokensFile(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read tokens file: ", e.what()));
  }
  if (!root.IsSequence())
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected a list of {token, name, role, tenant}"));
  std::vector<ApiToken> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const YAML::Node& e = root[i];
    std::string where = absl::StrCat(path, ": entry ", i + 1);
    if (!e.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, ": expected a map"));
    ApiToken t;
    for (const auto& kv : e) {
      std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (!kv.second.IsScalar())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", k, ": expected a word"));
      if (k == "token") t.token = kv.second.Scalar();
      else if (k == "name") t.name = kv.second.Scalar();
      else if (k == "role") t.role = kv.second.Scalar();
      else if (k == "tenant") t.tenant = kv.second.Scalar();
      else return absl::InvalidArgumentError(absl::StrCat(where, ": unknown field '", k, "' (known: token, name, role, tenant)"));
    }
    if (t.token.size() < 16)
      return absl::InvalidArgumentError(absl::StrCat(where, ": token: must be at least 16 characters"));
    if (t.role != "datacenter-admin" && t.role != "tenant-admin" && t.role != "read-only")
      return absl::InvalidArgumentError(absl::StrCat(where, ": role: expected datacenter-admin, tenant-admin or read-only, got '", t.role, "'"));
    if (t.role == "tenant-admin" && t.tenant.empty())
      return absl::InvalidArgumentError(absl::StrCat(where, ": tenant: a tenant-admin needs its tenant"));
    if (t.name.empty()) t.name = t.role;
    out.push_back(std::move(t));
  }
  return out;
}

namespace {

struct ApiError {
  int status;
  std::string code;
  std::string message;
  std::vector<std::string> details;
};

ApiResponse ErrorResponse(const ApiError& e) {
  json j = {{"error", {{"code", e.code}, {"message", e.message}, {"details", e.details}}}};
  // Messages may quote what the user sent: replace invalid UTF-8 rather than throw.
  return ApiResponse{e.status, j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json"};
}

ApiResponse JsonResponse(int status, const json& j) {
  return ApiResponse{status, j.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json"};
}

ApiError StoreError(const absl::Status& st) {
  return ApiError{503, "unavailable", absl::StrCat("store unavailable: ", st.message()), {}};
}

bool TenantLess(const std::string& kind) { return kind == "Tenant" || kind == "Host"; }

json ObjectJson(const NbObjectId& id, const store::KeyValue& kv) {
  json spec = json::parse(kv.value, nullptr, false);
  return json{{"kind", id.kind},
              {"tenant", id.tenant},
              {"name", id.name},
              {"key", kv.key},
              {"revision", kv.mod_revision},
              {"create_revision", kv.create_revision},
              {"version", kv.version},
              {"spec", spec.is_discarded() ? json(kv.value) : spec}};
}

}  // namespace

class ApiServer::Impl {
 public:
  Impl(store::Store* store, ApiOptions options) : store_(store), options_(std::move(options)), tokens_(options_.tokens) {}

  struct Caller {
    const ApiToken* token = nullptr;
    bool admin() const { return token->role == "datacenter-admin"; }
    std::string Who() const {
      return token->tenant.empty() ? absl::StrCat(token->role, " '", token->name, "'")
                                   : absl::StrCat(token->role, " '", token->name, "' of tenant '", token->tenant, "'");
    }
  };

  absl::Status LoadTokens() {
    tokens_ = options_.tokens;
    if (!options_.tokens_file.empty()) {
      auto t = LoadTokensFile(options_.tokens_file);
      if (!t.ok()) return t.status();
      tokens_.insert(tokens_.end(), t->begin(), t->end());
    }
    return absl::OkStatus();
  }

  // ---- RBAC ----
  bool CanRead(const Caller& c, const NbObjectId& id) const {
    const ApiToken& t = *c.token;
    if (t.role == "datacenter-admin" || t.tenant.empty()) return true;  // incl. unscoped read-only
    if (id.kind == "Host") return true;
    if (id.kind == "Tenant") return id.name == t.tenant;
    return id.tenant == t.tenant;
  }
  std::optional<ApiError> CheckWrite(const Caller& c, const NbObjectId& id, const std::string& verb) const {
    const ApiToken& t = *c.token;
    if (t.role == "datacenter-admin") return std::nullopt;
    if (t.role == "read-only")
      return ApiError{403, "forbidden", absl::StrCat(c.Who(), " may not ", verb, " ", NbObjectName(id), ": the role is read-only"), {}};
    if (TenantLess(id.kind))
      return ApiError{403, "forbidden", absl::StrCat(c.Who(), " may not ", verb, " ", NbObjectName(id), ": only a datacenter-admin changes ", id.kind, "s"), {}};
    if (id.tenant != t.tenant)
      return ApiError{403, "forbidden", absl::StrCat(c.Who(), " may not ", verb, " ", NbObjectName(id), ": it belongs to tenant '", id.tenant, "'"), {}};
    return std::nullopt;
  }

  std::variant<Caller, ApiError> Authenticate(const std::string& authorization) const {
    static constexpr std::string_view kBearer = "Bearer ";
    if (authorization.empty())
      return ApiError{401, "unauthenticated", "missing 'Authorization: Bearer <token>' header", {}};
    if (authorization.compare(0, kBearer.size(), kBearer) != 0)
      return ApiError{401, "unauthenticated", "the Authorization header must be 'Bearer <token>'", {}};
    std::string_view tok = std::string_view(authorization).substr(kBearer.size());
    const ApiToken* found = nullptr;
    for (const ApiToken& t : tokens_) {  // compare every token in full: no early exit on a match
      bool eq = t.token.size() == tok.size();
      unsigned char diff = 0;
      for (size_t i = 0; i < t.token.size() && eq; ++i) diff |= static_cast<unsigned char>(t.token[i] ^ tok[i]);
      if (eq && diff == 0) found = &t;
    }
    if (!found) return ApiError{401, "unauthenticated", "unknown token", {}};
    return Caller{found};
  }

  ApiResponse Handle(const ApiRequest& r) {
    if (r.method == "GET" && r.path == "/healthz") {
      auto rev = store_->CurrentRevision();
      if (!rev.ok()) return ErrorResponse(StoreError(rev.status()));
      return JsonResponse(200, json{{"status", "ok"}, {"revision", *rev}});
    }
    if (r.method == "GET" && r.path == "/v1/openapi.yaml") return ApiResponse{200, kOpenApiYaml, "application/yaml"};
    auto who = Authenticate(r.authorization);
    if (auto* e = std::get_if<ApiError>(&who)) return ErrorResponse(*e);
    const Caller& c = std::get<Caller>(who);
    if (r.path == "/v1/status") {
      if (r.method != "GET") return ErrorResponse({405, "method_not_allowed", "use GET /v1/status", {}});
      return Status();
    }
    if (r.path == "/v1/apply") {
      if (r.method != "POST") return ErrorResponse({405, "method_not_allowed", "use POST /v1/apply", {}});
      auto it = r.query.find("dry_run");
      bool dry = it != r.query.end() && (it->second == "1" || it->second == "true");
      return Apply(c, r.files, dry);
    }
    if (r.path == "/v1/objects") {
      if (r.method != "GET") return ErrorResponse({405, "method_not_allowed", "use GET /v1/objects", {}});
      return List(c, r.query);
    }
    if (r.path.rfind("/v1/objects/", 0) == 0) {
      std::vector<std::string> parts = absl::StrSplit(r.path.substr(strlen("/v1/objects/")), '/');
      if (parts.size() != 3)
        return ErrorResponse({404, "not_found", absl::StrCat("'", r.path, "' is not /v1/objects/<Kind>/<tenant>/<name>"), {}});
      auto id = ParseNbObjectKey(absl::StrCat(std::string(kNbPrefix), parts[0], "/", parts[1], "/", parts[2]));
      if (!id.ok()) return ErrorResponse({404, "not_found", std::string(id.status().message()), {}});
      if (r.method == "GET") return Get(c, *id);
      if (r.method == "DELETE") {
        int64_t rev = -1;
        if (auto q = r.query.find("revision"); q != r.query.end() && (!absl::SimpleAtoi(q->second, &rev) || rev < 0))
          return ErrorResponse({400, "invalid", absl::StrCat("revision: expected a number >= 0, got '", q->second, "'"), {}});
        return Delete(c, *id, rev);
      }
      return ErrorResponse({405, "method_not_allowed", "use GET or DELETE on an object", {}});
    }
    return ErrorResponse({404, "not_found", absl::StrCat("no endpoint ", r.method, " ", r.path, " (see /v1/openapi.yaml)"), {}});
  }

 private:
  // ---- reads ----
  // The controller's own view (ApiOptions::status_json) plus the API server's: the store, its
  // revision, how many objects the validation index holds.
  ApiResponse Status() {
    json out = json::object();
    auto rev = store_->CurrentRevision();
    if (!rev.ok()) return ErrorResponse(StoreError(rev.status()));
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      out["api"] = json{{"store", store_->Describe()}, {"store_revision", *rev},
                        {"indexed_objects", catalog_.valid() ? static_cast<int64_t>(catalog_.objects().size()) : -1}};
    }
    if (!options_.status_json)
      return ErrorResponse({503, "unavailable", "this API server runs without a controller: no status to show", {}});
    json c = json::parse(options_.status_json(), nullptr, false);
    if (c.is_discarded() || !c.is_object())
      return ErrorResponse({500, "internal", "the controller's status is not a JSON object", {}});
    out["controller"] = std::move(c);
    return JsonResponse(200, out);
  }

  ApiResponse List(const Caller& c, const std::map<std::string, std::string>& q) {
    std::string kind = q.count("kind") ? q.at("kind") : "";
    std::string tenant = q.count("tenant") ? q.at("tenant") : "";
    const auto& kinds = NbKinds();
    if (!kind.empty() && std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
      return ErrorResponse({400, "invalid", absl::StrCat("kind: unknown kind '", kind, "' (known: ", absl::StrJoin(kinds, ", "), ")"), {}});
    const ApiToken& t = *c.token;
    if (!tenant.empty() && !t.tenant.empty() && t.role != "datacenter-admin" && tenant != t.tenant)
      return ErrorResponse({403, "forbidden", absl::StrCat(c.Who(), " may not list objects of tenant '", tenant, "'"), {}});
    std::string prefix(kNbPrefix);
    if (!kind.empty()) absl::StrAppend(&prefix, kind, "/");
    auto range = store_->Range(prefix);
    if (!range.ok()) return ErrorResponse(StoreError(range.status()));
    json objs = json::array();
    for (const auto& kv : range->kvs) {
      auto id = ParseNbObjectKey(kv.key);
      if (!id.ok()) continue;  // not an object key (written by something else)
      if (!tenant.empty() && id->tenant != tenant && !(id->kind == "Tenant" && id->name == tenant)) continue;
      if (!CanRead(c, *id)) continue;
      objs.push_back(ObjectJson(*id, kv));
    }
    return JsonResponse(200, json{{"revision", range->revision}, {"objects", objs}});
  }

  ApiResponse Get(const Caller& c, const NbObjectId& id) {
    if (!CanRead(c, id))
      return ErrorResponse({403, "forbidden", absl::StrCat(c.Who(), " may not read ", NbObjectName(id)), {}});
    std::lock_guard<std::mutex> lock(write_mu_);
    auto synced = SyncCatalog();
    if (auto* e = std::get_if<ApiError>(&synced)) return ErrorResponse(*e);
    const NbCatalog::Object* found = catalog_.Find(NbObjectKey(id));
    if (!found) return ErrorResponse({404, "not_found", absl::StrCat(NbObjectName(id), " does not exist"), {}});
    json j = ObjectJson(id, found->kv);
    json refs = json::array();
    for (const NbReference& ref : catalog_.Referrers(id)) {
      if (!CanRead(c, ref.from)) continue;  // a tenant-admin never learns of other tenants' objects
      refs.push_back(json{{"kind", ref.from.kind}, {"tenant", ref.from.tenant}, {"name", ref.from.name}, {"field", ref.field}});
    }
    j["referrers"] = refs;
    j["store_revision"] = catalog_.revision();
    return JsonResponse(200, j);
  }

  // Brings the catalog up to date and returns the guard key's mod_revision. Every API write
  // (from any controller) puts the guard key, so an unchanged guard means the objects are as the
  // catalog has them, unless something wrote /rampart/nb/ keys around the API: a watch on the
  // prefix reports every revision that changed an object, and a revision this server did not
  // commit forces a full re-read. The full re-read (every object; only changed ones are indexed
  // again) also runs on the first call and after the watch failed. REQUIRES: write_mu_ held.
  std::variant<int64_t, ApiError> SyncCatalog() {
    bool full = !catalog_.valid() || !watch_;
    if (!full) {
      std::vector<int64_t> seen;
      {
        std::lock_guard<std::mutex> l(watched_->mu);
        seen.swap(watched_->revisions);
        full = watched_->failed;
      }
      int64_t newest = 0;
      for (int64_t r : seen) {
        if (r <= synced_through_) continue;  // already in the last full read
        if (!own_revisions_.count(r)) full = true;  // somebody wrote an object around the API
        newest = std::max(newest, r);
      }
      // Events arrive in revision order, all of one revision together: older own revisions are done.
      own_revisions_.erase(own_revisions_.begin(), own_revisions_.lower_bound(newest));
    }
    if (!full) {
      auto guard = store_->Get(kGuardKey);
      if (!guard.ok()) return StoreError(guard.status());
      int64_t guard_rev = guard->has_value() ? (*guard)->mod_revision : 0;
      if (guard_rev == catalog_guard_rev_) return guard_rev;
    }
    auto range = store_->Range("/rampart/nb");  // the objects and the guard key, in one read
    if (!range.ok()) return StoreError(range.status());
    int64_t guard_rev = 0;
    for (const auto& kv : range->kvs)
      if (kv.key == kGuardKey) guard_rev = kv.mod_revision;
    own_revisions_.clear();
    if (auto st = catalog_.Sync(range->kvs, range->revision); !st.ok())
      return ApiError{500, "store_corrupt", absl::StrCat("a stored object cannot be read: ", st.message()), {}};
    catalog_guard_rev_ = guard_rev;
    synced_through_ = range->revision;
    if (!watch_ || watched_->failed) {
      watch_.reset();
      auto w = std::make_shared<Watched>();
      auto handle = store_->Watch(kNbPrefix, range->revision + 1,
                                  store::WatchCallbacks{[w](const std::vector<store::WatchEvent>& events) {
                                                          std::lock_guard<std::mutex> l(w->mu);
                                                          for (const auto& e : events) w->revisions.push_back(e.kv.mod_revision);
                                                        },
                                                        [w](const absl::Status&) {
                                                          std::lock_guard<std::mutex> l(w->mu);
                                                          w->failed = true;
                                                        }});
      if (handle.ok()) {  // else: no watch, a full read every time (correct, slower)
        watched_ = std::move(w);
        watch_ = std::move(*handle);
      }
    }
    return guard_rev;
  }

  // The catalog learns a write this server committed at `revision` (puts and deletes of objects).
  void Committed(const std::vector<std::pair<std::string, const std::string*>>& writes, int64_t revision) {
    for (const auto& [key, value] : writes) {
      if (!value) {
        catalog_.Erase(key);
        continue;
      }
      const NbCatalog::Object* old = catalog_.Find(key);
      store::KeyValue kv{key, *value, old ? old->kv.create_revision : revision, revision, old ? old->kv.version + 1 : 1, 0};
      if (!catalog_.Put(kv).ok()) catalog_.Invalidate();  // cannot happen for a validated object; re-read
    }
    catalog_.set_revision(revision);
    catalog_guard_rev_ = revision;
    own_revisions_.insert(revision);
  }

  // ---- writes ----
  struct Planned {
    NbDocument doc;
    NbObjectId id;
    std::string key;
    std::string result;  // created | updated | unchanged
    int64_t old_revision = 0;
  };

  ApiResponse Apply(const Caller& c, const std::vector<std::pair<std::string, std::string>>& files, bool dry) {
    if (files.empty()) return ErrorResponse({400, "invalid", "the request has no documents", {}});
    // 1. Every document alone.
    std::vector<NbDocument> docs;
    std::vector<std::string> errors;
    for (const auto& [name, text] : files) {
      auto d = ParseNbDocuments(text, name, &errors, /*keep_parsed=*/true);  // step 3 reuses the parse
      if (d.ok()) docs.insert(docs.end(), std::make_move_iterator(d->begin()), std::make_move_iterator(d->end()));
    }
    if (!errors.empty()) return ErrorResponse({400, "invalid", errors[0], errors});
    // 2. Each object once; the caller may write each.
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < docs.size(); ++i) {
      NbObjectId id{docs[i].kind, docs[i].tenant, docs[i].name};
      std::string key = NbObjectKey(id);
      if (auto [it, fresh] = seen.emplace(key, i); !fresh)
        return ErrorResponse({400, "invalid", absl::StrCat(DocName(docs[i]), ": ", NbObjectName(id), " is given twice in this apply (also ", DocName(docs[it->second]), ")"), {}});
      if (auto e = CheckWrite(c, id, "change")) return ErrorResponse(*e);
    }
    std::lock_guard<std::mutex> lock(write_mu_);
    for (int attempt = 0;; ++attempt) {
      auto synced = SyncCatalog();
      if (auto* e = std::get_if<ApiError>(&synced)) return ErrorResponse(*e);
      const int64_t guard_rev = std::get<int64_t>(synced);
      std::vector<Planned> plan;
      for (const NbDocument& d : docs) {
        Planned p{d, {d.kind, d.tenant, d.name}, "", "created", 0};
        p.key = NbObjectKey(p.id);
        if (const NbCatalog::Object* o = catalog_.Find(p.key)) {
          p.old_revision = o->kv.mod_revision;
          p.result = o->kv.value == d.json ? "unchanged" : "updated";
        }
        if (d.revision >= 0 && d.revision != p.old_revision)
          return ErrorResponse({409, "stale",
                                absl::StrCat(DocName(d), ": revision: stale: the document says revision ", d.revision,
                                             " but ", NbObjectName(p.id),
                                             p.old_revision ? absl::StrCat(" is at revision ", p.old_revision) : " does not exist",
                                             "; read it again (rampartctl get) and re-apply your change"), {}});
        plan.push_back(std::move(p));
      }
      // 3. References and unique claims: the changed documents with the stored objects they can
      //    affect or depend on (NbCatalog::Scope; the same verdict as checking every object).
      std::vector<NbCatalog::Change> changes;
      for (const Planned& p : plan) {
        if (p.result == "unchanged") continue;
        auto deps = ObjectDeps(p.id, p.doc.json);
        if (!deps.ok()) return ErrorResponse({400, "invalid", absl::StrCat(DocName(p.doc), ": ", deps.status().message()), {}});
        changes.push_back({p.key, std::move(*deps)});
      }
      if (!changes.empty()) {
        std::vector<std::string> scope = catalog_.Scope(changes);
        std::map<std::string, const NbSource*> given;  // documents of this apply, by key
        for (const Planned& p : plan) given[p.key] = &p.doc.source;
        std::vector<NbSource> merged;
        for (const std::string& key : scope) {
          // An unchanged document of this apply stands for its stored copy (errors name the file).
          auto g = given.find(key);
          merged.push_back(g != given.end() ? *g->second : NbSource{catalog_.Find(key)->kv.value, key, 0, 0});
        }
        for (const Planned& p : plan)
          if (p.result != "unchanged") merged.push_back(p.doc.source);
        auto spec = ParseNbSources(merged, &parse_cache_);
        if (!spec.ok()) return ErrorResponse({400, "invalid", std::string(spec.status().message()), {std::string(spec.status().message())}});
      }
      // 4. Commit every change at once.
      store::Txn txn;
      for (const Planned& p : plan) {
        if (p.result == "unchanged") continue;
        txn.compares.push_back(store::Compare::ModRevision(p.key, p.old_revision));
        txn.ops.push_back(store::Op::Put(p.key, p.doc.json));
      }
      int64_t revision = catalog_.revision();
      if (!txn.ops.empty() && !dry) {
        txn.compares.push_back(store::Compare::ModRevision(kGuardKey, guard_rev));
        txn.ops.push_back(store::Op::Put(kGuardKey, "apply"));
        auto res = store_->Commit(txn);
        if (!res.ok()) return ErrorResponse(StoreError(res.status()));
        if (!res->succeeded) {
          if (attempt == 0) continue;  // somebody else wrote meanwhile: re-read and re-check once
          return ErrorResponse({409, "conflict", "the objects changed concurrently (twice); nothing was applied, try again", {}});
        }
        revision = res->revision;
        std::vector<std::pair<std::string, const std::string*>> writes;
        for (const Planned& p : plan)
          if (p.result != "unchanged") writes.emplace_back(p.key, &p.doc.json);
        Committed(writes, revision);
      }
      json objs = json::array();
      for (const Planned& p : plan) {
        int64_t rev = p.result == "unchanged" ? p.old_revision : (dry ? 0 : revision);
        objs.push_back(json{{"kind", p.id.kind}, {"tenant", p.id.tenant}, {"name", p.id.name}, {"key", p.key},
                            {"result", p.result}, {"revision", rev}});
      }
      return JsonResponse(200, json{{"dry_run", dry}, {"revision", revision}, {"objects", objs}});
    }
  }

  ApiResponse Delete(const Caller& c, const NbObjectId& id, int64_t expect_revision) {
    if (auto e = CheckWrite(c, id, "delete")) return ErrorResponse(*e);
    std::lock_guard<std::mutex> lock(write_mu_);
    std::string key = NbObjectKey(id);
    for (int attempt = 0;; ++attempt) {
      auto synced = SyncCatalog();
      if (auto* e = std::get_if<ApiError>(&synced)) return ErrorResponse(*e);
      const int64_t guard_rev = std::get<int64_t>(synced);
      const NbCatalog::Object* obj = catalog_.Find(key);
      if (!obj) return ErrorResponse({404, "not_found", absl::StrCat(NbObjectName(id), " does not exist"), {}});
      const store::KeyValue* found = &obj->kv;
      if (expect_revision >= 0 && expect_revision != found->mod_revision)
        return ErrorResponse({409, "stale", absl::StrCat(NbObjectName(id), " is at revision ", found->mod_revision,
                                                         ", not ", expect_revision, "; nothing was deleted"), {}});
      std::vector<NbReference> refs = catalog_.Referrers(id);
      if (!refs.empty()) {
        constexpr size_t kNamed = 10;  // in the message; details list up to 1000
        std::vector<std::string> names;
        for (size_t i = 0; i < refs.size() && i < 1000; ++i)
          names.push_back(absl::StrCat(NbObjectName(refs[i].from), " (", refs[i].field, ")"));
        std::vector<std::string> head(names.begin(), names.begin() + std::min(kNamed, names.size()));
        std::string more = refs.size() > kNamed ? absl::StrCat(" and ", refs.size() - kNamed, " more") : "";
        return ErrorResponse({409, "referenced",
                              absl::StrCat("cannot delete ", NbObjectName(id), ": referred to by ", absl::StrJoin(head, ", "),
                                           more, "; delete or change those first"), names});
      }
      std::vector<NbSource> rest;
      for (const std::string& k : catalog_.Scope({NbCatalog::Change{key, std::nullopt}}))
        rest.push_back(NbSource{catalog_.Find(k)->kv.value, k, 0, 0});
      if (auto spec = ParseNbSources(rest, &parse_cache_); !spec.ok())
        return ErrorResponse({409, "referenced", absl::StrCat("cannot delete ", NbObjectName(id), ": without it ", spec.status().message()), {}});
      store::Txn txn;
      txn.compares = {store::Compare::ModRevision(key, found->mod_revision), store::Compare::ModRevision(kGuardKey, guard_rev)};
      txn.ops = {store::Op::Delete(key), store::Op::Put(kGuardKey, "delete")};
      auto res = store_->Commit(txn);
      if (!res.ok()) return ErrorResponse(StoreError(res.status()));
      if (!res->succeeded) {
        if (attempt == 0) continue;
        return ErrorResponse({409, "conflict", "the objects changed concurrently (twice); nothing was deleted, try again", {}});
      }
      Committed({{key, nullptr}}, res->revision);
      return JsonResponse(200, json{{"deleted", json{{"kind", id.kind}, {"tenant", id.tenant}, {"name", id.name}, {"key", key}}},
                                    {"revision", res->revision}});
    }
  }

  static std::string DocName(const NbDocument& d) {
    return absl::StrCat(d.source.file, ":", d.source.first_line + 1, ": document ", d.source.index, " (", d.kind, " ", d.name, ")");
  }

  store::Store* store_;
  ApiOptions options_;
  std::vector<ApiToken> tokens_;
  std::mutex write_mu_;
  NbParseCache parse_cache_;  // guarded by write_mu_: the objects of the latest validation, parsed
  NbCatalog catalog_;         // guarded by write_mu_: the stored objects, indexed by dependency
  int64_t catalog_guard_rev_ = -1;  // guarded by write_mu_: the guard key's revision the catalog has seen
  int64_t synced_through_ = 0;      // guarded by write_mu_: the store revision of the last full read
  std::set<int64_t> own_revisions_;  // guarded by write_mu_: revisions this server committed, not yet watched
  struct Watched {  // what the watch on kNbPrefix saw, handed from its callback to SyncCatalog
    std::mutex mu;
    std::vector<int64_t> revisions;
    bool failed = false;
  };
  std::shared_ptr<Watched> watched_;           // guarded by write_mu_ (its fields by its mu)
  std::unique_ptr<store::WatchHandle> watch_;  // guarded by write_mu_

 public:
  size_t options_max_body() const { return options_.max_body_bytes; }
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

ApiServer::ApiServer(store::Store* store, ApiOptions options) : impl_(std::make_unique<Impl>(store, std::move(options))) {}

ApiServer::~ApiServer() { Stop(); }

ApiResponse ApiServer::Handle(const ApiRequest& request) { return impl_->Handle(request); }

absl::Status ApiServer::Start(const std::string& address, int port, const std::string& cert_file, const std::string& key_file) {
  if (impl_->http_) return absl::FailedPreconditionError("the API server is already started");
  if (auto st = impl_->LoadTokens(); !st.ok()) return st;
  if (cert_file.empty() != key_file.empty())
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file (or neither, for plain HTTP)");
  std::unique_ptr<httplib::Server> srv;
  if (!cert_file.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
    if (!ssl->is_valid())
      return absl::InvalidArgumentError(absl::StrCat("cannot load TLS certificate '", cert_file, "' / key '", key_file, "'"));
    srv = std::move(ssl);
  } else {
    srv = std::make_unique<httplib::Server>();
  }
  srv->set_payload_max_length(impl_->options_max_body());
  Impl* impl = impl_.get();
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    ApiRequest r;
    r.method = req.method;
    r.path = req.path;
    for (const auto& [k, v] : req.params) r.query[k] = v;
    r.authorization = req.get_header_value("Authorization");
    if (req.method == "POST") {
      if (req.is_multipart_form_data()) {
        for (const auto& [name, part] : req.files) r.files.emplace_back(part.filename.empty() ? part.name : part.filename, part.content);
      } else {
        auto f = req.params.find("file");
        r.files.emplace_back(f != req.params.end() && !f->second.empty() ? f->second : "request", req.body);
      }
    }
    ApiResponse out = impl->Handle(r);
    res.status = out.status;
    res.set_content(out.body, out.content_type.c_str());
  };
  srv->Get(".*", handler);
  srv->Post(".*", handler);
  srv->Delete(".*", handler);
  srv->Put(".*", handler);
  if (port == 0) {
    port = srv->bind_to_any_port(address.c_str());
    if (port < 0) return absl::UnavailableError(absl::StrCat("cannot bind ", address, " to a free port"));
  } else if (!srv->bind_to_port(address.c_str(), port)) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ":", port, " (in use, or not a local address?)"));
  }
  port_ = port;
  httplib::Server* raw = srv.get();
  impl_->http_ = std::move(srv);
  impl_->thread_ = std::thread([raw] { raw->listen_after_bind(); });
  // Stop() before the thread is listening would not wake it: wait until it is.
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return absl::OkStatus();
}

void ApiServer::Stop() {
  if (!impl_ || !impl_->http_) return;
  impl_->http_->stop();
  if (impl_->thread_.joinable()) impl_->thread_.join();
  impl_->http_.reset();
}

}  // namespace rampart::controller
