// One-line human-readable summary of a ParsedPacket, for tools (replay, traces) and test
// failure messages. Control-plane helper: allocates. Not for the data plane.
//
//   "vlan 100 198.18.1.2:40000 > 198.18.2.3:80 tcp [S] seq 1000 ack 0 win 64240 len 0"
//   "198.18.2.3 > 198.18.1.2 icmp 3/13 about tcp 198.18.1.2:40000 > 198.18.2.3:80"
//   "error truncated-ipv4"
#ifndef RAMPART_PACKET_DESCRIBE_H_
#define RAMPART_PACKET_DESCRIBE_H_

#include <string>

#include "packet/packet.h"

namespace rampart {

std::string DescribePacket(const ParsedPacket& p);

}  // namespace rampart

#endif  // RAMPART_PACKET_DESCRIBE_H_
