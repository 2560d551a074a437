#include "records/records.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace rampart::records {

std::string ToString(const Record& r) {
  std::string out = r.table + "(";
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (i) out += ", ";
    out += r.values[i];
  }
  return out + ")";
}

void RecordSet::Apply(const Delta& d) {
  if (d.snapshot) rows_.clear();
  for (const Record& r : d.deletes) {
    if (!rows_.erase(r)) ++inconsistencies_;
  }
  for (const Record& r : d.inserts) {
    if (!rows_.insert(r).second) ++inconsistencies_;
  }
  revision_ = d.revision;
}

void RecordSet::Apply(Delta&& d) {
  if (d.snapshot) rows_.clear();
  for (const Record& r : d.deletes) {
    if (!rows_.erase(r)) ++inconsistencies_;
  }
  if (d.snapshot && rows_.empty()) {
    std::sort(d.inserts.begin(), d.inserts.end());
    for (Record& r : d.inserts) {
      if (!rows_.empty() && *std::prev(rows_.end()) == r) {
        ++inconsistencies_;  // a duplicate in the snapshot, as insert() would count it
        continue;
      }
      rows_.insert(rows_.end(), std::move(r));  // in order: the hint makes it O(1)
    }
  } else {
    for (Record& r : d.inserts) {
      if (!rows_.insert(std::move(r)).second) ++inconsistencies_;
    }
  }
  revision_ = d.revision;
}

Delta RecordSet::Diff(const RecordSet& from, const RecordSet& to) {
  Delta d;
  std::set_difference(from.rows_.begin(), from.rows_.end(), to.rows_.begin(), to.rows_.end(),
                      std::back_inserter(d.deletes));
  std::set_difference(to.rows_.begin(), to.rows_.end(), from.rows_.begin(), from.rows_.end(),
                      std::back_inserter(d.inserts));
  return d;
}

std::vector<const Record*> RecordSet::Table(std::string_view table) const {
  std::vector<const Record*> out;
  auto it = rows_.lower_bound(Record{std::string(table), {}});
  for (; it != rows_.end() && it->table == table; ++it) out.push_back(&*it);
  return out;
}

}  // namespace rampart::records
