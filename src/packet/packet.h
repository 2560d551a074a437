// Parsed view of one Ethernet frame: what the firewall engine needs to classify it, track its
// connection and build a reply to it. Produced by ParsePacket (parser.h), which never reads
// outside [data, data+len) and never allocates.
//
// Thread-safety: plain value; each worker parses into its own ParsedPacket.
#ifndef RAMPART_PACKET_PACKET_H_
#define RAMPART_PACKET_PACKET_H_

#include <cstdint>

#include "common/ip.h"

namespace rampart {

// Which way a frame crosses the protected VM port.
enum class Direction : uint8_t {
  kFromVm = 0,  // sent by the VM (egress from the VM's point of view)
  kToVm = 1,    // about to be delivered to the VM
};

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpV6 = 58;

// TCP flag bits as on the wire.
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpUrg = 0x20;

// Every reason a frame can fail to parse. Declared once; counters and verdict reasons are
// named from this list (X(enum_name, "counter-name")).
#define RAMPART_PARSE_ERRORS(X)                                   \
  X(kOk, "ok")                                                    \
  X(kTruncatedEthernet, "truncated-ethernet")                     \
  X(kTooManyVlanTags, "too-many-vlan-tags")                       \
  X(kTruncatedVlan, "truncated-vlan")                             \
  X(kNotIp, "not-ip")                                             \
  X(kTruncatedIpv4, "truncated-ipv4")                             \
  X(kBadIpv4Version, "bad-ipv4-version")                          \
  X(kBadIpv4HeaderLength, "bad-ipv4-header-length")               \
  X(kBadIpv4TotalLength, "bad-ipv4-total-length")                 \
  X(kBadIpv4Checksum, "bad-ipv4-checksum")                        \
  X(kTruncatedIpv6, "truncated-ipv6")                             \
  X(kBadIpv6Version, "bad-ipv6-version")                          \
  X(kBadIpv6PayloadLength, "bad-ipv6-payload-length")             \
  X(kTruncatedIpv6ExtHeader, "truncated-ipv6-ext-header")         \
  X(kTooManyIpv6ExtHeaders, "too-many-ipv6-ext-headers")          \
  X(kBadFragment, "bad-fragment")                                 \
  X(kTruncatedTcp, "truncated-tcp")                               \
  X(kBadTcpHeaderLength, "bad-tcp-header-length")                 \
  X(kTruncatedUdp, "truncated-udp")                               \
  X(kBadUdpLength, "bad-udp-length")                              \
  X(kTruncatedIcmp, "truncated-icmp")                             \
  X(kTruncatedIcmpInner, "truncated-icmp-inner")                 \
  X(kBadIcmpInner, "bad-icmp-inner")                             \
  X(kFrameTooLong, "frame-too-long")

enum class ParseError : uint8_t {
#define RAMPART_X(name, str) name,
  RAMPART_PARSE_ERRORS(RAMPART_X)
#undef RAMPART_X
      kCount
};
const char* ParseErrorName(ParseError e);

// The header an ICMP/ICMPv6 error carries (the packet it is about), as far as it is present.
struct InnerHeader {
  Ip src;
  Ip dst;
  uint8_t proto = 0;
  uint16_t sport = 0;   // TCP/UDP ports; for inner ICMP echo: the echo id in both
  uint16_t dport = 0;
  uint32_t tcp_seq = 0;  // when the inner packet is TCP and the 8 bytes cover it
  bool has_ports = false;

  friend bool operator==(const InnerHeader&, const InnerHeader&) = default;
};

struct ParsedPacket {
  ParseError error = ParseError::kOk;

  // Layer 2.
  uint8_t dst_mac[6] = {};
  uint8_t src_mac[6] = {};
  uint8_t num_vlans = 0;            // 0..2 tags (802.1ad outer + 802.1Q inner, or one 802.1Q)
  uint16_t vlan_tpid[2] = {};       // outermost first
  uint16_t vlan_tci[2] = {};        // PCP/DEI/VID as on the wire, host order
  uint16_t ethertype = 0;           // after the tags
  uint16_t l3_offset = 0;           // from the start of the frame

  // Layer 3. family is 4 or 6 for IP frames, 0 otherwise.
  uint8_t family = 0;
  uint8_t proto = 0;                // final upper-layer protocol (after IPv6 ext headers)
  uint8_t ttl = 0;                  // TTL / hop limit
  uint8_t tos = 0;                  // DSCP/ECN byte / traffic class
  Ip src;
  Ip dst;
  uint16_t l3_len = 0;              // IP header + payload per the IP length field(s)
  uint16_t l4_offset = 0;           // from the start of the frame; valid if has_l4 (for a later
                                    // fragment or another protocol: where the IP payload starts)

  // Fragments. A "later fragment" (offset != 0) has no L4 header: has_l4 is false.
  bool is_fragment = false;
  bool first_fragment = false;      // offset 0 and more-fragments set
  bool more_fragments = false;
  uint16_t frag_offset = 0;         // in 8-byte units
  uint32_t frag_id = 0;             // IPv4 16-bit id or IPv6 32-bit identification

  // Layer 4.
  bool has_l4 = false;
  uint16_t sport = 0;               // TCP/UDP ports. ICMP: see icmp_* below
  uint16_t dport = 0;
  uint16_t l4_payload_len = 0;      // bytes after the L4 header (per IP length; UDP: UDP length;
                                    // a first fragment: what this fragment holds)

  uint8_t tcp_flags = 0;
  uint32_t tcp_seq = 0;
  uint32_t tcp_ack = 0;
  uint16_t tcp_window = 0;          // raw, unscaled
  uint8_t tcp_wscale = 0xff;        // window-scale option value; 0xff when absent (only on SYN;
                                    // values over 14 are stored as 14, RFC 7323)
  bool tcp_sack_permitted = false;
  uint16_t tcp_mss = 0;             // 0 when absent (options are read on SYN segments only)

  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 0;             // echo request/reply identifier
  bool icmp_is_error = false;       // destination unreachable, time exceeded, param problem, packet too big
  bool has_inner = false;           // icmp_is_error and the inner header parsed
  InnerHeader inner;

  // The classifier's view of ports: TCP/UDP ports, or for ICMP/ICMPv6 type and code
  // (the convention OVS uses for tp_src/tp_dst), 0/0 for other protocols or later fragments.
  uint16_t MatchSport() const { return (proto == kProtoIcmp || proto == kProtoIcmpV6) ? icmp_type : sport; }
  uint16_t MatchDport() const { return (proto == kProtoIcmp || proto == kProtoIcmpV6) ? icmp_code : dport; }

  // A non-first fragment: carries no L4 header (has_l4 is false), so ports are unknown.
  bool IsLaterFragment() const { return is_fragment && frag_offset != 0; }

  friend bool operator==(const ParsedPacket&, const ParsedPacket&) = default;
};

}  // namespace rampart

#endif  // RAMPART_PACKET_PACKET_H_
