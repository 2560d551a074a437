#include "ovs/ofp_codec.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rampart::ofp {
namespace {

// ---------------------------------------------------------------------------------------------
// Byte helpers.

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  void Bytes(const uint8_t* p, size_t n) { out_.insert(out_.end(), p, p + n); }
  void Zeros(size_t n) { out_.insert(out_.end(), n, 0); }
  void PadTo8(size_t start) {
    while ((out_.size() - start) % 8 != 0) out_.push_back(0);
  }
  size_t size() const { return out_.size(); }
  void PatchU16(size_t at, uint16_t v) {
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v);
  }

 private:
  std::vector<uint8_t>& out_;
};

// Bounds-checked big-endian reader. Every getter is preceded by Need(); getters past the end
// return zero instead of reading (defence in depth).
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> b) : b_(b) {}
  size_t remaining() const { return b_.size() - pos_; }
  size_t pos() const { return pos_; }
  absl::Status Need(size_t n, std::string_view what) const {
    if (remaining() < n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: truncated (needs %d bytes, %d left)", what, n, remaining()));
    }
    return absl::OkStatus();
  }
  uint8_t U8() { return remaining() >= 1 ? b_[pos_++] : 0; }
  uint16_t U16() {
    uint16_t hi = U8();
    return static_cast<uint16_t>(hi << 8 | U8());
  }
  uint32_t U32() {
    uint32_t hi = U16();
    return hi << 16 | U16();
  }
  uint64_t U64() {
    uint64_t hi = U32();
    return hi << 32 | U32();
  }
  void Skip(size_t n) { pos_ += std::min(n, remaining()); }
  absl::Span<const uint8_t> Take(size_t n) {
    n = std::min(n, remaining());
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  absl::Span<const uint8_t> Rest() { return Take(remaining()); }

 private:
  absl::Span<const uint8_t> b_;
  size_t pos_ = 0;
};

#define RETURN_IF_ERROR(expr)            \
  do {                                   \
    absl::Status _st = (expr);           \
    if (!_st.ok()) return _st;           \
  } while (0)

#define OFP_CONCAT_(a, b) a##b
#define OFP_CONCAT(a, b) OFP_CONCAT_(a, b)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(OFP_CONCAT(_sor_, __LINE__), lhs, expr)

absl::Status Bad(std::string msg) { return absl::InvalidArgumentError(std::move(msg)); }

uint32_t Port16To32(uint16_t p) { return p >= 0xff00 ? 0xffff0000u + p : p; }
uint16_t Port32To16(uint32_t p) {
  return static_cast<uint16_t>(p >= 0xffffff00u ? p - 0xffff0000u : p);
}

constexpr uint16_t kOxmMatchType = 1;  // OFPMT_OXM
constexpr uint16_t kOxmClassExperimenter = 0xffff;

constexpr uint16_t kInstGotoTable = 1;
constexpr uint16_t kInstWriteMetadata = 2;
constexpr uint16_t kInstApplyActions = 4;

constexpr uint16_t kActOutput = 0;
constexpr uint16_t kActPushVlan = 17;
constexpr uint16_t kActPopVlan = 18;
constexpr uint16_t kActGroup = 22;
constexpr uint16_t kActDecNwTtl = 24;
constexpr uint16_t kActSetField = 25;
constexpr uint16_t kActExperimenter = 0xffff;

constexpr uint16_t kNxastResubmit = 1;
constexpr uint16_t kNxastRegMove = 6;
constexpr uint16_t kNxastResubmitTable = 14;

constexpr uint32_t kOnftBundleControl = 2300;
constexpr uint32_t kOnftBundleAdd = 2301;

uint32_t OxmHeader(Field f, bool has_mask) {
  const FieldInfo& info = GetFieldInfo(f);
  uint32_t len = has_mask ? 2u * info.length : info.length;
  return uint32_t{info.oxm_class} << 16 | uint32_t{info.oxm_field} << 9 |
         (has_mask ? 1u << 8 : 0u) | len;
}

absl::StatusOr<Field> FieldFromHeader(uint32_t h, bool allow_mask, std::string_view what) {
  uint16_t cls = static_cast<uint16_t>(h >> 16);
  uint8_t fld = static_cast<uint8_t>((h >> 9) & 0x7f);
  bool has_mask = (h >> 8) & 1;
  uint8_t len = static_cast<uint8_t>(h & 0xff);
  std::optional<Field> f = FieldFromOxm(cls, fld);
  if (!f) f = FieldFromNxm(cls, fld);
  if (!f) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s: unsupported field (oxm class 0x%04x, field %d)", what, cls, fld));
  }
  const FieldInfo& info = GetFieldInfo(*f);
  if (has_mask && (!allow_mask || !info.maskable)) {
    return Bad(absl::StrFormat("%s: field %s must not carry a mask", what, info.name));
  }
  size_t want = has_mask ? 2u * info.length : info.length;
  if (len != want) {
    return Bad(absl::StrFormat("%s: field %s has length %d, expected %d", what, info.name, len,
                               want));
  }
  return *f;
}

// ---------------------------------------------------------------------------------------------
// Actions.

void EncodeAction(const Action& a, Writer& w) {
  switch (a.type) {
    case Action::Type::kOutput:
      w.U16(kActOutput);
      w.U16(16);
      w.U32(a.port);
      w.U16(a.port == kPortController ? a.max_len : 0);
      w.Zeros(6);
      return;
    case Action::Type::kGroup:
      w.U16(kActGroup);
      w.U16(8);
      w.U32(a.group_id);
      return;
    case Action::Type::kPushVlan:
      w.U16(kActPushVlan);
      w.U16(8);
      w.U16(a.ethertype);
      w.Zeros(2);
      return;
    case Action::Type::kPopVlan:
      w.U16(kActPopVlan);
      w.U16(8);
      w.Zeros(4);
      return;
    case Action::Type::kDecNwTtl:
      w.U16(kActDecNwTtl);
      w.U16(8);
      w.Zeros(4);
      return;
    case Action::Type::kSetField: {
      const FieldInfo& info = GetFieldInfo(a.field.field);
      size_t start = w.size();
      size_t len = (4 + 4 + info.length + 7) / 8 * 8;
      w.U16(kActSetField);
      w.U16(static_cast<uint16_t>(len));
      w.U32(OxmHeader(a.field.field, false));
      w.Bytes(a.field.value.data(), info.length);
      w.PadTo8(start);
      return;
    }
    case Action::Type::kResubmit:
      w.U16(kActExperimenter);
      w.U16(16);
      w.U32(kNiciraExperimenter);
      w.U16(kNxastResubmitTable);
      w.U16(Port32To16(a.port));
      w.U8(a.table);
      w.Zeros(3);
      return;
    case Action::Type::kRegMove:
      w.U16(kActExperimenter);
      w.U16(24);
      w.U32(kNiciraExperimenter);
      w.U16(kNxastRegMove);
      w.U16(a.move.n_bits);
      w.U16(a.move.src_ofs);
      w.U16(a.move.dst_ofs);
      w.U32(OxmHeader(a.move.src, false));
      w.U32(OxmHeader(a.move.dst, false));
      return;
  }
}

absl::StatusOr<Action> DecodeNiciraAction(Reader& r, uint16_t len, size_t index) {
  std::string what = absl::StrCat("action ", index, " (nicira)");
  RETURN_IF_ERROR(r.Need(2, what));
  uint16_t subtype = r.U16();
  switch (subtype) {
    case kNxastResubmit:
    case kNxastResubmitTable: {
      if (len != 16) return Bad(absl::StrCat(what, ": resubmit length ", len, ", expected 16"));
      uint16_t port = r.U16();
      uint8_t table = r.U8();
      r.Skip(3);
      if (subtype == kNxastResubmit) table = 0xff;
      return Action::Resubmit(Port16To32(port), table);
    }
    case kNxastRegMove: {
      if (len != 24) return Bad(absl::StrCat(what, ": reg_move length ", len, ", expected 24"));
      RegMove m;
      m.n_bits = r.U16();
      m.src_ofs = r.U16();
      m.dst_ofs = r.U16();
      ASSIGN_OR_RETURN(m.src, FieldFromHeader(r.U32(), false, what + " move source"));
      ASSIGN_OR_RETURN(m.dst, FieldFromHeader(r.U32(), false, what + " move destination"));
      if (m.n_bits == 0 ||
          m.src_ofs + m.n_bits > 8 * GetFieldInfo(m.src).length ||
          m.dst_ofs + m.n_bits > 8 * GetFieldInfo(m.dst).length) {
        return Bad(absl::StrCat(what, ": reg_move bit range out of the fields"));
      }
      return Action::Move(m);
    }
    default:
      return absl::UnimplementedError(
          absl::StrCat(what, ": unsupported nicira action subtype ", subtype));
  }
}

absl::StatusOr<std::vector<Action>> DecodeActions(absl::Span<const uint8_t> bytes) {
  std::vector<Action> out;
  Reader all(bytes);
  size_t index = 0;
  while (all.remaining() > 0) {
    std::string what = absl::StrCat("action ", index);
    RETURN_IF_ERROR(all.Need(4, what));
    Reader peek(bytes.subspan(all.pos()));
    uint16_t type = peek.U16();
    uint16_t len = peek.U16();
    if (len < 8 || len % 8 != 0) {
      return Bad(absl::StrCat(what, ": bad length ", len, " (must be a multiple of 8, >= 8)"));
    }
    RETURN_IF_ERROR(all.Need(len, what));
    Reader r(all.Take(len));
    r.Skip(4);
    switch (type) {
      case kActOutput: {
        if (len != 16) return Bad(absl::StrCat(what, ": output length ", len, ", expected 16"));
        uint32_t port = r.U32();
        uint16_t max_len = r.U16();
        if (port == kPortController) {
          out.push_back(Action::Controller(max_len));
        } else {
          out.push_back(Action::Output(port));
        }
        break;
      }
      case kActGroup:
        if (len != 8) return Bad(absl::StrCat(what, ": group length ", len, ", expected 8"));
        out.push_back(Action::Group(r.U32()));
        break;
      case kActPushVlan:
        if (len != 8) return Bad(absl::StrCat(what, ": push_vlan length ", len, ", expected 8"));
        out.push_back(Action::PushVlan(r.U16()));
        break;
      case kActPopVlan:
        if (len != 8) return Bad(absl::StrCat(what, ": pop_vlan length ", len, ", expected 8"));
        out.push_back(Action::PopVlan());
        break;
      case kActDecNwTtl:
        if (len != 8) return Bad(absl::StrCat(what, ": dec_nw_ttl length ", len, ", expected 8"));
        out.push_back(Action::DecNwTtl());
        break;
      case kActSetField: {
        uint32_t h = r.U32();
        Field f;
        ASSIGN_OR_RETURN(f, FieldFromHeader(h, false, what + " set_field"));
        const FieldInfo& info = GetFieldInfo(f);
        if (8u + info.length > len) {
          return Bad(absl::StrCat(what, ": set_field value overruns the action"));
        }
        auto v = r.Take(info.length);
        out.push_back(Action::SetFieldBytes(f, v.data(), v.size()));
        break;
      }
      case kActExperimenter: {
        if (len < 16) return Bad(absl::StrCat(what, ": experimenter action too short"));
        uint32_t exp = r.U32();
        if (exp != kNiciraExperimenter) {
          return absl::UnimplementedError(
              absl::StrFormat("%s: unsupported experimenter 0x%08x", what, exp));
        }
        Action a;
        ASSIGN_OR_RETURN(a, DecodeNiciraAction(r, len, index));
        out.push_back(a);
        break;
      }
      default:
        return absl::UnimplementedError(absl::StrCat(what, ": unsupported action type ", type));
    }
    ++index;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages.

void PutHeader(Writer& w, uint8_t version, uint8_t type, uint32_t xid) {
  w.U8(version);
  w.U8(type);
  w.U16(0);  // patched by Finish
  w.U32(xid);
}

void EncodeFlowModBody(const FlowMod& fm, Writer& w, std::vector<uint8_t>& out) {
  w.U64(fm.flow.cookie);
  w.U64(fm.cookie_mask);
  w.U8(fm.flow.table);
  w.U8(static_cast<uint8_t>(fm.command));
  w.U16(fm.idle_timeout);
  w.U16(fm.hard_timeout);
  w.U16(fm.flow.priority);
  w.U32(fm.buffer_id);
  w.U32(fm.out_port);
  w.U32(fm.out_group);
  w.U16(fm.flags);
  w.Zeros(2);
  EncodeMatch(fm.flow.match, out);
  EncodeInstructions(fm.flow.instructions, out);  // ignored by the switch for deletes
}

void EncodePort(const Port& p, Writer& w) {
  w.U32(p.port_no);
  w.Zeros(4);
  w.Bytes(p.hw_addr.data(), 6);
  w.Zeros(2);
  char name[16] = {};  // NUL-terminated unless all 16 bytes are used
  std::copy_n(p.name.data(), std::min<size_t>(p.name.size(), 16), name);
  w.Bytes(reinterpret_cast<const uint8_t*>(name), 16);
  w.U32(p.config);
  w.U32(p.state);
  w.U32(p.curr);
  w.U32(p.advertised);
  w.U32(p.supported);
  w.U32(p.peer);
  w.U32(p.curr_speed);
  w.U32(p.max_speed);
}

absl::StatusOr<Port> DecodePort(Reader& r, std::string_view what) {
  RETURN_IF_ERROR(r.Need(64, what));
  Port p;
  p.port_no = r.U32();
  r.Skip(4);
  auto mac = r.Take(6);
  std::copy(mac.begin(), mac.end(), p.hw_addr.begin());
  r.Skip(2);
  auto name = r.Take(16);
  size_t n = 0;
  while (n < name.size() && name[n] != 0) ++n;
  p.name.assign(reinterpret_cast<const char*>(name.data()), n);
  p.config = r.U32();
  p.state = r.U32();
  p.curr = r.U32();
  p.advertised = r.U32();
  p.supported = r.U32();
  p.peer = r.U32();
  p.curr_speed = r.U32();
  p.max_speed = r.U32();
  return p;
}

struct EncodeVisitor {
  const Message& msg;
  std::vector<uint8_t>& out;
  Writer w{out};

  void operator()(const Hello& h) {
    uint8_t version = msg.version;
    for (int v = 31; v >= 0; --v) {
      if (h.version_bitmap & (1u << v)) {
        version = static_cast<uint8_t>(v);
        break;
      }
    }
    PutHeader(w, version, static_cast<uint8_t>(MsgType::kHello), msg.xid);
    if (h.version_bitmap != 0) {
      w.U16(1);  // OFPHET_VERSIONBITMAP
      w.U16(8);
      w.U32(h.version_bitmap);
    }
  }
  void operator()(const ErrorMsg& e) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kError), msg.xid);
    w.U16(e.type);
    w.U16(e.code);
    if (e.type == 0xffff) w.U32(e.experimenter);
    w.Bytes(e.data.data(), e.data.size());
  }
  void operator()(const EchoRequest& e) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kEchoRequest), msg.xid);
    w.Bytes(e.data.data(), e.data.size());
  }
  void operator()(const EchoReply& e) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kEchoReply), msg.xid);
    w.Bytes(e.data.data(), e.data.size());
  }
  void operator()(const FeaturesRequest&) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kFeaturesRequest), msg.xid);
  }
  void operator()(const FeaturesReply& f) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kFeaturesReply), msg.xid);
    w.U64(f.datapath_id);
    w.U32(f.n_buffers);
    w.U8(f.n_tables);
    w.U8(f.auxiliary_id);
    w.Zeros(2);
    w.U32(f.capabilities);
    w.U32(0);
  }
  void operator()(const SetConfig& c) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kSetConfig), msg.xid);
    w.U16(c.flags);
    w.U16(c.miss_send_len);
  }
  void operator()(const BarrierRequest&) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kBarrierRequest), msg.xid);
  }
  void operator()(const BarrierReply&) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kBarrierReply), msg.xid);
  }
  void operator()(const FlowMod& fm) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kFlowMod), msg.xid);
    EncodeFlowModBody(fm, w, out);
  }
  void MultipartHeader(MsgType t, uint16_t mp_type, uint16_t flags) {
    PutHeader(w, msg.version, static_cast<uint8_t>(t), msg.xid);
    w.U16(mp_type);
    w.U16(flags);
    w.Zeros(4);
  }
  void operator()(const FlowStatsRequest& r) {
    MultipartHeader(MsgType::kMultipartRequest, kMultipartFlow, 0);
    w.U8(r.table);
    w.Zeros(3);
    w.U32(r.out_port);
    w.U32(r.out_group);
    w.Zeros(4);
    w.U64(r.cookie);
    w.U64(r.cookie_mask);
    EncodeMatch(r.match, out);
  }
  void operator()(const FlowStatsReply& r) {
    MultipartHeader(MsgType::kMultipartReply, kMultipartFlow, r.flags);
    for (const FlowStats& fs : r.flows) {
      size_t start = w.size();
      w.U16(0);  // length, patched
      w.U8(fs.flow.table);
      w.U8(0);
      w.U32(fs.duration_sec);
      w.U32(fs.duration_nsec);
      w.U16(fs.flow.priority);
      w.U16(fs.idle_timeout);
      w.U16(fs.hard_timeout);
      w.U16(fs.flags);
      w.Zeros(4);
      w.U64(fs.flow.cookie);
      w.U64(fs.packet_count);
      w.U64(fs.byte_count);
      EncodeMatch(fs.flow.match, out);
      EncodeInstructions(fs.flow.instructions, out);
      w.PatchU16(start, static_cast<uint16_t>(w.size() - start));
    }
  }
  void operator()(const PortDescRequest&) {
    MultipartHeader(MsgType::kMultipartRequest, kMultipartPortDesc, 0);
  }
  void operator()(const PortDescReply& r) {
    MultipartHeader(MsgType::kMultipartReply, kMultipartPortDesc, r.flags);
    for (const Port& p : r.ports) EncodePort(p, w);
  }
  void operator()(const PortStatus& s) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kPortStatus), msg.xid);
    w.U8(static_cast<uint8_t>(s.reason));
    w.Zeros(7);
    EncodePort(s.port, w);
  }
  void operator()(const BundleControl& b) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kExperimenter), msg.xid);
    w.U32(kOnfExperimenter);
    w.U32(kOnftBundleControl);
    w.U32(b.bundle_id);
    w.U16(static_cast<uint16_t>(b.type));
    w.U16(b.flags);
  }
  void operator()(const BundleAdd& b) {
    PutHeader(w, msg.version, static_cast<uint8_t>(MsgType::kExperimenter), msg.xid);
    w.U32(kOnfExperimenter);
    w.U32(kOnftBundleAdd);
    w.U32(b.bundle_id);
    w.U16(0);
    w.U16(b.flags);
    w.Bytes(b.message.data(), b.message.size());
  }
};

absl::StatusOr<FlowMod> DecodeFlowMod(Reader& r) {
  RETURN_IF_ERROR(r.Need(40, "flow_mod"));
  FlowMod fm;
  fm.flow.cookie = r.U64();
  fm.cookie_mask = r.U64();
  fm.flow.table = r.U8();
  uint8_t cmd = r.U8();
  if (cmd > static_cast<uint8_t>(FlowModCommand::kDeleteStrict)) {
    return Bad(absl::StrCat("flow_mod: unknown command ", cmd));
  }
  fm.command = static_cast<FlowModCommand>(cmd);
  fm.idle_timeout = r.U16();
  fm.hard_timeout = r.U16();
  fm.flow.priority = r.U16();
  fm.buffer_id = r.U32();
  fm.out_port = r.U32();
  fm.out_group = r.U32();
  fm.flags = r.U16();
  r.Skip(2);
  auto rest = r.Rest();
  size_t used = 0;
  ASSIGN_OR_RETURN(fm.flow.match, DecodeMatch(rest, &used));
  ASSIGN_OR_RETURN(fm.flow.instructions, DecodeInstructions(rest.subspan(used)));
  return fm;
}

absl::StatusOr<FlowStatsReply> DecodeFlowStatsReply(Reader& r, uint16_t flags) {
  FlowStatsReply reply;
  reply.flags = flags;
  size_t index = 0;
  while (r.remaining() > 0) {
    std::string what = absl::StrCat("flow_stats entry ", index);
    RETURN_IF_ERROR(r.Need(2, what));
    auto head = r.Take(2);
    uint16_t len = static_cast<uint16_t>(head[0] << 8 | head[1]);
    if (len < 56 || len % 8 != 0) {
      return Bad(absl::StrCat(what, ": bad length ", len));
    }
    RETURN_IF_ERROR(r.Need(len - 2, what));
    Reader e(r.Take(len - 2));
    FlowStats fs;
    fs.flow.table = e.U8();
    e.Skip(1);
    fs.duration_sec = e.U32();
    fs.duration_nsec = e.U32();
    fs.flow.priority = e.U16();
    fs.idle_timeout = e.U16();
    fs.hard_timeout = e.U16();
    fs.flags = e.U16();
    e.Skip(4);
    fs.flow.cookie = e.U64();
    fs.packet_count = e.U64();
    fs.byte_count = e.U64();
    auto rest = e.Rest();
    size_t used = 0;
    auto m = DecodeMatch(rest, &used);
    if (!m.ok()) return Bad(absl::StrCat(what, ": ", m.status().message()));
    fs.flow.match = std::move(*m);
    auto ins = DecodeInstructions(rest.subspan(used));
    if (!ins.ok()) {
      return absl::Status(ins.status().code(),
                          absl::StrCat(what, ": ", ins.status().message()));
    }
    fs.flow.instructions = std::move(*ins);
    reply.flows.push_back(std::move(fs));
    ++index;
  }
  return reply;
}

absl::StatusOr<MessageBody> DecodeMultipart(Reader& r, bool is_reply) {
  std::string_view what = is_reply ? "multipart_reply" : "multipart_request";
  RETURN_IF_ERROR(r.Need(8, what));
  uint16_t mp_type = r.U16();
  uint16_t flags = r.U16();
  r.Skip(4);
  if (mp_type == kMultipartFlow && !is_reply) {
    RETURN_IF_ERROR(r.Need(32, "flow_stats_request"));
    FlowStatsRequest req;
    req.table = r.U8();
    r.Skip(3);
    req.out_port = r.U32();
    req.out_group = r.U32();
    r.Skip(4);
    req.cookie = r.U64();
    req.cookie_mask = r.U64();
    auto rest = r.Rest();
    size_t used = 0;
    ASSIGN_OR_RETURN(req.match, DecodeMatch(rest, &used));
    if (used != rest.size()) return Bad("flow_stats_request: trailing bytes after the match");
    return req;
  }
  if (mp_type == kMultipartFlow && is_reply) {
    FlowStatsReply reply;
    ASSIGN_OR_RETURN(reply, DecodeFlowStatsReply(r, flags));
    return reply;
  }
  if (mp_type == kMultipartPortDesc && !is_reply) {
    if (r.remaining() != 0) return Bad("port_desc_request: unexpected body");
    return PortDescRequest{};
  }
  if (mp_type == kMultipartPortDesc && is_reply) {
    PortDescReply reply;
    reply.flags = flags;
    if (r.remaining() % 64 != 0) {
      return Bad(absl::StrCat("port_desc_reply: body of ", r.remaining(),
                              " bytes is not a whole number of 64-byte ports"));
    }
    while (r.remaining() > 0) {
      Port p;
      ASSIGN_OR_RETURN(p, DecodePort(r, "port_desc_reply port"));
      reply.ports.push_back(std::move(p));
    }
    return reply;
  }
  return absl::UnimplementedError(absl::StrCat(std::string(what), ": unsupported multipart type ", mp_type));
}

absl::StatusOr<MessageBody> DecodeExperimenter(Reader& r) {
  RETURN_IF_ERROR(r.Need(8, "experimenter"));
  uint32_t exp = r.U32();
  uint32_t exp_type = r.U32();
  if (exp != kOnfExperimenter) {
    return absl::UnimplementedError(
        absl::StrFormat("experimenter: unsupported experimenter 0x%08x", exp));
  }
  if (exp_type == kOnftBundleControl) {
    if (r.remaining() < 8) return Bad("bundle_control: truncated (needs 8 bytes)");
    BundleControl b;
    b.bundle_id = r.U32();
    uint16_t t = r.U16();
    if (t > static_cast<uint16_t>(BundleCtrlType::kDiscardReply)) {
      return Bad(absl::StrCat("bundle_control: unknown type ", t));
    }
    b.type = static_cast<BundleCtrlType>(t);
    b.flags = r.U16();
    // Properties are not used by Rampart; ignore them (they are length-delimited by the header).
    return b;
  }
  if (exp_type == kOnftBundleAdd) {
    if (r.remaining() < 8 + kHeaderSize) return Bad("bundle_add: truncated");
    BundleAdd b;
    b.bundle_id = r.U32();
    r.Skip(2);
    b.flags = r.U16();
    auto rest = r.Rest();
    auto inner = PeekHeader(rest);
    if (!inner.ok()) return Bad(absl::StrCat("bundle_add inner message: ", inner.status().message()));
    if (inner->length > rest.size()) return Bad("bundle_add: inner message overruns the bundle");
    b.message.assign(rest.begin(), rest.begin() + inner->length);
    return b;
  }
  return absl::UnimplementedError(absl::StrCat("experimenter: unsupported ONF type ", exp_type));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.

void EncodeMatch(const Match& match, std::vector<uint8_t>& out) {
  Writer w(out);
  size_t start = w.size();
  w.U16(kOxmMatchType);
  w.U16(0);
  for (const MatchField& mf : match.fields()) {
    const FieldInfo& info = GetFieldInfo(mf.field);
    w.U32(OxmHeader(mf.field, mf.has_mask));
    w.Bytes(mf.value.data(), info.length);
    if (mf.has_mask) w.Bytes(mf.mask.data(), info.length);
  }
  w.PatchU16(start + 2, static_cast<uint16_t>(w.size() - start));
  w.PadTo8(start);
}

absl::StatusOr<Match> DecodeMatch(absl::Span<const uint8_t> bytes, size_t* consumed) {
  Reader r(bytes);
  RETURN_IF_ERROR(r.Need(4, "match"));
  uint16_t type = r.U16();
  uint16_t len = r.U16();
  if (type != kOxmMatchType) return Bad(absl::StrCat("match: type ", type, " is not OXM (1)"));
  if (len < 4) return Bad(absl::StrCat("match: length ", len, " below 4"));
  size_t padded = (size_t{len} + 7) / 8 * 8;
  if (padded > bytes.size()) {
    return Bad(absl::StrFormat("match: length %d (padded %d) overruns the %d bytes left", len,
                               padded, bytes.size()));
  }
  Reader fields(bytes.subspan(4, len - 4));
  Match m;
  std::vector<bool> seen(64, false);
  size_t index = 0;
  while (fields.remaining() > 0) {
    std::string what = absl::StrCat("match field ", index);
    RETURN_IF_ERROR(fields.Need(4, what));
    uint32_t h = fields.U32();
    uint8_t flen = static_cast<uint8_t>(h & 0xff);
    RETURN_IF_ERROR(fields.Need(flen, what));
    if ((h >> 16) == kOxmClassExperimenter) {
      return absl::UnimplementedError(absl::StrCat(what, ": experimenter OXM not supported"));
    }
    Field f;
    ASSIGN_OR_RETURN(f, FieldFromHeader(h, true, what));
    size_t fi = static_cast<size_t>(f);
    if (fi < seen.size() && seen[fi]) {
      return Bad(absl::StrCat(what, ": duplicate field ", GetFieldInfo(f).name));
    }
    if (fi < seen.size()) seen[fi] = true;
    const FieldInfo& info = GetFieldInfo(f);
    auto v = fields.Take(info.length);
    bool has_mask = (h >> 8) & 1;
    absl::Span<const uint8_t> mk;
    if (has_mask) mk = fields.Take(info.length);
    RETURN_IF_ERROR(m.Set(f, v.data(), v.size(), has_mask ? mk.data() : nullptr));
    ++index;
  }
  *consumed = padded;
  return m;
}

void EncodeInstructions(const Instructions& ins, std::vector<uint8_t>& out) {
  Writer w(out);
  if (!ins.apply.empty()) {
    size_t start = w.size();
    w.U16(kInstApplyActions);
    w.U16(0);
    w.Zeros(4);
    for (const Action& a : ins.apply) EncodeAction(a, w);
    w.PatchU16(start + 2, static_cast<uint16_t>(w.size() - start));
  }
  if (ins.write_metadata) {
    w.U16(kInstWriteMetadata);
    w.U16(24);
    w.Zeros(4);
    w.U64(ins.write_metadata->value);
    w.U64(ins.write_metadata->mask);
  }
  if (ins.goto_table) {
    w.U16(kInstGotoTable);
    w.U16(8);
    w.U8(*ins.goto_table);
    w.Zeros(3);
  }
}

absl::StatusOr<Instructions> DecodeInstructions(absl::Span<const uint8_t> bytes) {
  Instructions ins;
  Reader r(bytes);
  bool seen_apply = false;
  size_t index = 0;
  while (r.remaining() > 0) {
    std::string what = absl::StrCat("instruction ", index);
    RETURN_IF_ERROR(r.Need(4, what));
    auto head = bytes.subspan(r.pos(), 4);
    uint16_t type = static_cast<uint16_t>(head[0] << 8 | head[1]);
    uint16_t len = static_cast<uint16_t>(head[2] << 8 | head[3]);
    if (len < 8 || len % 8 != 0) {
      return Bad(absl::StrCat(what, ": bad length ", len, " (must be a multiple of 8, >= 8)"));
    }
    RETURN_IF_ERROR(r.Need(len, what));
    Reader e(r.Take(len));
    e.Skip(4);
    switch (type) {
      case kInstGotoTable:
        if (len != 8) return Bad(absl::StrCat(what, ": goto_table length ", len));
        if (ins.goto_table) return Bad(absl::StrCat(what, ": duplicate goto_table"));
        ins.goto_table = e.U8();
        break;
      case kInstWriteMetadata:
        if (len != 24) return Bad(absl::StrCat(what, ": write_metadata length ", len));
        if (ins.write_metadata) return Bad(absl::StrCat(what, ": duplicate write_metadata"));
        e.Skip(4);
        ins.write_metadata = WriteMetadata{};
        ins.write_metadata->value = e.U64();
        ins.write_metadata->mask = e.U64();
        break;
      case kInstApplyActions: {
        if (seen_apply) return Bad(absl::StrCat(what, ": duplicate apply_actions"));
        seen_apply = true;
        e.Skip(4);
        auto acts = DecodeActions(e.Rest());
        if (!acts.ok()) {
          return absl::Status(acts.status().code(),
                              absl::StrCat(what, " apply_actions: ", acts.status().message()));
        }
        ins.apply = std::move(*acts);
        break;
      }
      default:
        return absl::UnimplementedError(absl::StrCat(what, ": unsupported instruction type ", type));
    }
    ++index;
  }
  return ins;
}

absl::StatusOr<Header> PeekHeader(absl::Span<const uint8_t> buf) {
  if (buf.size() < kHeaderSize) {
    return Bad(absl::StrCat("header: truncated (", buf.size(), " of 8 bytes)"));
  }
  Reader r(buf);
  Header h;
  h.version = r.U8();
  h.type = r.U8();
  h.length = r.U16();
  h.xid = r.U32();
  if (h.length < kHeaderSize) return Bad(absl::StrCat("header: length ", h.length, " below 8"));
  return h;
}

std::vector<uint8_t> Encode(const Message& msg) {
  std::vector<uint8_t> out;
  out.reserve(64);
  std::visit(EncodeVisitor{msg, out}, msg.body);
  Writer(out).PatchU16(2, static_cast<uint16_t>(out.size()));
  return out;
}

absl::StatusOr<Message> Decode(absl::Span<const uint8_t> bytes) {
  Header h;
  ASSIGN_OR_RETURN(h, PeekHeader(bytes));
  if (h.length != bytes.size()) {
    return Bad(absl::StrFormat("header: length field %d but the message has %d bytes", h.length,
                               bytes.size()));
  }
  Message msg;
  msg.version = h.version;
  msg.xid = h.xid;
  Reader r(bytes.subspan(kHeaderSize));
  if (h.type == static_cast<uint8_t>(MsgType::kHello)) {
    Hello hello;
    // Elements: type, length (incl. header), payload, padded to 8. Unknown types are skipped.
    while (r.remaining() >= 4) {
      auto head = bytes.subspan(kHeaderSize + r.pos(), 4);
      uint16_t et = static_cast<uint16_t>(head[0] << 8 | head[1]);
      uint16_t el = static_cast<uint16_t>(head[2] << 8 | head[3]);
      if (el < 4) return Bad(absl::StrCat("hello element: length ", el, " below 4"));
      if (el > r.remaining()) return Bad("hello element: overruns the message");
      Reader e(r.Take(el));
      size_t pad = (size_t{el} + 7) / 8 * 8 - el;
      r.Skip(std::min(pad, r.remaining()));
      e.Skip(4);
      if (et == 1 && e.remaining() >= 4) hello.version_bitmap = e.U32();
    }
    msg.body = hello;
    return msg;
  }
  if (h.version != kVersion13) {
    return Bad(absl::StrFormat("%s: unsupported OpenFlow version 0x%02x (Rampart speaks 1.3)",
                               MsgTypeName(h.type), h.version));
  }
  switch (static_cast<MsgType>(h.type)) {
    case MsgType::kError: {
      RETURN_IF_ERROR(r.Need(4, "error"));
      ErrorMsg e;
      e.type = r.U16();
      e.code = r.U16();
      if (e.type == 0xffff) {
        RETURN_IF_ERROR(r.Need(4, "experimenter error"));
        e.experimenter = r.U32();
      }
      auto d = r.Rest();
      e.data.assign(d.begin(), d.end());
      msg.body = std::move(e);
      return msg;
    }
    case MsgType::kEchoRequest: {
      auto d = r.Rest();
      msg.body = EchoRequest{{d.begin(), d.end()}};
      return msg;
    }
    case MsgType::kEchoReply: {
      auto d = r.Rest();
      msg.body = EchoReply{{d.begin(), d.end()}};
      return msg;
    }
    case MsgType::kFeaturesRequest:
      if (r.remaining() != 0) return Bad("features_request: unexpected body");
      msg.body = FeaturesRequest{};
      return msg;
    case MsgType::kFeaturesReply: {
      if (r.remaining() != 24) {
        return Bad(absl::StrCat("features_reply: body is ", r.remaining(), " bytes, expected 24"));
      }
      FeaturesReply f;
      f.datapath_id = r.U64();
      f.n_buffers = r.U32();
      f.n_tables = r.U8();
      f.auxiliary_id = r.U8();
      r.Skip(2);
      f.capabilities = r.U32();
      msg.body = f;
      return msg;
    }
    case MsgType::kSetConfig: {
      if (r.remaining() != 4) {
        return Bad(absl::StrCat("set_config: body is ", r.remaining(), " bytes, expected 4"));
      }
      SetConfig c;
      c.flags = r.U16();
      c.miss_send_len = r.U16();
      msg.body = c;
      return msg;
    }
    case MsgType::kBarrierRequest:
      if (r.remaining() != 0) return Bad("barrier_request: unexpected body");
      msg.body = BarrierRequest{};
      return msg;
    case MsgType::kBarrierReply:
      if (r.remaining() != 0) return Bad("barrier_reply: unexpected body");
      msg.body = BarrierReply{};
      return msg;
    case MsgType::kFlowMod: {
      FlowMod fm;
      ASSIGN_OR_RETURN(fm, DecodeFlowMod(r));
      msg.body = std::move(fm);
      return msg;
    }
    case MsgType::kMultipartRequest:
    case MsgType::kMultipartReply: {
      MessageBody b;
      ASSIGN_OR_RETURN(b, DecodeMultipart(r, h.type == static_cast<uint8_t>(MsgType::kMultipartReply)));
      msg.body = std::move(b);
      return msg;
    }
    case MsgType::kPortStatus: {
      if (r.remaining() != 72) {
        return Bad(absl::StrCat("port_status: body is ", r.remaining(), " bytes, expected 72"));
      }
      PortStatus s;
      uint8_t reason = r.U8();
      if (reason > 2) return Bad(absl::StrCat("port_status: unknown reason ", reason));
      s.reason = static_cast<PortReason>(reason);
      r.Skip(7);
      ASSIGN_OR_RETURN(s.port, DecodePort(r, "port_status port"));
      msg.body = std::move(s);
      return msg;
    }
    case MsgType::kExperimenter: {
      MessageBody b;
      ASSIGN_OR_RETURN(b, DecodeExperimenter(r));
      msg.body = std::move(b);
      return msg;
    }
    default:
      return absl::UnimplementedError(
          absl::StrCat(MsgTypeName(h.type), ": message type not handled by Rampart"));
  }
}

std::string MsgTypeName(uint8_t type) {
  static constexpr std::string_view kNames[] = {
      "OFPT_HELLO", "OFPT_ERROR", "OFPT_ECHO_REQUEST", "OFPT_ECHO_REPLY", "OFPT_EXPERIMENTER",
      "OFPT_FEATURES_REQUEST", "OFPT_FEATURES_REPLY", "OFPT_GET_CONFIG_REQUEST",
      "OFPT_GET_CONFIG_REPLY", "OFPT_SET_CONFIG", "OFPT_PACKET_IN", "OFPT_FLOW_REMOVED",
      "OFPT_PORT_STATUS", "OFPT_PACKET_OUT", "OFPT_FLOW_MOD", "OFPT_GROUP_MOD", "OFPT_PORT_MOD",
      "OFPT_TABLE_MOD", "OFPT_MULTIPART_REQUEST", "OFPT_MULTIPART_REPLY",
      "OFPT_BARRIER_REQUEST", "OFPT_BARRIER_REPLY", "OFPT_QUEUE_GET_CONFIG_REQUEST",
      "OFPT_QUEUE_GET_CONFIG_REPLY", "OFPT_ROLE_REQUEST", "OFPT_ROLE_REPLY",
      "OFPT_GET_ASYNC_REQUEST", "OFPT_GET_ASYNC_REPLY", "OFPT_SET_ASYNC", "OFPT_METER_MOD"};
  if (type < std::size(kNames)) return std::string(kNames[type]);
  return absl::StrCat("OFPT_", static_cast<int>(type));
}

std::string ErrorMsg::ToString() const {
  struct Name {
    uint16_t type;
    std::string_view type_name;
    std::vector<std::string_view> codes;
  };
  static const Name kNames[] = {
      {0, "OFPET_HELLO_FAILED", {"OFPHFC_INCOMPATIBLE", "OFPHFC_EPERM"}},
      {1, "OFPET_BAD_REQUEST",
       {"OFPBRC_BAD_VERSION", "OFPBRC_BAD_TYPE", "OFPBRC_BAD_MULTIPART", "OFPBRC_BAD_EXPERIMENTER",
        "OFPBRC_BAD_EXP_TYPE", "OFPBRC_EPERM", "OFPBRC_BAD_LEN", "OFPBRC_BUFFER_EMPTY",
        "OFPBRC_BUFFER_UNKNOWN", "OFPBRC_BAD_TABLE_ID", "OFPBRC_IS_SLAVE", "OFPBRC_BAD_PORT",
        "OFPBRC_BAD_PACKET", "OFPBRC_MULTIPART_BUFFER_OVERFLOW"}},
      {2, "OFPET_BAD_ACTION",
       {"OFPBAC_BAD_TYPE", "OFPBAC_BAD_LEN", "OFPBAC_BAD_EXPERIMENTER", "OFPBAC_BAD_EXP_TYPE",
        "OFPBAC_BAD_OUT_PORT", "OFPBAC_BAD_ARGUMENT", "OFPBAC_EPERM", "OFPBAC_TOO_MANY",
        "OFPBAC_BAD_QUEUE", "OFPBAC_BAD_OUT_GROUP", "OFPBAC_MATCH_INCONSISTENT",
        "OFPBAC_UNSUPPORTED_ORDER", "OFPBAC_BAD_TAG", "OFPBAC_BAD_SET_TYPE", "OFPBAC_BAD_SET_LEN",
        "OFPBAC_BAD_SET_ARGUMENT"}},
      {3, "OFPET_BAD_INSTRUCTION",
       {"OFPBIC_UNKNOWN_INST", "OFPBIC_UNSUP_INST", "OFPBIC_BAD_TABLE_ID",
        "OFPBIC_UNSUP_METADATA", "OFPBIC_UNSUP_METADATA_MASK", "OFPBIC_BAD_EXPERIMENTER",
        "OFPBIC_BAD_EXP_TYPE", "OFPBIC_BAD_LEN", "OFPBIC_EPERM"}},
      {4, "OFPET_BAD_MATCH",
       {"OFPBMC_BAD_TYPE", "OFPBMC_BAD_LEN", "OFPBMC_BAD_TAG", "OFPBMC_BAD_DL_ADDR_MASK",
        "OFPBMC_BAD_NW_ADDR_MASK", "OFPBMC_BAD_WILDCARDS", "OFPBMC_BAD_FIELD", "OFPBMC_BAD_VALUE",
        "OFPBMC_BAD_MASK", "OFPBMC_BAD_PREREQ", "OFPBMC_DUP_FIELD", "OFPBMC_EPERM"}},
      {5, "OFPET_FLOW_MOD_FAILED",
       {"OFPFMFC_UNKNOWN", "OFPFMFC_TABLE_FULL", "OFPFMFC_BAD_TABLE_ID", "OFPFMFC_OVERLAP",
        "OFPFMFC_EPERM", "OFPFMFC_BAD_TIMEOUT", "OFPFMFC_BAD_COMMAND", "OFPFMFC_BAD_FLAGS"}},
      {6, "OFPET_GROUP_MOD_FAILED", {}},
      {7, "OFPET_PORT_MOD_FAILED", {}},
      {8, "OFPET_TABLE_MOD_FAILED", {}},
      {9, "OFPET_QUEUE_OP_FAILED", {}},
      {10, "OFPET_SWITCH_CONFIG_FAILED", {}},
      {11, "OFPET_ROLE_REQUEST_FAILED", {}},
      {12, "OFPET_METER_MOD_FAILED", {}},
      {13, "OFPET_TABLE_FEATURES_FAILED", {}},
  };
  std::string out;
  if (type == 0xffff) {
    std::string_view exp_name = experimenter == kOnfExperimenter      ? "ONF"
                                : experimenter == kNiciraExperimenter ? "NX"
                                                                      : "experimenter";
    std::string code_name;
    if (experimenter == kOnfExperimenter && code >= 2300 && code <= 2315) {
      static constexpr std::string_view kBundle[] = {
          "UNKNOWN", "EPERM", "BAD_ID", "BUNDLE_EXIST", "BUNDLE_CLOSED", "OUT_OF_BUNDLES",
          "BAD_TYPE", "BAD_FLAGS", "MSG_BAD_LEN", "MSG_BAD_XID", "MSG_UNSUP", "MSG_CONFLICT",
          "MSG_TOO_MANY", "MSG_FAILED", "TIMEOUT", "BUNDLE_IN_PROGRESS"};
      code_name = absl::StrCat("OFPBFC_", std::string(kBundle[code - 2300]), " ");
    }
    out = absl::StrFormat("%s error %s(experimenter 0x%08x, exp_type %d)", exp_name, code_name,
                          experimenter, code);
  } else {
    out = absl::StrFormat("error type %d, code %d", type, code);
    for (const Name& n : kNames) {
      if (n.type != type) continue;
      if (code < n.codes.size()) {
        out = absl::StrFormat("%s/%s (type %d, code %d)", n.type_name, n.codes[code], type, code);
      } else {
        out = absl::StrFormat("%s (type %d, code %d)", n.type_name, type, code);
      }
    }
  }
  if (data.size() >= kHeaderSize) {
    absl::StrAppend(&out, " in reply to ", MsgTypeName(data[1]));
  }
  return out;
}

}  // namespace rampart::ofp
