#include "packet/parser.h"

#include "packet/parser_internal.h"

namespace rampart {

const char* ParseErrorName(ParseError e) {
  static constexpr const char* kNames[] = {
#define RAMPART_X(name, str) str,
      RAMPART_PARSE_ERRORS(RAMPART_X)
#undef RAMPART_X
  };
  const auto i = static_cast<size_t>(e);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "unknown";
}

namespace {

constexpr uint16_t kEthTypeIpv4 = 0x0800;
constexpr uint16_t kEthTypeIpv6 = 0x86dd;
constexpr uint16_t kTpid8021Q = 0x8100;
constexpr uint16_t kTpid8021ad = 0x88a8;
constexpr uint16_t kTpidLegacyQinQ = 0x9100;

constexpr uint8_t kNhHopByHop = 0;
constexpr uint8_t kNhRouting = 43;
constexpr uint8_t kNhFragment = 44;
constexpr uint8_t kNhAh = 51;
constexpr uint8_t kNhDestOpts = 60;
constexpr uint8_t kNhMobility = 135;
constexpr uint8_t kNhHip = 139;
constexpr uint8_t kNhShim6 = 140;

constexpr uint8_t kTcpOptEol = 0;
constexpr uint8_t kTcpOptNop = 1;
constexpr uint8_t kTcpOptMss = 2;
constexpr uint8_t kTcpOptWscale = 3;
constexpr uint8_t kTcpOptSackPermitted = 4;
constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 §2.3: larger values are used as 14

inline uint16_t Rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Rd32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline uint64_t Rd64(const uint8_t* p) { return uint64_t{Rd32(p)} << 32 | Rd32(p + 4); }
inline Ip LoadV6(const uint8_t* p) { return Ip{Rd64(p), Rd64(p + 8)}; }
inline Ip LoadV4(const uint8_t* p) { return Ip::V4(Rd32(p)); }

inline bool IsVlanTpid(uint16_t t) {
  return t == kTpid8021Q || t == kTpid8021ad || t == kTpidLegacyQinQ;
}

// One's-complement sums are byte-order independent (RFC 1071 §2(B)) and a correct header sums
// to 0xffff, which reads the same both ways: sum native 32-bit words, fold, compare.
inline bool Ipv4HeaderChecksumOk(const uint8_t* ip, size_t ihl) {
  uint64_t sum = 0;
  for (size_t i = 0; i < ihl; i += 4) {
    uint32_t w;
    __builtin_memcpy(&w, ip + i, 4);
    sum += w;
  }
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// Resetting *out: copying a constant is cheaper than value-initialising (no `rep stos`).
const ParsedPacket kEmptyParsed{};

inline void ParseTcpOptions(const uint8_t* opt, size_t n, ParsedPacket* p) {
  // Bounded by the header (at most 40 bytes). Garbage ends option parsing, not the packet:
  // end hosts ignore what they do not understand, and so do we.
  size_t i = 0;
  while (i < n) {
    const uint8_t kind = opt[i];
    if (kind == kTcpOptEol) break;
    if (kind == kTcpOptNop) {
      ++i;
      continue;
    }
    if (i + 1 >= n) break;
    const uint8_t olen = opt[i + 1];
    if (olen < 2 || i + olen > n) break;
    if (kind == kTcpOptMss && olen == 4) {
      p->tcp_mss = Rd16(opt + i + 2);
    } else if (kind == kTcpOptWscale && olen == 3) {
      p->tcp_wscale = opt[i + 2] > kMaxWindowScale ? kMaxWindowScale : opt[i + 2];
    } else if (kind == kTcpOptSackPermitted && olen == 2) {
      p->tcp_sack_permitted = true;
    }
    i += olen;
  }
}

// L4 parsers: l4 points at the header, n = bytes of this datagram (or fragment) from there on,
// per the IP length fields. `frag` is true for a first fragment: a header that does not fit in
// it is kBadFragment (RFC 1858 / RFC 7112), not a truncation.
inline ParseError ParseTcp(const uint8_t* l4, size_t n, bool frag, ParsedPacket* p) {
  if (n < 20) return frag ? ParseError::kBadFragment : ParseError::kTruncatedTcp;
  p->sport = Rd16(l4);
  p->dport = Rd16(l4 + 2);
  p->tcp_seq = Rd32(l4 + 4);
  p->tcp_ack = Rd32(l4 + 8);
  p->tcp_flags = l4[13];
  p->tcp_window = Rd16(l4 + 14);
  const size_t hl = static_cast<size_t>(l4[12] >> 4) * 4;
  if (hl < 20) return ParseError::kBadTcpHeaderLength;
  if (hl > n) return frag ? ParseError::kBadFragment : ParseError::kBadTcpHeaderLength;
  if ((p->tcp_flags & kTcpSyn) && hl > 20) ParseTcpOptions(l4 + 20, hl - 20, p);
  p->l4_payload_len = static_cast<uint16_t>(n - hl);
  p->has_l4 = true;
  return ParseError::kOk;
}

inline ParseError ParseUdp(const uint8_t* l4, size_t n, bool frag, ParsedPacket* p) {
  if (n < 8) return frag ? ParseError::kBadFragment : ParseError::kTruncatedUdp;
  p->sport = Rd16(l4);
  p->dport = Rd16(l4 + 2);
  const size_t ulen = Rd16(l4 + 4);
  // A first fragment holds only part of the datagram the UDP length describes.
  if (ulen < 8 || (!frag && ulen > n)) return ParseError::kBadUdpLength;
  p->l4_payload_len = static_cast<uint16_t>((frag ? n : ulen) - 8);
  p->has_l4 = true;
  return ParseError::kOk;
}

inline bool IsIcmp4Error(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}
inline bool IsIcmp6Error(uint8_t type) { return type >= 1 && type <= 4; }

// Result of walking an IPv6 extension-header chain.
enum class ChainStatus : uint8_t { kOk, kTruncated, kTooMany, kBadFragment };
struct Ipv6Chain {
  uint8_t nh = 0;       // upper-layer protocol (or the fragment's next header if later frag)
  size_t off = 40;      // offset of the upper-layer header from the IPv6 header
  bool has_frag = false;
  uint16_t frag_offset = 0;
  bool more = false;
  uint32_t frag_id = 0;
  size_t frag_data_off = 0;  // offset of the fragmentable part (after the fragment header)
};

// ip: IPv6 header; n: bytes of the datagram available from ip (>= 40).
inline ChainStatus WalkIpv6Chain(const uint8_t* ip, size_t n, Ipv6Chain* c) {
  c->nh = ip[6];
  c->off = 40;
  for (int count = 0;; ++count) {
    size_t hl;
    switch (c->nh) {
      case kNhHopByHop:
      case kNhRouting:
      case kNhDestOpts:
      case kNhMobility:
      case kNhHip:
      case kNhShim6:
        if (count >= kMaxIpv6ExtHeaders) return ChainStatus::kTooMany;
        if (c->off + 2 > n) return ChainStatus::kTruncated;
        hl = (size_t{ip[c->off + 1]} + 1) * 8;
        break;
      case kNhAh:
        if (count >= kMaxIpv6ExtHeaders) return ChainStatus::kTooMany;
        if (c->off + 2 > n) return ChainStatus::kTruncated;
        hl = (size_t{ip[c->off + 1]} + 2) * 4;
        break;
      case kNhFragment: {
        if (count >= kMaxIpv6ExtHeaders) return ChainStatus::kTooMany;
        if (c->off + 8 > n) return ChainStatus::kTruncated;
        if (c->has_frag) return ChainStatus::kBadFragment;  // two fragment headers
        const uint8_t* f = ip + c->off;
        const uint16_t fo = Rd16(f + 2);
        c->has_frag = true;
        c->frag_offset = fo >> 3;
        c->more = (fo & 1) != 0;
        c->frag_id = Rd32(f + 4);
        c->nh = f[0];
        c->off += 8;
        c->frag_data_off = c->off;
        if (c->frag_offset != 0) return ChainStatus::kOk;  // rest of the chain is not here
        continue;
      }
      default:
        return ChainStatus::kOk;  // upper layer, ESP (50) or no next header (59)
    }
    if (c->off + hl > n) return ChainStatus::kTruncated;
    c->nh = ip[c->off];
    c->off += hl;
  }
}

// The first 8 bytes of the quoted datagram's L4 part (RFC 792 / RFC 4443 guarantee them).
// ICMP means protocol 1 inside IPv4 and 58 inside IPv6 (as for the outer header).
inline ParseError ParseInnerL4(const uint8_t* l4, size_t n, uint8_t proto, bool v6,
                               InnerHeader* in) {
  if (proto == (v6 ? kProtoIcmp : kProtoIcmpV6)) return ParseError::kOk;
  switch (proto) {
    case kProtoTcp:
    case kProtoUdp:
      if (n < 8) return ParseError::kTruncatedIcmpInner;
      in->sport = Rd16(l4);
      in->dport = Rd16(l4 + 2);
      if (proto == kProtoTcp) in->tcp_seq = Rd32(l4 + 4);
      in->has_ports = true;
      return ParseError::kOk;
    case kProtoIcmp:
    case kProtoIcmpV6: {
      if (n < 8) return ParseError::kTruncatedIcmpInner;
      const uint8_t t = l4[0];
      const bool echo = proto == kProtoIcmp ? (t == 0 || t == 8) : (t == 128 || t == 129);
      if (echo) {
        in->sport = in->dport = Rd16(l4 + 4);
        in->has_ports = true;
      }
      return ParseError::kOk;
    }
    default:
      return ParseError::kOk;
  }
}

inline ParseError ParseInnerV4(const uint8_t* q, size_t n, InnerHeader* in) {
  if (n < 20) return ParseError::kTruncatedIcmpInner;
  if ((q[0] >> 4) != 4) return ParseError::kBadIcmpInner;
  const size_t ihl = static_cast<size_t>(q[0] & 0x0f) * 4;
  if (ihl < 20) return ParseError::kBadIcmpInner;
  if (ihl > n) return ParseError::kTruncatedIcmpInner;
  in->src = LoadV4(q + 12);
  in->dst = LoadV4(q + 16);
  in->proto = q[9];
  if ((Rd16(q + 6) & 0x1fff) != 0) return ParseError::kOk;  // later fragment: no L4 header
  return ParseInnerL4(q + ihl, n - ihl, in->proto, false, in);
}

inline ParseError ParseInnerV6(const uint8_t* q, size_t n, InnerHeader* in) {
  if (n < 40) return ParseError::kTruncatedIcmpInner;
  if ((q[0] >> 4) != 6) return ParseError::kBadIcmpInner;
  in->src = LoadV6(q + 8);
  in->dst = LoadV6(q + 24);
  Ipv6Chain c;
  switch (WalkIpv6Chain(q, n, &c)) {
    case ChainStatus::kOk:
      break;
    case ChainStatus::kTruncated:
      return ParseError::kTruncatedIcmpInner;
    case ChainStatus::kTooMany:
    case ChainStatus::kBadFragment:
      return ParseError::kBadIcmpInner;
  }
  in->proto = c.nh;
  if (c.has_frag && c.frag_offset != 0) return ParseError::kOk;
  return ParseInnerL4(q + c.off, n - c.off, c.nh, true, in);
}

inline ParseError ParseIcmp(const uint8_t* l4, size_t n, bool v6, bool frag, ParsedPacket* p) {
  if (n < 8) return frag ? ParseError::kBadFragment : ParseError::kTruncatedIcmp;
  const uint8_t type = l4[0];
  p->icmp_type = type;
  p->icmp_code = l4[1];
  p->l4_payload_len = static_cast<uint16_t>(n - 8);
  p->has_l4 = true;
  if (v6) {
    if (type == 128 || type == 129) p->icmp_id = Rd16(l4 + 4);
    p->icmp_is_error = IsIcmp6Error(type);
  } else {
    if (type == 0 || type == 8) p->icmp_id = Rd16(l4 + 4);
    p->icmp_is_error = IsIcmp4Error(type);
  }
  if (!p->icmp_is_error) return ParseError::kOk;
  const ParseError e =
      v6 ? ParseInnerV6(l4 + 8, n - 8, &p->inner) : ParseInnerV4(l4 + 8, n - 8, &p->inner);
  if (e != ParseError::kOk) return e;
  p->has_inner = true;
  return ParseError::kOk;
}

inline ParseError ParseL4(const uint8_t* l4, size_t n, uint8_t proto, uint8_t family,
                          bool frag, ParsedPacket* p) {
  switch (proto) {
    case kProtoTcp:
      return ParseTcp(l4, n, frag, p);
    case kProtoUdp:
      return ParseUdp(l4, n, frag, p);
    case kProtoIcmp:
      return family == 4 ? ParseIcmp(l4, n, false, frag, p) : ParseError::kOk;
    case kProtoIcmpV6:
      return family == 6 ? ParseIcmp(l4, n, true, frag, p) : ParseError::kOk;
    default:
      return ParseError::kOk;  // other protocols: classified by protocol number only
  }
}

ParseError ParseIpv4(const uint8_t* d, size_t len, ParsedPacket* p, const ParseOptions& opts) {
  const size_t l3 = p->l3_offset;
  const size_t avail = len - l3;
  if (avail < 20) return ParseError::kTruncatedIpv4;
  const uint8_t* ip = d + l3;
  if ((ip[0] >> 4) != 4) return ParseError::kBadIpv4Version;
  const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (ihl < 20) return ParseError::kBadIpv4HeaderLength;
  if (ihl > avail) return ParseError::kTruncatedIpv4;
  const size_t total = Rd16(ip + 2);
  if (total < ihl) return ParseError::kBadIpv4TotalLength;
  if (total > avail) return ParseError::kTruncatedIpv4;  // trailing bytes = Ethernet padding
  p->family = 4;
  p->tos = ip[1];
  p->ttl = ip[8];
  p->proto = ip[9];
  p->src = LoadV4(ip + 12);
  p->dst = LoadV4(ip + 16);
  p->l3_len = static_cast<uint16_t>(total);
  p->l4_offset = static_cast<uint16_t>(l3 + ihl);
  if (opts.verify_ipv4_checksum && !Ipv4HeaderChecksumOk(ip, ihl)) {
    return ParseError::kBadIpv4Checksum;
  }
  const uint16_t ff = Rd16(ip + 6);
  const uint16_t frag_offset = ff & 0x1fff;
  const bool more = (ff & 0x2000) != 0;
  const size_t data_len = total - ihl;
  if (more || frag_offset != 0) {
    p->is_fragment = true;
    p->more_fragments = more;
    p->frag_offset = frag_offset;
    p->frag_id = Rd16(ip + 4);
    p->first_fragment = frag_offset == 0;
    // Reassembled size over 64 KiB ("ping of death"), a non-final fragment whose length is not
    // a multiple of 8, and the RFC 1858 TCP-header-overwriting offset 1 are all invalid.
    if (size_t{frag_offset} * 8 + data_len > 65535) return ParseError::kBadFragment;
    if (more && data_len % 8 != 0) return ParseError::kBadFragment;
    if (frag_offset == 1 && p->proto == kProtoTcp) return ParseError::kBadFragment;
    if (frag_offset != 0) return ParseError::kOk;  // later fragment: no L4 header
  }
  return ParseL4(ip + ihl, data_len, p->proto, 4, p->is_fragment, p);
}

ParseError ParseIpv6(const uint8_t* d, size_t len, ParsedPacket* p) {
  const size_t l3 = p->l3_offset;
  const size_t avail = len - l3;
  if (avail < 40) return ParseError::kTruncatedIpv6;
  const uint8_t* ip = d + l3;
  if ((ip[0] >> 4) != 6) return ParseError::kBadIpv6Version;
  const size_t payload = Rd16(ip + 4);
  if (40 + payload > avail) return ParseError::kTruncatedIpv6;
  // Payload length 0 with a hop-by-hop header is a jumbogram (RFC 2675): not supported.
  if (payload == 0 && ip[6] == kNhHopByHop) return ParseError::kBadIpv6PayloadLength;
  const size_t total = 40 + payload;
  p->family = 6;
  p->tos = static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4);
  p->ttl = ip[7];
  p->src = LoadV6(ip + 8);
  p->dst = LoadV6(ip + 24);
  p->l3_len = static_cast<uint16_t>(total);
  p->proto = ip[6];
  Ipv6Chain c;
  const ChainStatus st = WalkIpv6Chain(ip, total, &c);
  if (c.has_frag) {
    p->more_fragments = c.more;
    p->frag_offset = c.frag_offset;
    p->frag_id = c.frag_id;
    // An atomic fragment (offset 0, M clear; RFC 6946) is processed as a whole packet.
    p->is_fragment = c.more || c.frag_offset != 0;
    p->first_fragment = p->is_fragment && c.frag_offset == 0;
  }
  switch (st) {
    case ChainStatus::kOk:
      break;
    case ChainStatus::kTruncated:
      // RFC 7112: a first fragment must hold the whole header chain.
      return p->first_fragment ? ParseError::kBadFragment : ParseError::kTruncatedIpv6ExtHeader;
    case ChainStatus::kTooMany:
      return ParseError::kTooManyIpv6ExtHeaders;
    case ChainStatus::kBadFragment:
      return ParseError::kBadFragment;
  }
  p->proto = c.nh;
  p->l4_offset = static_cast<uint16_t>(l3 + c.off);
  if (p->is_fragment) {
    const size_t data_len = total - c.frag_data_off;
    if (size_t{c.frag_offset} * 8 + data_len > 65535) return ParseError::kBadFragment;
    if (c.more && data_len % 8 != 0) return ParseError::kBadFragment;
    if (c.frag_offset != 0) return ParseError::kOk;
  }
  return ParseL4(ip + c.off, total - c.off, c.nh, 6, p->is_fragment, p);
}

inline ParseError Finish(ParsedPacket* p, ParseError e) {
  p->error = e;
  return e;
}

// The common case, straight-line: Ethernet with no tag or one 802.1Q tag (what rampart-fwd
// sees from OVS), IPv4 without options, not a fragment, TCP. Anything unusual (or wrong) falls
// back to the general parser, which then decides. Returns false when it did not handle the
// frame; the tests and the fuzzer check that it fills exactly what the general parser fills.
inline bool ParseFastIpv4Tcp(const uint8_t* d, size_t len, ParsedPacket* p,
                             const ParseOptions& opts) {
  if (len < 54 || len > kMaxFrameLen) return false;
  size_t l3 = 14;
  uint16_t et = Rd16(d + 12);
  const bool tagged = et == kTpid8021Q;
  if (tagged) {
    if (len < 58) return false;
    et = Rd16(d + 16);
    l3 = 18;
  }
  const uint8_t* ip = d + l3;
  if (et != kEthTypeIpv4 || ip[0] != 0x45 || ip[9] != kProtoTcp) return false;
  if ((Rd16(ip + 6) & 0x3fff) != 0) return false;  // MF or offset: a fragment
  const size_t total = Rd16(ip + 2);
  if (total < 40 || total > len - l3) return false;
  const uint8_t* tcp = ip + 20;
  const size_t hl = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (hl < 20 || hl > total - 20) return false;
  if (opts.verify_ipv4_checksum && !Ipv4HeaderChecksumOk(ip, 20)) return false;
  __builtin_memcpy(static_cast<void*>(p), &kEmptyParsed, sizeof(ParsedPacket));
  __builtin_memcpy(p->dst_mac, d, 6);
  __builtin_memcpy(p->src_mac, d + 6, 6);
  if (tagged) {
    p->num_vlans = 1;
    p->vlan_tpid[0] = kTpid8021Q;
    p->vlan_tci[0] = Rd16(d + 14);
  }
  p->ethertype = kEthTypeIpv4;
  p->l3_offset = static_cast<uint16_t>(l3);
  p->family = 4;
  p->proto = kProtoTcp;
  p->tos = ip[1];
  p->ttl = ip[8];
  p->src = LoadV4(ip + 12);
  p->dst = LoadV4(ip + 16);
  p->l3_len = static_cast<uint16_t>(total);
  p->l4_offset = static_cast<uint16_t>(l3 + 20);
  p->has_l4 = true;
  p->sport = Rd16(tcp);
  p->dport = Rd16(tcp + 2);
  p->tcp_seq = Rd32(tcp + 4);
  p->tcp_ack = Rd32(tcp + 8);
  p->tcp_flags = tcp[13];
  p->tcp_window = Rd16(tcp + 14);
  if ((p->tcp_flags & kTcpSyn) && hl > 20) ParseTcpOptions(tcp + 20, hl - 20, p);
  p->l4_payload_len = static_cast<uint16_t>(total - 20 - hl);
  return true;
}

}  // namespace

namespace packet_internal {

ParseError ParsePacketGeneral(const uint8_t* d, size_t len, ParsedPacket* p,
                              const ParseOptions& opts) {
  __builtin_memcpy(static_cast<void*>(p), &kEmptyParsed, sizeof(ParsedPacket));
  if (len > kMaxFrameLen) return Finish(p, ParseError::kFrameTooLong);
  if (len < 14) return Finish(p, ParseError::kTruncatedEthernet);
  __builtin_memcpy(p->dst_mac, d, 6);
  __builtin_memcpy(p->src_mac, d + 6, 6);
  size_t off = 12;
  uint16_t et = Rd16(d + 12);
  while (IsVlanTpid(et)) {
    if (p->num_vlans == 2) return Finish(p, ParseError::kTooManyVlanTags);
    if (off + 6 > len) return Finish(p, ParseError::kTruncatedVlan);
    p->vlan_tpid[p->num_vlans] = et;
    p->vlan_tci[p->num_vlans] = Rd16(d + off + 2);
    ++p->num_vlans;
    off += 4;
    et = Rd16(d + off);
  }
  p->ethertype = et;
  p->l3_offset = static_cast<uint16_t>(off + 2);
  if (et == kEthTypeIpv4) return Finish(p, ParseIpv4(d, len, p, opts));
  if (et == kEthTypeIpv6) return Finish(p, ParseIpv6(d, len, p));
  return Finish(p, ParseError::kNotIp);
}

}  // namespace packet_internal

ParseError ParsePacket(const uint8_t* data, size_t len, ParsedPacket* out,
                       const ParseOptions& opts) {
  if (ParseFastIpv4Tcp(data, len, out, opts)) return ParseError::kOk;
  return packet_internal::ParsePacketGeneral(data, len, out, opts);
}

size_t ParsePackets(const uint8_t* const* frames, const uint16_t* lens, size_t n,
                    ParsedPacket* out, const ParseOptions& opts) {
  size_t ok = 0;
  for (size_t i = 0; i < n; ++i) {
    if (i + 1 < n) __builtin_prefetch(frames[i + 1]);
    ok += ParsePacket(frames[i], lens[i], &out[i], opts) == ParseError::kOk;
  }
  return ok;
}

}  // namespace rampart
