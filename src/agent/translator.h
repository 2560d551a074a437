// The translator: a host's records (docs/records.md) + the local facts only this host knows
// (OpenFlow port numbers) -> the complete OpenFlow pipeline for br-int. A pure function, so it is
// unit-tested alone; the agent hands its result to ofp::FlowTableSync (only differences are sent).
//
// Layout (docs/agent.md has the full table):
//   table 0                ingress classification: VM port / tunnel (by tun_id) / firewall port (by tag)
//   tables 10..15          switch stages  ls_in_port_sec, ls_in_vnic, ls_in_arp, ls_in_l2, ls_out_vnic, ls_out_deliver
//   table 16               end of an ND answer (nd_na / nd_na_router): nd_tll <- eth.src, output IN_PORT
//   tables 20..24          router stages  lr_in_port, lr_in_policy, lr_in_routing, lr_in_arp_resolve, lr_out
//   metadata               datapath key (also the Geneve VNI)
//   reg14 / reg15          logical inport / outport key (flood = 65535)
//   reg0 / reg4..reg7      next hop (IPv4 / IPv6, most significant word in reg4)
//   reg10 / reg11          from_firewall / from_tunnel (0 or 1)
// A logical-flow form the translator does not know is skipped: counted by form and reported
// (the caller logs each form once); it never aborts the translation.
//
// Thread-safety: pure function.
#ifndef RAMPART_AGENT_TRANSLATOR_H_
#define RAMPART_AGENT_TRANSLATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ovs/ofp_flow.h"
#include "records/records.h"

namespace rampart::agent {

inline constexpr uint64_t kRecordsCookie = 0x5200000000000002ull;  // owner byte 'R'

// OpenFlow tables.
inline constexpr uint8_t kTableClassify = 0;
inline constexpr uint8_t kTableLsInPortSec = 10;
inline constexpr uint8_t kTableLsInVnic = 11;
inline constexpr uint8_t kTableLsInArp = 12;
inline constexpr uint8_t kTableLsInL2 = 13;
inline constexpr uint8_t kTableLsOutVnic = 14;
inline constexpr uint8_t kTableLsOutDeliver = 15;
// Second half of an IPv6 neighbour advertisement built from a solicitation (`nd_na(MAC)`): OVS
// accepts a set of nd_tll only in a flow that matches an advertisement, so the first flow turns
// the NS into an NA and resubmits here, where one flow copies eth.src into the target link-layer
// address option and sends the frame back out of its in_port. Installed only when some flow
// uses nd_na.
inline constexpr uint8_t kTableNdNa = 16;
inline constexpr uint8_t kTableLrInPort = 20;
inline constexpr uint8_t kTableLrInPolicy = 21;
inline constexpr uint8_t kTableLrInRouting = 22;
inline constexpr uint8_t kTableLrInArpResolve = 23;
inline constexpr uint8_t kTableLrOut = 24;

// Registers.
inline constexpr int kRegNexthop4 = 0;
inline constexpr int kRegNexthop6 = 4;  // reg4..reg7
inline constexpr int kRegFromFirewall = 10;
inline constexpr int kRegFromTunnel = 11;
inline constexpr int kRegInport = 14;
inline constexpr int kRegOutport = 15;
inline constexpr uint32_t kFloodKey = 65535;

// Flags word (nd_reserved) of the advertisements the translator builds: solicited + override,
// plus router for a router port's address (`nd_na_router`).
inline constexpr uint32_t kNdFlagRouter = 0x80000000u;
inline constexpr uint32_t kNdFlagSolicited = 0x40000000u;
inline constexpr uint32_t kNdFlagOverride = 0x20000000u;

// The OpenFlow table of a logical stage (-1 for an unknown stage).
int StageTable(const std::string& stage);

// What only this host knows.
struct LocalFacts {
  std::string host;                      // this host's name (Host rows)
  uint32_t firewall_port = 0;            // ofport of rampart-fwd's port (0: none yet)
  uint32_t tunnel_port = 0;              // ofport of the flow-based Geneve port (0: none yet)
  std::map<std::string, uint32_t> vms;   // external_ids:iface-id -> ofport
};

struct TranslateStats {
  size_t logical_flows = 0;        // Flow rows read
  size_t openflow_flows = 0;       // flows produced
  // Skipped or degraded inputs by reason ("unknown match term 'foo'", "vm port missing", ...).
  std::map<std::string, size_t> skipped;
  // One example (the whole flow row) per unknown form, for a log line.
  std::map<std::string, std::string> unknown_examples;
  size_t Skipped() const {
    size_t n = 0;
    for (const auto& [k, v] : skipped) n += v;
    return n;
  }
};

struct Translation {
  std::vector<ofp::Flow> flows;  // sorted by (table, priority, match); keys unique
  TranslateStats stats;
};

Translation TranslateRecords(const records::RecordSet& records, const LocalFacts& facts);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_TRANSLATOR_H_
