#include "records/wire.h"

#include <algorithm>
#include <cstring>

namespace rampart::records {

namespace {

// Field tags of agent.v1 (field number << 3 | wire type).
constexpr char kTagTable = 0x0a;         // Record.table = 1, length-delimited
constexpr char kTagValue = 0x12;         // Record.values = 2, length-delimited
constexpr char kTagRevision = 0x08;      // Snapshot.revision = 1, varint
constexpr char kTagRecord = 0x12;        // Snapshot.records = 2, length-delimited
constexpr char kTagMore = 0x18;          // Snapshot.more = 3, varint

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

char* PutString(char* p, char tag, std::string_view s) {
  *p++ = tag;
  p = PutVarint(p, s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

size_t StringFieldSize(std::string_view s) { return 1 + VarintSize(s.size()) + s.size(); }

}  // namespace

void EncodedRows::Add(std::string_view table, const std::string_view* values, size_t n) {
  size_t body = table.empty() ? 0 : StringFieldSize(table);  // proto3: "" is not written
  for (size_t i = 0; i < n; ++i) body += StringFieldSize(values[i]);  // repeated: "" is
  const size_t at = bytes_.size();
  bytes_.resize(at + 1 + VarintSize(body) + body);
  char* p = bytes_.data() + at;
  *p++ = kTagRecord;
  p = PutVarint(p, body);
  if (!table.empty()) p = PutString(p, kTagTable, table);
  for (size_t i = 0; i < n; ++i) p = PutString(p, kTagValue, values[i]);
  ends_.push_back(static_cast<uint32_t>(bytes_.size()));
}

void EncodedRows::Add(const Record& r) {
  std::vector<std::string_view> v(r.values.begin(), r.values.end());
  Add(r.table, v.data(), v.size());
}

SnapshotEncoder::SnapshotEncoder(uint64_t revision, size_t chunk_rows) : chunk_rows_(chunk_rows ? chunk_rows : 1) {
  out_.revision = revision;
  if (revision != 0) {
    header_.resize(1 + VarintSize(revision));
    header_[0] = kTagRevision;
    PutVarint(header_.data() + 1, revision);
  }
  StartChunk();
}

void SnapshotEncoder::StartChunk() {
  out_.chunks.emplace_back(header_);
  in_chunk_ = 0;
}

void SnapshotEncoder::AddRows(const EncodedRows& rows, size_t begin, size_t end) {
  while (begin < end) {
    if (in_chunk_ == chunk_rows_) StartChunk();
    const size_t take = std::min(end - begin, chunk_rows_ - in_chunk_);
    out_.chunks.back().append(rows.Bytes(begin, begin + take));
    in_chunk_ += take;
    out_.rows += take;
    begin += take;
  }
}

EncodedSnapshot SnapshotEncoder::Finish() && {
  for (size_t i = 0; i + 1 < out_.chunks.size(); ++i) {
    out_.chunks[i].push_back(kTagMore);
    out_.chunks[i].push_back(1);
  }
  return std::move(out_);
}

}  // namespace rampart::records
