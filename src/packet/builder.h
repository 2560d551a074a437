// Replies for the "reject" action: a TCP RST or an ICMP/ICMPv6 destination-unreachable,
// written into a caller-supplied buffer. Data-plane code: no allocation, no exceptions.
//
// Both builders answer "as the destination": MACs, IPs (and for RST ports) swapped, VLAN tags
// copied byte for byte, TTL/hop limit 64, all checksums correct, frames padded to the 60-byte
// Ethernet minimum. They return the reply's length, or 0 when no reply may be sent (the rules
// are RFC 9293 §3.10.7 for RST and RFC 1122 §3.2.2 / RFC 4443 §2.4(e) for ICMP; see
// docs/packet.md) or when `cap` is too small.
//
// REQUIRES: p is ParsePacket's result for exactly this frame (same bytes). out must not
// overlap frame.
// Thread-safety: pure functions.
#ifndef RAMPART_PACKET_BUILDER_H_
#define RAMPART_PACKET_BUILDER_H_

#include <cstddef>
#include <cstdint>

#include "packet/packet.h"

namespace rampart {

// ICMP codes for "administratively prohibited".
constexpr uint8_t kIcmpUnreachAdminProhibited = 13;   // ICMPv4 type 3 code 13
constexpr uint8_t kIcmp6UnreachAdminProhibited = 1;   // ICMPv6 type 1 code 1

// Largest reply each builder can produce (size `out` at least this to never be refused for
// room): VLAN tags + the 576-byte (IPv4) / 1280-byte (IPv6) limits.
constexpr size_t kMaxTcpResetLen = 14 + 8 + 40 + 20;
constexpr size_t kMaxIcmpUnreachableLen = 14 + 8 + 1280;

// RST for a TCP segment (p.proto == kProtoTcp, p.has_l4, no parse error). If the segment has
// ACK, RST seq = its ack, no ACK flag; else seq 0, RST|ACK, ack = seq + payload + SYN + FIN.
// Returns 0 for a RST, a non-TCP/unparsed packet, a multicast/broadcast source or
// destination, or a fragment without ACK (its payload length is unknown).
size_t BuildTcpReset(const uint8_t* frame, const ParsedPacket& p, uint8_t* out, size_t cap);

struct UnreachableCode {
  uint8_t icmp4 = kIcmpUnreachAdminProhibited;   // IPv4: type 3, this code
  uint8_t icmp6 = kIcmp6UnreachAdminProhibited;  // IPv6: type 1, this code
};

// ICMP destination unreachable quoting the offending IP datagram (header + as much payload as
// fits in 576 bytes of IPv4 / 1280 bytes of IPv6 reply, and in cap). Returns 0 for ICMP error
// messages (and unknown ICMPv4 types), later fragments, multicast/broadcast destinations
// (IP or MAC), non-unicast sources, an unparsed packet, or when the quote could not hold the
// original header chain + 8 bytes (IPv6 extension headers over 1232 bytes, or a small cap).
size_t BuildIcmpUnreachable(const uint8_t* frame, const ParsedPacket& p, uint8_t* out,
                            size_t cap, UnreachableCode code = {});

}  // namespace rampart

#endif  // RAMPART_PACKET_BUILDER_H_
