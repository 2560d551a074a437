// rampartctl apply -f FILE [-f FILE2 ...] [--dry-run]: sends the files' northbound documents to
// the controller's REST API (docs/api.md) as one all-or-nothing apply. "-f -" reads stdin.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/api_client.h"
#include "cli/command.h"

namespace rampart::cli {
namespace {

int Run(int argc, char** argv) {
  CLI::App app{"Create or update northbound objects from YAML/JSON files, all or nothing", "apply"};
  std::vector<std::string> files;
  bool dry = false;
  ApiFlags f;
  app.add_option("-f,--file", files, "a YAML/JSON file of documents ('-' = stdin); repeatable")->required();
  app.add_flag("--dry-run", dry, "validate against the stored objects and report; change nothing");
  AddApiFlags(app, f);
  if (int rc = ParseCli(app, argc, argv); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> texts;
  for (const auto& path : files) {
    std::stringstream ss;
    if (path == "-") {
      ss << std::cin.rdbuf();
    } else {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        std::cerr << "rampartctl apply: " << path << ": cannot open file\n";
        return 1;
      }
      ss << in.rdbuf();
    }
    texts.emplace_back(path == "-" ? "stdin" : path, ss.str());
  }
  controller::ApiClient client(ApiOptionsFrom(f));
  auto r = client.Apply(texts, dry);
  if (!r.ok()) return PrintTransportError("apply", r.status());
  if (r->status != 200) return PrintApiError("apply", *r);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("objects")) {
    std::cerr << "rampartctl apply: unexpected reply: " << r->body << "\n";
    return 1;
  }
  int changed = 0;
  for (const auto& o : j["objects"]) {
    std::string res = o.value("result", "");
    std::string tenant = o.value("tenant", "");
    std::string name = o.value("kind", "") + " " + (tenant.empty() ? "" : tenant + "/") + o.value("name", "");
    changed += res != "unchanged";
    if (dry && res != "unchanged") {
      std::cout << name << " would be " << res << "\n";
    } else {
      std::cout << name << " " << res << " (revision " << o.value("revision", int64_t{0}) << ")\n";
    }
  }
  if (dry) std::cout << "dry run: " << changed << " object(s) would change, nothing was applied\n";
  return 0;
}

static Registrar r({"apply", "create or update northbound objects via the controller's API (apply -f FILE)", &Run});

}  // namespace
}  // namespace rampart::cli
