// rampartctl compile --spec FILE.yaml [--host H] [-o json|text]: runs the controller's logical
// stage (src/controller, docs/logical-stage.md) on a northbound spec and prints, per host, the
// firewall instances, abstract slices and rules, and the physical flows (abstract ports) that host
// would receive. Output is sorted, so two runs diff cleanly.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "controller/logical_stage.h"
#include "controller/nb_spec.h"

namespace rampart::cli {
namespace {

int Usage(std::ostream& os, int rc) {
  os << "usage: rampartctl compile --spec FILE.yaml [--host H] [-o json|text]\n"
        "  Runs the logical stage on the spec; prints each host's (or only H's) firewall\n"
        "  instances, slices, rules and physical flows with abstract ports.\n";
  return rc;
}

int Run(int argc, char** argv) {
  std::string spec_path, host, format = "text";
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
  std::vector<controller::HostView> views;
  for (const auto& h : hosts) views.push_back(controller::BuildHostView((*stage)->engine(), h));
  std::cout << (format == "json" ? controller::RenderJson(views) : controller::RenderText(views));
  return 0;
}

static Registrar r({"compile", "run the logical stage on a northbound spec; print each host's flows and firewall records", &Run});

}  // namespace
}  // namespace rampart::cli
