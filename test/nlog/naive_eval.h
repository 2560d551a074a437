// Reference evaluator for nlog: from-scratch, table by table in evaluation order, each rule by
// brute-force nested loops over whole tables (no indexes, no plans, no counts). It is the oracle
// the incremental Engine is compared against; keep it obviously correct, not fast.
#ifndef RAMPART_TEST_NLOG_NAIVE_EVAL_H_
#define RAMPART_TEST_NLOG_NAIVE_EVAL_H_

#include <map>
#include <set>
#include <string>

#include "nlog/program.h"

namespace rampart::nlog::testing {

struct RowCmp {
  bool operator()(const Row& a, const Row& b) const { return RowLess(a, b); }
};
using RowSet = std::set<Row, RowCmp>;
using Database = std::map<std::string, RowSet>;  // every table by name

// `inputs` holds the input tables (missing = empty); returns every table.
Database NaiveEvaluate(const Program& prog, const Database& inputs);

}  // namespace rampart::nlog::testing

#endif  // RAMPART_TEST_NLOG_NAIVE_EVAL_H_
