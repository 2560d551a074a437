// The OpenFlow pipeline one host's br-int needs for a static configuration: steering every IP
// frame of a protected VM through rampart-fwd with that VM's slice tag (docs/agent.md has the
// tables). A pure function of the configuration and the ofports, so it is unit-tested alone and
// the agent hands its result to ofp::FlowTableSync, which installs only the difference.
#ifndef RAMPART_AGENT_HOST_PIPELINE_H_
#define RAMPART_AGENT_HOST_PIPELINE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/static_config.h"
#include "ovs/ofp_flow.h"

namespace rampart::agent {

constexpr uint64_t kAgentCookie = 0x5200000000000001ull;  // owner byte 'R' (FlowSyncOptions)

// OpenFlow port numbers on this host's br-int. A local VM whose port is missing is left out
// (its flows appear once the port exists).
struct HostPorts {
  uint32_t firewall = 0;
  uint32_t tunnel = 0;
  std::map<std::string, uint32_t> vms;  // VM name -> ofport
};

std::vector<ofp::Flow> HostFlows(const StaticConfig& config, std::string_view host, const HostPorts& ports);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_HOST_PIPELINE_H_
