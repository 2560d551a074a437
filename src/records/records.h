// Records: what the controller's physical stage sends one host, and what its agent applies.
// A host's share is a set of rows (table name + column values in their canonical text form);
// the stream carries a snapshot of that set, then deltas (rows deleted, rows inserted) with a
// revision the agent acknowledges. docs/records.md lists every table and column.
//
// Text values keep the stream schema-agnostic and readable (`rampartctl host records` prints
// them as they are); each consumer parses the columns it uses with the helpers in common/ip.h.
#ifndef RAMPART_RECORDS_RECORDS_H_
#define RAMPART_RECORDS_RECORDS_H_

#include <compare>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::records {

struct Record {
  std::string table;
  std::vector<std::string> values;

  auto operator<=>(const Record&) const = default;
  bool operator==(const Record&) const = default;
};

// "Table(v1, v2, ...)" — for logs, errors and `rampartctl host records`.
std::string ToString(const Record& r);

// A change to a host's share. `snapshot` = the rows replace everything the host had
// (deletes is then empty). Revisions grow strictly per host.
struct Delta {
  uint64_t revision = 0;
  bool snapshot = false;
  std::vector<Record> deletes;
  std::vector<Record> inserts;
};

// The rows one host holds, kept sorted (so two equal sets iterate identically).
class RecordSet {
 public:
  // Applies `d` (a snapshot replaces; otherwise deletes then inserts). Deleting a row that is
  // absent or inserting one that is present is an inconsistency: it is counted, the set still
  // ends up as the delta describes, and the revision advances.
  void Apply(const Delta& d);
  // The same, taking the rows out of `d` (no copies; a snapshot is sorted and inserted in
  // order, which is cheaper than inserting in arrival order). `d` is left unspecified.
  void Apply(Delta&& d);
  // The delta that turns `from` into `to` (rows only; revision/snapshot left to the caller).
  static Delta Diff(const RecordSet& from, const RecordSet& to);

  void Insert(Record r) { rows_.insert(std::move(r)); }
  bool Erase(const Record& r) { return rows_.erase(r) > 0; }
  const std::set<Record>& rows() const { return rows_; }
  // Rows of one table, in order.
  std::vector<const Record*> Table(std::string_view table) const;
  uint64_t revision() const { return revision_; }
  uint64_t inconsistencies() const { return inconsistencies_; }

 private:
  std::set<Record> rows_;
  uint64_t revision_ = 0;
  uint64_t inconsistencies_ = 0;
};

}  // namespace rampart::records

#endif  // RAMPART_RECORDS_RECORDS_H_
