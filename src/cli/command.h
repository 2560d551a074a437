// rampartctl subcommands register themselves here, one file per command group
// (src/cli/<group>_cmd.cc), so groups are added without touching main.cc.
#ifndef RAMPART_CLI_COMMAND_H_
#define RAMPART_CLI_COMMAND_H_

#include <string>
#include <vector>

namespace rampart::cli {

struct Command {
  std::string name;     // first word after rampartctl, e.g. "fw"
  std::string summary;  // one line for `rampartctl --help`
  // argv[0] is the group name; returns the process exit code.
  int (*run)(int argc, char** argv);
};

std::vector<Command>& Registry();

struct Registrar {
  explicit Registrar(Command c) { Registry().push_back(std::move(c)); }
};

}  // namespace rampart::cli

#endif  // RAMPART_CLI_COMMAND_H_
