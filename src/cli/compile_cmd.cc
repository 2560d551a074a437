// rampartctl compile --spec FILE.yaml [--host H] [--records] [-o json|text]: runs the controller's
// logical stage (src/controller, docs/logical-stage.md) on a northbound spec and prints, per host,
// the firewall instances, abstract slices and rules, and the physical flows (abstract ports) that
// host would receive. With --records it also runs the physical stage (docs/physical-stage.md) and
// prints each host's records (docs/records.md) instead. Output is sorted, so two runs diff cleanly.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "controller/logical_stage.h"
#include "controller/nb_spec.h"
#include "controller/physical/physical_stage.h"
#include "nlohmann/json.hpp"
#include "records/records.h"

namespace rampart::cli {
namespace {

int Usage(std::ostream& os, int rc) {
  os << "usage: rampartctl compile --spec FILE.yaml [--host H] [--records] [-o json|text]\n"
        "  Runs the logical stage on the spec; prints each host's (or only H's) firewall\n"
        "  instances, slices, rules and physical flows with abstract ports.\n"
        "  --records: also runs the physical stage and prints each host's records instead\n"
        "  (datapath and port keys, slice tags, instance ids: what its agent receives).\n";
  return rc;
}

// One block per host: "host H (N records)" then the rows in order, "  Table(v1, v2, ...)".
std::string RenderRecordsText(const controller::PhysicalStage& physical, const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) {
    records::RecordSet rs = physical.Snapshot(h);
    out += "host " + h + " (" + std::to_string(rs.rows().size()) + " records)\n";
    for (const records::Record& r : rs.rows()) out += "  " + records::ToString(r) + "\n";
  }
  return out;
}

// {"hosts": [{"host": H, "records": [{"table": T, "values": [...]}, ...]}, ...]}
std::string RenderRecordsJson(const controller::PhysicalStage& physical, const std::vector<std::string>& hosts) {
  nlohmann::json j;
  j["hosts"] = nlohmann::json::array();
  for (const auto& h : hosts) {
    nlohmann::json rows = nlohmann::json::array();
    const records::RecordSet rs = physical.Snapshot(h);
    for (const records::Record& r : rs.rows()) {
      nlohmann::json row = nlohmann::json::object();
      row["table"] = r.table;
      row["values"] = nlohmann::json::array();
      for (const std::string& v : r.values) row["values"].push_back(v);
      rows.push_back(std::move(row));
    }
    nlohmann::json entry = nlohmann::json::object();
    entry["host"] = h;
    entry["records"] = std::move(rows);
    j["hosts"].push_back(std::move(entry));
  }
  return j.dump(2) + "\n";
}

int Run(int argc, char** argv) {
  std::string spec_path, host, format = "text";
  bool records = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") return Usage(std::cout, 0);
    if (a == "--spec") {
      if (!value(spec_path)) return Usage(std::cerr, 2);
    } else if (a == "--host") {
      if (!value(host)) return Usage(std::cerr, 2);
    } else if (a == "--records") {
      records = true;
    } else if (a == "-o" || a == "--output") {
      if (!value(format)) return Usage(std::cerr, 2);
    } else {
      std::cerr << "rampartctl compile: unknown argument '" << a << "'\n";
      return Usage(std::cerr, 2);
    }
  }
  if (spec_path.empty()) return Usage(std::cerr, 2);
  if (format != "text" && format != "json") {
    std::cerr << "rampartctl compile: -o must be json or text, got '" << format << "'\n";
    return 2;
  }
  auto spec = controller::ParseNbSpecFile(spec_path);
  if (!spec.ok()) {
    std::cerr << spec.status().message() << "\n";
    return 1;
  }
  auto stage = controller::LogicalStage::Create();
  if (!stage.ok()) {
    std::cerr << "internal error: " << stage.status().message() << "\n";
    return 1;
  }
  auto delta = (*stage)->SetSpec(*spec);
  if (!delta.ok()) {
    std::cerr << spec_path << ": " << delta.status().message() << "\n";
    return 1;
  }
  std::vector<std::string> hosts = controller::KnownHosts((*stage)->engine());
  if (!host.empty()) {
    bool known = false;
    for (const auto& h : hosts) known |= h == host;
    if (!known) {
      std::cerr << "rampartctl compile: host '" << host << "' is not in the spec\n";
      return 1;
    }
    hosts = {host};
  }
  if (records) {
    controller::PhysicalStage physical(nullptr);
    auto per_host = physical.Apply((*stage)->engine(), *delta);
    if (!per_host.ok()) {
      std::cerr << spec_path << ": " << per_host.status().message() << "\n";
      return 1;
    }
    std::cout << (format == "json" ? RenderRecordsJson(physical, hosts) : RenderRecordsText(physical, hosts));
    return 0;
  }
  std::vector<controller::HostView> views;
  for (const auto& h : hosts) views.push_back(controller::BuildHostView((*stage)->engine(), h));
  std::cout << (format == "json" ? controller::RenderJson(views) : controller::RenderText(views));
  return 0;
}

static Registrar r({"compile", "run the logical stage on a northbound spec; print each host's flows and firewall records", &Run});

}  // namespace
}  // namespace rampart::cli
