// Generator of large, realistic northbound descriptions for the logical-stage benchmarks
// (`rampart-bench logical`, bench/northd/run.sh) and for the controller/agent scale benchmarks.
//
// The shape (GenerateNbSpec):
//   - `hosts` hosts h0001.. with unique underlay addresses counting down from 198.19.255.1
//     (198.19.255.x for the first 254 hosts, then 198.19.254.x, ...: all inside the lab range);
//   - `tenants` tenants t001.., each with a router r1 and several switches (/24s in
//     198.18.0.0/16, router at .1, VMs from .10; tenants reuse each other's address space once it is used up, as real
//     tenants reuse RFC 1918 ranges);
//   - `ports` VM ports spread over tenants evenly and over hosts with a skew (a few hosts are
//     busy, most are average), each with a MAC, one IPv4 address and labels tier/env/app;
//   - per tenant: address groups by prefixes (external lab ranges), by selector (tier=web, ...)
//     and by explicit ports; a Firewall "fw" attached to r1 with a policy route steering each
//     switch's traffic to it; vNIC policies on the db tier (selector) and on a few explicit ports;
//   - `rules` firewall rules spread over the tenants' firewalls (~80%) and vNIC policies (~20%):
//     mostly groups and prefixes, TCP/UDP with single ports, lists and ranges.
// Everything is a pure function of the options (the seed included): two calls give equal specs.
//
// NbSpecToYaml writes a spec as the multi-document YAML of docs/logical-stage.md, which
// ParseNbSpec reads back into an equal NbSpec. OvnNbTransaction writes the same topology as an
// RFC 7047 "transact" request for OVN_Northbound (the input of the OVN northd comparison).
//
// Thread-safety: pure functions.
#ifndef RAMPART_BENCH_SUPPORT_NB_GENERATOR_H_
#define RAMPART_BENCH_SUPPORT_NB_GENERATOR_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

#include "controller/nb_spec.h"
#include "nlohmann/json.hpp"

namespace rampart::bench {

struct GeneratorOptions {
  int hosts = 1000;
  int ports = 10000;
  int tenants = 100;
  int rules = 50000;
  uint64_t seed = 1;
  // Switches per tenant; 0 = automatic (about 20 ports per switch, 1..8, at most 200 per switch).
  int switches_per_tenant = 0;
  // Address groups per tenant (a mix of prefix, selector and port-list groups); at least 3.
  int groups_per_tenant = 10;
  // Share of the rules that go to vNIC policies (the rest to the tenants' router firewalls).
  double vnic_rule_share = 0.2;
  // Host placement skew: host i (in a seeded random order) gets weight 1/(i+1)^host_skew;
  // 0 = uniform.
  double host_skew = 0.5;
};

// REQUIRES: hosts >= 1, tenants >= 1, ports >= 0, rules >= 0.
controller::NbSpec GenerateNbSpec(const GeneratorOptions& options);

// Multi-document YAML that ParseNbSpec turns back into `spec` (for specs whose rule texts are
// canonical, as ParseNbSpec and GenerateNbSpec produce them).
std::string NbSpecToYaml(const controller::NbSpec& spec);

// --- Single changes, as the benchmarks apply them ------------------------------------------
// Each returns the changed spec; `n` picks which rule/port (deterministically) so repetitions
// differ. REQUIRES: the spec has at least one firewall (AddOneRule), one bound port and two hosts
// (MoveOnePort), one switch (AddOnePort).
controller::NbSpec AddOneRule(const controller::NbSpec& spec, int n);
controller::NbSpec MoveOnePort(const controller::NbSpec& spec, int n);
controller::NbSpec AddOnePort(const controller::NbSpec& spec, int n);

// --- OVN northbound equivalent --------------------------------------------------------------
// The spec as one RFC 7047 request {"method":"transact","params":["OVN_Northbound", ops...],
// "id":1}: Logical_Switch (+Logical_Switch_Port with "MAC IP" addresses, requested-chassis =
// the port's host, and a router-type port per router port), Logical_Router (+Logical_Router_Port,
// static routes, policies), Address_Set for group prefixes, Port_Group for group members and for
// each firewall / vNIC policy (the ports it protects) carrying its ACLs: one ACL per rule
// (to-lport unless the rule is from-vm; allow -> allow-related, drop -> drop, reject -> reject;
// OVN priority 32000 - rank) plus one default ACL per instance.
// Names: switches "<tenant>_<sw>", ports "<tenant>_<port>", Address_Set "as_<tenant>_<group>",
// Port_Group "pg_<tenant>_<group>" / "pgfw_<tenant>_<instance>" (non-identifier characters -> _).
nlohmann::json OvnNbTransaction(const controller::NbSpec& spec);

// The OVN transaction for the change from `before` to `after`, for the three single changes
// above (an added rule, a moved port, an added port). InvalidArgument for other differences.
absl::StatusOr<nlohmann::json> OvnNbChange(const controller::NbSpec& before,
                                           const controller::NbSpec& after);

// The hosts as OVN_Southbound Chassis rows (name = host, one Geneve Encap at its underlay
// address), as ovn-controller on each host would register them: loaded into SB before the
// comparison so northd sees the requested-chassis of every port as a known chassis.
nlohmann::json OvnSbChassisTransaction(const controller::NbSpec& spec);

// Counts of rows per table in a transaction made by OvnNbTransaction / OvnNbChange ("insert"
// operations only).
std::map<std::string, int> OvnInsertCounts(const nlohmann::json& request);

}  // namespace rampart::bench

#endif  // RAMPART_BENCH_SUPPORT_NB_GENERATOR_H_
