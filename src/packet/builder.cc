#include "packet/builder.h"

#include <cstring>

#include "packet/checksum.h"

namespace rampart {

namespace {

constexpr size_t kMinEthernetFrame = 60;  // without FCS
constexpr uint8_t kReplyTtl = 64;
constexpr size_t kIcmp4ReplyLimit = 576;   // RFC 1812 §4.3.2.3: whole IP datagram
constexpr size_t kIcmp6ReplyLimit = 1280;  // RFC 4443 §2.4(c): IPv6 minimum MTU

inline void Wr16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Wr32(uint8_t* p, uint32_t v) {
  Wr16(p, static_cast<uint16_t>(v >> 16));
  Wr16(p + 2, static_cast<uint16_t>(v));
}

bool IsUnicastV4(uint32_t a) {
  const uint32_t top = a >> 24;
  return a != 0 && top != 127 && top < 224;  // not 0/32, loopback, multicast, class E, broadcast
}

bool IsUnicastV6(const Ip& a) {
  if ((a.hi >> 56) == 0xff) return false;                      // multicast
  if (a.hi == 0 && (a.lo == 0 || a.lo == 1)) return false;     // :: and ::1
  return true;
}

// RFC 1122 §3.2.2 / RFC 4443 §2.4(e), and common sense for RST: never answer a frame sent to
// a link-layer broadcast/multicast address or an IP multicast/broadcast address, or one whose
// source is not a single unicast host (we would be sending to a group or to nobody).
bool PeersAreUnicast(const ParsedPacket& p) {
  if ((p.dst_mac[0] & 1) || (p.src_mac[0] & 1)) return false;
  if (p.family == 4) {
    if (!p.src.IsV4() || !p.dst.IsV4()) return false;
    return IsUnicastV4(p.src.V4Addr()) && IsUnicastV4(p.dst.V4Addr());
  }
  if (p.family == 6) return IsUnicastV6(p.src) && IsUnicastV6(p.dst);
  return false;
}

// Ethernet + tags: MACs swapped, the tags and ethertype copied as they were.
void WriteL2(const uint8_t* frame, const ParsedPacket& p, uint8_t* out) {
  std::memcpy(out, frame + 6, 6);
  std::memcpy(out + 6, frame, 6);
  std::memcpy(out + 12, frame + 12, p.l3_offset - 12u);
}

// IP header answering p: addresses swapped, TTL 64. Returns its length.
size_t WriteIpHeader(const uint8_t* frame, const ParsedPacket& p, uint8_t proto,
                     size_t l4_len, uint8_t* ip) {
  const uint8_t* orig = frame + p.l3_offset;
  if (p.family == 4) {
    ip[0] = 0x45;
    ip[1] = 0;
    Wr16(ip + 2, static_cast<uint16_t>(20 + l4_len));
    Wr16(ip + 4, 0);
    Wr16(ip + 6, proto == kProtoTcp ? 0x4000 : 0);  // DF on RST, like Linux
    ip[8] = kReplyTtl;
    ip[9] = proto;
    Wr16(ip + 10, 0);
    std::memcpy(ip + 12, orig + 16, 4);
    std::memcpy(ip + 16, orig + 12, 4);
    Wr16(ip + 10, Ipv4HeaderChecksum(ip, 20));
    return 20;
  }
  Wr32(ip, 0x60000000u);
  Wr16(ip + 4, static_cast<uint16_t>(l4_len));
  ip[6] = proto;
  ip[7] = kReplyTtl;
  std::memcpy(ip + 8, orig + 24, 16);
  std::memcpy(ip + 24, orig + 8, 16);
  return 40;
}

uint16_t L4Checksum(const uint8_t* ip, const ParsedPacket& p, uint8_t proto, const uint8_t* l4,
                    size_t l4_len) {
  if (p.family == 4) {
    if (proto == kProtoIcmp) return InternetChecksum(l4, l4_len);
    return L4ChecksumV4(ip + 12, ip + 16, proto, l4, l4_len);
  }
  return L4ChecksumV6(ip + 8, ip + 24, proto, l4, l4_len);
}

size_t PadFrame(uint8_t* out, size_t n) {
  if (n >= kMinEthernetFrame) return n;
  std::memset(out + n, 0, kMinEthernetFrame - n);
  return kMinEthernetFrame;
}

bool IsIcmp4Query(uint8_t type) {
  // Echo reply/request, router advertisement/solicitation, timestamp, information, mask.
  return type == 0 || type == 8 || type == 9 || type == 10 || (type >= 13 && type <= 18);
}

}  // namespace

size_t BuildTcpReset(const uint8_t* frame, const ParsedPacket& p, uint8_t* out, size_t cap) {
  if (p.error != ParseError::kOk || !p.has_l4 || p.proto != kProtoTcp) return 0;
  if (p.family != 4 && p.family != 6) return 0;
  if (p.tcp_flags & kTcpRst) return 0;  // RFC 9293 §3.10.7.1: never answer a RST
  // A fragment's payload length is not the segment's: only the ACK form is computable.
  if (p.is_fragment && !(p.tcp_flags & kTcpAck)) return 0;
  if (!PeersAreUnicast(p)) return 0;
  const size_t ip_len = p.family == 4 ? 20 : 40;
  const size_t n = p.l3_offset + ip_len + 20;
  if (cap < n || cap < kMinEthernetFrame) return 0;

  WriteL2(frame, p, out);
  uint8_t* ip = out + p.l3_offset;
  WriteIpHeader(frame, p, kProtoTcp, 20, ip);
  uint8_t* tcp = ip + ip_len;
  Wr16(tcp, p.dport);
  Wr16(tcp + 2, p.sport);
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = kTcpRst;
  if (p.tcp_flags & kTcpAck) {
    seq = p.tcp_ack;
  } else {
    ack = p.tcp_seq + p.l4_payload_len + ((p.tcp_flags & kTcpSyn) ? 1 : 0) +
          ((p.tcp_flags & kTcpFin) ? 1 : 0);
    flags |= kTcpAck;
  }
  Wr32(tcp + 4, seq);
  Wr32(tcp + 8, ack);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  Wr16(tcp + 14, 0);  // window
  Wr16(tcp + 16, 0);  // checksum
  Wr16(tcp + 18, 0);  // urgent pointer
  Wr16(tcp + 16, L4Checksum(ip, p, kProtoTcp, tcp, 20));
  return PadFrame(out, n);
}

size_t BuildIcmpUnreachable(const uint8_t* frame, const ParsedPacket& p, uint8_t* out,
                            size_t cap, UnreachableCode code) {
  if (p.error != ParseError::kOk) return 0;
  if (p.family != 4 && p.family != 6) return 0;
  if (p.IsLaterFragment()) return 0;  // RFC 1122 §3.2.2: only about the first fragment
  if (p.family == 4 && p.proto == kProtoIcmp && !IsIcmp4Query(p.icmp_type)) return 0;
  if (p.family == 6 && p.proto == kProtoIcmpV6 && p.icmp_type < 128) return 0;  // error msg
  if (!PeersAreUnicast(p)) return 0;

  const bool v4 = p.family == 4;
  const size_t ip_len = v4 ? 20 : 40;
  const size_t fixed = p.l3_offset + ip_len + 8;
  const size_t limit = (v4 ? kIcmp4ReplyLimit : kIcmp6ReplyLimit) - ip_len - 8;
  size_t quote = p.l3_len < limit ? p.l3_len : limit;
  // The quote must hold the original IP header chain and 8 bytes of what follows, or the
  // receiver cannot match it to a connection (and our own parser calls it truncated).
  const size_t want = size_t{p.l4_offset} - p.l3_offset + 8;
  const size_t min_quote = p.l3_len < want ? p.l3_len : want;
  if (quote < min_quote) return 0;  // IPv6 header chain longer than 1232 bytes
  if (cap < fixed + min_quote || cap < kMinEthernetFrame) return 0;
  if (fixed + quote > cap) quote = cap - fixed;

  WriteL2(frame, p, out);
  uint8_t* ip = out + p.l3_offset;
  const uint8_t proto = v4 ? kProtoIcmp : kProtoIcmpV6;
  WriteIpHeader(frame, p, proto, 8 + quote, ip);
  uint8_t* icmp = ip + ip_len;
  icmp[0] = v4 ? 3 : 1;
  icmp[1] = v4 ? code.icmp4 : code.icmp6;
  Wr16(icmp + 2, 0);
  Wr32(icmp + 4, 0);
  std::memcpy(icmp + 8, frame + p.l3_offset, quote);
  Wr16(icmp + 2, L4Checksum(ip, p, proto, icmp, 8 + quote));
  return PadFrame(out, fixed + quote);
}

}  // namespace rampart
