// rampartctl: the operator's and tenant's command-line tool.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "cli/command.h"

namespace rampart::cli {
std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}

std::vector<Command>& SubRegistry(const std::string& group) {
  static std::map<std::string, std::vector<Command>> groups;
  return groups[group];
}

int ParseFlags(const char* command, const char* usage, int argc, char** argv,
               std::initializer_list<Flag> flags) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      return 0;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (a == f.name) flag = &f;
    }
    if (!flag) {
      std::fprintf(stderr, "%s: unknown argument '%s'\n\n%s", command, a.c_str(), usage);
      return 2;
    }
    if (flag->set) {
      *flag->set = true;
    } else if (i + 1 < argc) {
      *flag->value = argv[++i];
    } else {
      std::fprintf(stderr, "%s: %s needs a value\n\n%s", command, a.c_str(), usage);
      return 2;
    }
  }
  return -1;
}

int DispatchGroup(const std::string& group, int argc, char** argv) {
  auto& subs = SubRegistry(group);
  std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  bool help = argc >= 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"));
  if (argc < 2 || help) {
    FILE* f = help ? stdout : stderr;
    std::fprintf(f, "usage: rampartctl %s SUBCOMMAND [ARGS...]\n\nsubcommands:\n", group.c_str());
    for (const auto& c : subs) std::fprintf(f, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
    return help ? 0 : 2;
  }
  for (const auto& c : subs) {
    if (c.name == argv[1]) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "rampartctl %s: unknown subcommand '%s'\n", group.c_str(), argv[1]);
  return 2;
}
}  // namespace rampart::cli

int main(int argc, char** argv) {
  auto& reg = rampart::cli::Registry();
  std::sort(reg.begin(), reg.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fprintf(argc < 2 ? stderr : stdout, "usage: rampartctl COMMAND [ARGS...]\n\ncommands:\n");
    for (const auto& c : reg) std::fprintf(argc < 2 ? stderr : stdout, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : reg) {
    if (c.name == argv[1]) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "rampartctl: unknown command '%s' (see rampartctl --help)\n", argv[1]);
  return 2;
}
