// nlog front end: lexer, parser to a raw syntax tree, then name resolution, type checking,
// safety (binding) analysis and dependency ordering into a Program.
#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlog/program.h"

namespace rampart::nlog {
namespace {

enum class Tok { kEnd, kIdent, kInt, kString, kPunct };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, punctuation, decoded string, digits
  SourcePos pos;
};

struct ParseError {
  SourcePos pos;
  std::string msg;
};

// Returned by return Fail(): converts to a default value of any return type, so an error path reads
// `return Fail(pos, "...");`. The first error is kept; callers stop at the next check.
struct Failed {
  template <typename T>
  operator T() const {
    return T{};
  }
};

// ---------------------------------------------------------------------------------------------
// Lexer

absl::StatusOr<std::vector<Token>> Lex(std::string_view src, const std::string& name) {
  std::vector<Token> out;
  int line = 1, col = 1;
  size_t i = 0;
  auto err = [&](const std::string& m) {
    return absl::InvalidArgumentError(absl::StrCat(name, ":", line, ":", col, ": ", m));
  };
  auto advance = [&](size_t n) {
    for (size_t k = 0; k < n && i < src.size(); ++k, ++i) {
      if (src[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
  };
  while (i < src.size()) {
    char c = src[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      advance(1);
      continue;
    }
    if (c == '#' || (c == '/' && i + 1 < src.size() && src[i + 1] == '/')) {
      while (i < src.size() && src[i] != '\n') advance(1);
      continue;
    }
    Token t;
    t.pos = {line, col};
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < src.size() && (std::isalnum(static_cast<unsigned char>(src[j])) || src[j] == '_')) ++j;
      t.kind = Tok::kIdent;
      t.text = std::string(src.substr(i, j - i));
      advance(j - i);
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < src.size() && std::isdigit(static_cast<unsigned char>(src[j]))) ++j;
      t.kind = Tok::kInt;
      t.text = std::string(src.substr(i, j - i));
      advance(j - i);
    } else if (c == '"') {
      advance(1);
      std::string s;
      for (;;) {
        if (i >= src.size() || src[i] == '\n') return err("unterminated string literal");
        char d = src[i];
        if (d == '"') {
          advance(1);
          break;
        }
        if (d == '\\') {
          if (i + 1 >= src.size()) return err("unterminated string literal");
          char e = src[i + 1];
          if (e == 'n') s += '\n';
          else if (e == 't') s += '\t';
          else if (e == '"' || e == '\\') s += e;
          else return err(absl::StrCat("unknown escape '\\", std::string(1, e), "' in string"));
          advance(2);
          continue;
        }
        s += d;
        advance(1);
      }
      t.kind = Tok::kString;
      t.text = std::move(s);
    } else {
      static const char* kTwo[] = {":-", "==", "!=", "<=", ">="};
      t.kind = Tok::kPunct;
      for (const char* p : kTwo) {
        if (src.substr(i, 2) == p) t.text = p;
      }
      if (t.text.empty()) {
        if (std::string_view("(),.:=<>+-;").find(c) == std::string_view::npos) {
          return err(absl::StrCat("unexpected character '", std::string(1, c), "'"));
        }
        t.text = std::string(1, c);
      }
      advance(t.text.size());
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = {line, col};
  out.push_back(end);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Raw syntax tree

struct RawExpr {
  enum class Kind { kInt, kString, kBool, kVar, kWildcard, kCall, kBinop };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  std::string s;  // string literal, variable or function name, binop
  std::vector<RawExpr> args;
  SourcePos pos;
};

struct RawAtom {
  std::string table;
  bool negated = false;
  std::vector<RawExpr> args;
  SourcePos pos;
};

struct RawLit {
  enum class Kind { kAtom, kCompare, kExpr };
  Kind kind = Kind::kAtom;
  RawAtom atom;
  std::string op;
  RawExpr lhs, rhs;
  SourcePos pos;
};

struct RawRule {
  RawAtom head;
  std::vector<RawLit> body;
  SourcePos pos;
};

struct RawColumn {
  std::string name, type;
  SourcePos pos, type_pos;
};

struct RawTable {
  TableKind kind;
  std::string name;
  std::vector<RawColumn> columns;
  std::vector<std::pair<std::string, SourcePos>> key;
  bool has_key = false;
  SourcePos pos;
};

bool IsTableName(const std::string& s) { return !s.empty() && std::isupper(static_cast<unsigned char>(s[0])); }

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  void Parse(std::vector<RawTable>* tables, std::vector<RawRule>* rules) {
    while (Peek().kind != Tok::kEnd) {
      const Token& t = Peek();
      if (t.kind == Tok::kIdent && (t.text == "input" || t.text == "internal" || t.text == "output")) {
        tables->push_back(ParseTable());
      } else {
        rules->push_back(ParseRule());
      }
    }
  }

 private:
  const Token& Peek(int k = 0) const { return error_ ? t_.back() : t_[std::min(p_ + k, t_.size() - 1)]; }
  Token Next() {
    Token t = Peek();
    if (p_ < t_.size() - 1) ++p_;
    return t;
  }
  Failed Fail(const Token& t, const std::string& msg) {
    if (!error_) error_ = ParseError{t.pos, msg};
    return {};
  }

 public:
  const std::optional<ParseError>& error() const { return error_; }

 private:
  std::optional<ParseError> error_;
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd: return "end of input";
      case Tok::kString: return "string \"" + t.text + "\"";
      default: return "'" + t.text + "'";
    }
  }
  bool IsPunct(const std::string& p, int k = 0) const {
    return Peek(k).kind == Tok::kPunct && Peek(k).text == p;
  }
  void Expect(const std::string& p, const char* what) {
    if (!IsPunct(p)) return (void)Fail(Peek(), absl::StrCat("expected '", p, "' ", what, ", found ", Describe(Peek())));
    Next();
  }
  Token ExpectIdent(const char* what) {
    if (Peek().kind != Tok::kIdent) return Fail(Peek(), absl::StrCat("expected ", what, ", found ", Describe(Peek())));
    return Next();
  }

  RawTable ParseTable() {
    RawTable tb;
    Token k = Next();
    tb.pos = k.pos;
    tb.kind = k.text == "input" ? TableKind::kInput : k.text == "internal" ? TableKind::kInternal : TableKind::kOutput;
    Token kw = ExpectIdent("'table'");
    if (kw.text != "table") return Fail(kw, "expected 'table' after '" + k.text + "'");
    Token name = ExpectIdent("a table name");
    if (!IsTableName(name.text)) return Fail(name, "table name '" + name.text + "' must start with an upper-case letter");
    tb.name = name.text;
    tb.pos = name.pos;
    Expect("(", "after the table name");
    for (;;) {
      RawColumn c;
      Token cn = ExpectIdent("a column name");
      c.name = cn.text;
      c.pos = cn.pos;
      Expect(":", "after the column name");
      Token ct = ExpectIdent("a column type");
      c.type = ct.text;
      c.type_pos = ct.pos;
      tb.columns.push_back(c);
      if (IsPunct(",")) {
        Next();
        continue;
      }
      Expect(")", "after the columns");
      break;
    }
    if (Peek().kind == Tok::kIdent && Peek().text == "key") {
      Next();
      tb.has_key = true;
      Expect("(", "after 'key'");
      for (;;) {
        Token kc = ExpectIdent("a key column name");
        tb.key.push_back({kc.text, kc.pos});
        if (IsPunct(",")) {
          Next();
          continue;
        }
        Expect(")", "after the key columns");
        break;
      }
    }
    Expect(".", "at the end of the table declaration");
    return tb;
  }

  RawAtom ParseAtom(bool head) {
    RawAtom a;
    Token name = ExpectIdent("a table name");
    a.table = name.text;
    a.pos = name.pos;
    Expect("(", "after the table name");
    if (IsPunct(")")) {
      Next();
      return a;
    }
    for (;;) {
      a.args.push_back(ParseExpr());
      if (IsPunct(",")) {
        Next();
        continue;
      }
      Expect(")", "after the arguments");
      break;
    }
    return a;
  }

  RawRule ParseRule() {
    RawRule r;
    const Token& h = Peek();
    if (h.kind != Tok::kIdent || !IsTableName(h.text)) {
      return Fail(h, "expected a table declaration or a rule (whose head is a table name starting with an upper-case letter), found " +
                  Describe(h));
    }
    r.pos = h.pos;
    r.head = ParseAtom(true);
    if (IsPunct(":-")) {
      Next();
      for (;;) {
        r.body.push_back(ParseBodyLiteral());
        if (IsPunct(",")) {
          Next();
          continue;
        }
        break;
      }
    }
    Expect(".", "at the end of the rule");
    return r;
  }

  RawLit ParseBodyLiteral() {
    RawLit l;
    l.pos = Peek().pos;
    if (Peek().kind == Tok::kIdent && Peek().text == "not") {
      Next();
      if (Peek().kind != Tok::kIdent || !IsTableName(Peek().text)) return Fail(Peek(), "expected a table after 'not'");
      l.kind = RawLit::Kind::kAtom;
      l.atom = ParseAtom(false);
      l.atom.negated = true;
      return l;
    }
    if (Peek().kind == Tok::kIdent && IsTableName(Peek().text)) {
      l.kind = RawLit::Kind::kAtom;
      l.atom = ParseAtom(false);
      return l;
    }
    l.lhs = ParseExpr();
    static const char* kOps[] = {"=", "==", "!=", "<", "<=", ">", ">="};
    for (const char* op : kOps) {
      if (IsPunct(op)) {
        Next();
        l.kind = RawLit::Kind::kCompare;
        l.op = op;
        l.rhs = ParseExpr();
        return l;
      }
    }
    l.kind = RawLit::Kind::kExpr;
    return l;
  }

  RawExpr ParseExpr() {
    RawExpr e = ParsePrimary();
    while (IsPunct("+") || IsPunct("-")) {
      Token op = Next();
      RawExpr b;
      b.kind = RawExpr::Kind::kBinop;
      b.s = op.text;
      b.pos = op.pos;
      b.args.push_back(std::move(e));
      b.args.push_back(ParsePrimary());
      e = std::move(b);
    }
    return e;
  }

  RawExpr ParsePrimary() {
    RawExpr e;
    const Token& t = Peek();
    e.pos = t.pos;
    if (t.kind == Tok::kInt || (IsPunct("-") && Peek(1).kind == Tok::kInt)) {
      bool neg = IsPunct("-");
      if (neg) Next();
      Token n = Next();
      std::string digits = (neg ? "-" : "") + n.text;
      if (!absl::SimpleAtoi(digits, &e.i)) return Fail(n, "integer literal " + digits + " does not fit in 64 bits");
      e.kind = RawExpr::Kind::kInt;
      return e;
    }
    if (t.kind == Tok::kString) {
      e.kind = RawExpr::Kind::kString;
      e.s = Next().text;
      return e;
    }
    if (IsPunct("(")) {
      Next();
      RawExpr inner = ParseExpr();
      Expect(")", "to close '('");
      return inner;
    }
    if (t.kind == Tok::kIdent) {
      if (IsTableName(t.text)) return Fail(t, "table '" + t.text + "' cannot be used as a value (variables start with a lower-case letter)");
      Token id = Next();
      if (id.text == "true" || id.text == "false") {
        e.kind = RawExpr::Kind::kBool;
        e.i = id.text == "true";
        return e;
      }
      if (IsPunct("(")) {
        Next();
        e.kind = RawExpr::Kind::kCall;
        e.s = id.text;
        if (IsPunct(")")) {
          Next();
          return e;
        }
        for (;;) {
          e.args.push_back(ParseExpr());
          if (IsPunct(",")) {
            Next();
            continue;
          }
          Expect(")", "after the function arguments");
          break;
        }
        return e;
      }
      e.kind = id.text == "_" ? RawExpr::Kind::kWildcard : RawExpr::Kind::kVar;
      e.s = id.text;
      return e;
    }
    return Fail(t, "expected a value, variable or function call, found " + Describe(t));
  }

  std::vector<Token> t_;
  size_t p_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Checker

class Compiler {
 public:
  explicit Compiler(std::string_view name) : name_(name) {}

  absl::StatusOr<Program> Run(std::string_view text) {
    auto toks = Lex(text, name_);
    if (!toks.ok()) return toks.status();
    std::vector<RawTable> tables;
    std::vector<RawRule> rules;
    Parser parser(std::move(*toks));
    parser.Parse(&tables, &rules);
    if (parser.error()) error_ = parser.error();
    prog_.name_ = std::string(name_);
    for (size_t i = 0; i < tables.size() && !failed(); ++i) DeclareTable(tables[i]);
    for (size_t i = 0; i < rules.size() && !failed(); ++i) prog_.rules_.push_back(CheckRule(rules[i]));
    if (!failed()) Order();
    if (failed()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name_, ":", error_->pos.line, ":", error_->pos.column, ": ", error_->msg));
    }
    return std::move(prog_);
  }

 private:
  Failed Fail(SourcePos pos, const std::string& msg) {
    if (!error_) error_ = ParseError{pos, msg};
    return {};
  }
  bool failed() const { return error_.has_value(); }
  std::optional<ParseError> error_;

  void DeclareTable(const RawTable& rt) {
    if (prog_.TableIndex(rt.name) >= 0) return (void)Fail(rt.pos, "table '" + rt.name + "' is declared twice");
    TableDecl d;
    d.name = rt.name;
    d.kind = rt.kind;
    d.pos = rt.pos;
    for (const RawColumn& c : rt.columns) {
      for (const Column& o : d.columns) {
        if (o.name == c.name) return (void)Fail(c.pos, "column '" + c.name + "' appears twice in table '" + rt.name + "'");
      }
      auto ty = ParseTypeName(c.type);
      if (!ty) return (void)Fail(c.type_pos, "unknown type '" + c.type + "' (types: int, string, bool, ip, prefix, mac)");
      d.columns.push_back({c.name, *ty});
    }
    if (rt.has_key && rt.kind != TableKind::kInput) {
      return (void)Fail(rt.pos, "key(...) is only supported on input tables (table '" + rt.name + "')");
    }
    for (const auto& [k, pos] : rt.key) {
      int idx = -1;
      for (size_t i = 0; i < d.columns.size(); ++i) {
        if (d.columns[i].name == k) idx = static_cast<int>(i);
      }
      if (idx < 0) return (void)Fail(pos, "key column '" + k + "' is not a column of table '" + rt.name + "'");
      if (std::find(d.key.begin(), d.key.end(), idx) != d.key.end()) return (void)Fail(pos, "key column '" + k + "' listed twice");
      d.key.push_back(idx);
    }
    table_ids_[d.name] = static_cast<int>(prog_.tables_.size());
    prog_.tables_.push_back(std::move(d));
  }

  int LookupTable(const std::string& name, SourcePos pos) {
    int id = prog_.TableIndex(name);
    if (id < 0) {
      Fail(pos, "unknown table '" + name + "'");
      return -1;
    }
    return id;
  }

  // Per-rule state.
  struct VarInfo {
    std::string name;
    std::optional<Type> type;
    bool bound = false;
    SourcePos first;
  };
  std::vector<VarInfo> vars_;
  std::map<std::string, int> var_ids_;

  int VarId(const RawExpr& e) {
    auto it = var_ids_.find(e.s);
    if (it != var_ids_.end()) return it->second;
    int id = static_cast<int>(vars_.size());
    vars_.push_back({e.s, std::nullopt, false, e.pos});
    var_ids_[e.s] = id;
    return id;
  }

  void SetVarType(int v, Type t, SourcePos pos, const std::string& where) {
    if (!vars_[v].type) {
      vars_[v].type = t;
    } else if (*vars_[v].type != t) {
      return (void)Fail(pos, absl::StrCat("type mismatch: variable '", vars_[v].name, "' is ", TypeName(*vars_[v].type),
                             " but ", where, " is ", TypeName(t)));
    }
  }

  Value ConstFor(const RawExpr& e, Type want, const std::string& where) {
    switch (e.kind) {
      case RawExpr::Kind::kInt:
        if (want != Type::kInt) return Fail(e.pos, absl::StrCat("type mismatch: ", where, " is ", TypeName(want), ", got an int literal"));
        return Value::Int(e.i);
      case RawExpr::Kind::kBool:
        if (want != Type::kBool) return Fail(e.pos, absl::StrCat("type mismatch: ", where, " is ", TypeName(want), ", got a bool literal"));
        return Value::Bool(e.i != 0);
      case RawExpr::Kind::kString: {
        if (want == Type::kInt || want == Type::kBool) {
          return Fail(e.pos, absl::StrCat("type mismatch: ", where, " is ", TypeName(want), ", got a string literal"));
        }
        auto v = Value::Parse(want, e.s);
        if (!v) return Fail(e.pos, absl::StrCat("\"", e.s, "\" is not a valid ", TypeName(want), " literal (", where, ")"));
        return *v;
      }
      default: break;
    }
    return Fail(e.pos, "expected a literal");
  }

  static bool IsLiteral(const RawExpr& e) {
    return e.kind == RawExpr::Kind::kInt || e.kind == RawExpr::Kind::kString || e.kind == RawExpr::Kind::kBool;
  }

  void CollectVars(const RawExpr& e, std::vector<const RawExpr*>* out) {
    if (e.kind == RawExpr::Kind::kVar) out->push_back(&e);
    for (const RawExpr& a : e.args) CollectVars(a, out);
  }

  bool AllBound(const RawExpr& e) {
    std::vector<const RawExpr*> vs;
    CollectVars(e, &vs);
    for (const RawExpr* v : vs) {
      auto it = var_ids_.find(v->s);
      if (it == var_ids_.end() || !vars_[it->second].bound) return false;
    }
    return true;
  }

  // REQUIRES: every variable in e is bound (has a type). `want` coerces string literals.
  Expr CheckExpr(const RawExpr& e, std::optional<Type> want) {
    Expr x;
    x.pos = e.pos;
    switch (e.kind) {
      case RawExpr::Kind::kInt:
      case RawExpr::Kind::kBool:
      case RawExpr::Kind::kString: {
        Type t = want ? *want
                      : e.kind == RawExpr::Kind::kInt ? Type::kInt
                                                      : e.kind == RawExpr::Kind::kBool ? Type::kBool : Type::kString;
        x.kind = Expr::Kind::kConst;
        x.constant = ConstFor(e, t, "the expected value");
        x.type = t;
        return x;
      }
      case RawExpr::Kind::kWildcard:
        return Fail(e.pos, "'_' may only be used as an argument of a table");
      case RawExpr::Kind::kVar: {
        int v = VarId(e);
        if (!vars_[v].bound) return Fail(e.pos, "unbound variable '" + e.s + "'");
        x.kind = Expr::Kind::kVar;
        x.var = v;
        x.type = *vars_[v].type;
        return x;
      }
      case RawExpr::Kind::kBinop: {
        x.kind = Expr::Kind::kCall;
        x.fn = e.s == "+" ? Builtin::kAdd : Builtin::kSub;
        for (const RawExpr& a : e.args) {
          x.args.push_back(CheckExpr(a, Type::kInt));
          if (x.args.back().type != Type::kInt) {
            return Fail(a.pos, absl::StrCat("type mismatch: '", e.s, "' needs int operands, got ", TypeName(x.args.back().type)));
          }
        }
        x.type = Type::kInt;
        return x;
      }
      case RawExpr::Kind::kCall: return CheckCall(e);
    }
    return Fail(e.pos, "bad expression");
  }

  Expr CheckCall(const RawExpr& e) {
    Expr x;
    x.pos = e.pos;
    x.kind = Expr::Kind::kCall;
    const std::string& f = e.s;
    auto arity = [&](size_t n) {
      if (e.args.size() == n) return true;
      Fail(e.pos, absl::StrCat("function '", f, "' takes ", n, " argument", n == 1 ? "" : "s", ", got ", e.args.size()));
      return false;
    };
    auto arg = [&](size_t i, std::optional<Type> want, std::initializer_list<Type> allowed) {
      Expr a = CheckExpr(e.args[i], want);
      if (std::find(allowed.begin(), allowed.end(), a.type) == allowed.end()) {
        std::string names;
        for (Type t : allowed) names += (names.empty() ? "" : " or ") + std::string(TypeName(t));
        Fail(e.args[i].pos, absl::StrCat("type mismatch: argument ", i + 1, " of '", f, "' must be ", names, ", got ",
                                         TypeName(a.type)));
      }
      x.args.push_back(std::move(a));  // kept on error too, so argument positions stay valid
    };
    // Literal constructors, evaluated at compile time.
    if (f == "ip" || f == "mac" || (f == "prefix" && e.args.size() == 1)) {
      if (!arity(1)) return x;
      if (e.args[0].kind != RawExpr::Kind::kString) return Fail(e.args[0].pos, "'" + f + "(...)' takes a string literal");
      Type t = f == "ip" ? Type::kIp : f == "mac" ? Type::kMac : Type::kPrefix;
      x.kind = Expr::Kind::kConst;
      x.constant = ConstFor(e.args[0], t, "the argument of " + f + "()");
      x.type = t;
      return x;
    }
    if (f == "prefix_contains") {
      if (!arity(2)) return x;
      x.fn = Builtin::kPrefixContains;
      arg(0, Type::kPrefix, {Type::kPrefix});
      std::optional<Type> want;
      if (e.args[1].kind == RawExpr::Kind::kString) want = e.args[1].s.find('/') == std::string::npos ? Type::kIp : Type::kPrefix;
      arg(1, want, {Type::kIp, Type::kPrefix});
      x.type = Type::kBool;
    } else if (f == "network" || f == "broadcast" || f == "length") {
      if (!arity(1)) return x;
      x.fn = f == "network" ? Builtin::kNetwork : f == "broadcast" ? Builtin::kBroadcast : Builtin::kLength;
      arg(0, Type::kPrefix, {Type::kPrefix});
      x.type = f == "length" ? Type::kInt : Type::kIp;
    } else if (f == "prefix") {
      if (!arity(2)) return x;
      x.fn = Builtin::kMakePrefix;
      arg(0, Type::kIp, {Type::kIp});
      arg(1, Type::kInt, {Type::kInt});
      x.type = Type::kPrefix;
    } else if (f == "ip_add") {
      if (!arity(2)) return x;
      x.fn = Builtin::kIpAdd;
      arg(0, Type::kIp, {Type::kIp});
      arg(1, Type::kInt, {Type::kInt});
      x.type = Type::kIp;
    } else if (f == "is_v4") {
      if (!arity(1)) return x;
      x.fn = Builtin::kIsV4;
      arg(0, std::nullopt, {Type::kIp, Type::kPrefix});
      x.type = Type::kBool;
    } else if (f == "hash" || f == "concat") {
      if (e.args.empty()) return Fail(e.pos, "function '" + f + "' needs at least one argument");
      x.fn = f == "hash" ? Builtin::kHash : Builtin::kConcat;
      for (const RawExpr& a : e.args) x.args.push_back(CheckExpr(a, std::nullopt));
      x.type = f == "hash" ? Type::kInt : Type::kString;
    } else if (f == "to_string") {
      if (!arity(1)) return x;
      x.fn = Builtin::kToString;
      x.args.push_back(CheckExpr(e.args[0], std::nullopt));
      x.type = Type::kString;
    } else if (f == "min" || f == "max") {
      if (e.args.size() == 1) return Fail(e.pos, "aggregate '" + f + "(x)' is only allowed in a rule head; use " + f + "(a, b) for two values");
      if (!arity(2)) return x;
      x.fn = f == "min" ? Builtin::kMin2 : Builtin::kMax2;
      x.args.push_back(CheckExpr(e.args[0], std::nullopt));
      x.args.push_back(CheckExpr(e.args[1], x.args[0].type));
      if (x.args[0].type != x.args[1].type) {
        return Fail(e.args[1].pos, absl::StrCat("type mismatch: arguments of '", f, "' are ", TypeName(x.args[0].type), " and ",
                                         TypeName(x.args[1].type)));
      }
      x.type = x.args[0].type;
    } else if (f == "count") {
      return Fail(e.pos, "aggregate 'count(x)' is only allowed in a rule head");
    } else {
      return Fail(e.pos, "unknown function '" + f + "'");
    }
    return x;
  }

  // Type of an expression whose variables are bound, without building it twice.
  Term AtomTerm(const RawExpr& e, const TableDecl& t, size_t col, bool positive, bool head) {
    Term term;
    std::string where = absl::StrCat("column '", t.columns[col].name, "' of ", t.name);
    if (e.kind == RawExpr::Kind::kWildcard) {
      if (head) return Fail(e.pos, "'_' is not allowed in a rule head");
      term.kind = Term::Kind::kWildcard;
      return term;
    }
    if (e.kind == RawExpr::Kind::kVar) {
      int v = VarId(e);
      if (positive) vars_[v].bound = true;
      SetVarType(v, t.columns[col].type, e.pos, where);
      term.kind = Term::Kind::kVar;
      term.var = v;
      return term;
    }
    if (IsLiteral(e)) {
      term.kind = Term::Kind::kConst;
      term.constant = ConstFor(e, t.columns[col].type, where);
      return term;
    }
    if (e.kind == RawExpr::Kind::kCall && (e.s == "ip" || e.s == "mac" || e.s == "prefix") && e.args.size() == 1) {
      Expr c = CheckCall(e);
      if (c.type != t.columns[col].type) {
        return Fail(e.pos, absl::StrCat("type mismatch: ", where, " is ", TypeName(t.columns[col].type), ", got ", TypeName(c.type)));
      }
      term.kind = Term::Kind::kConst;
      term.constant = c.constant;
      return term;
    }
    return Fail(e.pos, std::string("arguments of a table must be variables, '_' or literals; bind expressions with 'v = ...' first") +
                    (head ? "" : ""));
  }

  Atom CheckAtom(const RawAtom& ra, bool positive) {
    Atom a;
    a.table = LookupTable(ra.table, ra.pos);
    if (a.table < 0) return a;
    a.negated = ra.negated;
    a.pos = ra.pos;
    const TableDecl& t = prog_.tables_[a.table];
    if (ra.args.size() != t.columns.size()) {
      return Fail(ra.pos, absl::StrCat("table '", t.name, "' has ", t.columns.size(), " columns, got ", ra.args.size(), " arguments"));
    }
    for (size_t i = 0; i < ra.args.size(); ++i) a.args.push_back(AtomTerm(ra.args[i], t, i, positive, false));
    return a;
  }

  Rule CheckRule(const RawRule& rr) {
    vars_.clear();
    var_ids_.clear();
    Rule r;
    r.pos = rr.pos;
    r.head_table = LookupTable(rr.head.table, rr.head.pos);
    if (r.head_table < 0) return r;
    const TableDecl& ht = prog_.tables_[r.head_table];
    if (ht.kind == TableKind::kInput) return Fail(rr.head.pos, "rule derives input table '" + ht.name + "'; only internal and output tables have rules");
    if (rr.head.args.size() != ht.columns.size()) {
      return Fail(rr.head.pos, absl::StrCat("table '", ht.name, "' has ", ht.columns.size(), " columns, got ", rr.head.args.size(), " in the rule head"));
    }
    // 1. Positive atoms bind variables.
    std::vector<std::optional<Literal>> lits(rr.body.size());
    for (size_t i = 0; i < rr.body.size(); ++i) {
      const RawLit& rl = rr.body[i];
      if (rl.kind == RawLit::Kind::kAtom && !rl.atom.negated) {
        Literal l;
        l.kind = Literal::Kind::kAtom;
        l.pos = rl.pos;
        l.atom = CheckAtom(rl.atom, true);
        lits[i] = std::move(l);
      }
    }
    if (failed()) return r;
    // 2. Assignments bind variables, in dependency order.
    for (bool progress = true; progress;) {
      progress = false;
      for (size_t i = 0; i < rr.body.size(); ++i) {
        const RawLit& rl = rr.body[i];
        if (lits[i] || rl.kind != RawLit::Kind::kCompare || (rl.op != "=" && rl.op != "==")) continue;
        for (int side = 0; side < 2; ++side) {
          const RawExpr& target = side == 0 ? rl.lhs : rl.rhs;
          const RawExpr& src = side == 0 ? rl.rhs : rl.lhs;
          if (target.kind != RawExpr::Kind::kVar) continue;
          auto it = var_ids_.find(target.s);
          if (it != var_ids_.end() && vars_[it->second].bound) continue;
          if (!AllBound(src)) continue;
          if (src.kind == RawExpr::Kind::kVar && src.s == target.s) continue;
          Literal l;
          l.kind = Literal::Kind::kAssign;
          l.pos = rl.pos;
          l.rhs = CheckExpr(src, std::nullopt);
          int v = VarId(target);
          SetVarType(v, l.rhs.type, target.pos, "the value assigned to it");
          vars_[v].bound = true;
          l.var = v;
          lits[i] = std::move(l);
          progress = true;
          break;
        }
      }
    }
    if (failed()) return r;
    // 3. Everything else needs bound variables.
    for (size_t i = 0; i < rr.body.size(); ++i) {
      if (lits[i]) continue;
      const RawLit& rl = rr.body[i];
      Literal l;
      l.pos = rl.pos;
      if (rl.kind == RawLit::Kind::kAtom) {
        for (const RawExpr& a : rl.atom.args) {
          if (a.kind == RawExpr::Kind::kVar && (!var_ids_.count(a.s) || !vars_[var_ids_[a.s]].bound)) {
            return Fail(a.pos, "unbound variable '" + a.s + "' in negation 'not " + rl.atom.table +
                            "(...)': every variable of a negated table must be bound by a positive table or an assignment (use '_' for don't-care)");
          }
        }
        l.kind = Literal::Kind::kAtom;
        l.atom = CheckAtom(rl.atom, false);
      } else if (rl.kind == RawLit::Kind::kCompare) {
        RequireBound(rl.lhs);
        RequireBound(rl.rhs);
        l.kind = Literal::Kind::kCompare;
        static const std::map<std::string, CmpOp> kOps = {{"=", CmpOp::kEq}, {"==", CmpOp::kEq}, {"!=", CmpOp::kNe},
                                                          {"<", CmpOp::kLt}, {"<=", CmpOp::kLe}, {">", CmpOp::kGt},
                                                          {">=", CmpOp::kGe}};
        l.op = kOps.at(rl.op);
        // Type the non-literal side first so a string literal on the other side is coerced.
        if (IsLiteral(rl.lhs) && !IsLiteral(rl.rhs)) {
          l.rhs = CheckExpr(rl.rhs, std::nullopt);
          l.lhs = CheckExpr(rl.lhs, l.rhs.type);
        } else {
          l.lhs = CheckExpr(rl.lhs, std::nullopt);
          l.rhs = CheckExpr(rl.rhs, l.lhs.type);
        }
        if (l.lhs.type != l.rhs.type) {
          return Fail(rl.pos, absl::StrCat("type mismatch: cannot compare ", TypeName(l.lhs.type), " with ", TypeName(l.rhs.type)));
        }
      } else {
        RequireBound(rl.lhs);
        l.kind = Literal::Kind::kTest;
        l.lhs = CheckExpr(rl.lhs, std::nullopt);
        if (l.lhs.type != Type::kBool) {
          return Fail(rl.pos, absl::StrCat("a condition must be bool, this expression is ", TypeName(l.lhs.type)));
        }
      }
      lits[i] = std::move(l);
    }
    if (failed()) return r;
    // Order: atoms and filters keep source order; assignments are placed where they were found.
    for (auto& l : lits) r.body.push_back(std::move(*l));
    // 4. Head.
    for (size_t i = 0; i < rr.head.args.size(); ++i) {
      const RawExpr& e = rr.head.args[i];
      const Column& col = ht.columns[i];
      if (e.kind == RawExpr::Kind::kCall && (e.s == "count" || e.s == "min" || e.s == "max") && e.args.size() == 1) {
        if (r.agg != AggKind::kNone) return Fail(e.pos, "a rule head may contain only one aggregate");
        if (e.args[0].kind != RawExpr::Kind::kVar) return Fail(e.args[0].pos, "the argument of '" + e.s + "' must be a variable");
        RequireBound(e.args[0]);
        if (failed()) return r;
        int v = var_ids_.at(e.args[0].s);
        r.agg = e.s == "count" ? AggKind::kCount : e.s == "min" ? AggKind::kMin : AggKind::kMax;
        r.agg_pos = static_cast<int>(i);
        Type result = r.agg == AggKind::kCount ? Type::kInt : *vars_[v].type;
        if (result != col.type) {
          return Fail(e.pos, absl::StrCat("type mismatch: column '", col.name, "' of ", ht.name, " is ", TypeName(col.type), " but ",
                                   e.s, "(", e.args[0].s, ") is ", TypeName(result)));
        }
        Term t;
        t.kind = Term::Kind::kVar;
        t.var = v;
        r.head.push_back(t);
        continue;
      }
      if (e.kind == RawExpr::Kind::kVar) {
        auto it = var_ids_.find(e.s);
        if (it == var_ids_.end() || !vars_[it->second].bound) {
          return Fail(e.pos, "unbound variable '" + e.s + "' in the head of " + ht.name +
                          ": every head variable must appear in a positive table of the body or be assigned");
        }
      }
      r.head.push_back(AtomTerm(e, ht, i, false, true));
    }
    for (const VarInfo& v : vars_) {
      r.var_names.push_back(v.name);
      r.var_types.push_back(v.type.value_or(Type::kInt));
    }
    return r;
  }

  void RequireBound(const RawExpr& e) {
    std::vector<const RawExpr*> vs;
    CollectVars(e, &vs);
    for (const RawExpr* v : vs) {
      auto it = var_ids_.find(v->s);
      if (it == var_ids_.end() || !vars_[it->second].bound) {
        return (void)Fail(v->pos, "unbound variable '" + v->s + "': it must appear in a positive table of the body or be assigned with '" +
                         v->s + " = ...'");
      }
    }
    if (e.kind == RawExpr::Kind::kWildcard) return (void)Fail(e.pos, "'_' may only be used as an argument of a table");
    for (const RawExpr& a : e.args) {
      if (a.kind == RawExpr::Kind::kWildcard) return (void)Fail(a.pos, "'_' may only be used as an argument of a table");
    }
  }

  // Topological order over "head depends on body table" edges; rejects cycles.
  void Order() {
    int n = static_cast<int>(prog_.tables_.size());
    struct Edge {
      int to;
      bool negated;
      SourcePos pos;
    };
    std::vector<std::vector<Edge>> deps(n);
    for (const Rule& r : prog_.rules_) {
      for (const Literal& l : r.body) {
        if (l.kind == Literal::Kind::kAtom) deps[r.head_table].push_back({l.atom.table, l.atom.negated, l.atom.pos});
      }
    }
    std::vector<int> state(n, 0), stack;
    std::vector<Edge> via;  // edge taken to reach stack[i+1]
    std::function<void(int)> visit = [&](int t) {
      state[t] = 1;
      stack.push_back(t);
      for (const Edge& e : deps[t]) {
        if (state[e.to] == 1) {
          // Cycle: from e.to ... t -> e.to.
          auto it = std::find(stack.begin(), stack.end(), e.to);
          size_t start = it - stack.begin();
          std::string path;
          bool negated = e.negated;
          SourcePos neg_pos = e.pos;
          for (size_t i = start; i < stack.size(); ++i) {
            path += prog_.tables_[stack[i]].name + " -> ";
            if (i < via.size() && i >= start && i + 1 < stack.size() && via[i].negated) {
              negated = true;
              neg_pos = via[i].pos;
            }
          }
          path += prog_.tables_[e.to].name;
          if (negated) {
            return (void)Fail(neg_pos, "program is not stratifiable: negation inside the dependency cycle " + path +
                              " (a table may not depend on its own negation)");
          }
          return (void)Fail(e.pos, "recursion is not supported in nlog v1: dependency cycle " + path);
        }
        if (state[e.to] == 0) {
          via.push_back(e);
          visit(e.to);
          via.pop_back();
        }
      }
      stack.pop_back();
      state[t] = 2;
      prog_.tables_[t].order = static_cast<int>(prog_.order_.size());
      prog_.order_.push_back(t);
    };
    for (int t = 0; t < n; ++t) {
      if (state[t] == 0) visit(t);
    }
  }

  std::string name_;
  Program prog_;
  std::map<std::string, int> table_ids_;
};

absl::StatusOr<Program> Program::Compile(std::string_view text, std::string_view name) {
  return Compiler(name).Run(text);
}

int Program::TableIndex(std::string_view name) const {
  for (size_t i = 0; i < tables_.size(); ++i) {
    if (tables_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace rampart::nlog
