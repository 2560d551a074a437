#include "ovs/ofp_flow.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rampart::ofp {
namespace {

constexpr FieldInfo kFieldInfos[] = {
#define RAMPART_OFP_FIELD_INFO(e, name, cls, fld, len, maskable, fmt) \
  {Field::e, name, cls, fld, len, maskable, FieldFormat::fmt},
    RAMPART_OFP_FIELDS(RAMPART_OFP_FIELD_INFO)
#undef RAMPART_OFP_FIELD_INFO
};
constexpr size_t kNumFields = sizeof(kFieldInfos) / sizeof(kFieldInfos[0]);

void Die(const char* what) {
  std::fprintf(stderr, "ofp_flow: %s\n", what);
  std::abort();
}

void PutUintBe(uint8_t* out, size_t len, uint64_t v) {
  for (size_t i = 0; i < len; ++i) out[len - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t GetUintBe(const uint8_t* in, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; ++i) v = (v << 8) | in[i];
  return v;
}

// Length of the leading run of one bits if `mask` is a prefix mask, else -1.
int PrefixLen(const uint8_t* mask, size_t len) {
  int bits = 0;
  size_t i = 0;
  for (; i < len && mask[i] == 0xff; ++i) bits += 8;
  if (i < len) {
    uint8_t b = mask[i];
    while (b & 0x80) {
      ++bits;
      b = static_cast<uint8_t>(b << 1);
    }
    if (b != 0) return -1;
    for (++i; i < len; ++i) {
      if (mask[i] != 0) return -1;
    }
  }
  return bits;
}

std::string Ipv4ToString(const uint8_t* b) {
  return absl::StrFormat("%d.%d.%d.%d", b[0], b[1], b[2], b[3]);
}

std::string Ipv6ToString(const uint8_t* b) { return Ip::V6(b).ToString(); }

std::string FormatValue(const FieldInfo& info, const uint8_t* v) {
  switch (info.format) {
    case FieldFormat::kDec:
      return absl::StrCat(GetUintBe(v, info.length));
    case FieldFormat::kHex:
      if (info.field == Field::kEthType) return absl::StrFormat("0x%04x", GetUintBe(v, 2));
      return absl::StrFormat("0x%x", GetUintBe(v, info.length));
    case FieldFormat::kMac:
      return MacToString(v);
    case FieldFormat::kIpv4:
      return Ipv4ToString(v);
    case FieldFormat::kIpv6:
      return Ipv6ToString(v);
    case FieldFormat::kPacketType:  // OF1.5 packet_type (namespace, ns_type), e.g. (0,0x800)
      return absl::StrFormat("(%d,0x%x)", GetUintBe(v, 2), GetUintBe(v + 2, 2));
  }
  return "?";
}

std::string PortName(uint32_t port) {
  switch (port) {
    case kPortInPort: return "IN_PORT";
    case kPortTable: return "TABLE";
    case kPortNormal: return "NORMAL";
    case kPortFlood: return "FLOOD";
    case kPortAll: return "ALL";
    case kPortController: return "CONTROLLER";
    case kPortLocal: return "LOCAL";
    case kPortAny: return "ANY";
    default: return absl::StrCat(port);
  }
}

std::string FormatMatchField(const MatchField& mf) {
  const FieldInfo& info = GetFieldInfo(mf.field);
  if (mf.field == Field::kInPort && mf.ValueAsUint() >= kPortMax) {
    return absl::StrCat(info.name, "=", PortName(static_cast<uint32_t>(mf.ValueAsUint())));
  }
  std::string out = absl::StrCat(info.name, "=", FormatValue(info, mf.value.data()));
  if (mf.has_mask) {
    int plen = PrefixLen(mf.mask.data(), info.length);
    if ((info.format == FieldFormat::kIpv4 || info.format == FieldFormat::kIpv6) && plen >= 0) {
      absl::StrAppend(&out, "/", plen);
    } else {
      absl::StrAppend(&out, "/", FormatValue(info, mf.mask.data()));
    }
  }
  return out;
}

}  // namespace

const FieldInfo& GetFieldInfo(Field f) {
  size_t i = static_cast<size_t>(f);
  if (i >= kNumFields) Die("field out of range");
  return kFieldInfos[i];
}

std::optional<Field> FieldFromOxm(uint16_t oxm_class, uint8_t oxm_field) {
  for (const FieldInfo& fi : kFieldInfos) {
    if (fi.oxm_class == oxm_class && fi.oxm_field == oxm_field) return fi.field;
  }
  return std::nullopt;
}

std::optional<Field> FieldFromNxm(uint16_t nxm_class, uint8_t nxm_field) {
  // Older NXM names of OXM fields, as OVS writes them in Nicira actions (reg_move) even in
  // OpenFlow 1.3 replies. Only fields whose NXM and OXM encodings have the same length.
  struct Alias { uint16_t cls; uint8_t fld; Field field; };
  static constexpr Alias kAliases[] = {
      {0x0000, 1, Field::kEthDst},   {0x0000, 2, Field::kEthSrc},   {0x0000, 3, Field::kEthType},
      {0x0000, 6, Field::kIpProto},  {0x0000, 7, Field::kIpv4Src},  {0x0000, 8, Field::kIpv4Dst},
      {0x0000, 9, Field::kTcpSrc},   {0x0000, 10, Field::kTcpDst},  {0x0000, 11, Field::kUdpSrc},
      {0x0000, 12, Field::kUdpDst},  {0x0000, 13, Field::kIcmpv4Type}, {0x0000, 14, Field::kIcmpv4Code},
      {0x0000, 15, Field::kArpOp},   {0x0000, 16, Field::kArpSpa},  {0x0000, 17, Field::kArpTpa},
      {0x0001, 16, Field::kTunnelId}, {0x0001, 17, Field::kArpSha}, {0x0001, 18, Field::kArpTha},
      {0x0001, 19, Field::kIpv6Src}, {0x0001, 20, Field::kIpv6Dst},
      {0x0001, 23, Field::kNdTarget}, {0x0001, 24, Field::kNdSll},  {0x0001, 25, Field::kNdTll},
  };
  for (const Alias& a : kAliases) {
    if (a.cls == nxm_class && a.fld == nxm_field) return a.field;
  }
  return std::nullopt;
}

Field RegField(int n) {
  if (n < 0 || n > 15) Die("register number out of range");
  return static_cast<Field>(static_cast<int>(Field::kReg0) + n);
}

uint64_t MatchField::ValueAsUint() const {
  const FieldInfo& info = GetFieldInfo(field);
  return GetUintBe(value.data(), std::min<size_t>(info.length, 8));
}

std::string MacToString(const uint8_t* m) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

absl::Status Match::Set(Field field, const uint8_t* value, size_t len, const uint8_t* mask) {
  const FieldInfo& info = GetFieldInfo(field);
  if (len != info.length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "match field %s: value is %d bytes, expected %d", info.name, len, info.length));
  }
  MatchField mf;
  mf.field = field;
  std::copy(value, value + len, mf.value.begin());
  if (mask != nullptr) {
    bool all_ones = std::all_of(mask, mask + len, [](uint8_t b) { return b == 0xff; });
    bool all_zero = std::all_of(mask, mask + len, [](uint8_t b) { return b == 0; });
    if (!all_ones && !info.maskable) {
      return absl::InvalidArgumentError(
          absl::StrFormat("match field %s cannot be masked", info.name));
    }
    if (all_zero) {
      auto it = std::lower_bound(fields_.begin(), fields_.end(), field,
                                 [](const MatchField& a, Field f) { return a.field < f; });
      if (it != fields_.end() && it->field == field) fields_.erase(it);
      return absl::OkStatus();
    }
    if (!all_ones) {
      mf.has_mask = true;
      for (size_t i = 0; i < len; ++i) {
        mf.mask[i] = mask[i];
        mf.value[i] &= mask[i];
      }
    }
  }
  auto it = std::lower_bound(fields_.begin(), fields_.end(), field,
                             [](const MatchField& a, Field f) { return a.field < f; });
  if (it != fields_.end() && it->field == field) {
    *it = mf;
  } else {
    fields_.insert(it, mf);
  }
  return absl::OkStatus();
}

absl::Status Match::SetUint(Field field, uint64_t value, std::optional<uint64_t> mask) {
  const FieldInfo& info = GetFieldInfo(field);
  if (info.length > 8) {
    return absl::InvalidArgumentError(
        absl::StrFormat("match field %s is not an integer field", info.name));
  }
  uint8_t v[8], m[8];
  PutUintBe(v, info.length, value);
  if (mask) PutUintBe(m, info.length, *mask);
  return Set(field, v, info.length, mask ? m : nullptr);
}

const MatchField* Match::Find(Field f) const {
  for (const MatchField& mf : fields_) {
    if (mf.field == f) return &mf;
  }
  return nullptr;
}

static void CheckOk(const absl::Status& s) {
  if (!s.ok()) Die(std::string(s.message()).c_str());
}

Match& Match::InPort(uint32_t port) { return Uint(Field::kInPort, port); }
Match& Match::EthType(uint16_t type) { return Uint(Field::kEthType, type); }
Match& Match::EthSrc(const Mac& mac, std::optional<Mac> mask) {
  CheckOk(Set(Field::kEthSrc, mac.data(), 6, mask ? mask->data() : nullptr));
  return *this;
}
Match& Match::EthDst(const Mac& mac, std::optional<Mac> mask) {
  CheckOk(Set(Field::kEthDst, mac.data(), 6, mask ? mask->data() : nullptr));
  return *this;
}
Match& Match::VlanVid(uint16_t vid, std::optional<uint16_t> mask) {
  return Uint(Field::kVlanVid, vid, mask ? std::optional<uint64_t>(*mask) : std::nullopt);
}
Match& Match::IpProto(uint8_t proto) { return Uint(Field::kIpProto, proto); }
Match& Match::Ipv4Src(uint32_t addr, int len) {
  uint32_t mask = len <= 0 ? 0 : (len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1));
  return Uint(Field::kIpv4Src, addr, mask);
}
Match& Match::Ipv4Dst(uint32_t addr, int len) {
  uint32_t mask = len <= 0 ? 0 : (len >= 32 ? 0xffffffffu : ~((1u << (32 - len)) - 1));
  return Uint(Field::kIpv4Dst, addr, mask);
}
static void V6Mask(int len, uint8_t out[16]) {
  for (int i = 0; i < 16; ++i) {
    int bits = std::clamp(len - 8 * i, 0, 8);
    out[i] = static_cast<uint8_t>(0xff00 >> bits);
  }
}
Match& Match::Ipv6Src(const Ip& addr, int len) {
  uint8_t v[16], m[16];
  addr.ToBytes(v);
  V6Mask(len, m);
  CheckOk(Set(Field::kIpv6Src, v, 16, m));
  return *this;
}
Match& Match::Ipv6Dst(const Ip& addr, int len) {
  uint8_t v[16], m[16];
  addr.ToBytes(v);
  V6Mask(len, m);
  CheckOk(Set(Field::kIpv6Dst, v, 16, m));
  return *this;
}
Match& Match::NdTarget(const Ip& addr) {
  if (addr.IsV4()) Die("NdTarget: an IPv4 address");
  uint8_t v[16];
  addr.ToBytes(v);
  CheckOk(Set(Field::kNdTarget, v, 16));
  return *this;
}
Match& Match::Uint(Field field, uint64_t value, std::optional<uint64_t> mask) {
  CheckOk(SetUint(field, value, mask));
  return *this;
}
Match& Match::Reg(int n, uint32_t value, std::optional<uint32_t> mask) {
  return Uint(RegField(n), value, mask ? std::optional<uint64_t>(*mask) : std::nullopt);
}

std::string Match::ToString() const {
  std::string out;
  for (const MatchField& mf : fields_) {
    if (!out.empty()) out += ",";
    out += FormatMatchField(mf);
  }
  return out;
}

Action Action::Output(uint32_t port) {
  Action a;
  a.type = Type::kOutput;
  a.port = port;
  return a;
}
Action Action::Controller(uint16_t max_len) {
  Action a = Output(kPortController);
  a.max_len = max_len;
  return a;
}
Action Action::Group(uint32_t group_id) {
  Action a;
  a.type = Type::kGroup;
  a.group_id = group_id;
  return a;
}
Action Action::PushVlan(uint16_t ethertype) {
  Action a;
  a.type = Type::kPushVlan;
  a.ethertype = ethertype;
  return a;
}
Action Action::DecNwTtl() {
  Action a;
  a.type = Type::kDecNwTtl;
  return a;
}

Action Action::PopVlan() {
  Action a;
  a.type = Type::kPopVlan;
  return a;
}
Action Action::SetField(Field field, uint64_t value) {
  const FieldInfo& info = GetFieldInfo(field);
  if (info.length > 8) Die("SetField: use SetFieldBytes for fields over 8 bytes");
  uint8_t v[8];
  PutUintBe(v, info.length, value);
  return SetFieldBytes(field, v, info.length);
}
Action Action::SetFieldBytes(Field field, const uint8_t* value, size_t len) {
  const FieldInfo& info = GetFieldInfo(field);
  if (len != info.length) Die("SetFieldBytes: wrong length");
  Action a;
  a.type = Type::kSetField;
  a.field.field = field;
  std::copy(value, value + len, a.field.value.begin());
  return a;
}
Action Action::Resubmit(uint32_t port, uint8_t table) {
  Action a;
  a.type = Type::kResubmit;
  a.port = port;
  a.table = table;
  return a;
}
Action Action::Move(RegMove move) {
  Action a;
  a.type = Type::kRegMove;
  a.move = move;
  return a;
}

std::string Action::ToString() const {
  switch (type) {
    case Type::kOutput:
      if (port == kPortController) return absl::StrCat("CONTROLLER:", max_len);
      if (port == kPortInPort || port == kPortNormal || port == kPortFlood || port == kPortAll ||
          port == kPortLocal || port == kPortTable) {
        return PortName(port);
      }
      return absl::StrCat("output:", port);
    case Type::kGroup:
      return absl::StrCat("group:", group_id);
    case Type::kPushVlan:
      return absl::StrFormat("push_vlan:0x%04x", ethertype);
    case Type::kPopVlan:
      return "pop_vlan";
    case Type::kDecNwTtl:
      return "dec_ttl";
    case Type::kSetField: {
      const FieldInfo& info = GetFieldInfo(field.field);
      return absl::StrCat("set_field:", FormatValue(info, field.value.data()), "->", info.name);
    }
    case Type::kResubmit: {
      std::string p = port == kPortInPort ? "" : PortName(port);
      std::string t = table == 0xff ? "" : absl::StrCat(table);
      return absl::StrCat("resubmit(", p, ",", t, ")");
    }
    case Type::kRegMove: {
      // In a subfield, ovs-ofctl's "in_port" is the 16-bit OpenFlow 1.0 field; the 32-bit
      // OXM one is "in_port_oxm".
      auto name = [](Field f) -> std::string {
        return f == Field::kInPort ? "in_port_oxm" : GetFieldInfo(f).name;
      };
      return absl::StrFormat("move:%s[%d..%d]->%s[%d..%d]", name(move.src), move.src_ofs,
                             move.src_ofs + move.n_bits - 1, name(move.dst), move.dst_ofs,
                             move.dst_ofs + move.n_bits - 1);
    }
  }
  return "?";
}

std::string Instructions::ToString() const {
  std::string out;
  auto add = [&out](const std::string& s) {
    if (!out.empty()) out += ",";
    out += s;
  };
  for (const Action& a : apply) add(a.ToString());
  if (write_metadata) {
    add(absl::StrFormat("write_metadata:0x%x/0x%x", write_metadata->value, write_metadata->mask));
  }
  if (goto_table) add(absl::StrCat("goto_table:", *goto_table));
  if (out.empty()) out = "drop";
  return out;
}

std::string Flow::ToString() const {
  std::string out = absl::StrFormat("cookie=0x%x,table=%d,priority=%d", cookie, table, priority);
  if (!match.empty()) absl::StrAppend(&out, ",", match.ToString());
  absl::StrAppend(&out, " actions=", instructions.ToString());
  return out;
}

}  // namespace rampart::ofp
