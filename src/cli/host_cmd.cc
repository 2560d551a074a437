// `rampartctl host ...`: what this host's rampart-fwd holds, over its FEI socket.
//   host conntrack list [filters] [-o table|json]
//   host conntrack flush --instance N [--port P]
//   host stats [--instance N] [-o table|json]
//   host services [-o table|json]         (ServiceVMs and their redirect counters)
//   host instances | host tags            (what is configured)
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "cli/command.h"
#include "fwd/fei_server.h"

namespace rampart::cli {
namespace {

using nlohmann::json;

constexpr const char* kDefaultSocket = "/run/rampart/fwd.sock";

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "rampartctl host: %s\n", std::string(s.message()).c_str());
  return 1;
}

absl::StatusOr<json> Call(const std::string& socket, const std::string& method, const json& params) {
  auto c = fwd::FeiClient::Connect(socket);
  if (!c.ok()) return c.status();
  return (*c)->Call(method, params);
}

std::optional<int> ProtoNumber(const std::string& p) {
  if (p == "tcp") return 6;
  if (p == "udp") return 17;
  if (p == "icmp") return 1;
  if (p == "icmpv6") return 58;
  try {
    size_t used = 0;
    int n = std::stoi(p, &used);
    if (used == p.size() && n >= 0 && n <= 255) return n;
  } catch (...) {
  }
  return std::nullopt;
}

std::string ProtoName(int p) {
  switch (p) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return std::to_string(p);
  }
}

int ConntrackList(int argc, char** argv) {
  CLI::App app{"list the connections rampart-fwd tracks"};
  std::string socket = kDefaultSocket, output = "table", proto, src, dst;
  std::optional<uint32_t> instance, port;
  std::optional<uint16_t> sport, dport;
  bool either = false;
  app.add_option("--socket", socket, "rampart-fwd's FEI socket");
  app.add_option("--instance", instance, "only this firewall instance (default: all)");
  app.add_option("--port,--vm", port, "only this protected port (VM)");
  app.add_option("--src", src, "source address or prefix (original direction)");
  app.add_option("--dst", dst, "destination address or prefix");
  app.add_option("--proto", proto, "tcp, udp, icmp, icmpv6 or a number");
  app.add_option("--sport", sport, "source port");
  app.add_option("--dport", dport, "destination port");
  app.add_flag("--either-direction", either, "match the filter against both orientations");
  app.add_option("-o,--output", output, "table or json")->check(CLI::IsMember({"table", "json"}));
  CLI11_PARSE(app, argc, argv);

  json filter = json::object();
  if (!src.empty()) filter["src"] = src;
  if (!dst.empty()) filter["dst"] = dst;
  if (!proto.empty()) {
    auto n = ProtoNumber(proto);
    if (!n) return Fail(absl::InvalidArgumentError("--proto '" + proto + "' is not tcp, udp, icmp, icmpv6 or 0..255"));
    filter["proto"] = *n;
  }
  if (sport) filter["sport"] = *sport;
  if (dport) filter["dport"] = *dport;
  if (either) filter["either_direction"] = true;

  std::vector<uint32_t> instances;
  if (instance) {
    instances.push_back(*instance);
  } else {
    auto list = Call(socket, "instance.list", json::object());
    if (!list.ok()) return Fail(list.status());
    for (const auto& i : (*list)["instances"]) instances.push_back(i["id"].get<uint32_t>());
  }
  json all = json::array();
  for (uint32_t id : instances) {
    json params = {{"instance", id}, {"filter", filter}};
    if (port) params["port"] = *port;
    auto r = Call(socket, "conntrack.list", params);
    if (!r.ok()) return Fail(r.status());
    for (auto c : (*r)["connections"]) {
      c["instance"] = id;
      all.push_back(c);
    }
  }
  if (output == "json") {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  std::printf("%-5s %-5s %-7s %-40s %-40s %-12s %-8s %12s %12s %6s\n", "INST", "PORT", "PROTO", "SOURCE", "DESTINATION",
              "STATE", "RULE", "PKTS(o/r)", "BYTES(o/r)", "IDLE");
  for (const auto& c : all) {
    std::string s = c["src"].get<std::string>() + ":" + std::to_string(c["sport"].get<int>());
    std::string d = c["dst"].get<std::string>() + ":" + std::to_string(c["dport"].get<int>());
    std::string pk = std::to_string(c["packets"][0].get<uint64_t>()) + "/" + std::to_string(c["packets"][1].get<uint64_t>());
    std::string by = std::to_string(c["bytes"][0].get<uint64_t>()) + "/" + std::to_string(c["bytes"][1].get<uint64_t>());
    std::printf("%-5u %-5u %-7s %-40s %-40s %-12s %-8u %12s %12s %5lus\n", c["instance"].get<uint32_t>(),
                c["port"].get<uint32_t>(), ProtoName(c["proto"].get<int>()).c_str(), s.c_str(), d.c_str(),
                c["state"].get<std::string>().c_str(), c["rule_id"].get<uint32_t>(), pk.c_str(), by.c_str(),
                static_cast<unsigned long>(c["idle_s"].get<uint64_t>()));
  }
  std::printf("%zu connection(s)\n", all.size());
  return 0;
}

int ConntrackFlush(int argc, char** argv) {
  CLI::App app{"forget tracked connections (they must start again)"};
  std::string socket = kDefaultSocket;
  uint32_t instance = 0;
  std::optional<uint32_t> port;
  app.add_option("--socket", socket, "rampart-fwd's FEI socket");
  app.add_option("--instance", instance, "firewall instance")->required();
  app.add_option("--port,--vm", port, "only this protected port (default: all of the instance)");
  CLI11_PARSE(app, argc, argv);
  json params = {{"instance", instance}};
  if (port) params["port"] = *port;
  auto r = Call(socket, "conntrack.flush", params);
  if (!r.ok()) return Fail(r.status());
  return 0;
}

int Conntrack(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "list") return ConntrackList(argc - 1, argv + 1);
  if (argc >= 2 && std::string(argv[1]) == "flush") return ConntrackFlush(argc - 1, argv + 1);
  std::fprintf(stderr, "usage: rampartctl host conntrack list|flush [ARGS...]\n");
  return 2;
}

int Stats(int argc, char** argv) {
  CLI::App app{"counters of rampart-fwd: per reason, per verdict, per rule, per worker"};
  std::string socket = kDefaultSocket, output = "table";
  std::optional<uint32_t> instance;
  app.add_option("--socket", socket, "rampart-fwd's FEI socket");
  app.add_option("--instance", instance, "only this firewall instance");
  app.add_option("-o,--output", output, "table or json")->check(CLI::IsMember({"table", "json"}));
  CLI11_PARSE(app, argc, argv);
  json params = json::object();
  if (instance) params["instance"] = *instance;
  auto r = Call(socket, "stats", params);
  if (!r.ok()) return Fail(r.status());
  if (output == "json") {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  auto print_counters = [](const json& c) {
    for (const auto& [v, n] : c["verdicts"].items()) {
      std::printf("  %-24s %12lu packets %14lu bytes\n", v.c_str(), static_cast<unsigned long>(n["packets"].get<uint64_t>()),
                  static_cast<unsigned long>(n["bytes"].get<uint64_t>()));
    }
    for (const auto& [reason, n] : c["reasons"].items()) {
      std::printf("  %-24s %12lu\n", reason.c_str(), static_cast<unsigned long>(n.get<uint64_t>()));
    }
  };
  std::printf("engine (frames that reached no instance):\n");
  print_counters((*r)["engine"]);
  for (const auto& inst : (*r)["instances"]) {
    std::printf("instance %u %s:\n", inst["id"].get<uint32_t>(), inst["name"].get<std::string>().c_str());
    print_counters(inst);
    for (const auto& rule : inst["rules"]) {
      std::printf("  rule %-10u %12lu packets %14lu bytes %10lu connections\n", rule["rule_id"].get<uint32_t>(),
                  static_cast<unsigned long>(rule["packets"].get<uint64_t>()),
                  static_cast<unsigned long>(rule["bytes"].get<uint64_t>()),
                  static_cast<unsigned long>(rule["connections"].get<uint64_t>()));
    }
  }
  for (const auto& w : (*r)["workers"]) {
    std::printf("worker %d: rx %lu (kernel drops %lu), tx %lu (errors %lu), replies %lu, redirect-no-service %lu "
                "(failure-drop %lu, failure-allow %lu, unknown-service %lu)\n",
                w["worker"].get<int>(), static_cast<unsigned long>(w["rx_frames"].get<uint64_t>()),
                static_cast<unsigned long>(w["rx_kernel_drops"].get<uint64_t>()),
                static_cast<unsigned long>(w["tx_frames"].get<uint64_t>()),
                static_cast<unsigned long>(w["tx_errors"].get<uint64_t>()),
                static_cast<unsigned long>(w["tx_replies"].get<uint64_t>()),
                static_cast<unsigned long>(w["redirect_no_service"].get<uint64_t>()),
                static_cast<unsigned long>(w.value("redirect_failure_drop", uint64_t{0})),
                static_cast<unsigned long>(w.value("redirect_failure_allow", uint64_t{0})),
                static_cast<unsigned long>(w.value("redirect_unknown_service", uint64_t{0})));
  }
  return 0;
}

int Services(int argc, char** argv) {
  CLI::App app{"ServiceVMs rampart-fwd knows (service.list) and what their redirects did"};
  std::string socket = kDefaultSocket, output = "table";
  app.add_option("--socket", socket, "rampart-fwd's FEI socket");
  app.add_option("-o,--output", output, "table or json")->check(CLI::IsMember({"table", "json"}));
  CLI11_PARSE(app, argc, argv);
  auto r = Call(socket, "service.list", json::object());
  if (!r.ok()) return Fail(r.status());
  if (output == "json") {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  auto str = [](const json& e, const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string("-"); };
  auto num = [](const json& e, const char* k) {
    return static_cast<unsigned long>(e.contains("counters") ? e["counters"].value(k, uint64_t{0}) : 0);
  };
  std::printf("%-16s %-24s %-10s %-14s %12s %12s %12s\n", "TENANT", "NAME", "ON_FAILURE", "CHECK", "REDIRECTED",
              "FAIL_DROP", "FAIL_ALLOW");
  for (const auto& e : (*r)["services"]) {
    std::string check = str(e, "check");
    if (check == "every-nth") check += "/" + std::to_string(e.value("nth", 0u));
    std::printf("%-16s %-24s %-10s %-14s %12lu %12lu %12lu\n", str(e, "tenant").c_str(), str(e, "name").c_str(),
                str(e, "on_failure").c_str(), check.c_str(), num(e, "redirected"), num(e, "failure_dropped"),
                num(e, "failure_allowed"));
  }
  // Names redirect rules use that no service.set registered: their frames are dropped.
  for (const auto& e : r->value("unregistered", json::array())) {
    std::printf("%-16s %-24s %-10s %-14s %12lu %12s %12s\n", str(e, "tenant").c_str(), str(e, "name").c_str(),
                "(unknown)", "-", num(e, "redirected"), "-", "-");
  }
  return 0;
}

int Simple(int argc, char** argv, const char* method, const char* key) {
  CLI::App app{std::string("list ") + key};
  std::string socket = kDefaultSocket;
  app.add_option("--socket", socket, "rampart-fwd's FEI socket");
  CLI11_PARSE(app, argc, argv);
  auto r = Call(socket, method, json::object());
  if (!r.ok()) return Fail(r.status());
  std::cout << (*r)[key].dump(2) << "\n";
  return 0;
}

SubRegistrar conntrack_reg("host", {"conntrack", "list or flush the connections rampart-fwd tracks", &Conntrack});
SubRegistrar stats_reg("host", {"stats", "rampart-fwd counters (per reason, verdict, rule, worker)", &Stats});
SubRegistrar services_reg("host", {"services", "ServiceVMs (redirect targets) in rampart-fwd, with their counters", &Services});
SubRegistrar inst_reg("host", {"instances", "firewall instances configured in rampart-fwd",
                               [](int c, char** v) { return Simple(c, v, "instance.list", "instances"); }});
SubRegistrar tags_reg("host", {"tags", "802.1Q tag bindings configured in rampart-fwd",
                               [](int c, char** v) { return Simple(c, v, "tag.list", "bindings"); }});
Registrar host_reg({"host", "inspect this host's rampart-fwd (connections, counters, configuration)",
                    [](int argc, char** argv) { return DispatchGroup("host", argc, argv); }});

}  // namespace
}  // namespace rampart::cli
