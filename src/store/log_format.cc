#include "store/log_format.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "xxhash.h"

namespace rampart::store::logfmt {
namespace {

void PutU32(uint32_t v, std::string* out) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
void PutU64(uint64_t v, std::string* out) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutSigned(int64_t v, std::string* out) {
  PutVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63), out);
}
void PutString(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

// Reads fields from a payload; the first failure sticks and names the field.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  // Once a field failed, every later read returns nothing (so no count read after a failure is
  // trusted for an allocation).
  uint64_t Varint(const char* field) {
    if (!ok()) return 0;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) {
        Fail(field, "ends inside a varint");
        return 0;
      }
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      if (shift == 63 && b > 1) {
        Fail(field, "varint overflows 64 bits");
        return 0;
      }
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    Fail(field, "varint longer than 10 bytes");
    return 0;
  }
  int64_t Signed(const char* field) {
    uint64_t v = Varint(field);
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  uint8_t Byte(const char* field) {
    if (!ok()) return 0;
    if (pos_ >= data_.size()) {
      Fail(field, "missing");
      return 0;
    }
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string String(const char* field) {
    uint64_t n = Varint(field);
    if (!ok()) return {};
    if (n > data_.size() - pos_) {
      Fail(field, "string runs past the record");
      return {};
    }
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // A count of items that each take at least `min_item_bytes`: bounded by what is left, so a
  // damaged count cannot make the decoder reserve gigabytes.
  uint64_t Count(const char* field, size_t min_item_bytes) {
    uint64_t n = Varint(field);
    if (!ok()) return 0;
    if (n > (data_.size() - pos_) / min_item_bytes) {
      Fail(field, "count larger than the record");
      return 0;
    }
    return n;
  }
  bool ok() const { return error_.empty(); }
  bool AtEnd() const { return pos_ == data_.size(); }
  const std::string& error() const { return error_; }
  void Fail(const char* field, std::string_view why) {
    if (error_.empty()) error_ = absl::StrCat(field, ": ", std::string(why));
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string error_;
};

void EncodePayload(const Record& r, std::string* out) {
  out->push_back(static_cast<char>(r.type));
  switch (r.type) {
    case RecordType::kFileHeader:
      PutVarint(r.version, out);
      out->push_back(static_cast<char>(r.file_kind));
      PutSigned(r.revision, out);
      break;
    case RecordType::kTxn:
      PutSigned(r.revision, out);
      PutVarint(r.ops.size(), out);
      for (const LogOp& op : r.ops) {
        out->push_back(static_cast<char>(op.kind));
        PutString(op.key, out);
        if (op.kind == LogOp::Kind::kPut) {
          PutString(op.value, out);
          PutSigned(op.lease, out);
        }
      }
      PutVarint(r.revoked_leases.size(), out);
      for (int64_t id : r.revoked_leases) PutSigned(id, out);
      break;
    case RecordType::kLeaseGrant:
    case RecordType::kSnapLease:
      PutSigned(r.lease_id, out);
      PutSigned(r.ttl, out);
      break;
    case RecordType::kSnapMeta:
      PutSigned(r.revision, out);
      PutSigned(r.lease_id, out);
      PutVarint(r.count, out);
      PutVarint(r.count2, out);
      break;
    case RecordType::kSnapKv:
      PutString(r.kv.key, out);
      PutString(r.kv.value, out);
      PutSigned(r.kv.create_revision, out);
      PutSigned(r.kv.mod_revision, out);
      PutSigned(r.kv.version, out);
      PutSigned(r.kv.lease, out);
      break;
    case RecordType::kSnapEnd:
      PutVarint(r.count, out);
      break;
  }
}

uint64_t FrameChecksum(std::string_view payload) {
  return XXH64(payload.data(), payload.size(), payload.size());
}

enum class FrameState { kOk, kTruncated, kBad };

// Reads the frame at `off`. kTruncated: the frame would run past the end of `data`.
FrameState ReadFrame(std::string_view data, uint64_t off, std::string_view* payload, std::string* why) {
  if (data.size() - off < kFrameHeaderSize) {
    *why = absl::StrCat("only ", data.size() - off, " bytes left, less than a record header");
    return FrameState::kTruncated;
  }
  const char* p = data.data() + off;
  if (GetU32(p) != kMagic) {
    *why = "no record magic";
    return FrameState::kBad;
  }
  uint32_t len = GetU32(p + 4);
  if (len > kMaxPayload || len == 0) {
    *why = absl::StrCat("implausible record length ", len);
    return FrameState::kBad;
  }
  if (data.size() - off - kFrameHeaderSize < len) {
    *why = absl::StrCat("record of ", len, " bytes runs past the end of the file");
    return FrameState::kTruncated;
  }
  std::string_view body = data.substr(off + kFrameHeaderSize, len);
  if (FrameChecksum(body) != GetU64(p + 8)) {
    *why = "checksum mismatch";
    return FrameState::kBad;
  }
  *payload = body;
  return FrameState::kOk;
}

}  // namespace

void AppendRecord(const Record& record, std::string* out) {
  size_t start = out->size();
  out->append(kFrameHeaderSize, '\0');
  EncodePayload(record, out);
  std::string_view payload(out->data() + start + kFrameHeaderSize, out->size() - start - kFrameHeaderSize);
  std::string header;
  PutU32(kMagic, &header);
  PutU32(static_cast<uint32_t>(payload.size()), &header);
  PutU64(FrameChecksum(payload), &header);
  std::memcpy(out->data() + start, header.data(), kFrameHeaderSize);
}

absl::StatusOr<Record> DecodePayload(std::string_view payload) {
  Reader in(payload);
  Record r;
  uint8_t type = in.Byte("type");
  switch (type) {
    case static_cast<uint8_t>(RecordType::kFileHeader): {
      r.type = RecordType::kFileHeader;
      r.version = in.Varint("format version");
      uint8_t kind = in.Byte("file kind");
      if (in.ok() && kind != static_cast<uint8_t>(FileKind::kLog) && kind != static_cast<uint8_t>(FileKind::kSnapshot)) {
        in.Fail("file kind", absl::StrCat("unknown value ", kind));
      }
      r.file_kind = static_cast<FileKind>(kind);
      r.revision = in.Signed("base revision");
      break;
    }
    case static_cast<uint8_t>(RecordType::kTxn): {
      r.type = RecordType::kTxn;
      r.revision = in.Signed("revision");
      uint64_t n = in.Count("op count", 2);
      r.ops.reserve(n);
      for (uint64_t i = 0; i < n && in.ok(); ++i) {
        LogOp op;
        uint8_t kind = in.Byte("op kind");
        if (kind == static_cast<uint8_t>(LogOp::Kind::kPut)) {
          op.kind = LogOp::Kind::kPut;
          op.key = in.String("put key");
          op.value = in.String("put value");
          op.lease = in.Signed("put lease");
        } else if (kind == static_cast<uint8_t>(LogOp::Kind::kDelete)) {
          op.kind = LogOp::Kind::kDelete;
          op.key = in.String("delete key");
        } else if (in.ok()) {
          in.Fail("op kind", absl::StrCat("unknown value ", kind));
        }
        r.ops.push_back(std::move(op));
      }
      uint64_t m = in.Count("revoked lease count", 1);
      r.revoked_leases.reserve(m);
      for (uint64_t i = 0; i < m && in.ok(); ++i) r.revoked_leases.push_back(in.Signed("revoked lease"));
      break;
    }
    case static_cast<uint8_t>(RecordType::kLeaseGrant):
    case static_cast<uint8_t>(RecordType::kSnapLease):
      r.type = static_cast<RecordType>(type);
      r.lease_id = in.Signed("lease id");
      r.ttl = in.Signed("lease ttl");
      break;
    case static_cast<uint8_t>(RecordType::kSnapMeta):
      r.type = RecordType::kSnapMeta;
      r.revision = in.Signed("revision");
      r.lease_id = in.Signed("next lease id");
      r.count = in.Varint("key count");
      r.count2 = in.Varint("lease count");
      break;
    case static_cast<uint8_t>(RecordType::kSnapKv):
      r.type = RecordType::kSnapKv;
      r.kv.key = in.String("key");
      r.kv.value = in.String("value");
      r.kv.create_revision = in.Signed("create revision");
      r.kv.mod_revision = in.Signed("mod revision");
      r.kv.version = in.Signed("version");
      r.kv.lease = in.Signed("lease");
      break;
    case static_cast<uint8_t>(RecordType::kSnapEnd):
      r.type = RecordType::kSnapEnd;
      r.count = in.Varint("record count");
      break;
    default:
      if (in.ok()) in.Fail("type", absl::StrCat("unknown record type ", type));
  }
  if (in.ok() && !in.AtEnd()) in.Fail("record", "trailing bytes after the last field");
  if (!in.ok()) return absl::DataLossError(in.error());
  return r;
}

ScanResult ScanRecords(std::string_view data) {
  ScanResult result;
  uint64_t off = 0;
  while (off < data.size()) {
    std::string_view payload;
    std::string why;
    FrameState st = ReadFrame(data, off, &payload, &why);
    if (st == FrameState::kOk) {
      absl::StatusOr<Record> rec = DecodePayload(payload);
      if (!rec.ok()) {
        // The checksum matched, so these are the bytes that were written: not a crash artefact.
        result.tail = ScanResult::Tail::kCorrupt;
        result.bad_offset = off;
        result.next_valid_offset = off;
        result.reason = absl::StrCat("undecodable record: ", rec.status().message());
        return result;
      }
      result.records.push_back({off, *std::move(rec)});
      off += kFrameHeaderSize + payload.size();
      result.valid_end = off;
      continue;
    }
    // A bad frame. Torn (crash mid-append) if nothing valid follows; corrupt otherwise. When the
    // header looks intact, start looking after the frame it claims, so bytes that happen to
    // look like a record inside a torn payload do not count.
    result.bad_offset = off;
    result.reason = why;
    uint64_t from = off + 1;
    if (data.size() - off >= kFrameHeaderSize && GetU32(data.data() + off) == kMagic) {
      uint64_t len = GetU32(data.data() + off + 4);
      if (len <= kMaxPayload && off + kFrameHeaderSize + len <= data.size()) from = off + kFrameHeaderSize + len;
    }
    for (uint64_t p = from; p + kFrameHeaderSize <= data.size(); ++p) {
      if (GetU32(data.data() + p) != kMagic) continue;
      std::string_view later;
      std::string ignored;
      if (ReadFrame(data, p, &later, &ignored) == FrameState::kOk) {
        result.tail = ScanResult::Tail::kCorrupt;
        result.next_valid_offset = p;
        return result;
      }
    }
    result.tail = ScanResult::Tail::kTorn;
    return result;
  }
  return result;
}

}  // namespace rampart::store::logfmt
