// A host-local static configuration: the VM ports of a set of hosts, which of them are
// protected by which firewall instance (and with which slice tags), and the instances' policies.
// Until the controller streams this (issue: controller, store and agent), `rampart-agent
// --static-config FILE --host H` applies it on host H. One file can describe every host: the
// agent takes the VMs whose `host` is its own as local and the others as remote (reached through
// the Geneve tunnel at their host's underlay address). Format: docs/agent.md.
#ifndef RAMPART_AGENT_STATIC_CONFIG_H_
#define RAMPART_AGENT_STATIC_CONFIG_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip.h"
#include "nlohmann/json.hpp"

namespace rampart::agent {

struct Protection {
  uint32_t instance = 0;
  uint32_t port = 0;        // the engine's PortId (conntrack table of this VM)
  uint16_t tag_from_vm = 0; // slice tags: frames the VM sent / frames for the VM
  uint16_t tag_to_vm = 0;
};

struct VmConfig {
  std::string name;
  std::array<uint8_t, 6> mac{};
  std::string host;              // the host the VM runs on
  std::string ovs_port;          // its interface on that host's br-int (default "vm-<name>")
  std::optional<Protection> protect;
};

struct HostConfig {
  std::string name;
  Ip underlay;                   // tunnel endpoint (198.19.255.0/24 in the lab)
};

struct InstanceConfig {
  uint32_t id = 0;
  std::string name;
  nlohmann::json options = nlohmann::json::object();  // FEI instance options (docs/fei.md)
  std::string policy_yaml;       // docs/policy.md
};

struct StaticConfig {
  std::string bridge = "br-int";
  std::string tunnel_port = "geneve0";
  std::string firewall_port = "rfw0";  // the firewall veth's end on br-int
  uint64_t vni = 5001;                 // one L2 segment in static mode
  std::vector<HostConfig> hosts;
  std::vector<InstanceConfig> instances;
  std::vector<VmConfig> vms;

  const HostConfig* FindHost(std::string_view name) const;
};

// Errors name the document, the field path and the reason; nothing is returned on error.
// `base_dir` resolves relative `policy_file` paths.
absl::StatusOr<StaticConfig> ParseStaticConfig(std::string_view text, std::string_view doc_name,
                                               const std::string& base_dir = ".");
absl::StatusOr<StaticConfig> LoadStaticConfig(const std::string& path);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_STATIC_CONFIG_H_
