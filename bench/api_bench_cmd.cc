// rampart-bench api: the northbound REST API's cost at scale (issue 5: "time from `apply` of one
// rule ..."). Drives ApiServer::Handle directly (no HTTP, no TLS: those cost the same at any
// size) on a "mem:" store holding the generated spec (bench/support/nb_generator.h), and times:
//   - ObjectRows of every stored object (what a starting controller parses),
//   - the first apply of the whole spec (every object created),
//   - re-applying the whole spec unchanged,
//   - one-object applies: add one rule to a firewall / vNIC policy, move one port to another
//     host, add one port (each applied, timed, then reverted, untimed),
//   - describe a Port (GET with referrers) and a refused delete (a switch that ports use).
// Wall and thread CPU, median and max over --reps. Every timed request must answer 200 (409 for
// the refused delete); the bench fails otherwise.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/bench_command.h"
#include "bench/support/nb_generator.h"
#include "bench/support/nb_stored_objects.h"
#include "controller/api/api_server.h"
#include "controller/api/nb_objects.h"
#include "nlohmann/json.hpp"
#include "store/store.h"

namespace rampart::bench {
namespace {

constexpr char kToken[] = "bench-token-0123456789";

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
long RssKb() {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  fclose(f);
  return kb;
}

struct Timing {
  std::vector<double> wall_ms, cpu_ms;
  void Add(double w, double c) {
    wall_ms.push_back(w * 1e3);
    cpu_ms.push_back(c * 1e3);
  }
  static double Median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  static double Max(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
  std::string Line(const std::string& what) const {
    char buf[256];
    snprintf(buf, sizeof buf, "%-34s wall median %9.2f ms  max %9.2f ms | cpu median %9.2f ms  max %9.2f ms  (n=%zu)",
             what.c_str(), Median(wall_ms), Max(wall_ms), Median(cpu_ms), Max(cpu_ms), wall_ms.size());
    return buf;
  }
  nlohmann::json Json() const {
    return {{"wall_ms_median", Median(wall_ms)}, {"wall_ms_max", Max(wall_ms)}, {"cpu_ms_median", Median(cpu_ms)},
            {"cpu_ms_max", Max(cpu_ms)}, {"n", wall_ms.size()}};
  }
};

class Api {
 public:
  explicit Api(store::Store* st) : server_(st, Options()) {}
  static controller::ApiOptions Options() {
    controller::ApiOptions o;
    o.tokens.push_back(controller::ApiToken{kToken, "bench", "datacenter-admin", ""});
    return o;
  }
  // Returns the status; `t` (optional) gets the time.
  int Call(controller::ApiRequest r, Timing* t, std::string* body = nullptr) {
    r.authorization = absl::StrCat("Bearer ", kToken);
    double w0 = WallSeconds(), c0 = CpuSeconds();
    controller::ApiResponse resp = server_.Handle(r);
    double w1 = WallSeconds(), c1 = CpuSeconds();
    if (t) t->Add(w1 - w0, c1 - c0);
    if (body) *body = resp.body;
    last_body_ = resp.body;
    return resp.status;
  }
  int Apply(const std::vector<std::string>& docs, Timing* t) {
    controller::ApiRequest r;
    r.method = "POST";
    r.path = "/v1/apply";
    r.files.emplace_back("bench.yaml", absl::StrJoin(docs, "---\n"));
    return Call(std::move(r), t);
  }
  const std::string& last_body() const { return last_body_; }

 private:
  controller::ApiServer server_;
  std::string last_body_;
};

int Usage() {
  std::cerr << "usage: rampart-bench api [--hosts N] [--ports N] [--tenants N] [--rules N] [--reps N] [--seed N] [--json] [--rows-only]\n";
  return 2;
}

int Run(int argc, char** argv) {
  GeneratorOptions g;
  int reps = 11;
  bool json_out = false, rows_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](int* out) {
      if (i + 1 >= argc) return false;
      *out = atoi(argv[++i]);
      return true;
    };
    int seed = 0;
    if (a == "--hosts" && num(&g.hosts)) continue;
    if (a == "--ports" && num(&g.ports)) continue;
    if (a == "--tenants" && num(&g.tenants)) continue;
    if (a == "--rules" && num(&g.rules)) continue;
    if (a == "--reps" && num(&reps)) continue;
    if (a == "--seed" && num(&seed)) {
      g.seed = seed;
      continue;
    }
    if (a == "--json") {
      json_out = true;
      continue;
    }
    if (a == "--rows-only") {  // stop after ObjectRows of every object (for profiling it)
      rows_only = true;
      continue;
    }
    return Usage();
  }
  controller::NbSpec spec = GenerateNbSpec(g);
  auto stored = NbStoredObjects(spec);
  if (!stored.ok()) {
    std::cerr << stored.status() << "\n";
    return 1;
  }
  StoredObjectDiff diff(spec, *stored);
  auto st = store::OpenStore("mem:");
  if (!st.ok()) {
    std::cerr << st.status() << "\n";
    return 1;
  }
  long rss0 = RssKb();
  Api api(st->get());
  nlohmann::json out;
  std::vector<std::string> docs = NbYamlDocuments(spec);
  size_t rules = 0;
  for (const auto& f : spec.firewalls) rules += f.rules.size();
  for (const auto& v : spec.vnic_policies) rules += v.rules.size();
  if (!json_out)
    printf("spec: %d hosts, %zu ports, %zu tenants, %zu rules, %zu objects\n", g.hosts, spec.ports.size(),
           spec.tenants.size(), rules, stored->size());
  auto fail = [&](const std::string& what, int status) {
    std::cerr << what << ": HTTP " << status << ": " << api.last_body().substr(0, 2000) << "\n";
    return 1;
  };

  // What a starting controller does with every stored object: its nlog input rows (ObjectRows).
  Timing rows;
  {
    double w0 = WallSeconds(), c0 = CpuSeconds();
    size_t n = 0;
    std::map<std::string, double> by_kind;
    for (const auto& [key, value] : *stored) {
      double k0 = CpuSeconds();
      auto r = controller::ObjectRows(key, value);
      by_kind[controller::ParseNbObjectKey(key)->kind] += CpuSeconds() - k0;
      if (!r.ok()) {
        std::cerr << "ObjectRows: " << r.status() << "\n";
        return 1;
      }
      n += r->size();
    }
    rows.Add(WallSeconds() - w0, CpuSeconds() - c0);
    if (!json_out) {
      printf("ObjectRows of every stored object: %zu rows; cpu by kind:", n);
      for (const auto& [k, sec] : by_kind) printf(" %s %.0f ms", k.c_str(), sec * 1e3);
      printf("\n");
    }
  }
  if (rows_only) {
    puts(rows.Line("ObjectRows of every object").c_str());
    return 0;
  }
  Timing first, again;
  if (int s = api.Apply(docs, &first); s != 200) return fail("first apply", s);
  long rss1 = RssKb();
  if (int s = api.Apply(docs, &again); s != 200) return fail("re-apply unchanged", s);

  // One-object changes: apply the changed objects' stored JSON (JSON is YAML), then put the
  // previous versions back (untimed) so every repetition starts from the same state.
  struct Kind {
    const char* name;
    controller::NbSpec (*change)(const controller::NbSpec&, int);
    Timing t;
  };
  std::vector<Kind> kinds = {{"add one rule", AddOneRule, {}}, {"move one port", MoveOnePort, {}}, {"add one port", AddOnePort, {}}};
  for (Kind& k : kinds) {
    for (int r = 0; r < reps; ++r) {
      auto changes = diff.Changes(k.change(spec, r));
      if (!changes.ok()) {
        std::cerr << k.name << ": " << changes.status() << "\n";
        return 1;
      }
      std::vector<std::string> fwd, back;
      std::vector<std::string> created;
      for (const auto& c : *changes) {
        if (c.after) fwd.push_back(*c.after);
        if (c.before) back.push_back(*c.before);
        else created.push_back(c.key);
      }
      if (fwd.empty()) return fail(absl::StrCat(k.name, ": the change touches no object"), 0);
      if (int s = api.Apply(fwd, &k.t); s != 200) return fail(k.name, s);
      if (!back.empty())
        if (int s = api.Apply(back, nullptr); s != 200) return fail(absl::StrCat(k.name, " (revert)"), s);
      for (const auto& key : created) {
        auto id = controller::ParseNbObjectKey(key);
        controller::ApiRequest d;
        d.method = "DELETE";
        d.path = absl::StrCat("/v1/objects/", id->kind, "/", id->tenant.empty() ? "-" : id->tenant, "/", id->name);
        if (int s = api.Call(d, nullptr); s != 200) return fail(absl::StrCat(k.name, " (delete the added object)"), s);
      }
    }
  }

  Timing describe, refused;
  for (int r = 0; r < reps; ++r) {
    const controller::NbPort& p = spec.ports[(r * 7919) % spec.ports.size()];
    controller::ApiRequest get;
    get.method = "GET";
    get.path = absl::StrCat("/v1/objects/Port/", p.tenant, "/", p.name);
    if (int s = api.Call(get, &describe); s != 200) return fail("describe a port", s);
    controller::ApiRequest del;
    del.method = "DELETE";
    del.path = absl::StrCat("/v1/objects/LogicalSwitch/", p.tenant, "/", p.sw);
    if (int s = api.Call(del, &refused); s != 409) return fail("delete a switch in use (must be refused)", s);
  }
  long rss2 = RssKb();

  if (json_out) {
    out["spec"] = {{"hosts", g.hosts}, {"ports", spec.ports.size()}, {"tenants", spec.tenants.size()},
                   {"rules", rules}, {"objects", stored->size()}};
    out["object_rows_all"] = rows.Json();
    out["first_apply"] = first.Json();
    out["reapply_unchanged"] = again.Json();
    for (const Kind& k : kinds) out[k.name] = k.t.Json();
    out["describe_port"] = describe.Json();
    out["delete_refused"] = refused.Json();
    out["rss_mib"] = {{"after_first_apply", (rss1 - rss0) / 1024.0}, {"at_end", (rss2 - rss0) / 1024.0}};
    std::cout << out.dump(2) << "\n";
  } else {
    puts(rows.Line("ObjectRows of every object").c_str());
    puts(first.Line("first apply (every object)").c_str());
    puts(again.Line("re-apply, all unchanged").c_str());
    for (const Kind& k : kinds) puts(k.t.Line(k.name).c_str());
    puts(describe.Line("describe a port").c_str());
    puts(refused.Line("delete refused (switch in use)").c_str());
    printf("API server + mem store RSS growth: %.1f MiB after the first apply, %.1f MiB at the end\n",
           (rss1 - rss0) / 1024.0, (rss2 - rss0) / 1024.0);
  }
  return 0;
}

Registrar reg({"api", "northbound REST API at scale: whole-spec apply, one-object applies, describe, refused delete", &Run});

}  // namespace
}  // namespace rampart::bench
