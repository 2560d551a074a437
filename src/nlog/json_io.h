// JSON form of nlog transactions and deltas, as used by `rampartctl nlog run` and by tools that
// feed the engine from JSON documents.
//
// Transaction: {"insert": {"Table": [[v1, v2, ...], ...]}, "delete": {...}}; values in the
// columns' declared types: int as a JSON integer, bool as true/false, string/ip/prefix/mac as
// JSON strings. Delta: {"tx": n, "insert": {...}, "delete": {...}}, tables and rows sorted.
//
// Thread-safety: plain functions.
#ifndef RAMPART_NLOG_JSON_IO_H_
#define RAMPART_NLOG_JSON_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlog/engine.h"

namespace rampart::nlog {

// Parses one JSON transaction against the program's input tables. Errors name the table, the
// row (1-based, per insert/delete list) and the column: "table 'Rule', insert row 2, column
// 'group': expected a string, got 5".
absl::StatusOr<Transaction> ParseTransactionJson(std::string_view json, const Program& prog);

// One JSON line {"tx": n, "insert": {...}, "delete": {...}} (no trailing newline).
std::string DeltaToJson(int tx, const Delta& delta);

}  // namespace rampart::nlog

#endif  // RAMPART_NLOG_JSON_IO_H_
