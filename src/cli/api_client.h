// rampartctl's connection to the controller's REST API (docs/api.md), shared by apply, get,
// delete and describe: flags --server/--token/--ca with RAMPART_SERVER / RAMPART_TOKEN /
// RAMPART_CA as fallbacks, CLI11 parsing with rampartctl's exit codes (0 ok, 1 refused or
// failed, 2 usage), and printing of API errors. The HTTP client itself is
// controller/api/api_client.h (library rampart_api).
//
// Header-only: src/cli/CMakeLists.txt builds main.cc and the *_cmd.cc files.
#ifndef RAMPART_CLI_API_CLIENT_H_
#define RAMPART_CLI_API_CLIENT_H_

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "controller/api/api_client.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace rampart::cli {

struct ApiFlags {
  std::string server, token, ca;
};

inline void AddApiFlags(CLI::App& app, ApiFlags& f) {
  app.add_option("--server", f.server, "controller API URL (default $RAMPART_SERVER or https://127.0.0.1:8443)");
  app.add_option("--token", f.token, "bearer token (default $RAMPART_TOKEN)");
  app.add_option("--ca", f.ca, "CA certificate of the controller (default $RAMPART_CA)");
}

inline controller::ApiClientOptions ApiOptionsFrom(const ApiFlags& f) {
  auto env = [](const char* name, const std::string& flag, const char* dflt) {
    if (!flag.empty()) return flag;
    const char* v = std::getenv(name);
    return std::string(v && *v ? v : dflt);
  };
  controller::ApiClientOptions o;
  o.server = env("RAMPART_SERVER", f.server, "https://127.0.0.1:8443");
  o.token = env("RAMPART_TOKEN", f.token, "");
  o.ca_file = env("RAMPART_CA", f.ca, "");
  return o;
}

// Parses argv (argv[0] = the command name) with CLI11. Returns -1 to go on, else the exit code.
inline int ParseCli(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "rampartctl " << app.get_name() << ": " << e.what() << "\n\n" << app.help();
    return 2;
  }
  return -1;
}

// Prints a failed reply ("rampartctl apply: <message>" and the details) and returns 1.
inline int PrintApiError(const std::string& command, const controller::ApiReply& r) {
  std::cerr << "rampartctl " << command << ": " << controller::ApiClient::ErrorMessage(r) << "\n";
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object() && j["error"].contains("details") &&
      j["error"]["details"].is_array() && j["error"]["details"].size() > 1) {
    size_t n = 0;
    for (const auto& d : j["error"]["details"])
      if (d.is_string() && ++n <= 20) std::cerr << "  " << d.get<std::string>() << "\n";
    if (n > 20) std::cerr << "  ... " << n - 20 << " more\n";
  }
  return 1;
}

inline int PrintTransportError(const std::string& command, const absl::Status& s) {
  std::cerr << "rampartctl " << command << ": " << s.message() << "\n";
  return 1;
}

// "port", "Ports", "logicalswitch", "ls", "lr", "fw" -> the kind's proper name; "" when unknown.
inline std::string KindName(std::string s) {
  static const char* kKinds[] = {"Tenant", "Host", "LogicalSwitch", "LogicalRouter", "Port", "AddressGroup", "ServiceVM", "Firewall", "VnicPolicy"};
  auto lower = [](std::string x) {
    for (char& c : x) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return x;
  };
  std::string l = lower(s);
  if (l == "ls") return "LogicalSwitch";
  if (l == "lr") return "LogicalRouter";
  if (l == "fw") return "Firewall";
  if (l == "svm" || l == "svms") return "ServiceVM";
  for (const char* k : kKinds) {
    std::string kl = lower(k);
    if (l == kl || l == kl + "s" || (kl.back() == 'y' && l == kl.substr(0, kl.size() - 1) + "ies")) return k;
  }
  return "";
}

// JSON -> YAML, an object's kind, tenant and name first (the rest sorted), so the output of
// `get -o yaml` reads like what was applied and can be edited and applied again.
inline void EmitYaml(YAML::Emitter& e, const nlohmann::json& j) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (const char* first : {"kind", "tenant", "name"})
      if (j.contains(first)) {
        e << YAML::Key << first << YAML::Value;
        EmitYaml(e, j[first]);
      }
    for (const auto& [k, v] : j.items()) {
      if (k == "kind" || k == "tenant" || k == "name") continue;
      e << YAML::Key << k << YAML::Value;
      EmitYaml(e, v);
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    bool flat = true;
    for (const auto& v : j) flat &= !v.is_structured();
    if (flat) e << YAML::Flow;
    e << YAML::BeginSeq;
    for (const auto& v : j) EmitYaml(e, v);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    // Quote what YAML would otherwise read as another type (numbers, booleans, MACs like 02:00:..).
    bool plain_ok = !s.empty() && s.find(':') == std::string::npos && s.find('#') == std::string::npos;
    bool numeric = !s.empty() && s.find_first_not_of("0123456789.-+eE") == std::string::npos;
    if (!plain_ok || numeric || s == "true" || s == "false" || s == "null" || s == "~" || s == "yes" || s == "no")
      e << YAML::DoubleQuoted;
    e << s;
  } else if (j.is_null()) {
    e << YAML::Null;
  } else {
    e << j.dump();
  }
}

inline bool TenantLessKind(const std::string& kind) { return kind == "Tenant" || kind == "Host"; }

}  // namespace rampart::cli

#endif  // RAMPART_CLI_API_CLIENT_H_
