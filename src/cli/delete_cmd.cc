// rampartctl delete KIND NAME [--tenant T] [--revision N]: deletes one northbound object via the
// controller's REST API; refused (exit 1) while other objects refer to it.
#include <iostream>

#include "cli/api_client.h"
#include "cli/command.h"

namespace rampart::cli {
namespace {

int Run(int argc, char** argv) {
  CLI::App app{"Delete a northbound object (refused while others refer to it)", "delete"};
  std::string kind_arg, name, tenant;
  int64_t revision = -1;
  ApiFlags f;
  app.add_option("kind", kind_arg, "Tenant, Host, LogicalSwitch, LogicalRouter, Port, AddressGroup, Firewall, VnicPolicy")->required();
  app.add_option("name", name, "the object's name")->required();
  app.add_option("--tenant", tenant, "the object's tenant (not for Tenant and Host)");
  app.add_option("--revision", revision, "delete only if the object is still at this revision");
  AddApiFlags(app, f);
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  std::string kind = KindName(kind_arg);
  if (kind.empty()) {
    std::cerr << "rampartctl delete: unknown kind '" << kind_arg << "'\n";
    return 2;
  }
  if (!TenantLessKind(kind) && tenant.empty()) {
    std::cerr << "rampartctl delete: a " << kind << " needs --tenant\n";
    return 2;
  }
  std::string path = "/v1/objects/" + kind + "/" + (TenantLessKind(kind) ? "-" : tenant) + "/" + name;
  if (revision >= 0) path += "?revision=" + std::to_string(revision);
  auto r = controller::ApiClient(ApiOptionsFrom(f)).Delete(path);
  if (!r.ok()) return PrintTransportError("delete", r.status());
  if (r->status != 200) return PrintApiError("delete", *r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  std::cout << kind << " " << (TenantLessKind(kind) ? "" : tenant + "/") << name << " deleted (revision "
            << (j.is_object() ? j.value("revision", int64_t{0}) : 0) << ")\n";
  return 0;
}

static Registrar r({"delete", "delete a northbound object via the controller's API", &Run});

}  // namespace
}  // namespace rampart::cli
