// The agent's OVSDB work on br-int for records mode: rampart-fwd's veth (the firewall port),
// ONE flow-based Geneve tunnel port (options:remote_ip=flow, options:key=flow) and the VM
// ports' OpenFlow numbers by external_ids:iface-id. Each helper is idempotent.
//
// Thread-safety: as the OvsdbClient it borrows (one thread).
#ifndef RAMPART_AGENT_HOST_SWITCH_H_
#define RAMPART_AGENT_HOST_SWITCH_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ovs/ovsdb_client.h"

namespace rampart::agent {

// Creates the veth pair `ovs_end`/`fwd_end` if missing, brings both up (MTU 9000) and makes
// `ovs_end` a port of `bridge` (external_ids:rampart-role=firewall).
absl::Status EnsureFirewallVeth(ovs::OvsdbClient& db, const std::string& bridge, const std::string& ovs_end,
                                const std::string& fwd_end);

// Makes `name` a Geneve interface on `bridge` with remote_ip=flow and key=flow (creating the
// port, or correcting type/options of an existing interface; other options such as local_ip
// stay). Returns whether anything was changed.
absl::StatusOr<bool> EnsureTunnelPort(ovs::OvsdbClient& db, const std::string& bridge, const std::string& name);

// iface-id -> ofport of every interface that has external_ids:iface-id and an assigned ofport.
absl::StatusOr<std::map<std::string, uint32_t>> ReadVmOfports(ovs::OvsdbClient& db);
// The ofport of interface `name` (0 when absent or not yet assigned).
absl::StatusOr<uint32_t> ReadOfport(ovs::OvsdbClient& db, const std::string& name);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_HOST_SWITCH_H_
