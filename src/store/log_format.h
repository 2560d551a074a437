// The embedded store's on-disk records (docs/store.md). Private to the store.
//
// Every file (log-<rev>, snapshot-<rev>) is a sequence of framed records:
//   u32 magic "RMPL" | u32 payload length | u64 XXH64(payload, seed = length) | payload
// all little-endian. A payload starts with its type byte; integers are LEB128 varints (signed ones
// zigzag-encoded), strings are a varint length followed by the bytes.
//
// ScanRecords() is the one decoder both the store and the fuzzer use: it walks a file image,
// decodes each record and classifies the first bad frame as a torn tail (nothing valid after it:
// a crash mid-append) or as corruption (a valid record follows: something damaged the middle).
#ifndef RAMPART_STORE_LOG_FORMAT_H_
#define RAMPART_STORE_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace rampart::store::logfmt {

inline constexpr uint32_t kMagic = 0x4c504d52;  // "RMPL" in file byte order
inline constexpr size_t kFrameHeaderSize = 16;
inline constexpr uint32_t kMaxPayload = 1u << 30;  // a frame claiming more is damaged
inline constexpr uint64_t kFormatVersion = 1;

enum class RecordType : uint8_t {
  kFileHeader = 1,  // first record of every file: version, file kind, base revision
  kTxn = 2,         // one committed revision (or lease revokes without key changes)
  kLeaseGrant = 3,  // a lease was granted (no revision of its own, as in etcd)
  kSnapMeta = 4,    // snapshot: revision, next lease id, counts
  kSnapLease = 5,   // snapshot: one live lease
  kSnapKv = 6,      // snapshot: one key
  kSnapEnd = 7,     // snapshot: complete (count of records before it)
};

enum class FileKind : uint8_t { kLog = 1, kSnapshot = 2 };

struct LogOp {
  enum class Kind : uint8_t { kPut = 1, kDelete = 2 };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // kPut
  int64_t lease = 0;  // kPut
};

// One decoded record; which fields mean something depends on `type`.
struct Record {
  RecordType type = RecordType::kTxn;
  int64_t revision = 0;  // kTxn: the revision; kFileHeader: base revision; kSnapMeta: revision
  std::vector<LogOp> ops;                // kTxn: resolved ops (prefix deletes expanded)
  std::vector<int64_t> revoked_leases;   // kTxn
  int64_t lease_id = 0;                  // kLeaseGrant, kSnapLease; kSnapMeta: next lease id
  int64_t ttl = 0;                       // kLeaseGrant, kSnapLease
  uint64_t count = 0;                    // kSnapMeta: kvs; kSnapEnd: records before it
  uint64_t count2 = 0;                   // kSnapMeta: leases
  uint64_t version = 0;                  // kFileHeader: format version
  FileKind file_kind = FileKind::kLog;   // kFileHeader
  KeyValue kv;                           // kSnapKv
};

// Appends the framed encoding of `record` to `out`.
void AppendRecord(const Record& record, std::string* out);

// Decodes one payload (the bytes inside a frame).
absl::StatusOr<Record> DecodePayload(std::string_view payload);

struct ScannedRecord {
  uint64_t offset = 0;  // of the frame in the file
  Record record;
};

struct ScanResult {
  enum class Tail { kClean, kTorn, kCorrupt };
  std::vector<ScannedRecord> records;  // every good record before the first bad frame
  uint64_t valid_end = 0;              // byte offset just past the last good record
  Tail tail = Tail::kClean;
  uint64_t bad_offset = 0;             // kTorn/kCorrupt: where the first bad frame starts
  uint64_t next_valid_offset = 0;      // kCorrupt: a good frame found after the bad one
  std::string reason;                  // kTorn/kCorrupt: what was wrong at bad_offset
};

// Walks a whole file image. Never fails: damage is described in the result.
ScanResult ScanRecords(std::string_view data);

}  // namespace rampart::store::logfmt

#endif  // RAMPART_STORE_LOG_FORMAT_H_
