// rampartctl get KIND [NAME] [--tenant T] [-o table|json|yaml]: lists northbound objects (or
// shows one) via the controller's REST API. KIND may be "all". -o yaml prints documents with
// their `revision:`, ready to edit and apply again (a concurrent change then makes it stale).
#include <cctype>
#include <iomanip>
#include <iostream>

#include "cli/api_client.h"
#include "cli/command.h"

namespace rampart::cli {
namespace {

using nlohmann::json;

int Run(int argc, char** argv) {
  CLI::App app{"List northbound objects, or show one", "get"};
  std::string kind_arg, name, tenant, format = "table";
  ApiFlags f;
  app.add_option("kind", kind_arg, "a kind (Tenant, Host, LogicalSwitch, LogicalRouter, Port, AddressGroup, ServiceVM, Firewall, VnicPolicy) or 'all'")->required();
  app.add_option("name", name, "one object's name");
  app.add_option("--tenant", tenant, "only this tenant's objects (needed with NAME for tenant objects)");
  app.add_option("-o,--output", format, "table | json | yaml")->check(CLI::IsMember({"table", "json", "yaml"}));
  AddApiFlags(app, f);
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  std::string kind = kind_arg == "all" ? "" : KindName(kind_arg);
  if (kind.empty() && kind_arg != "all") {
    std::cerr << "rampartctl get: unknown kind '" << kind_arg << "'\n";
    return 2;
  }
  std::string path;
  if (!name.empty()) {
    if (kind.empty()) {
      std::cerr << "rampartctl get: a NAME needs a kind, not 'all'\n";
      return 2;
    }
    if (!TenantLessKind(kind) && tenant.empty()) {
      std::cerr << "rampartctl get: a " << kind << " needs --tenant\n";
      return 2;
    }
    path = "/v1/objects/" + kind + "/" + (TenantLessKind(kind) ? "-" : tenant) + "/" + name;
  } else {
    path = "/v1/objects";
    std::string sep = "?";
    if (!kind.empty()) path += sep + "kind=" + kind, sep = "&";
    if (!tenant.empty()) path += sep + "tenant=" + tenant;
  }
  auto r = controller::ApiClient(ApiOptionsFrom(f)).Get(path);
  if (!r.ok()) return PrintTransportError("get", r.status());
  if (r->status != 200) return PrintApiError("get", *r);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    std::cerr << "rampartctl get: unexpected reply: " << r->body << "\n";
    return 1;
  }
  json objects = name.empty() ? j.value("objects", json::array()) : json::array({j});
  if (format == "json") {
    std::cout << (name.empty() ? objects : j).dump(2) << "\n";
  } else if (format == "yaml") {
    bool first = true;
    for (const auto& o : objects) {
      json doc = o.value("spec", json::object());
      doc["revision"] = o.value("revision", int64_t{0});
      YAML::Emitter e;
      EmitYaml(e, doc);
      std::cout << (first ? "" : "---\n") << e.c_str() << "\n";
      first = false;
    }
  } else {
    std::cout << std::left << std::setw(15) << "KIND" << std::setw(16) << "TENANT" << std::setw(24) << "NAME"
              << "REVISION\n";
    for (const auto& o : objects) {
      std::string t = o.value("tenant", "");
      std::cout << std::setw(15) << o.value("kind", "") << std::setw(16) << (t.empty() ? "-" : t) << std::setw(24)
                << o.value("name", "") << o.value("revision", int64_t{0}) << "\n";
    }
  }
  return 0;
}

static Registrar r({"get", "list northbound objects or show one via the controller's API (-o table|json|yaml)", &Run});

}  // namespace
}  // namespace rampart::cli
