// Export/Import of a table's entries (VM migration). Format: docs/conntrack.md "Export format".
//
//   header (16 bytes): "RPCT" | version u16 = 1 | record_size u16 = 128 | count u32 | 0 u32
//   count records of 128 bytes (big-endian fields, layout in kRec* offsets below)
//   trailer: XXH64 (seed 0) of header + records, u64 big-endian
#include <algorithm>
#include <cstring>
#include <vector>

#include <xxhash.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "conntrack/internal.h"

namespace rampart {

using ct_internal::kV6Bit;
using ct_internal::LKey;
using ct_internal::RecBody;

namespace {

constexpr uint8_t kMagic[4] = {'R', 'P', 'C', 'T'};
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderSize = 16;
constexpr size_t kRecSize = 128;
constexpr size_t kTrailerSize = 8;
constexpr uint64_t kSec = 1000000000ull;

// Record field offsets.
constexpr size_t kRecFamily = 0, kRecProto = 1, kRecState = 2, kRecFlags = 3, kRecAction = 4,
                 kRecScale = 5 /*2*/, kRecTdFlags = 7 /*2*/, kRecReserved = 9 /*3*/,
                 kRecSport = 12, kRecDport = 14, kRecSrc = 16, kRecDst = 32, kRecRuleId = 48,
                 kRecGeneration = 52, kRecFirstAge = 56, kRecLastAge = 64, kRecPackets = 72 /*2x8*/,
                 kRecBytes = 88 /*2x8*/, kRecTdEnd = 104 /*2x4*/, kRecTdMaxend = 112 /*2x4*/,
                 kRecTdMaxwin = 120 /*2x4*/;
static_assert(kRecTdMaxwin + 8 == kRecSize);

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

bool StateValidFor(uint8_t family, uint8_t proto, ConnState s) {
  const bool icmp = (family == 4 && proto == kProtoIcmp) || (family == 6 && proto == kProtoIcmpV6);
  if (proto == kProtoTcp) return s >= ConnState::kTcpSynSent && s <= ConnState::kTcpSynSent2;
  if (proto == kProtoUdp) return s >= ConnState::kUdpUnreplied && s <= ConnState::kUdpAssured;
  if (icmp) return s == ConnState::kIcmpUnreplied || s == ConnState::kIcmpReplied;
  return s == ConnState::kOtherUnreplied || s == ConnState::kOtherReplied;
}

struct Decoded {
  ConnInfo info;
  uint64_t first_age = 0;
  uint64_t last_age = 0;
};

absl::Status RecordError(size_t i, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("conntrack import: record ", i, ": ", what));
}

}  // namespace

std::vector<uint8_t> ConnTable::Export(uint64_t now_ns) const {
  const Impl& t = *impl_;
  std::vector<uint8_t> out(kHeaderSize + kRecSize * t.size + kTrailerSize, 0);
  std::memcpy(out.data(), kMagic, 4);
  Put16(&out[4], kVersion);
  Put16(&out[6], kRecSize);
  Put32(&out[8], static_cast<uint32_t>(t.size));
  Put32(&out[12], 0);
  size_t n = 0;
  ForEach(ConnFilter{}, [&](ConnHandle, const ConnInfo& c) {
    uint8_t* r = &out[kHeaderSize + kRecSize * n++];
    r[kRecFamily] = c.key.family;
    r[kRecProto] = c.key.proto;
    r[kRecState] = static_cast<uint8_t>(c.state);
    r[kRecFlags] = c.flags;
    r[kRecAction] = static_cast<uint8_t>(c.verdict.action);
    Put16(r + kRecSport, c.key.sport);
    Put16(r + kRecDport, c.key.dport);
    c.key.src.ToBytes(r + kRecSrc);
    c.key.dst.ToBytes(r + kRecDst);
    Put32(r + kRecRuleId, c.verdict.rule_id);
    Put32(r + kRecGeneration, c.verdict.generation);
    Put64(r + kRecFirstAge, now_ns > c.first_seen_ns ? now_ns - c.first_seen_ns : 0);
    Put64(r + kRecLastAge, now_ns > c.last_seen_ns ? now_ns - c.last_seen_ns : 0);
    for (int d = 0; d < 2; ++d) {
      r[kRecScale + d] = c.tcp[d].scale;
      r[kRecTdFlags + d] = c.tcp[d].flags;
      Put64(r + kRecPackets + 8 * d, c.packets[d]);
      Put64(r + kRecBytes + 8 * d, c.bytes[d]);
      Put32(r + kRecTdEnd + 4 * d, c.tcp[d].end);
      Put32(r + kRecTdMaxend + 4 * d, c.tcp[d].maxend);
      Put32(r + kRecTdMaxwin + 4 * d, c.tcp[d].maxwin);
    }
  });
  const size_t body = kHeaderSize + kRecSize * n;
  Put64(&out[body], XXH64(out.data(), body, 0));
  return out;
}

absl::StatusOr<ImportStats> ConnTable::Import(std::span<const uint8_t> blob, uint64_t now_ns) {
  Impl& t = *impl_;
  // ---- validate everything first; nothing is changed until the whole blob is known good.
  if (blob.size() < kHeaderSize + kTrailerSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conntrack import: blob is ", blob.size(), " bytes, shorter than the ",
        kHeaderSize + kTrailerSize, "-byte header and checksum"));
  }
  const uint8_t* p = blob.data();
  if (std::memcmp(p, kMagic, 4) != 0) {
    return absl::InvalidArgumentError("conntrack import: bad magic (not a Rampart conntrack export)");
  }
  const uint16_t version = Get16(p + 4);
  if (version != kVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conntrack import: unsupported version ", version, " (this build reads version ", kVersion, ")"));
  }
  const uint16_t rec_size = Get16(p + 6);
  if (rec_size != kRecSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conntrack import: record size ", rec_size, ", expected ", kRecSize));
  }
  const uint64_t count = Get32(p + 8);
  if (Get32(p + 12) != 0) {
    return absl::InvalidArgumentError("conntrack import: reserved header field is not zero");
  }
  const uint64_t expect = kHeaderSize + kRecSize * count + kTrailerSize;
  if (blob.size() != expect) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conntrack import: length ", blob.size(), " bytes does not match ", count,
        " records (expected ", expect, ")"));
  }
  const size_t body = kHeaderSize + kRecSize * count;
  const uint64_t want = Get64(p + body);
  const uint64_t got = XXH64(p, body, 0);
  if (want != got) {
    return absl::InvalidArgumentError("conntrack import: checksum mismatch (blob corrupted)");
  }

  std::vector<Decoded> recs(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* r = p + kHeaderSize + kRecSize * i;
    Decoded& d = recs[i];
    ConnInfo& c = d.info;
    c.key.family = r[kRecFamily];
    if (c.key.family != 4 && c.key.family != 6) {
      return RecordError(i, absl::StrCat("family ", c.key.family, " is not 4 or 6"));
    }
    c.key.proto = r[kRecProto];
    c.key.src = Ip::V6(r + kRecSrc);
    c.key.dst = Ip::V6(r + kRecDst);
    if (c.key.family == 4 && (!c.key.src.IsV4() || !c.key.dst.IsV4())) {
      return RecordError(i, "IPv4 record with a non-IPv4-mapped address");
    }
    c.key.sport = Get16(r + kRecSport);
    c.key.dport = Get16(r + kRecDport);
    const uint8_t st = r[kRecState];
    if (st >= static_cast<uint8_t>(ConnState::kCount) ||
        !StateValidFor(c.key.family, c.key.proto, static_cast<ConnState>(st))) {
      return RecordError(i, absl::StrCat("state ", st, " is not valid for protocol ", c.key.proto));
    }
    c.state = static_cast<ConnState>(st);
    c.flags = r[kRecFlags];
    if (r[kRecAction] > static_cast<uint8_t>(Action::kRedirect)) {
      return RecordError(i, absl::StrCat("unknown action ", r[kRecAction]));
    }
    c.verdict.action = static_cast<Action>(r[kRecAction]);
    if (r[kRecReserved] || r[kRecReserved + 1] || r[kRecReserved + 2]) {
      return RecordError(i, "reserved bytes are not zero");
    }
    c.verdict.rule_id = Get32(r + kRecRuleId);
    c.verdict.generation = Get32(r + kRecGeneration);
    d.first_age = Get64(r + kRecFirstAge);
    d.last_age = Get64(r + kRecLastAge);
    if (d.last_age > d.first_age + kSec) {  // first_seen has second resolution
      return RecordError(i, "last-seen age is older than first-seen age");
    }
    for (int s = 0; s < 2; ++s) {
      c.packets[s] = Get64(r + kRecPackets + 8 * s);
      c.bytes[s] = Get64(r + kRecBytes + 8 * s);
      c.tcp[s].scale = r[kRecScale + s];
      c.tcp[s].flags = r[kRecTdFlags + s];
      c.tcp[s].end = Get32(r + kRecTdEnd + 4 * s);
      c.tcp[s].maxend = Get32(r + kRecTdMaxend + 4 * s);
      c.tcp[s].maxwin = Get32(r + kRecTdMaxwin + 4 * s);
      if (c.tcp[s].scale > 14) {
        return RecordError(i, absl::StrCat("window scale ", c.tcp[s].scale, " exceeds 14"));
      }
    }
  }
  // Duplicate connections inside the blob (either orientation).
  {
    std::vector<std::pair<uint64_t, size_t>> hs(count);
    for (size_t i = 0; i < count; ++i) {
      const ConnKey& k = recs[i].info.key;
      LKey lk{k.family, k.proto, k.sport, k.dport, k.src, k.dst};
      hs[i] = {ct_internal::HashKey(lk, t.seed), i};
    }
    std::sort(hs.begin(), hs.end());
    for (size_t i = 1; i < count; ++i) {
      for (size_t j = i; j > 0 && hs[j - 1].first == hs[i].first; --j) {
        const ConnKey& a = recs[hs[i].second].info.key;
        const ConnKey& b = recs[hs[j - 1].second].info.key;
        const bool same = a.family == b.family && a.proto == b.proto &&
                          ((a.src == b.src && a.dst == b.dst && a.sport == b.sport && a.dport == b.dport) ||
                           (a.src == b.dst && a.dst == b.src && a.sport == b.dport && a.dport == b.sport));
        if (same) {
          return RecordError(std::max(hs[i].second, hs[j - 1].second),
                             absl::StrCat("duplicate connection ", a.ToString()));
        }
      }
    }
  }
  // Room under the limits for the entries that are not replacements.
  uint64_t replaced = 0;
  for (const Decoded& d : recs) {
    if (Find(d.info.key).has_value()) ++replaced;
  }
  const uint64_t fresh = count - replaced;
  if (t.size + fresh > t.opt.max_connections) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "conntrack import: ", fresh, " new entries do not fit (", t.size, " of ",
        t.opt.max_connections, " in use)"));
  }
  if (t.opt.instance_budget != nullptr && fresh > 0 && !t.opt.instance_budget->TryAcquire(fresh)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "conntrack import: the instance connection budget has no room for ", fresh, " entries"));
  }

  // ---- apply. Nothing below can fail.
  for (const Decoded& d : recs) {
    const ConnInfo& c = d.info;
    LKey k{c.key.family, c.key.proto, c.key.sport, c.key.dport, c.key.src, c.key.dst};
    const uint64_t h = ct_internal::HashKey(k, t.seed);
    const uint32_t h32 = static_cast<uint32_t>(h >> 32);
    int orient = 0;
    int64_t pos = t.FindSlot(k, h32, &orient);
    if (pos >= 0) t.RemoveAtSlot(pos, /*release_budget=*/false, /*expired=*/false);
    t.EnsureIndexRoom();
    const uint32_t ref = t.AllocRecord(c.key.family);
    if (ref == ct_internal::kNoNext) std::abort();
    RecBody& b = t.Body(ref);
    std::memset(&b, 0, sizeof(b));
    if (ref & kV6Bit) {
      auto& r = t.v6[ref & ~kV6Bit];
      r.src = c.key.src;
      r.dst = c.key.dst;
      r.pad_ = 0;
    } else {
      t.v4[ref].src = c.key.src.V4Addr();
      t.v4[ref].dst = c.key.dst.V4Addr();
    }
    b.sport = c.key.sport;
    b.dport = c.key.dport;
    b.proto = c.key.proto;
    b.state = static_cast<uint8_t>(c.state);
    b.action = static_cast<uint8_t>(c.verdict.action);
    b.rule_id = c.verdict.rule_id;
    b.generation = c.verdict.generation;
    b.flags = c.flags | kConnFlagImported;
    const uint64_t first = now_ns > d.first_age ? now_ns - d.first_age : 0;
    b.first_seen_s = static_cast<uint32_t>(first / kSec);
    b.last_seen_ns = now_ns > d.last_age ? now_ns - d.last_age : 0;
    for (int s = 0; s < 2; ++s) {
      b.packets[s] = c.packets[s];
      b.bytes[s] = c.bytes[s];
      b.td_end[s] = c.tcp[s].end;
      b.td_maxend[s] = c.tcp[s].maxend;
      b.td_maxwin[s] = c.tcp[s].maxwin;
      b.td_scale[s] = c.tcp[s].scale;
      b.td_flags[s] = c.tcp[s].flags;
    }
    t.InsertIndex(h32, ref);
    ++t.size;
    ++t.stats.created;
  }
  ImportStats st;
  st.imported = count;
  st.replaced = replaced;
  return st;
}

}  // namespace rampart
