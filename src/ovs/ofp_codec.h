// OpenFlow 1.3 message codec (the subset Rampart speaks to Open vSwitch), with the ONF bundle
// extension (ONFT_BUNDLE_CONTROL / ONFT_BUNDLE_ADD_MESSAGE, "EXT-230") that OVS supports on 1.3,
// and the Nicira extensions Rampart needs (NXM registers and tunnel fields as OXM, resubmit,
// reg move).
//
// Decode never reads outside the given bytes and never trusts a length field: every truncated,
// oversized, misaligned or unknown message, match, instruction or action yields an error whose
// message names the element and the reason. Encode is total for values built through the
// public types.
//
// Thread-safety: stateless functions over plain values.
#ifndef RAMPART_OVS_OFP_CODEC_H_
#define RAMPART_OVS_OFP_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ovs/ofp_flow.h"

namespace rampart::ofp {

inline constexpr uint8_t kVersion13 = 0x04;
inline constexpr size_t kHeaderSize = 8;
inline constexpr uint32_t kNoBuffer = 0xffffffff;
inline constexpr uint32_t kOnfExperimenter = 0x4f4e4600;
inline constexpr uint32_t kNiciraExperimenter = 0x00002320;

// OpenFlow 1.3 message types (ofp_type).
enum class MsgType : uint8_t {
  kHello = 0,
  kError = 1,
  kEchoRequest = 2,
  kEchoReply = 3,
  kExperimenter = 4,
  kFeaturesRequest = 5,
  kFeaturesReply = 6,
  kSetConfig = 9,
  kPacketIn = 10,
  kFlowRemoved = 11,
  kPortStatus = 12,
  kFlowMod = 14,
  kMultipartRequest = 18,
  kMultipartReply = 19,
  kBarrierRequest = 20,
  kBarrierReply = 21,
};

struct Hello {
  uint32_t version_bitmap = 0;  // bit v set = version v offered; 0 = no bitmap element
  friend bool operator==(const Hello&, const Hello&) = default;
};
struct EchoRequest {
  std::vector<uint8_t> data;
  friend bool operator==(const EchoRequest&, const EchoRequest&) = default;
};
struct EchoReply {
  std::vector<uint8_t> data;
  friend bool operator==(const EchoReply&, const EchoReply&) = default;
};
struct FeaturesRequest {
  friend bool operator==(const FeaturesRequest&, const FeaturesRequest&) = default;
};
struct FeaturesReply {
  uint64_t datapath_id = 0;
  uint32_t n_buffers = 0;
  uint8_t n_tables = 0;
  uint8_t auxiliary_id = 0;
  uint32_t capabilities = 0;
  friend bool operator==(const FeaturesReply&, const FeaturesReply&) = default;
};

// OFPT_SET_CONFIG. OVS sends asynchronous messages (port-status, packet-in) on a management
// ("service") connection only after a set-config with a nonzero miss_send_len.
struct SetConfig {
  uint16_t flags = 0;  // OFPC_FRAG_*
  uint16_t miss_send_len = 0xffff;
  friend bool operator==(const SetConfig&, const SetConfig&) = default;
};

struct ErrorMsg {
  uint16_t type = 0;
  uint16_t code = 0;        // for type 0xffff (experimenter): exp_type
  uint32_t experimenter = 0;  // only for type 0xffff
  std::vector<uint8_t> data;  // usually the start of the offending request
  // "OFPET_BAD_MATCH / OFPBMC_BAD_PREREQ (type 4, code 9)" plus the offending request's type.
  std::string ToString() const;
  friend bool operator==(const ErrorMsg&, const ErrorMsg&) = default;
};

struct BarrierRequest {
  friend bool operator==(const BarrierRequest&, const BarrierRequest&) = default;
};
struct BarrierReply {
  friend bool operator==(const BarrierReply&, const BarrierReply&) = default;
};

enum class FlowModCommand : uint8_t {
  kAdd = 0,
  kModify = 1,
  kModifyStrict = 2,
  kDelete = 3,
  kDeleteStrict = 4,
};
// ofp_flow_mod_flags
inline constexpr uint16_t kFlowModSendFlowRem = 1 << 0;
inline constexpr uint16_t kFlowModCheckOverlap = 1 << 1;
inline constexpr uint16_t kFlowModResetCounts = 1 << 2;
inline constexpr uint16_t kFlowModNoPktCounts = 1 << 3;
inline constexpr uint16_t kFlowModNoBytCounts = 1 << 4;

struct FlowMod {
  FlowModCommand command = FlowModCommand::kAdd;
  Flow flow;                 // table, priority, match, instructions, cookie
  uint64_t cookie_mask = 0;  // modify/delete: only flows with (cookie & mask) == flow.cookie & mask
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t flags = 0;
  uint32_t buffer_id = kNoBuffer;
  uint32_t out_port = kPortAny;  // delete filters
  uint32_t out_group = kGroupAny;
  friend bool operator==(const FlowMod&, const FlowMod&) = default;
};

// Multipart (OFPMP_*) bodies.
inline constexpr uint16_t kMultipartFlow = 1;
inline constexpr uint16_t kMultipartPortDesc = 13;
inline constexpr uint16_t kMultipartReplyMore = 1;

struct FlowStatsRequest {
  uint8_t table = kTableAll;
  uint32_t out_port = kPortAny;
  uint32_t out_group = kGroupAny;
  uint64_t cookie = 0;
  uint64_t cookie_mask = 0;
  Match match;  // flows whose match is at least this specific (non-strict)
  friend bool operator==(const FlowStatsRequest&, const FlowStatsRequest&) = default;
};

struct FlowStats {
  Flow flow;
  uint32_t duration_sec = 0;
  uint32_t duration_nsec = 0;
  uint16_t idle_timeout = 0;
  uint16_t hard_timeout = 0;
  uint16_t flags = 0;
  uint64_t packet_count = 0;
  uint64_t byte_count = 0;
  friend bool operator==(const FlowStats&, const FlowStats&) = default;
};

struct FlowStatsReply {
  uint16_t flags = 0;  // kMultipartReplyMore while more parts follow
  std::vector<FlowStats> flows;
  friend bool operator==(const FlowStatsReply&, const FlowStatsReply&) = default;
};

struct PortDescRequest {
  friend bool operator==(const PortDescRequest&, const PortDescRequest&) = default;
};

struct Port {
  uint32_t port_no = 0;
  Mac hw_addr{};
  std::string name;  // up to 16 bytes on the wire (15 + NUL in practice)
  uint32_t config = 0;
  uint32_t state = 0;
  uint32_t curr = 0;
  uint32_t advertised = 0;
  uint32_t supported = 0;
  uint32_t peer = 0;
  uint32_t curr_speed = 0;
  uint32_t max_speed = 0;
  friend bool operator==(const Port&, const Port&) = default;
};
inline constexpr uint32_t kPortConfigDown = 1 << 0;
inline constexpr uint32_t kPortStateLinkDown = 1 << 0;

struct PortDescReply {
  uint16_t flags = 0;
  std::vector<Port> ports;
  friend bool operator==(const PortDescReply&, const PortDescReply&) = default;
};

enum class PortReason : uint8_t { kAdd = 0, kDelete = 1, kModify = 2 };
struct PortStatus {
  PortReason reason = PortReason::kAdd;
  Port port;
  friend bool operator==(const PortStatus&, const PortStatus&) = default;
};

// Bundles (OpenFlow 1.4 semantics, carried in ONF experimenter messages on 1.3).
enum class BundleCtrlType : uint16_t {
  kOpenRequest = 0,
  kOpenReply = 1,
  kCloseRequest = 2,
  kCloseReply = 3,
  kCommitRequest = 4,
  kCommitReply = 5,
  kDiscardRequest = 6,
  kDiscardReply = 7,
};
inline constexpr uint16_t kBundleAtomic = 1 << 0;
inline constexpr uint16_t kBundleOrdered = 1 << 1;

struct BundleControl {
  uint32_t bundle_id = 0;
  BundleCtrlType type = BundleCtrlType::kOpenRequest;
  uint16_t flags = 0;
  friend bool operator==(const BundleControl&, const BundleControl&) = default;
};

struct BundleAdd {
  uint32_t bundle_id = 0;
  uint16_t flags = 0;
  std::vector<uint8_t> message;  // one complete encoded message (a flow_mod), same xid rules
  friend bool operator==(const BundleAdd&, const BundleAdd&) = default;
};

using MessageBody =
    std::variant<Hello, ErrorMsg, EchoRequest, EchoReply, FeaturesRequest, FeaturesReply,
                 BarrierRequest, BarrierReply, FlowMod, FlowStatsRequest, FlowStatsReply,
                 PortDescRequest, PortDescReply, PortStatus, BundleControl, BundleAdd,
                 SetConfig>;

struct Message {
  uint8_t version = kVersion13;
  uint32_t xid = 0;
  MessageBody body;
  friend bool operator==(const Message&, const Message&) = default;
};

struct Header {
  uint8_t version = 0;
  uint8_t type = 0;
  uint16_t length = 0;
  uint32_t xid = 0;
};

// Framing: the header of the message at the start of `buf`. Errors when fewer than 8 bytes are
// there or the length field is below 8.
absl::StatusOr<Header> PeekHeader(absl::Span<const uint8_t> buf);

// Encodes one message. Hello is always encoded with version_bitmap as given (its header version
// is the highest bit set, or msg.version when there is no bitmap).
std::vector<uint8_t> Encode(const Message& msg);

// Decodes exactly one message occupying all of `bytes` (the header's length must equal
// bytes.size()). Messages of types Rampart does not handle (packet-in, flow-removed, ...) give
// an Unimplemented error; malformed ones InvalidArgument / OutOfRange.
absl::StatusOr<Message> Decode(absl::Span<const uint8_t> bytes);

// Match / instruction list codecs, exposed for tests and the fuzzer.
void EncodeMatch(const Match& match, std::vector<uint8_t>& out);  // ofp_match, padded to 8
// Decodes an ofp_match at the start of `bytes`; *consumed = its padded length.
absl::StatusOr<Match> DecodeMatch(absl::Span<const uint8_t> bytes, size_t* consumed);
void EncodeInstructions(const Instructions& ins, std::vector<uint8_t>& out);
absl::StatusOr<Instructions> DecodeInstructions(absl::Span<const uint8_t> bytes);

// "OFPT_FLOW_MOD" etc., for logs and error messages.
std::string MsgTypeName(uint8_t type);

}  // namespace rampart::ofp

#endif  // RAMPART_OVS_OFP_CODEC_H_
