// A random valid northbound spec (YAML): 1-4 hosts, 1-3 tenants with switches, ports, a router
// (static and policy routes), address groups, service VMs, attached/inline firewalls and a vNIC
// policy whose rules may redirect to the service VMs.
// Shared by nb_objects_test and nb_catalog_test.
#ifndef RAMPART_TEST_CONTROLLER_API_RANDOM_SPEC_H_
#define RAMPART_TEST_CONTROLLER_API_RANDOM_SPEC_H_

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rampart::controller {

inline std::string RandomSpec(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  std::string y;
  auto doc = [&](const std::string& d) { absl::StrAppend(&y, y.empty() ? "" : "---\n", d); };
  int hosts = 1 + pick(4);
  for (int h = 0; h < hosts; ++h) doc(absl::StrCat("kind: Host\nname: h", h, "\nunderlay: 198.19.255.", h + 1, "\n"));
  int tenants = 1 + pick(3);
  for (int t = 0; t < tenants; ++t) {
    std::string T = absl::StrCat("T", t);
    doc(absl::StrCat("kind: Tenant\nname: ", T, "\n"));
    int sws = 1 + pick(4);
    for (int s = 0; s < sws; ++s)
      doc(absl::StrCat("kind: LogicalSwitch\ntenant: ", T, "\nname: s", s, "\ncidr: 198.18.", s, ".0/24\n"));
    int ports = pick(8);
    std::vector<std::string> port_names;
    for (int p = 0; p < ports; ++p) {
      int s = pick(sws);
      std::string d = absl::StrCat("kind: Port\ntenant: ", T, "\nswitch: s", s, "\nname: p", p, "\nmac: \"02:00:00:00:0", t, ":",
                                   absl::StrCat(p < 10 ? "0" : "", p), "\"\nips: [198.18.", s, ".", 10 + p, "]\n");
      if (pick(3)) absl::StrAppend(&d, "host: h", pick(hosts), "\n");
      if (pick(2)) absl::StrAppend(&d, "labels: {role: ", pick(2) ? "web" : "db", "}\n");
      doc(d);
      port_names.push_back(absl::StrCat("p", p));
    }
    // A router on a random non-empty subset of switches (always s0).
    std::string r = absl::StrCat("kind: LogicalRouter\ntenant: ", T, "\nname: r0\nports:\n");
    std::vector<int> on = {0};
    for (int s = 1; s < sws; ++s)
      if (pick(2)) on.push_back(s);
    for (int s : on) absl::StrAppend(&r, "  - {switch: s", s, ", ip: 198.18.", s, ".1}\n");
    if (pick(2)) absl::StrAppend(&r, "static_routes:\n  - {prefix: 198.18.200.0/24, nexthop: 198.18.0.254}\n");
    bool fw = pick(2);
    if (fw) absl::StrAppend(&r, "policy_routes:\n  - match: {source: 198.18.0.0/24}\n    action: firewall fw\n  - {priority: 5, match: {destination: 198.18.9.0/24}, action: drop}\n");
    doc(r);
    int groups = pick(3);
    for (int g = 0; g < groups; ++g) {
      std::string d = absl::StrCat("kind: AddressGroup\ntenant: ", T, "\nname: g", g, "\n");
      bool any = false;
      if (pick(2)) absl::StrAppend(&d, "prefixes: [198.18.", 100 + g, ".0/24]\n"), any = true;
      if (!port_names.empty() && pick(2)) absl::StrAppend(&d, "ports: [", port_names[pick(port_names.size())], "]\n"), any = true;
      if (!any || pick(2)) absl::StrAppend(&d, "selector: {role: web}\n");
      doc(d);
    }
    int services = pick(3);
    static const char* kChecks[] = {"cached", "every-packet", "every-nth"};
    for (int v = 0; v < services; ++v) {
      std::string d = absl::StrCat("kind: ServiceVM\ntenant: ", T, "\nname: svc", v, "\n");
      if (pick(2)) absl::StrAppend(&d, "on_failure: ", pick(2) ? "allow" : "drop", "\n");
      std::string check = kChecks[pick(3)];
      if (pick(2) || check != "cached") absl::StrAppend(&d, "check: ", check, "\n");
      if (check == "every-nth") absl::StrAppend(&d, "nth: ", 2 + pick(200), "\n");
      if (check != "every-packet" && pick(2)) absl::StrAppend(&d, "relay: ", pick(2) ? "true" : "false", "\n");
      if (pick(2)) absl::StrAppend(&d, "same_host: ", pick(2) ? "source" : "destination", "\n");
      if (pick(2)) absl::StrAppend(&d, "migration: ", pick(2) ? "svm" : "svm-review", "\n");
      doc(d);
    }
    auto rules = [&]() {
      std::string out = "rules:\n";
      int n = pick(4);
      for (int i = 0; i < n; ++i) {
        absl::StrAppend(&out, "  - id: ", 10 * (i + 1), "\n");
        if (groups && pick(2)) absl::StrAppend(&out, "    source: [{group: g", pick(groups), "}]\n");
        else if (pick(2)) absl::StrAppend(&out, "    source: [198.18.", pick(4), ".0/24]\n");
        if (pick(2)) absl::StrAppend(&out, "    protocol: tcp\n    destination_ports: [", 20 + pick(100), "]\n");
        if (services && !pick(3)) absl::StrAppend(&out, "    action: redirect\n    redirect_to: svc", pick(services), "\n");
        else absl::StrAppend(&out, "    action: ", pick(2) ? "allow" : "drop", "\n");
      }
      return n ? out : std::string();
    };
    if (fw) doc(absl::StrCat("kind: Firewall\ntenant: ", T, "\nname: fw\nplacement: {attached_to_router: r0}\ndefault: ", pick(2) ? "allow" : "drop", "\n", rules()));
    if (on.size() > 1 && pick(2))
      doc(absl::StrCat("kind: Firewall\ntenant: ", T, "\nname: fwi\nplacement: {inline: {switch: s", on[1], ", router: r0}}\n", rules()));
    if (!port_names.empty() && pick(2)) {
      std::string d = absl::StrCat("kind: VnicPolicy\ntenant: ", T, "\nname: vp\napplied_to: [", port_names[pick(port_names.size())]);
      if (pick(2)) absl::StrAppend(&d, ", {selector: {role: db}}");
      absl::StrAppend(&d, "]\n", rules());
      doc(d);
    }
  }
  return y;
}

}  // namespace rampart::controller

#endif  // RAMPART_TEST_CONTROLLER_API_RANDOM_SPEC_H_
