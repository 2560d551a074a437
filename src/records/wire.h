// Records in the stream's wire form, written without the protobuf runtime: the bytes protobuf
// writes for proto/rampart/agent.proto's `Record` and `Snapshot` messages. The controller builds
// snapshots from these (docs/stream.md, "Encoded snapshots"): a datapath's flows are the same
// bytes on every host of that datapath, so the physical stage encodes them once and every host's
// snapshot is a copy of byte ranges instead of millions of std::string and protobuf objects.
//
//   records::EncodedRows rows;                     // a block of encoded records, reusable
//   rows.Add("Flow", {"t", "ls1", ...});
//   records::SnapshotEncoder enc(revision, 4096);  // <= 4096 records per message
//   enc.AddRows(rows, 0, rows.size());
//   records::EncodedSnapshot snap = std::move(enc).Finish();   // serialized Snapshot messages
//
// The encoding equals protobuf's serialization of the same message (field order, proto3
// defaults omitted: an empty table name and a zero revision are not written, `more` only when
// true); test/stream/stream_test.cc checks it byte for byte against libprotobuf.
#ifndef RAMPART_RECORDS_WIRE_H_
#define RAMPART_RECORDS_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "records/records.h"

namespace rampart::records {

// A sequence of encoded records: each is a `records` field of agent.v1.Snapshot (tag 2, length,
// the Record message), so any range of them can be pasted into a Snapshot message as is.
class EncodedRows {
 public:
  // Appends one record: `table` and the column values.
  void Add(std::string_view table, const std::string_view* values, size_t n);
  void Add(std::string_view table, std::initializer_list<std::string_view> values) {
    Add(table, values.begin(), values.size());
  }
  void Add(const Record& r);

  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  // Bytes of rows [begin, end).
  std::string_view Bytes(size_t begin, size_t end) const {
    const size_t from = begin == 0 ? 0 : ends_[begin - 1];
    const size_t to = end == 0 ? 0 : ends_[end - 1];
    return std::string_view(bytes_).substr(from, to - from);
  }
  size_t ByteSize() const { return bytes_.size(); }
  // Heap bytes held (for memory accounting).
  size_t MemoryBytes() const { return bytes_.capacity() + ends_.capacity() * sizeof(uint32_t); }
  void Clear() {
    bytes_.clear();
    ends_.clear();
  }

 private:
  std::string bytes_;
  std::vector<uint32_t> ends_;  // ends_[i] = end offset of row i in bytes_
};

// A host's snapshot as the stream sends it: each chunk is one serialized agent.v1.Snapshot
// message (revision, at most the encoder's chunk_rows records, `more` on all but the last).
// At least one chunk, also when there are no rows.
struct EncodedSnapshot {
  uint64_t revision = 0;
  size_t rows = 0;
  std::vector<std::string> chunks;
};

// Builds an EncodedSnapshot from encoded rows, splitting it into messages of chunk_rows rows.
class SnapshotEncoder {
 public:
  SnapshotEncoder(uint64_t revision, size_t chunk_rows);
  // Appends rows [begin, end) of `rows`.
  void AddRows(const EncodedRows& rows, size_t begin, size_t end);
  void AddRows(const EncodedRows& rows) { AddRows(rows, 0, rows.size()); }
  size_t rows() const { return out_.rows; }
  EncodedSnapshot Finish() &&;

 private:
  void StartChunk();
  size_t chunk_rows_;
  size_t in_chunk_ = 0;  // rows in the last chunk
  std::string header_;   // the revision field
  EncodedSnapshot out_;
};

}  // namespace rampart::records

#endif  // RAMPART_RECORDS_WIRE_H_
