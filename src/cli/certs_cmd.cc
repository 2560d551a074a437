// rampartctl certs init --dir DIR [--hosts h1,h2,...] [--names N,...]: a CA, the controller's
// server certificate (localhost, 127.0.0.1), one client certificate per host (CN = host, for the
// agent stream) and tokens.yaml with a random datacenter-admin token (controller/api/certs.h).
// Running it again keeps what exists and adds missing hosts.
#include <iostream>

#include "CLI/CLI.hpp"
#include "cli/api_client.h"
#include "cli/command.h"
#include "controller/api/certs.h"

namespace rampart::cli {
namespace {

int Init(int argc, char** argv) {
  CLI::App app{"Create the CA, server and per-host certificates and an admin token", "certs init"};
  controller::CertsOptions o;
  app.add_option("--dir", o.dir, "directory for the files (created)")->required();
  app.add_option("--hosts", o.hosts, "hosts that get a client certificate (CN = host)")->delimiter(',');
  app.add_option("--names", o.extra_names, "more names/addresses for the server certificate")->delimiter(',');
  app.add_option("--days", o.days, "validity of the server and host certificates");
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  auto created = controller::InitCerts(o);
  if (!created.ok()) {
    std::cerr << "rampartctl certs init: " << created.status().message() << "\n";
    return 1;
  }
  if (created->empty()) std::cout << "nothing to do: every file exists in " << o.dir << "\n";
  for (const auto& p : *created) std::cout << "created " << p << "\n";
  return 0;
}

static SubRegistrar init_r("certs", {"init", "create a CA, server and per-host certificates, tokens.yaml", &Init});
static Registrar r({"certs", "TLS certificates and tokens for the controller and agents (certs init)",
                    [](int c, char** v) { return DispatchGroup("certs", c, v); }});

}  // namespace
}  // namespace rampart::cli
