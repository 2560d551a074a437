// FrameBuilder: makes well-formed (or deliberately broken) Ethernet frames for tests, tools and
// benchmarks. Not for the data plane: it allocates and crashes loudly on a bad literal
// (e.g. an unparsable address), because a test that builds a wrong frame is a bug.
//
//   std::vector<uint8_t> f = FrameBuilder()
//       .Vlan(100)
//       .Ipv4("198.18.1.2", "198.18.2.3")
//       .Tcp(40000, 80, kTcpSyn, /*seq=*/1000).Mss(1460).WindowScale(7).SackPermitted()
//       .Payload(32)
//       .Build();
//
//   auto icmp = FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2")
//                   .IcmpErrorAbout(f, /*type=*/3, /*code=*/13).Build();
//
// Layers are emitted in the fixed order Ethernet, tags (in call order, outermost first), IP,
// IPv6 extension headers (call order; Fragment() adds the fragment header at that point),
// L4, payload. Lengths and checksums (IPv4 header, TCP, UDP, ICMP, ICMPv6) are computed in
// Build() unless overridden by the Bad*/…Override setters. The IP family decides ICMP vs ICMPv6.
//
// Thread-safety: a FrameBuilder is a plain value; don't share one between threads.
#ifndef RAMPART_PACKET_FRAME_BUILDER_H_
#define RAMPART_PACKET_FRAME_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "packet/packet.h"

namespace rampart {

class FrameBuilder {
 public:
  FrameBuilder();

  // Layer 2. Default MACs: src 02:00:00:00:00:01, dst 02:00:00:00:00:02.
  FrameBuilder& SrcMac(std::string_view mac);  // "02:00:00:00:00:0a"
  FrameBuilder& DstMac(std::string_view mac);
  // Appends a tag (outermost first). tpid 0x8100 (802.1Q), 0x88a8 (802.1ad) or anything.
  FrameBuilder& Vlan(uint16_t vid, uint8_t pcp = 0, uint16_t tpid = 0x8100);
  // 802.1ad outer + 802.1Q inner.
  FrameBuilder& QinQ(uint16_t outer_vid, uint16_t inner_vid);
  // A non-IP frame: this ethertype followed by Payload() bytes (no IP/L4 layers).
  FrameBuilder& EtherType(uint16_t ethertype);

  // Layer 3 (one of them).
  FrameBuilder& Ipv4(std::string_view src, std::string_view dst);
  FrameBuilder& Ipv6(std::string_view src, std::string_view dst);
  FrameBuilder& Ip(const rampart::Ip& src, const rampart::Ip& dst);  // family from src
  FrameBuilder& Ttl(uint8_t ttl);      // TTL / hop limit (default 64)
  FrameBuilder& Tos(uint8_t tos);      // DSCP/ECN / traffic class
  FrameBuilder& Ipv4Id(uint16_t id);
  FrameBuilder& DontFragment(bool df = true);
  // IPv4 options (padded with EOL to a multiple of 4; at most 40 bytes).
  FrameBuilder& Ipv4Options(std::vector<uint8_t> options);
  // IPv4: sets offset/MF/id in the header. IPv6: appends a fragment extension header.
  // offset8 is in 8-byte units.
  FrameBuilder& Fragment(uint16_t offset8, bool more, uint32_t id);
  // IPv6 extension headers, appended to the chain in call order. `body` is what follows the
  // next-header/length bytes; it is padded (PadN) to make the header a multiple of 8 bytes.
  FrameBuilder& HopByHop(std::vector<uint8_t> body = {});
  FrameBuilder& DestinationOptions(std::vector<uint8_t> body = {});
  FrameBuilder& Routing(std::vector<uint8_t> body = {});  // routing type 0.. as given, default zeros
  FrameBuilder& Ipv6ExtHeader(uint8_t type, std::vector<uint8_t> body);  // raw generic header
  FrameBuilder& Ah(std::vector<uint8_t> body = {});  // length in 4-byte units

  // Layer 4 (one of them, or none: then Payload() follows IP with protocol Proto()).
  FrameBuilder& Tcp(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq = 0,
                    uint32_t ack = 0, uint16_t window = 65535);
  FrameBuilder& Mss(uint16_t mss);           // TCP options, appended in call order,
  FrameBuilder& WindowScale(uint8_t shift);  // padded with NOPs/EOL to a multiple of 4
  FrameBuilder& SackPermitted();
  FrameBuilder& TcpOptions(std::vector<uint8_t> raw);  // raw bytes appended to the options
  FrameBuilder& Udp(uint16_t sport, uint16_t dport);
  // ICMP (IPv4) or ICMPv6 (IPv6) with the 4 "rest of header" bytes = id<<16 | seq.
  FrameBuilder& Icmp(uint8_t type, uint8_t code, uint16_t id = 0, uint16_t seq = 0);
  FrameBuilder& IcmpEcho(uint16_t id, uint16_t seq = 0);  // echo request, v4 or v6
  // An ICMP error quoting `inner_frame`'s IP datagram (from its IP header on; its Ethernet and
  // tags are skipped), truncated to max_quote bytes (default: as much as fits in 576 bytes
  // (IPv4) / 1280 bytes (IPv6) of IP datagram). `rest` fills header bytes 4..7 (MTU, pointer).
  FrameBuilder& IcmpErrorAbout(const std::vector<uint8_t>& inner_frame, uint8_t type,
                               uint8_t code, size_t max_quote = SIZE_MAX, uint32_t rest = 0);
  // Upper-layer protocol number when no L4 layer is set (e.g. 47 GRE, 50 ESP, 59 none).
  FrameBuilder& Proto(uint8_t proto);

  FrameBuilder& Payload(size_t n);  // n bytes 0x00, 0x01, ... (mod 256)
  FrameBuilder& Payload(const std::vector<uint8_t>& bytes);

  // Deliberate damage, for tests.
  FrameBuilder& BadIpv4Checksum();
  FrameBuilder& BadL4Checksum();
  FrameBuilder& Ipv4TotalLengthOverride(uint16_t total);
  FrameBuilder& Ipv6PayloadLengthOverride(uint16_t payload);
  FrameBuilder& TcpDataOffsetOverride(uint8_t words);
  FrameBuilder& UdpLengthOverride(uint16_t len);
  // Ethernet padding: appends zero bytes until the frame is at least n bytes.
  FrameBuilder& PadTo(size_t n);

  std::vector<uint8_t> Build() const;

 private:
  enum class L4 : uint8_t { kNone, kTcp, kUdp, kIcmp, kIcmpError };
  struct Tag {
    uint16_t tpid;
    uint16_t tci;
  };
  struct ExtHeader {
    uint8_t type;
    std::vector<uint8_t> bytes;  // whole header; bytes[0] (next header) filled in Build()
  };

  uint8_t src_mac_[6];
  uint8_t dst_mac_[6];
  std::vector<Tag> tags_;
  std::optional<uint16_t> raw_ethertype_;
  uint8_t family_ = 0;
  rampart::Ip src_;
  rampart::Ip dst_;
  uint8_t ttl_ = 64;
  uint8_t tos_ = 0;
  uint16_t ip_id_ = 1;
  bool df_ = false;
  std::vector<uint8_t> ip_options_;
  bool v4_fragment_ = false;
  uint16_t frag_offset8_ = 0;
  bool frag_more_ = false;
  uint32_t frag_id_ = 0;
  std::vector<ExtHeader> ext_;
  L4 l4_ = L4::kNone;
  uint8_t proto_ = 59;
  uint16_t sport_ = 0;
  uint16_t dport_ = 0;
  uint8_t tcp_flags_ = 0;
  uint32_t seq_ = 0;
  uint32_t ack_ = 0;
  uint16_t window_ = 0;
  std::vector<uint8_t> tcp_options_;
  uint8_t icmp_type_ = 0;
  uint8_t icmp_code_ = 0;
  uint32_t icmp_rest_ = 0;
  std::vector<uint8_t> quote_;  // ICMP error: the quoted datagram
  std::vector<uint8_t> payload_;
  bool bad_ip_checksum_ = false;
  bool bad_l4_checksum_ = false;
  std::optional<uint16_t> ipv4_total_override_;
  std::optional<uint16_t> ipv6_payload_override_;
  std::optional<uint8_t> tcp_doff_override_;
  std::optional<uint16_t> udp_len_override_;
  size_t pad_to_ = 0;
};

}  // namespace rampart

#endif  // RAMPART_PACKET_FRAME_BUILDER_H_
