// rampartctl describe KIND NAME [--tenant T]: one northbound object with its key, revisions,
// the objects that refer to it (what blocks its deletion) and its spec.
#include <cctype>
#include <iostream>

#include "cli/api_client.h"
#include "cli/command.h"

namespace rampart::cli {
namespace {

using nlohmann::json;

int Run(int argc, char** argv) {
  CLI::App app{"Show a northbound object, its revision and the objects referring to it", "describe"};
  std::string kind_arg, name, tenant;
  ApiFlags f;
  app.add_option("kind", kind_arg, "Tenant, Host, LogicalSwitch, LogicalRouter, Port, AddressGroup, ServiceVM, Firewall, VnicPolicy")->required();
  app.add_option("name", name, "the object's name")->required();
  app.add_option("--tenant", tenant, "the object's tenant (not for Tenant and Host)");
  AddApiFlags(app, f);
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  std::string kind = KindName(kind_arg);
  if (kind.empty()) {
    std::cerr << "rampartctl describe: unknown kind '" << kind_arg << "'\n";
    return 2;
  }
  if (!TenantLessKind(kind) && tenant.empty()) {
    std::cerr << "rampartctl describe: a " << kind << " needs --tenant\n";
    return 2;
  }
  auto r = controller::ApiClient(ApiOptionsFrom(f)).Get("/v1/objects/" + kind + "/" + (TenantLessKind(kind) ? "-" : tenant) + "/" + name);
  if (!r.ok()) return PrintTransportError("describe", r.status());
  if (r->status != 200) return PrintApiError("describe", *r);
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::cerr << "rampartctl describe: unexpected reply: " << r->body << "\n";
    return 1;
  }
  std::cout << kind << " " << (TenantLessKind(kind) ? "" : tenant + "/") << name << "\n"
            << "  key:       " << j.value("key", "") << "\n"
            << "  revision:  " << j.value("revision", int64_t{0}) << " (created at " << j.value("create_revision", int64_t{0})
            << ", version " << j.value("version", int64_t{0}) << ")\n";
  const json refs = j.value("referrers", json::array());
  std::cout << "  referrers: " << (refs.empty() ? "none" : std::to_string(refs.size())) << "\n";
  for (const auto& ref : refs) {
    std::string t = ref.value("tenant", "");
    std::cout << "    " << ref.value("kind", "") << " " << (t.empty() ? "" : t + "/") << ref.value("name", "") << " ("
              << ref.value("field", "") << ")\n";
  }
  YAML::Emitter e;
  EmitYaml(e, j.value("spec", json::object()));
  std::cout << "  spec:\n";
  std::string text = e.c_str();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::cout << "    " << text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) << "\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return 0;
}

static Registrar r({"describe", "show a northbound object, its revision and its referrers via the controller's API", &Run});

}  // namespace
}  // namespace rampart::cli
