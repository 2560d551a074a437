// rampartctl subcommands register themselves here, one file per command group
// (src/cli/<group>_cmd.cc), so groups are added without touching main.cc.
#ifndef RAMPART_CLI_COMMAND_H_
#define RAMPART_CLI_COMMAND_H_

#include <initializer_list>
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

// Subcommands of a group (e.g. "fw check", "fw replay"), each in its own file, so several people
// can add subcommands to one group: `static SubRegistrar r("fw", {"check", "...", &Run});`
// The group's own file registers {name, summary, [](int c, char** v) { return DispatchGroup("fw", c, v); }}.
std::vector<Command>& SubRegistry(const std::string& group);

struct SubRegistrar {
  SubRegistrar(const std::string& group, Command c) { SubRegistry(group).push_back(std::move(c)); }
};

// argv[0] is the group name, argv[1] the subcommand; prints the group's help on -h/--help or
// no subcommand.
int DispatchGroup(const std::string& group, int argc, char** argv);

// A flag of a hand-parsed subcommand: `value` for "--name VALUE", `set` for a bare "--name".
struct Flag {
  const char* name;
  std::string* value = nullptr;
  bool* set = nullptr;
};

// Parses argv[1..] against `flags`. Returns -1 when parsing succeeded and the command should go
// on; otherwise the exit code to return (0 after printing `usage` for -h/--help, 2 after an
// error naming `command` and the offending argument, followed by `usage`).
int ParseFlags(const char* command, const char* usage, int argc, char** argv,
               std::initializer_list<Flag> flags);

}  // namespace rampart::cli

#endif  // RAMPART_CLI_COMMAND_H_
