// nlog Engine: incremental evaluation of a compiled Program.
//
// The engine holds the current contents of every table. Apply() takes a Transaction of input
// changes and returns exactly the resulting changes of the output tables, at a cost proportional
// to the change: each rule has one join plan per body table (semi-naive delta rules) over hash
// indexes, and derived rows carry support counts (counting algorithm), so a deletion retracts
// precisely what it supported. See docs/nlog.md for the semantics and the join-order policy.
//
// Usage:
//   auto prog = Program::Compile(text, "fw.nlog");   // StatusOr<Program>
//   Engine engine(*std::move(prog));
//   Transaction tx;
//   tx.Insert("Rule", {Value::String("t1"), Value::Int(7), Value::String("web")});
//   absl::StatusOr<Delta> d = engine.Apply(tx);      // d->tables["RuleSpan"].inserted ...
//
// Thread-safety: none; one thread at a time per Engine (Program may be shared read-only).
#ifndef RAMPART_NLOG_ENGINE_H_
#define RAMPART_NLOG_ENGINE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlog/program.h"
#include "nlog/value.h"

namespace rampart::nlog {

// A batch of input-table changes applied atomically. Deletes apply before inserts; deleting an
// absent row, inserting a present one, listing a row twice, a wrong arity or column type, or two
// rows with one key afterwards are errors, and the whole transaction then changes nothing.
// Deleting and re-inserting the same row is allowed (a no-op).
class Transaction {
 public:
  struct Change {
    std::string table;
    Row row;
    bool insert;
  };
  void Insert(std::string_view table, Row row) { changes_.push_back({std::string(table), std::move(row), true}); }
  void Delete(std::string_view table, Row row) { changes_.push_back({std::string(table), std::move(row), false}); }
  const std::vector<Change>& changes() const { return changes_; }
  bool empty() const { return changes_.empty(); }

 private:
  std::vector<Change> changes_;
};

struct TableDelta {
  std::vector<Row> inserted;  // sorted by RowLess
  std::vector<Row> deleted;   // sorted by RowLess
};

// Changes of output tables; tables without changes are absent (an empty Delta = nothing changed).
struct Delta {
  std::map<std::string, TableDelta> tables;
  bool empty() const { return tables.empty(); }
};

// Memory held by one table of an Engine, by part (capacity-based estimate, bytes).
struct TableMemory {
  std::string name;
  TableKind kind = TableKind::kInput;
  size_t rows = 0;
  int arity = 0;
  int indexes = 0;
  size_t values = 0;       // row values
  size_t counts = 0;       // support counts
  size_t free_list = 0;    // freed row slots
  size_t row_set = 0;      // the row hash set
  size_t index_heads = 0;  // index maps (key hash -> first row)
  size_t index_links = 0;  // index chains (per row)
  size_t aggregate = 0;    // aggregate rules' group state deriving this table
  size_t total = 0;
};

class Engine {
 public:
  explicit Engine(Program program);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  absl::StatusOr<Delta> Apply(const Transaction& tx);

  // Output rows that exist before any transaction (rules without positive body tables, e.g. facts).
  const Delta& initial_delta() const { return initial_delta_; }

  // Current rows of any table, sorted; NotFound for an unknown table.
  absl::StatusOr<std::vector<Row>> Scan(std::string_view table) const;
  bool Contains(std::string_view table, const Row& row) const;
  size_t TableSize(std::string_view table) const;
  // Bytes held by tables, indexes and aggregate state (capacity-based estimate).
  size_t MemoryBytes() const;
  // MemoryBytes by table, in declaration order.
  std::vector<TableMemory> MemoryByTable() const;

  const Program& program() const { return program_; }

 private:
  struct Impl;
  Program program_;
  std::unique_ptr<Impl> impl_;
  Delta initial_delta_;
};

}  // namespace rampart::nlog

#endif  // RAMPART_NLOG_ENGINE_H_
