#include "packet/frame_builder.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "packet/checksum.h"

namespace rampart {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "FrameBuilder: %s\n", what.c_str());
  std::abort();
}

void ParseMac(std::string_view text, uint8_t out[6]) {
  unsigned v[6];
  const std::string s(text);
  char tail;
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6) {
    Die("bad MAC address '" + s + "'");
  }
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 0xff) Die("bad MAC address '" + s + "'");
    out[i] = static_cast<uint8_t>(v[i]);
  }
}

rampart::Ip ParseIp(std::string_view text, bool want_v4) {
  std::optional<rampart::Ip> ip = rampart::Ip::Parse(text);
  if (!ip) Die("bad IP address '" + std::string(text) + "'");
  if (ip->IsV4() != want_v4) {
    Die("address '" + std::string(text) + "' is not " + (want_v4 ? "IPv4" : "IPv6"));
  }
  return *ip;
}

void Put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}
void Put32(std::vector<uint8_t>& v, uint32_t x) {
  Put16(v, static_cast<uint16_t>(x >> 16));
  Put16(v, static_cast<uint16_t>(x));
}
void Set16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}
void PutIp(std::vector<uint8_t>& v, const rampart::Ip& ip, bool v4) {
  uint8_t b[16];
  ip.ToBytes(b);
  if (v4) {
    v.insert(v.end(), b + 12, b + 16);
  } else {
    v.insert(v.end(), b, b + 16);
  }
}

// Offset of the IP header in a frame (skipping Ethernet and any 802.1Q/802.1ad tags).
size_t L3Offset(const std::vector<uint8_t>& f) {
  size_t off = 12;
  while (off + 2 <= f.size()) {
    const uint16_t et = static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
    if (et != 0x8100 && et != 0x88a8 && et != 0x9100) return off + 2;
    off += 4;
  }
  Die("IcmpErrorAbout: inner frame too short");
}

}  // namespace

FrameBuilder::FrameBuilder() {
  static constexpr uint8_t kSrc[6] = {0x02, 0, 0, 0, 0, 0x01};
  static constexpr uint8_t kDst[6] = {0x02, 0, 0, 0, 0, 0x02};
  std::copy(kSrc, kSrc + 6, src_mac_);
  std::copy(kDst, kDst + 6, dst_mac_);
}

FrameBuilder& FrameBuilder::SrcMac(std::string_view mac) {
  ParseMac(mac, src_mac_);
  return *this;
}
FrameBuilder& FrameBuilder::DstMac(std::string_view mac) {
  ParseMac(mac, dst_mac_);
  return *this;
}
FrameBuilder& FrameBuilder::Vlan(uint16_t vid, uint8_t pcp, uint16_t tpid) {
  if (vid > 4095 || pcp > 7) Die("bad VLAN vid/pcp");
  tags_.push_back(Tag{tpid, static_cast<uint16_t>(pcp << 13 | vid)});
  return *this;
}
FrameBuilder& FrameBuilder::QinQ(uint16_t outer_vid, uint16_t inner_vid) {
  Vlan(outer_vid, 0, 0x88a8);
  return Vlan(inner_vid, 0, 0x8100);
}
FrameBuilder& FrameBuilder::EtherType(uint16_t ethertype) {
  raw_ethertype_ = ethertype;
  return *this;
}

FrameBuilder& FrameBuilder::Ipv4(std::string_view src, std::string_view dst) {
  family_ = 4;
  src_ = ParseIp(src, true);
  dst_ = ParseIp(dst, true);
  return *this;
}
FrameBuilder& FrameBuilder::Ipv6(std::string_view src, std::string_view dst) {
  family_ = 6;
  src_ = ParseIp(src, false);
  dst_ = ParseIp(dst, false);
  return *this;
}
FrameBuilder& FrameBuilder::Ip(const rampart::Ip& src, const rampart::Ip& dst) {
  if (src.IsV4() != dst.IsV4()) Die("Ip(): mixed address families");
  family_ = src.IsV4() ? 4 : 6;
  src_ = src;
  dst_ = dst;
  return *this;
}
FrameBuilder& FrameBuilder::Ttl(uint8_t ttl) {
  ttl_ = ttl;
  return *this;
}
FrameBuilder& FrameBuilder::Tos(uint8_t tos) {
  tos_ = tos;
  return *this;
}
FrameBuilder& FrameBuilder::Ipv4Id(uint16_t id) {
  ip_id_ = id;
  return *this;
}
FrameBuilder& FrameBuilder::DontFragment(bool df) {
  df_ = df;
  return *this;
}
FrameBuilder& FrameBuilder::Ipv4Options(std::vector<uint8_t> options) {
  while (options.size() % 4) options.push_back(0);
  if (options.size() > 40) Die("IPv4 options longer than 40 bytes");
  ip_options_ = std::move(options);
  return *this;
}
FrameBuilder& FrameBuilder::Fragment(uint16_t offset8, bool more, uint32_t id) {
  if (offset8 > 0x1fff) Die("fragment offset > 8191");
  if (family_ == 6) {
    std::vector<uint8_t> h(8, 0);
    h[0] = 0;  // next header, filled in Build()
    h[1] = 0;  // reserved
    const uint16_t fo = static_cast<uint16_t>(offset8 << 3 | (more ? 1 : 0));
    Set16(h, 2, fo);
    Set16(h, 4, static_cast<uint16_t>(id >> 16));
    Set16(h, 6, static_cast<uint16_t>(id));
    ext_.push_back(ExtHeader{44, std::move(h)});
  } else if (family_ == 4) {
    v4_fragment_ = true;
    frag_offset8_ = offset8;
    frag_more_ = more;
    frag_id_ = id;
    ip_id_ = static_cast<uint16_t>(id);
  } else {
    Die("Fragment() before Ipv4()/Ipv6()");
  }
  return *this;
}

namespace {
// Generic IPv6 option header: next, len, body, padded with PadN/Pad1 to a multiple of 8.
std::vector<uint8_t> OptionHeader(std::vector<uint8_t> body) {
  std::vector<uint8_t> h = {0, 0};
  h.insert(h.end(), body.begin(), body.end());
  size_t pad = (8 - h.size() % 8) % 8;
  if (pad == 1) {
    h.push_back(0);  // Pad1
  } else if (pad > 1) {
    h.push_back(1);  // PadN
    h.push_back(static_cast<uint8_t>(pad - 2));
    h.insert(h.end(), pad - 2, 0);
  }
  h[1] = static_cast<uint8_t>(h.size() / 8 - 1);
  return h;
}
}  // namespace

FrameBuilder& FrameBuilder::HopByHop(std::vector<uint8_t> body) {
  ext_.push_back(ExtHeader{0, OptionHeader(std::move(body))});
  return *this;
}
FrameBuilder& FrameBuilder::DestinationOptions(std::vector<uint8_t> body) {
  ext_.push_back(ExtHeader{60, OptionHeader(std::move(body))});
  return *this;
}
FrameBuilder& FrameBuilder::Routing(std::vector<uint8_t> body) {
  if (body.empty()) body.assign(6, 0);  // type 0... segments left 0, reserved
  std::vector<uint8_t> h = {0, 0};
  h.insert(h.end(), body.begin(), body.end());
  while (h.size() % 8) h.push_back(0);
  h[1] = static_cast<uint8_t>(h.size() / 8 - 1);
  ext_.push_back(ExtHeader{43, std::move(h)});
  return *this;
}
FrameBuilder& FrameBuilder::Ipv6ExtHeader(uint8_t type, std::vector<uint8_t> body) {
  std::vector<uint8_t> h = {0, 0};
  h.insert(h.end(), body.begin(), body.end());
  while (h.size() % 8) h.push_back(0);
  h[1] = static_cast<uint8_t>(h.size() / 8 - 1);
  ext_.push_back(ExtHeader{type, std::move(h)});
  return *this;
}
FrameBuilder& FrameBuilder::Ah(std::vector<uint8_t> body) {
  if (body.empty()) body.assign(10, 0);  // reserved(2) SPI(4) seq(4) -> 12-byte header
  std::vector<uint8_t> h = {0, 0};
  h.insert(h.end(), body.begin(), body.end());
  while (h.size() % 4) h.push_back(0);
  h[1] = static_cast<uint8_t>(h.size() / 4 - 2);
  ext_.push_back(ExtHeader{51, std::move(h)});
  return *this;
}

FrameBuilder& FrameBuilder::Tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
                                uint32_t ack, uint16_t window) {
  l4_ = L4::kTcp;
  proto_ = kProtoTcp;
  sport_ = sport;
  dport_ = dport;
  tcp_flags_ = flags;
  seq_ = seq;
  ack_ = ack;
  window_ = window;
  return *this;
}
FrameBuilder& FrameBuilder::Mss(uint16_t mss) {
  tcp_options_.insert(tcp_options_.end(),
                      {2, 4, static_cast<uint8_t>(mss >> 8), static_cast<uint8_t>(mss)});
  return *this;
}
FrameBuilder& FrameBuilder::WindowScale(uint8_t shift) {
  tcp_options_.insert(tcp_options_.end(), {1, 3, 3, shift});  // NOP + WS
  return *this;
}
FrameBuilder& FrameBuilder::SackPermitted() {
  tcp_options_.insert(tcp_options_.end(), {1, 1, 4, 2});  // NOP NOP SACK-permitted
  return *this;
}
FrameBuilder& FrameBuilder::TcpOptions(std::vector<uint8_t> raw) {
  tcp_options_.insert(tcp_options_.end(), raw.begin(), raw.end());
  return *this;
}
FrameBuilder& FrameBuilder::Udp(uint16_t sport, uint16_t dport) {
  l4_ = L4::kUdp;
  proto_ = kProtoUdp;
  sport_ = sport;
  dport_ = dport;
  return *this;
}
FrameBuilder& FrameBuilder::Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq) {
  l4_ = L4::kIcmp;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_rest_ = uint32_t{id} << 16 | seq;
  return *this;
}
FrameBuilder& FrameBuilder::IcmpEcho(uint16_t id, uint16_t seq) {
  if (family_ == 0) Die("IcmpEcho() before Ipv4()/Ipv6()");
  return Icmp(family_ == 6 ? 128 : 8, 0, id, seq);
}
FrameBuilder& FrameBuilder::IcmpErrorAbout(const std::vector<uint8_t>& inner_frame,
                                           uint8_t type, uint8_t code, size_t max_quote,
                                           uint32_t rest) {
  if (family_ == 0) Die("IcmpErrorAbout() before Ipv4()/Ipv6()");
  l4_ = L4::kIcmpError;
  icmp_type_ = type;
  icmp_code_ = code;
  icmp_rest_ = rest;
  const size_t l3 = L3Offset(inner_frame);
  size_t ip_len = inner_frame.size() - l3;
  // Quote the datagram, not the Ethernet padding after it.
  if (ip_len >= 4 && (inner_frame[l3] >> 4) == 4) {
    const size_t total = size_t{inner_frame[l3 + 2]} << 8 | inner_frame[l3 + 3];
    if (total < ip_len) ip_len = total;
  } else if (ip_len >= 6 && (inner_frame[l3] >> 4) == 6) {
    const size_t total = 40 + (size_t{inner_frame[l3 + 4]} << 8 | inner_frame[l3 + 5]);
    if (total < ip_len) ip_len = total;
  }
  const size_t limit = family_ == 4 ? 576 - 28 : 1280 - 48;
  size_t n = ip_len < limit ? ip_len : limit;
  if (max_quote < n) n = max_quote;
  quote_.assign(inner_frame.begin() + l3, inner_frame.begin() + l3 + n);
  return *this;
}
FrameBuilder& FrameBuilder::Proto(uint8_t proto) {
  proto_ = proto;
  l4_ = L4::kNone;
  return *this;
}

FrameBuilder& FrameBuilder::Payload(size_t n) {
  for (size_t i = 0; i < n; ++i) payload_.push_back(static_cast<uint8_t>(i));
  return *this;
}
FrameBuilder& FrameBuilder::Payload(const std::vector<uint8_t>& bytes) {
  payload_.insert(payload_.end(), bytes.begin(), bytes.end());
  return *this;
}

FrameBuilder& FrameBuilder::BadIpv4Checksum() {
  bad_ip_checksum_ = true;
  return *this;
}
FrameBuilder& FrameBuilder::BadL4Checksum() {
  bad_l4_checksum_ = true;
  return *this;
}
FrameBuilder& FrameBuilder::Ipv4TotalLengthOverride(uint16_t total) {
  ipv4_total_override_ = total;
  return *this;
}
FrameBuilder& FrameBuilder::Ipv6PayloadLengthOverride(uint16_t payload) {
  ipv6_payload_override_ = payload;
  return *this;
}
FrameBuilder& FrameBuilder::TcpDataOffsetOverride(uint8_t words) {
  tcp_doff_override_ = words;
  return *this;
}
FrameBuilder& FrameBuilder::UdpLengthOverride(uint16_t len) {
  udp_len_override_ = len;
  return *this;
}
FrameBuilder& FrameBuilder::PadTo(size_t n) {
  pad_to_ = n;
  return *this;
}

std::vector<uint8_t> FrameBuilder::Build() const {
  std::vector<uint8_t> f;
  f.insert(f.end(), dst_mac_, dst_mac_ + 6);
  f.insert(f.end(), src_mac_, src_mac_ + 6);
  for (const Tag& t : tags_) {
    Put16(f, t.tpid);
    Put16(f, t.tci);
  }
  if (raw_ethertype_ || family_ == 0) {
    Put16(f, raw_ethertype_.value_or(0x88b5));  // IEEE local experimental ethertype
    f.insert(f.end(), payload_.begin(), payload_.end());
    while (f.size() < pad_to_) f.push_back(0);
    return f;
  }
  const bool v4 = family_ == 4;
  Put16(f, v4 ? 0x0800 : 0x86dd);

  // L4 segment (checksum filled once the addresses are known).
  uint8_t proto = proto_;
  std::vector<uint8_t> l4;
  size_t cksum_at = SIZE_MAX;
  switch (l4_) {
    case L4::kTcp: {
      std::vector<uint8_t> opts = tcp_options_;
      while (opts.size() % 4) opts.push_back(0);
      if (opts.size() > 40) Die("TCP options longer than 40 bytes");
      Put16(l4, sport_);
      Put16(l4, dport_);
      Put32(l4, seq_);
      Put32(l4, ack_);
      const uint8_t doff = tcp_doff_override_.value_or(static_cast<uint8_t>(5 + opts.size() / 4));
      l4.push_back(static_cast<uint8_t>(doff << 4));
      l4.push_back(tcp_flags_);
      Put16(l4, window_);
      Put16(l4, 0);
      Put16(l4, 0);
      l4.insert(l4.end(), opts.begin(), opts.end());
      cksum_at = 16;
      break;
    }
    case L4::kUdp:
      Put16(l4, sport_);
      Put16(l4, dport_);
      Put16(l4, udp_len_override_.value_or(static_cast<uint16_t>(8 + payload_.size())));
      Put16(l4, 0);
      cksum_at = 6;
      break;
    case L4::kIcmp:
    case L4::kIcmpError:
      proto = v4 ? kProtoIcmp : kProtoIcmpV6;
      l4.push_back(icmp_type_);
      l4.push_back(icmp_code_);
      Put16(l4, 0);
      Put32(l4, icmp_rest_);
      l4.insert(l4.end(), quote_.begin(), quote_.end());
      cksum_at = 2;
      break;
    case L4::kNone:
      break;
  }
  l4.insert(l4.end(), payload_.begin(), payload_.end());

  const size_t l3 = f.size();
  if (v4) {
    const size_t ihl = 20 + ip_options_.size();
    f.push_back(static_cast<uint8_t>(0x40 | ihl / 4));
    f.push_back(tos_);
    Put16(f, ipv4_total_override_.value_or(static_cast<uint16_t>(ihl + l4.size())));
    Put16(f, ip_id_);
    uint16_t ff = df_ ? 0x4000 : 0;
    if (v4_fragment_) ff |= static_cast<uint16_t>((frag_more_ ? 0x2000 : 0) | frag_offset8_);
    Put16(f, ff);
    f.push_back(ttl_);
    f.push_back(proto);
    Put16(f, 0);
    PutIp(f, src_, true);
    PutIp(f, dst_, true);
    f.insert(f.end(), ip_options_.begin(), ip_options_.end());
    uint16_t c = Ipv4HeaderChecksum(f.data() + l3, ihl);
    if (bad_ip_checksum_) c ^= 0x5a5a;
    Set16(f, l3 + 10, c);
  } else {
    size_t ext_len = 0;
    for (const ExtHeader& e : ext_) ext_len += e.bytes.size();
    Put32(f, 0x60000000u | uint32_t{tos_} << 20);
    Put16(f, ipv6_payload_override_.value_or(static_cast<uint16_t>(ext_len + l4.size())));
    f.push_back(ext_.empty() ? proto : ext_[0].type);
    f.push_back(ttl_);
    PutIp(f, src_, false);
    PutIp(f, dst_, false);
    for (size_t i = 0; i < ext_.size(); ++i) {
      const size_t at = f.size();
      f.insert(f.end(), ext_[i].bytes.begin(), ext_[i].bytes.end());
      f[at] = i + 1 < ext_.size() ? ext_[i + 1].type : proto;
    }
  }
  const size_t l4_at = f.size();
  f.insert(f.end(), l4.begin(), l4.end());
  if (cksum_at != SIZE_MAX) {
    uint8_t* seg = f.data() + l4_at;
    uint16_t c;
    if (v4) {
      c = proto == kProtoIcmp
              ? InternetChecksum(seg, l4.size())
              : L4ChecksumV4(f.data() + l3 + 12, f.data() + l3 + 16, proto, seg, l4.size());
    } else {
      c = L4ChecksumV6(f.data() + l3 + 8, f.data() + l3 + 24, proto, seg, l4.size());
    }
    if (proto == kProtoUdp && c == 0) c = 0xffff;  // RFC 768: 0 means "no checksum"
    if (bad_l4_checksum_) c ^= 0x5a5a;
    Set16(f, l4_at + cksum_at, c);
  }
  while (f.size() < pad_to_) f.push_back(0);
  return f;
}

}  // namespace rampart
