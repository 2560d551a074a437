// The kernel-side worker choice for rampart-fwd: a classic-BPF PACKET_FANOUT_CBPF program that
// gives every frame of one conversation the same worker, whichever way it goes.
//
// Each worker owns its connection and fragment tables (engine/engine.h), so the two directions
// of a connection, its fragments and the ICMP errors about it must reach the same worker. The
// program hashes the XOR of the source and destination addresses (symmetric by construction):
// of the outer IPv4/IPv6 header, or, for ICMP/ICMPv6 errors, of the header they quote. Ports are
// left out on purpose: later fragments carry none. Non-IP frames, frames with a second (inner)
// VLAN tag and truncated frames go to worker 0, which drops them with a counter.
#ifndef RAMPART_FWD_FANOUT_BPF_H_
#define RAMPART_FWD_FANOUT_BPF_H_

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rampart::fwd {

std::vector<sock_filter> SymmetricFanoutProgram();

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_FANOUT_BPF_H_
