#include "controller/logical_stage.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "controller/logical_program.h"  // generated: kLogicalProgram
#include "nlohmann/json.hpp"

namespace rampart::controller {

const std::string& LogicalProgramText() {
  static const std::string* text = new std::string(kLogicalProgram);
  return *text;
}

absl::StatusOr<nlog::Program> CompileLogicalProgram() {
  return nlog::Program::Compile(LogicalProgramText(), "logical.nlog");
}

nlog::Transaction DiffRows(const std::vector<InputRow>& from, const std::vector<InputRow>& to) {
  auto less = [](const InputRow& a, const InputRow& b) {
    if (a.table != b.table) return a.table < b.table;
    return nlog::RowLess(a.row, b.row);
  };
  nlog::Transaction tx;
  size_t i = 0, j = 0;
  while (i < from.size() || j < to.size()) {
    if (j == to.size() || (i < from.size() && less(from[i], to[j]))) {
      tx.Delete(from[i].table, from[i].row);
      ++i;
    } else if (i == from.size() || less(to[j], from[i])) {
      tx.Insert(to[j].table, to[j].row);
      ++j;
    } else {
      ++i;
      ++j;
    }
  }
  return tx;
}

absl::StatusOr<std::unique_ptr<LogicalStage>> LogicalStage::Create() {
  auto prog = CompileLogicalProgram();
  if (!prog.ok()) return prog.status();
  return std::unique_ptr<LogicalStage>(new LogicalStage(std::make_unique<nlog::Engine>(*std::move(prog))));
}

std::vector<InputRow> LogicalStage::rows() const {
  std::vector<InputRow> out;
  for (const nlog::TableDecl& t : engine_->program().tables()) {
    if (t.kind != nlog::TableKind::kInput) continue;
    auto rows = engine_->Scan(t.name);
    if (!rows.ok()) continue;  // cannot happen: the name comes from the program
    for (nlog::Row& r : *rows) out.push_back(InputRow{t.name, std::move(r)});
  }
  std::sort(out.begin(), out.end(), [](const InputRow& a, const InputRow& b) {
    if (a.table != b.table) return a.table < b.table;
    return nlog::RowLess(a.row, b.row);
  });
  return out;
}

absl::StatusOr<nlog::Delta> LogicalStage::SetSpec(const NbSpec& spec) {
  nlog::Transaction tx = DiffRows(rows(), SpecToRows(spec));
  return engine_->Apply(tx);
}

namespace {

std::vector<nlog::Row> ScanOrEmpty(const nlog::Engine& e, const char* table) {
  auto r = e.Scan(table);
  return r.ok() ? *std::move(r) : std::vector<nlog::Row>{};
}

std::string Str(const nlog::Value& v) { return v.ToString(); }

}  // namespace

std::vector<std::string> KnownHosts(const nlog::Engine& engine) {
  std::set<std::string> hosts;
  for (const auto& r : ScanOrEmpty(engine, "Host")) hosts.insert(Str(r[0]));
  for (const auto& r : ScanOrEmpty(engine, "DpHost")) hosts.insert(Str(r[2]));
  for (const auto& r : ScanOrEmpty(engine, "FwInstance")) hosts.insert(Str(r[3]));
  return {hosts.begin(), hosts.end()};
}

HostView BuildHostView(const nlog::Engine& engine, const std::string& host) {
  HostView v;
  v.host = host;
  using Key = std::pair<std::string, std::string>;  // (tenant, instance)
  std::map<Key, HostView::Instance> inst;
  for (const auto& r : ScanOrEmpty(engine, "FwInstance")) {
    if (Str(r[3]) != host) continue;
    auto& i = inst[{Str(r[0]), Str(r[1])}];
    i.tenant = Str(r[0]);
    i.name = Str(r[1]);
    i.kind = Str(r[2]);
    i.default_action = Str(r[4]);
  }
  for (const auto& r : ScanOrEmpty(engine, "FwSlice"))
    if (Str(r[2]) == host) inst[{Str(r[0]), Str(r[1])}].slices.push_back(Str(r[3]));
  for (const auto& r : ScanOrEmpty(engine, "FwPortBinding"))
    if (Str(r[3]) == host) inst[{Str(r[0]), Str(r[1])}].ports.push_back(Str(r[2]));
  // An instance's rules and group addresses go to every host of the instance (the span of
  // FwInstance), as the physical stage sends them.
  for (const auto& r : ScanOrEmpty(engine, "InstRule")) {
    auto it = inst.find({Str(r[0]), Str(r[1])});
    if (it != inst.end()) it->second.rules.push_back({{r[3].AsInt(), r[2].AsInt()}, Str(r[4])});
  }
  for (const auto& r : ScanOrEmpty(engine, "InstGroupAddr")) {
    auto it = inst.find({Str(r[0]), Str(r[1])});
    if (it != inst.end()) it->second.group_addrs.push_back({Str(r[2]), Str(r[3])});
  }
  for (auto& [k, i] : inst) {
    std::sort(i.slices.begin(), i.slices.end());
    std::sort(i.ports.begin(), i.ports.end());
    std::sort(i.rules.begin(), i.rules.end());
    std::sort(i.group_addrs.begin(), i.group_addrs.end());
    v.instances.push_back(std::move(i));
  }
  for (const auto& r : ScanOrEmpty(engine, "ServiceHost")) {
    if (Str(r[1]) != host) continue;
    v.services.push_back({Str(r[0]), Str(r[2]), Str(r[3]), Str(r[4]), r[5].AsInt(), Str(r[6]), Str(r[7]), Str(r[8])});
  }
  std::sort(v.services.begin(), v.services.end(), [](const HostView::Service& a, const HostView::Service& b) {
    return std::tie(a.tenant, a.name) < std::tie(b.tenant, b.name);
  });
  // Flows: the logical flows of every datapath this host runs (DpHost), and the host-specific
  // PFlow rows.
  std::set<std::pair<std::string, std::string>> dps;
  for (const auto& r : ScanOrEmpty(engine, "DpHost"))
    if (Str(r[2]) == host) dps.insert({Str(r[0]), Str(r[1])});
  const std::string self_tunnel = absl::StrCat("output(tunnel:", host, ")");
  for (const auto& r : ScanOrEmpty(engine, "LFlow")) {
    if (!dps.count({Str(r[0]), Str(r[1])})) continue;
    if (Str(r[5]) == self_tunnel) continue;  // this host delivers locally (its PFlow rows)
    v.flows.push_back({Str(r[0]), Str(r[1]), Str(r[2]), r[3].AsInt(), Str(r[4]), Str(r[5])});
  }
  for (const auto& r : ScanOrEmpty(engine, "PFlow")) {
    if (Str(r[1]) != host) continue;
    v.flows.push_back({Str(r[0]), Str(r[2]), Str(r[3]), r[4].AsInt(), Str(r[5]), Str(r[6])});
  }
  // Pipeline order: tenant, datapath, stage, higher priority first, then match text.
  std::sort(v.flows.begin(), v.flows.end(), [](const HostView::Flow& a, const HostView::Flow& b) {
    return std::tie(a.tenant, a.dp, a.stage, b.priority, a.match, a.actions) <
           std::tie(b.tenant, b.dp, b.stage, a.priority, b.match, b.actions);
  });
  return v;
}

std::string RenderText(const std::vector<HostView>& views) {
  std::string out;
  for (const auto& v : views) {
    absl::StrAppend(&out, "host ", v.host, "\n");
    absl::StrAppend(&out, "  firewall instances: ", v.instances.size(), "\n");
    for (const auto& i : v.instances) {
      absl::StrAppend(&out, "    ", i.tenant, "/", i.name, " (", i.kind, ") default ", i.default_action, "\n");
      for (const auto& s : i.slices) absl::StrAppend(&out, "      slice (", v.host, ", ", i.name, ", ", s, ")\n");
      for (const auto& p : i.ports) absl::StrAppend(&out, "      protects port ", p, "\n");
      for (const auto& [g, p] : i.group_addrs) absl::StrAppend(&out, "      group ", g, " ", p, "\n");
      for (const auto& [k, t] : i.rules)
        absl::StrAppend(&out, "      rule ", k.second, " priority ", k.first, ": ", t, "\n");
    }
    if (!v.services.empty()) {
      absl::StrAppend(&out, "  services: ", v.services.size(), "\n");
      for (const auto& s : v.services)
        absl::StrAppend(&out, "    ", s.tenant, "/", s.name, " on_failure ", s.on_failure, " check ", s.check, " nth ",
                        s.nth, " relay ", s.relay, " same_host ", s.same_host, " migration ", s.migration, "\n");
    }
    absl::StrAppend(&out, "  flows: ", v.flows.size(), "\n");
    for (const auto& f : v.flows)
      absl::StrAppend(&out, "    ", f.tenant, " ", f.dp, " ", f.stage, " ", f.priority, " [", f.match, "] => ",
                      f.actions, "\n");
  }
  return out;
}

std::string RenderJson(const std::vector<HostView>& views) {
  nlohmann::ordered_json hosts = nlohmann::ordered_json::array();
  for (const auto& v : views) {
    nlohmann::ordered_json h;
    h["host"] = v.host;
    h["instances"] = nlohmann::ordered_json::array();
    for (const auto& i : v.instances) {
      nlohmann::ordered_json j;
      j["tenant"] = i.tenant;
      j["name"] = i.name;
      j["kind"] = i.kind;
      j["default"] = i.default_action;
      j["slices"] = nlohmann::ordered_json::array();
      for (const auto& s : i.slices) j["slices"].push_back({{"host", v.host}, {"instance", i.name}, {"side", s}});
      j["ports"] = i.ports;
      j["groups"] = nlohmann::ordered_json::array();
      for (const auto& [g, p] : i.group_addrs) j["groups"].push_back({{"group", g}, {"prefix", p}});
      j["rules"] = nlohmann::ordered_json::array();
      for (const auto& [k, t] : i.rules) j["rules"].push_back({{"id", k.second}, {"priority", k.first}, {"rule", t}});
      h["instances"].push_back(j);
    }
    if (!v.services.empty()) {
      h["services"] = nlohmann::ordered_json::array();
      for (const auto& s : v.services)
        h["services"].push_back({{"tenant", s.tenant},       {"name", s.name},           {"on_failure", s.on_failure},
                                 {"check", s.check},         {"nth", s.nth},             {"relay", s.relay == "true"},
                                 {"same_host", s.same_host}, {"migration", s.migration}});
    }
    h["flows"] = nlohmann::ordered_json::array();
    for (const auto& f : v.flows)
      h["flows"].push_back({{"tenant", f.tenant}, {"datapath", f.dp}, {"stage", f.stage},
                            {"priority", f.priority}, {"match", f.match}, {"actions", f.actions}});
    hosts.push_back(h);
  }
  nlohmann::ordered_json root;
  root["hosts"] = hosts;
  return root.dump(2) + "\n";
}

}  // namespace rampart::controller
