// rampartctl status: what the controller serving the API sees — the live controllers, and per
// host its owner, the stream revision sent, the revision its agent acknowledged and whether the
// agent is connected (GET /v1/status; any role). Exit code 0; 3 when a host has no live
// controller, or one this controller serves has no connected agent or changes not yet
// acknowledged (scripts can wait on it). Hosts another controller serves are shown by its API.
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/api_client.h"
#include "cli/command.h"

namespace rampart::cli {
namespace {

using nlohmann::json;

int Run(int argc, char** argv) {
  CLI::App app{"Show the controllers, which controller serves each host, and each agent's revisions", "status"};
  std::string format = "table";
  ApiFlags f;
  app.add_option("-o,--output", format, "table | json | yaml")->check(CLI::IsMember({"table", "json", "yaml"}));
  AddApiFlags(app, f);
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  auto r = controller::ApiClient(ApiOptionsFrom(f)).Get("/v1/status");
  if (!r.ok()) return PrintTransportError("status", r.status());
  if (r->status != 200) return PrintApiError("status", *r);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("controller")) {
    std::cerr << "rampartctl status: unexpected reply: " << r->body << "\n";
    return 1;
  }
  const json& c = j["controller"];
  const json hosts = c.value("hosts", json::array());
  bool behind = false;
  for (const auto& h : hosts) {
    if (h.value("owner", std::string()).empty()) behind = true;  // no live controller serves it
    if (h.value("owned", false) &&
        (h.value("connected", 0) == 0 || h.value("acked", uint64_t{0}) < h.value("revision", uint64_t{0})))
      behind = true;
  }
  if (format == "json") {
    std::cout << j.dump(2) << "\n";
  } else if (format == "yaml") {
    YAML::Emitter e;
    EmitYaml(e, j);
    std::cout << e.c_str() << "\n";
  } else {
    const json api = j.value("api", json::object());
    std::vector<std::string> ctls;
    for (const auto& x : c.value("controllers", json::array())) ctls.push_back(x.get<std::string>());
    std::cout << "controller " << c.value("id", "") << " (epoch " << c.value("epoch", 0) << "), published store revision "
              << c.value("applied_revision", int64_t{0}) << " of " << api.value("store_revision", int64_t{0}) << "\n";
    std::cout << "live controllers: ";
    for (size_t i = 0; i < ctls.size(); ++i) std::cout << (i ? ", " : "") << ctls[i];
    std::cout << (ctls.empty() ? "none" : "") << "\n";
    std::cout << "store: " << api.value("store", "") << "\n";
    size_t w = 4, ow = 5;
    for (const auto& h : hosts) {
      w = std::max(w, h.value("host", std::string()).size());
      ow = std::max(ow, h.value("owner", std::string()).size());
    }
    std::printf("%-*s  %-*s  %-9s  %10s  %10s  %8s  %s\n", static_cast<int>(w), "HOST", static_cast<int>(ow), "OWNER",
                "CONNECTED", "REVISION", "ACKED", "ROWS", "STATE");
    for (const auto& h : hosts) {
      bool owned = h.value("owned", false);
      std::string state;
      if (h.value("owner", std::string()).empty()) state = "no live controller";
      else if (!owned) state = "served by " + h.value("owner", std::string());
      else if (h.value("connected", 0) == 0) state = "agent not connected";
      else if (h.value("acked", uint64_t{0}) < h.value("revision", uint64_t{0})) state = "changes in flight";
      else state = "in sync";
      std::string rev = owned ? std::to_string(h.value("revision", uint64_t{0})) : "-";
      std::string ack = owned ? std::to_string(h.value("acked", uint64_t{0})) : "-";
      std::string rows = owned ? std::to_string(h.value("rows", uint64_t{0})) : "-";
      std::printf("%-*s  %-*s  %-9d  %10s  %10s  %8s  %s\n", static_cast<int>(w), h.value("host", std::string()).c_str(),
                  static_cast<int>(ow), h.value("owner", std::string()).c_str(), h.value("connected", 0), rev.c_str(),
                  ack.c_str(), rows.c_str(), state.c_str());
    }
  }
  return behind ? 3 : 0;
}

static Registrar r({"status", "show the controllers and, per host, its owner and its agent's revisions (via the API)", &Run});

}  // namespace
}  // namespace rampart::cli
