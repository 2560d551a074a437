#include "packet/describe.h"

#include <cstdio>

namespace rampart {

namespace {

std::string Endpoint(const Ip& ip, uint16_t port, bool with_port, uint8_t family) {
  std::string s = family == 6 && with_port ? "[" + ip.ToString() + "]" : ip.ToString();
  if (with_port) s += ":" + std::to_string(port);
  return s;
}

std::string ProtoName(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoIcmp:
      return "icmp";
    case kProtoIcmpV6:
      return "icmp6";
    default:
      return "proto " + std::to_string(proto);
  }
}

std::string Flags(uint8_t f) {
  static constexpr char kLetters[] = "FSRPAUEC";
  std::string s;
  for (int i = 0; i < 8; ++i) {
    if (f & (1u << i)) s += kLetters[i];
  }
  return s.empty() ? "." : s;
}

}  // namespace

std::string DescribePacket(const ParsedPacket& p) {
  std::string s;
  for (int i = 0; i < p.num_vlans; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "vlan %u%s ", p.vlan_tci[i] & 0x0fffu,
                  p.vlan_tpid[i] == 0x8100 ? "" : "(ad)");
    s += buf;
  }
  if (p.family == 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "ethertype 0x%04x", p.ethertype);
    s += buf;
  } else {
    const bool ports = p.has_l4 && (p.proto == kProtoTcp || p.proto == kProtoUdp);
    s += Endpoint(p.src, p.sport, ports, p.family) + " > " + Endpoint(p.dst, p.dport, ports, p.family);
    s += " " + ProtoName(p.proto);
    if (p.is_fragment) {
      s += " frag id " + std::to_string(p.frag_id) + " off " + std::to_string(p.frag_offset * 8) +
           (p.more_fragments ? " +" : "");
    }
    if (p.has_l4 && p.proto == kProtoTcp) {
      s += " [" + Flags(p.tcp_flags) + "] seq " + std::to_string(p.tcp_seq) + " ack " +
           std::to_string(p.tcp_ack) + " win " + std::to_string(p.tcp_window);
      if (p.tcp_mss) s += " mss " + std::to_string(p.tcp_mss);
      if (p.tcp_wscale != 0xff) s += " wscale " + std::to_string(p.tcp_wscale);
      if (p.tcp_sack_permitted) s += " sackOK";
    }
    if (p.has_l4 && (p.proto == kProtoIcmp || p.proto == kProtoIcmpV6)) {
      s += " " + std::to_string(p.icmp_type) + "/" + std::to_string(p.icmp_code);
      if (p.icmp_id) s += " id " + std::to_string(p.icmp_id);
      if (p.has_inner) {
        s += " about " + ProtoName(p.inner.proto) + " " +
             Endpoint(p.inner.src, p.inner.sport, p.inner.has_ports, p.family) + " > " +
             Endpoint(p.inner.dst, p.inner.dport, p.inner.has_ports, p.family);
      }
    }
    if (p.has_l4) s += " len " + std::to_string(p.l4_payload_len);
  }
  if (p.error != ParseError::kOk) {
    s += (s.empty() ? "" : " ");
    s += std::string("error ") + ParseErrorName(p.error);
  }
  return s;
}

}  // namespace rampart
