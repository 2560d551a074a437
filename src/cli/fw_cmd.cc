// `rampartctl fw ...`: the firewall engine offline (check a rule set, replay a capture).
// Subcommands live in fw_<name>_cmd.cc files and register with SubRegistrar("fw", ...).
#include "cli/command.h"

namespace rampart::cli {
namespace {
Registrar reg({"fw", "firewall engine offline: check rules against a trace, replay a capture",
               [](int argc, char** argv) { return DispatchGroup("fw", argc, argv); }});
}  // namespace
}  // namespace rampart::cli
