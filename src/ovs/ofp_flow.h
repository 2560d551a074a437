// OpenFlow flow value types: match fields (OXM / Nicira NXM), actions, instructions and the
// canonical `Flow` that rampart-agent hands to the flow syncer (flow_table_sync.h).
//
// Canonical means: two flows that OVS would treat as the same flow compare equal. A Match is a
// set of fields kept sorted by field id with values already masked, all-ones masks dropped and
// all-zero masks removing the field. Instructions are held in the fixed execution order of
// OpenFlow 1.3 (apply-actions, write-metadata, goto-table), an empty apply-actions list is the
// same as none. So a flow decoded from a switch's flow-stats reply equals the flow that was
// installed, whatever order the switch writes its OXM TLVs in.
//
// ToString() gives an ovs-ofctl compatible line:
//   cookie=0x5200000000000001,table=0,priority=100,in_port=3,dl_type=0x0800 actions=output:4
// (the integration test feeds these lines to `ovs-ofctl add-flows` as a cross-check).
//
// Thread-safety: plain values.
#ifndef RAMPART_OVS_OFP_FLOW_H_
#define RAMPART_OVS_OFP_FLOW_H_

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ip.h"

namespace rampart::ofp {

// Reserved OpenFlow 1.3 port numbers.
inline constexpr uint32_t kPortMax = 0xffffff00;
inline constexpr uint32_t kPortInPort = 0xfffffff8;
inline constexpr uint32_t kPortTable = 0xfffffff9;
inline constexpr uint32_t kPortNormal = 0xfffffffa;
inline constexpr uint32_t kPortFlood = 0xfffffffb;
inline constexpr uint32_t kPortAll = 0xfffffffc;
inline constexpr uint32_t kPortController = 0xfffffffd;
inline constexpr uint32_t kPortLocal = 0xfffffffe;
inline constexpr uint32_t kPortAny = 0xffffffff;
inline constexpr uint32_t kGroupAny = 0xffffffff;
inline constexpr uint8_t kTableAll = 0xff;
inline constexpr uint16_t kVlanPresent = 0x1000;  // OFPVID_PRESENT
inline constexpr uint16_t kControllerMaxLenNoBuffer = 0xffff;

// Every match / set-field field Rampart speaks. X(enum, ovs-ofctl name, oxm class, oxm field,
// byte length, maskable, print format). New fields go at the end (the enum order is the canonical
// match order, and tests draw random fields from the first ones).
// IPv6 neighbour discovery: nd_target / nd_sll / nd_tll are OpenFlow 1.3's IPV6_ND_* OXMs (OVS
// requires an ND message: icmpv6_type 135 or 136 with icmpv6_code 0; nd_sll only in a
// solicitation, nd_tll only in an advertisement). nd_reserved (the NA's R/S/O flags word) and
// nd_options_type (the first option's type) are OVS's Ericsson extension fields (OVS >= 2.11),
// OXM class 0x1000 (ERICOXM_OF, not an experimenter OXM) fields 1 and 2; they let a flow turn a
// solicitation into an advertisement in place (docs/openflow.md).
#define RAMPART_OFP_FIELDS(X)                                      \
  X(kInPort, "in_port", 0x8000, 0, 4, false, kDec)                 \
  X(kMetadata, "metadata", 0x8000, 2, 8, true, kHex)               \
  X(kEthDst, "dl_dst", 0x8000, 3, 6, true, kMac)                   \
  X(kEthSrc, "dl_src", 0x8000, 4, 6, true, kMac)                   \
  X(kEthType, "dl_type", 0x8000, 5, 2, false, kHex)                \
  X(kVlanVid, "vlan_vid", 0x8000, 6, 2, true, kDec)                \
  X(kVlanPcp, "vlan_pcp", 0x8000, 7, 1, false, kDec)               \
  X(kIpDscp, "ip_dscp", 0x8000, 8, 1, false, kDec)                 \
  X(kIpProto, "nw_proto", 0x8000, 10, 1, false, kDec)              \
  X(kIpv4Src, "nw_src", 0x8000, 11, 4, true, kIpv4)                \
  X(kIpv4Dst, "nw_dst", 0x8000, 12, 4, true, kIpv4)                \
  X(kTcpSrc, "tcp_src", 0x8000, 13, 2, false, kDec)                \
  X(kTcpDst, "tcp_dst", 0x8000, 14, 2, false, kDec)                \
  X(kUdpSrc, "udp_src", 0x8000, 15, 2, false, kDec)                \
  X(kUdpDst, "udp_dst", 0x8000, 16, 2, false, kDec)                \
  X(kIcmpv4Type, "icmp_type", 0x8000, 19, 1, false, kDec)          \
  X(kIcmpv4Code, "icmp_code", 0x8000, 20, 1, false, kDec)          \
  X(kArpOp, "arp_op", 0x8000, 21, 2, false, kDec)                  \
  X(kArpSpa, "arp_spa", 0x8000, 22, 4, true, kIpv4)                \
  X(kArpTpa, "arp_tpa", 0x8000, 23, 4, true, kIpv4)                \
  X(kArpSha, "arp_sha", 0x8000, 24, 6, true, kMac)                 \
  X(kArpTha, "arp_tha", 0x8000, 25, 6, true, kMac)                 \
  X(kIpv6Src, "ipv6_src", 0x8000, 26, 16, true, kIpv6)             \
  X(kIpv6Dst, "ipv6_dst", 0x8000, 27, 16, true, kIpv6)             \
  X(kIcmpv6Type, "icmpv6_type", 0x8000, 29, 1, false, kDec)        \
  X(kIcmpv6Code, "icmpv6_code", 0x8000, 30, 1, false, kDec)        \
  X(kTunnelId, "tun_id", 0x8000, 38, 8, true, kHex)                \
  X(kPacketType, "packet_type", 0x8000, 44, 4, false, kPacketType) \
  X(kReg0, "reg0", 0x0001, 0, 4, true, kHex)                       \
  X(kReg1, "reg1", 0x0001, 1, 4, true, kHex)                       \
  X(kReg2, "reg2", 0x0001, 2, 4, true, kHex)                       \
  X(kReg3, "reg3", 0x0001, 3, 4, true, kHex)                       \
  X(kReg4, "reg4", 0x0001, 4, 4, true, kHex)                       \
  X(kReg5, "reg5", 0x0001, 5, 4, true, kHex)                       \
  X(kReg6, "reg6", 0x0001, 6, 4, true, kHex)                       \
  X(kReg7, "reg7", 0x0001, 7, 4, true, kHex)                       \
  X(kReg8, "reg8", 0x0001, 8, 4, true, kHex)                       \
  X(kReg9, "reg9", 0x0001, 9, 4, true, kHex)                       \
  X(kReg10, "reg10", 0x0001, 10, 4, true, kHex)                    \
  X(kReg11, "reg11", 0x0001, 11, 4, true, kHex)                    \
  X(kReg12, "reg12", 0x0001, 12, 4, true, kHex)                    \
  X(kReg13, "reg13", 0x0001, 13, 4, true, kHex)                    \
  X(kReg14, "reg14", 0x0001, 14, 4, true, kHex)                    \
  X(kReg15, "reg15", 0x0001, 15, 4, true, kHex)                    \
  X(kTunIpv4Src, "tun_src", 0x0001, 31, 4, true, kIpv4)            \
  X(kTunIpv4Dst, "tun_dst", 0x0001, 32, 4, true, kIpv4)            \
  X(kNdTarget, "nd_target", 0x8000, 31, 16, true, kIpv6)           \
  X(kNdSll, "nd_sll", 0x8000, 32, 6, true, kMac)                   \
  X(kNdTll, "nd_tll", 0x8000, 33, 6, true, kMac)                   \
  X(kNdReserved, "nd_reserved", 0x1000, 1, 4, false, kHex)         \
  X(kNdOptionsType, "nd_options_type", 0x1000, 2, 1, false, kDec)

enum class Field : uint8_t {
#define RAMPART_OFP_FIELD_ENUM(e, name, cls, fld, len, maskable, fmt) e,
  RAMPART_OFP_FIELDS(RAMPART_OFP_FIELD_ENUM)
#undef RAMPART_OFP_FIELD_ENUM
};

enum class FieldFormat : uint8_t { kDec, kHex, kMac, kIpv4, kIpv6, kPacketType };

struct FieldInfo {
  Field field;
  const char* name;  // ovs-ofctl field name
  uint16_t oxm_class;
  uint8_t oxm_field;
  uint8_t length;  // value bytes
  bool maskable;
  FieldFormat format;
};

const FieldInfo& GetFieldInfo(Field f);
// The field with this OXM class/field number, if Rampart knows it.
std::optional<Field> FieldFromOxm(uint16_t oxm_class, uint8_t oxm_field);
// The field an NXM class 0x0000/0x0001 header names (OVS's reg_move encoding of OXM fields).
std::optional<Field> FieldFromNxm(uint16_t nxm_class, uint8_t nxm_field);
// Register field regN. REQUIRES: n < 16.
Field RegField(int n);

// One match field (or a set-field value). Value and mask are big-endian, in the first
// GetFieldInfo(field).length bytes; the rest are zero.
struct MatchField {
  Field field = Field::kInPort;
  std::array<uint8_t, 16> value{};
  std::array<uint8_t, 16> mask{};  // all zero when !has_mask
  bool has_mask = false;

  uint64_t ValueAsUint() const;  // for fields of <= 8 bytes
  // Same order as the member-wise default, with memcmp for the byte arrays (flow sync compares
  // many matches).
  friend std::strong_ordering operator<=>(const MatchField& a, const MatchField& b) {
    if (auto c = a.field <=> b.field; c != 0) return c;
    if (int c = std::memcmp(a.value.data(), b.value.data(), a.value.size()); c != 0) {
      return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    }
    if (int c = std::memcmp(a.mask.data(), b.mask.data(), a.mask.size()); c != 0) {
      return c < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    }
    return a.has_mask <=> b.has_mask;
  }
  friend bool operator==(const MatchField&, const MatchField&) = default;
};

using Mac = std::array<uint8_t, 6>;

// A canonical set of match fields (see the file comment).
class Match {
 public:
  // Adds or replaces `field`. `mask` (same length as the field) is optional; an all-ones mask
  // means exact, an all-zero mask removes the field. Errors on a length mismatch or a mask on a
  // field that is not maskable.
  absl::Status Set(Field field, const uint8_t* value, size_t len, const uint8_t* mask = nullptr);
  absl::Status SetUint(Field field, uint64_t value, std::optional<uint64_t> mask = std::nullopt);

  // Builders for the common cases; they abort on misuse (a programming error, not input).
  Match& InPort(uint32_t port);
  Match& EthType(uint16_t type);
  Match& EthSrc(const Mac& mac, std::optional<Mac> mask = std::nullopt);
  Match& EthDst(const Mac& mac, std::optional<Mac> mask = std::nullopt);
  Match& VlanVid(uint16_t vid_with_present, std::optional<uint16_t> mask = std::nullopt);
  Match& IpProto(uint8_t proto);
  Match& Ipv4Src(uint32_t addr, int prefix_len = 32);  // addr in host order
  Match& Ipv4Dst(uint32_t addr, int prefix_len = 32);
  Match& Ipv6Src(const Ip& addr, int prefix_len = 128);
  Match& Ipv6Dst(const Ip& addr, int prefix_len = 128);
  Match& NdTarget(const Ip& addr);  // exact; REQUIRES: addr is IPv6
  Match& Uint(Field field, uint64_t value, std::optional<uint64_t> mask = std::nullopt);
  Match& Reg(int n, uint32_t value, std::optional<uint32_t> mask = std::nullopt);

  const std::vector<MatchField>& fields() const { return fields_; }
  const MatchField* Find(Field f) const;
  bool empty() const { return fields_.empty(); }
  // "in_port=3,dl_type=0x0800,nw_src=198.18.0.0/16" (empty string for match-all).
  std::string ToString() const;

  friend auto operator<=>(const Match&, const Match&) = default;

 private:
  std::vector<MatchField> fields_;  // sorted by field, one entry per field
};

// Nicira subfield reference for reg move: field[ofs .. ofs+n_bits-1].
struct RegMove {
  Field src = Field::kReg0;
  Field dst = Field::kReg0;
  uint16_t n_bits = 0;
  uint16_t src_ofs = 0;
  uint16_t dst_ofs = 0;
  friend auto operator<=>(const RegMove&, const RegMove&) = default;
};

struct Action {
  enum class Type : uint8_t {
    kOutput,    // port (max_len only for CONTROLLER)
    kGroup,     // group_id
    kPushVlan,  // ethertype
    kPopVlan,
    kSetField,  // field (whole-field value, no mask)
    kResubmit,  // NXAST_RESUBMIT_TABLE: port (kPortInPort = the packet's in_port), table (255 = this)
    kRegMove,   // NXAST_REG_MOVE
    kDecNwTtl,  // OFPAT_DEC_NW_TTL (ovs-ofctl dec_ttl): IPv4 TTL / IPv6 hop limit - 1; at 0 the frame is dropped
  };
  Type type = Type::kOutput;
  uint32_t port = 0;
  uint16_t max_len = 0;
  uint16_t ethertype = 0;
  uint8_t table = 0xff;
  uint32_t group_id = 0;
  MatchField field;
  RegMove move;

  static Action Output(uint32_t port);
  static Action Controller(uint16_t max_len = kControllerMaxLenNoBuffer);
  static Action Group(uint32_t group_id);
  static Action PushVlan(uint16_t ethertype = 0x8100);
  static Action PopVlan();
  static Action SetField(Field field, uint64_t value);  // fields of <= 8 bytes
  static Action SetFieldBytes(Field field, const uint8_t* value, size_t len);
  static Action Resubmit(uint32_t port, uint8_t table);
  static Action Move(RegMove move);
  static Action DecNwTtl();

  std::string ToString() const;
  friend auto operator<=>(const Action&, const Action&) = default;
};

struct WriteMetadata {
  uint64_t value = 0;
  uint64_t mask = ~uint64_t{0};
  friend auto operator<=>(const WriteMetadata&, const WriteMetadata&) = default;
};

// OpenFlow 1.3 instructions Rampart uses, in execution order.
struct Instructions {
  std::vector<Action> apply;  // apply-actions; empty = none (drop unless goto)
  std::optional<WriteMetadata> write_metadata;
  std::optional<uint8_t> goto_table;

  std::string ToString() const;  // "output:3,goto_table:2" or "drop"
  friend auto operator<=>(const Instructions&, const Instructions&) = default;
};

// Identity of a flow inside a switch: OVS keeps at most one flow per (table, priority, match).
struct FlowKey {
  uint8_t table = 0;
  uint16_t priority = 0;
  Match match;
  friend auto operator<=>(const FlowKey&, const FlowKey&) = default;
};

struct Flow {
  uint8_t table = 0;
  uint16_t priority = 0x8000;
  Match match;
  Instructions instructions;
  uint64_t cookie = 0;

  FlowKey Key() const { return FlowKey{table, priority, match}; }
  // "cookie=0x1,table=0,priority=100,in_port=3 actions=output:4"
  std::string ToString() const;
  friend auto operator<=>(const Flow&, const Flow&) = default;
};

// "00:11:22:33:44:55".
std::string MacToString(const uint8_t* mac);

}  // namespace rampart::ofp

#endif  // RAMPART_OVS_OFP_FLOW_H_
