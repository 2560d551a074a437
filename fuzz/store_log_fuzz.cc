// Fuzzes the embedded store's record decoder (src/store/log_format.h): any byte string is a
// possible log or snapshot file after a crash or a disk fault. Checks, besides memory safety:
// the scan result is self-consistent, and every record it decodes re-encodes to an equal record.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "store/log_format.h"

namespace {

using rampart::store::logfmt::Record;

bool Same(const Record& a, const Record& b) {
  if (a.type != b.type || a.revision != b.revision || a.lease_id != b.lease_id || a.ttl != b.ttl ||
      a.count != b.count || a.count2 != b.count2 || a.version != b.version || a.file_kind != b.file_kind ||
      a.revoked_leases != b.revoked_leases || a.ops.size() != b.ops.size()) {
    return false;
  }
  for (size_t i = 0; i < a.ops.size(); ++i) {
    if (a.ops[i].kind != b.ops[i].kind || a.ops[i].key != b.ops[i].key || a.ops[i].value != b.ops[i].value ||
        a.ops[i].lease != b.ops[i].lease) {
      return false;
    }
  }
  return a.kv.key == b.kv.key && a.kv.value == b.kv.value && a.kv.create_revision == b.kv.create_revision &&
         a.kv.mod_revision == b.kv.mod_revision && a.kv.version == b.kv.version && a.kv.lease == b.kv.lease;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace logfmt = rampart::store::logfmt;
  std::string_view in(reinterpret_cast<const char*>(data), size);

  // The input as a bare payload (what is inside a frame).
  if (absl::StatusOr<Record> r = logfmt::DecodePayload(in); r.ok()) {
    std::string framed;
    logfmt::AppendRecord(*r, &framed);
    logfmt::ScanResult again = logfmt::ScanRecords(framed);
    if (again.tail != logfmt::ScanResult::Tail::kClean || again.records.size() != 1 ||
        !Same(again.records[0].record, *r)) {
      std::abort();
    }
  }

  // The input as a whole file.
  logfmt::ScanResult scan = logfmt::ScanRecords(in);
  if (scan.valid_end > size) std::abort();
  if (scan.tail == logfmt::ScanResult::Tail::kClean && scan.valid_end != size) std::abort();
  if (scan.tail != logfmt::ScanResult::Tail::kClean && scan.bad_offset != scan.valid_end) std::abort();
  if (scan.tail == logfmt::ScanResult::Tail::kCorrupt &&
      (scan.next_valid_offset < scan.bad_offset || scan.next_valid_offset >= size)) {
    std::abort();
  }
  std::string rebuilt;
  for (const logfmt::ScannedRecord& sr : scan.records) logfmt::AppendRecord(sr.record, &rebuilt);
  logfmt::ScanResult again = logfmt::ScanRecords(rebuilt);
  if (again.tail != logfmt::ScanResult::Tail::kClean || again.records.size() != scan.records.size()) std::abort();
  for (size_t i = 0; i < scan.records.size(); ++i) {
    if (!Same(again.records[i].record, scan.records[i].record)) std::abort();
  }
  return 0;
}
