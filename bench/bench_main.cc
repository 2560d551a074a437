// rampart-bench: reproducible measurements; every subcommand prints JSON with --json.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "bench/bench_command.h"

namespace rampart::bench {
std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace rampart::bench

int main(int argc, char** argv) {
  auto& reg = rampart::bench::Registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fprintf(argc < 2 ? stderr : stdout, "usage: rampart-bench COMMAND [ARGS...]\n\ncommands:\n");
    for (const auto& c : reg) std::fprintf(argc < 2 ? stderr : stdout, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : reg) {
    if (c.name == argv[1]) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "rampart-bench: unknown command '%s' (see rampart-bench --help)\n", argv[1]);
  return 2;
}
