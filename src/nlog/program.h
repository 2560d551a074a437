// nlog programs: parsing, checking and stratifying a .nlog source text (see docs/nlog.md).
//
// Program::Compile turns text into a checked, typed program: tables (input / internal / output)
// with typed columns and optional keys (input tables), and rules whose variables are resolved to
// slots. The structures below are the compiled form shared by the incremental Engine and by the
// reference evaluator used in tests; other components only need Compile, the table list and
// TableIndex.
//
// v1 restriction: programs are non-recursive (no table depends on itself, directly or through
// other tables); Compile rejects recursion with an error naming the cycle. Negation is therefore
// always stratified; a cycle through negation gets its own "not stratifiable" error.
//
// Thread-safety: a compiled Program is immutable and may be shared by several engines.
#ifndef RAMPART_NLOG_PROGRAM_H_
#define RAMPART_NLOG_PROGRAM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlog/value.h"

namespace rampart::nlog {

struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class TableKind : uint8_t { kInput, kInternal, kOutput };

struct Column {
  std::string name;
  Type type;
};

struct TableDecl {
  std::string name;
  TableKind kind = TableKind::kInput;
  std::vector<Column> columns;
  std::vector<int> key;  // column indexes; empty = whole row is the key (a set)
  SourcePos pos;
  int order = 0;  // position in the topological evaluation order
};

enum class Builtin : uint8_t {
  kPrefixContains,  // (prefix, ip) -> bool, (prefix, prefix) -> bool
  kNetwork,         // (prefix) -> ip
  kBroadcast,       // (prefix) -> ip (last address)
  kLength,          // (prefix) -> int (IPv4: 0..32)
  kMakePrefix,      // prefix(ip, int) -> prefix
  kIpAdd,           // (ip, int) -> ip
  kIsV4,            // (ip) -> bool, (prefix) -> bool
  kHash,            // (any...) -> int
  kConcat,          // (any...) -> string
  kToString,        // (any) -> string
  kAdd,             // int + int (wrapping)
  kSub,             // int - int (wrapping)
  kMin2,            // min(int, int) as a function (scalar)
  kMax2,
};

struct Expr {
  enum class Kind : uint8_t { kConst, kVar, kCall };
  Kind kind = Kind::kConst;
  Type type = Type::kInt;
  Value constant;
  int var = -1;
  Builtin fn = Builtin::kHash;
  std::vector<Expr> args;
  SourcePos pos;
};

// Argument of an atom or head.
struct Term {
  enum class Kind : uint8_t { kVar, kConst, kWildcard };
  Kind kind = Kind::kWildcard;
  int var = -1;
  Value constant;
};

struct Atom {
  int table = -1;
  bool negated = false;
  std::vector<Term> args;
  SourcePos pos;
};

enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

struct Literal {
  enum class Kind : uint8_t {
    kAtom,     // positive or negated atom
    kAssign,   // var = expr, binds var (var is bound nowhere else before)
    kCompare,  // lhs op rhs, all variables bound
    kTest,     // bool expression must be true
  };
  Kind kind = Kind::kAtom;
  Atom atom;
  int var = -1;  // kAssign
  CmpOp op = CmpOp::kEq;
  Expr lhs, rhs;  // kAssign: rhs; kCompare: both; kTest: lhs
  SourcePos pos;
};

enum class AggKind : uint8_t { kNone, kCount, kMin, kMax };

struct Rule {
  int head_table = -1;
  std::vector<Term> head;  // kVar or kConst; at agg_pos the aggregate's variable
  AggKind agg = AggKind::kNone;
  int agg_pos = -1;
  std::vector<Literal> body;
  std::vector<std::string> var_names;
  std::vector<Type> var_types;
  SourcePos pos;
  int num_vars() const { return static_cast<int>(var_names.size()); }
};

class Program {
 public:
  // Parses and checks `text`; `name` (usually the file name) prefixes error positions:
  // "fw.nlog:3:14: unbound variable 'h' in the head of RuleSpan".
  static absl::StatusOr<Program> Compile(std::string_view text, std::string_view name);

  const std::vector<TableDecl>& tables() const { return tables_; }
  const std::vector<Rule>& rules() const { return rules_; }
  // Table ids in evaluation order (every table after all tables its rules read).
  const std::vector<int>& order() const { return order_; }
  // -1 if unknown.
  int TableIndex(std::string_view name) const;
  const std::string& name() const { return name_; }

 private:
  friend class Compiler;
  std::string name_;
  std::vector<TableDecl> tables_;
  std::vector<Rule> rules_;
  std::vector<int> order_;
};

// Evaluates a checked expression under `vars`. Returns false when a builtin has no result for
// these arguments (e.g. prefix(ip, 99)); the rule then derives nothing for that binding.
bool EvalExpr(const Expr& e, const Value* vars, Value* out);
bool EvalCompare(CmpOp op, const Value& a, const Value& b);

}  // namespace rampart::nlog

#endif  // RAMPART_NLOG_PROGRAM_H_
