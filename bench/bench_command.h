// rampart-bench subcommands register themselves here, one file per command group
// (bench/<name>_bench_cmd.cc), so groups are added without touching main.cc.
#ifndef RAMPART_BENCH_BENCH_COMMAND_H_
#define RAMPART_BENCH_BENCH_COMMAND_H_

#include <string>
#include <vector>

namespace rampart::bench {

struct Command {
  std::string name;     // first word after rampart-bench, e.g. "fw"
  std::string summary;  // one line for `rampart-bench --help`
  // argv[0] is the group name; returns the process exit code.
  int (*run)(int argc, char** argv);
};

std::vector<Command>& Registry();

struct Registrar {
  explicit Registrar(Command c) { Registry().push_back(std::move(c)); }
};

}  // namespace rampart::bench

#endif  // RAMPART_BENCH_BENCH_COMMAND_H_
