#include "nlog/engine.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlog/relation.h"

namespace rampart::nlog {
namespace {

struct RowHash {
  size_t operator()(const Row& r) const { return Relation::HashValues(r.data(), r.size()); }
};
template <typename V>
using RowMap = absl::flat_hash_map<Row, V, RowHash>;

struct ValueLess {
  bool operator()(const Value& a, const Value& b) const { return Compare(a, b) < 0; }
};

// One step of a join plan, executed left to right with nested loops.
struct Step {
  enum class Kind : uint8_t { kScan, kNegCheck, kAssign, kCompare, kTest };
  Kind kind = Kind::kScan;
  int literal = -1;
  int table = -1;
  int index = -1;          // kScan / kNegCheck: index on the bound columns; -1 = scan all / exact
  bool new_view = false;   // the table is the delta table and precedes the delta atom
  std::vector<Term> key;   // terms giving the index key (bound vars or constants)
  std::vector<std::pair<int, int>> binds;   // (column, var) first occurrences of unbound vars
  std::vector<std::pair<int, int>> checks;  // (column, var) repeated vars within this atom
  std::vector<Value> scratch;               // key buffer
};

struct Plan {
  int rule = -1;
  int delta_literal = -1;  // -1: seed plan (no delta atom)
  // Delta atom handling.
  std::vector<std::pair<int, Value>> delta_consts;  // (column, value) the row must have
  std::vector<std::pair<int, int>> delta_binds;     // (column, var)
  std::vector<std::pair<int, int>> delta_checks;    // (column, var) repeated vars
  std::vector<int> neg_key_cols;                    // negated delta: non-wildcard columns
  int neg_index = -1;                               // index on neg_key_cols (if any wildcard)
  std::vector<Step> steps;
};

struct AggState {
  RowMap<std::map<Value, int64_t, ValueLess>> groups;
  RowMap<int64_t> pending;  // (group..., value) -> derivation count change
};

struct TableState {
  std::unique_ptr<Relation> store;
  RowMap<int64_t> pending;  // derived tables: derivation count changes
  std::vector<int> plans;                     // plans whose delta atom reads this table
  std::vector<int> agg_rules;                 // aggregate rules deriving this table
  bool needs_view = false;                    // some rule reads this table twice
  std::unique_ptr<Relation> plus, minus;      // set delta while this table propagates
};

}  // namespace

struct Engine::Impl {
  const Program& prog;
  std::vector<TableState> tables;
  std::vector<Plan> plans;
  std::vector<AggState> aggs;  // by rule index (empty for plain rules)
  std::vector<Value> vars;
  Row head_scratch;

  explicit Impl(const Program& p) : prog(p) {}

  // ---- planning ----

  std::vector<int> AtomVars(const Atom& a) {
    std::vector<int> v;
    for (const Term& t : a.args) {
      if (t.kind == Term::Kind::kVar) v.push_back(t.var);
    }
    return v;
  }

  static void ExprVars(const Expr& e, std::vector<int>* out) {
    if (e.kind == Expr::Kind::kVar) out->push_back(e.var);
    for (const Expr& a : e.args) ExprVars(a, out);
  }

  Plan BuildPlan(int rule_idx, int delta) {
    const Rule& r = prog.rules()[rule_idx];
    Plan p;
    p.rule = rule_idx;
    p.delta_literal = delta;
    std::vector<bool> bound(r.num_vars(), false);
    std::vector<bool> done(r.body.size(), false);
    if (delta >= 0) {
      const Atom& a = r.body[delta].atom;
      done[delta] = true;
      for (size_t c = 0; c < a.args.size(); ++c) {
        const Term& t = a.args[c];
        if (t.kind == Term::Kind::kConst) {
          p.delta_consts.push_back({static_cast<int>(c), t.constant});
        } else if (t.kind == Term::Kind::kVar) {
          if (bound[t.var]) {
            p.delta_checks.push_back({static_cast<int>(c), t.var});
          } else {
            p.delta_binds.push_back({static_cast<int>(c), t.var});
            bound[t.var] = true;
          }
        }
        if (a.negated && t.kind != Term::Kind::kWildcard) p.neg_key_cols.push_back(static_cast<int>(c));
      }
      if (a.negated && p.neg_key_cols.size() != a.args.size()) {
        p.neg_index = tables[a.table].store->AddIndex(p.neg_key_cols);
      }
    }
    const int delta_table = delta >= 0 ? r.body[delta].atom.table : -1;
    auto all_bound = [&](const std::vector<int>& vs) {
      return std::all_of(vs.begin(), vs.end(), [&](int v) { return bound[v]; });
    };
    auto make_atom_step = [&](int li, Step::Kind kind) {
      const Atom& a = r.body[li].atom;
      Step s;
      s.kind = kind;
      s.literal = li;
      s.table = a.table;
      s.new_view = a.table == delta_table && li < delta;
      std::vector<int> cols;
      std::vector<bool> newly(r.num_vars(), false);
      for (size_t c = 0; c < a.args.size(); ++c) {
        const Term& t = a.args[c];
        if (t.kind == Term::Kind::kConst || (t.kind == Term::Kind::kVar && bound[t.var])) {
          cols.push_back(static_cast<int>(c));
          s.key.push_back(t);
        } else if (t.kind == Term::Kind::kVar) {
          if (newly[t.var]) {
            s.checks.push_back({static_cast<int>(c), t.var});
          } else {
            s.binds.push_back({static_cast<int>(c), t.var});
            newly[t.var] = true;
          }
        }
      }
      for (int v = 0; v < r.num_vars(); ++v) {
        if (newly[v]) bound[v] = true;
      }
      bool exact = kind == Step::Kind::kNegCheck && cols.size() == a.args.size();
      // A scan with nothing bound walks the table; a negation with nothing bound asks whether the
      // table is empty (an index on no columns: one bucket).
      if (kind == Step::Kind::kScan ? !cols.empty() : !exact) {
        s.index = tables[a.table].store->AddIndex(cols);
      }
      s.scratch.resize(s.key.size());
      return s;
    };
    for (;;) {
      // Filters, assignments and negations as soon as their inputs are bound.
      for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < r.body.size(); ++i) {
          if (done[i]) continue;
          const Literal& l = r.body[i];
          std::vector<int> need;
          switch (l.kind) {
            case Literal::Kind::kAtom:
              if (!l.atom.negated) continue;
              need = AtomVars(l.atom);
              break;
            case Literal::Kind::kAssign: ExprVars(l.rhs, &need); break;
            case Literal::Kind::kCompare:
              ExprVars(l.lhs, &need);
              ExprVars(l.rhs, &need);
              break;
            case Literal::Kind::kTest: ExprVars(l.lhs, &need); break;
          }
          if (!all_bound(need)) continue;
          done[i] = true;
          progress = true;
          if (l.kind == Literal::Kind::kAtom) {
            p.steps.push_back(make_atom_step(static_cast<int>(i), Step::Kind::kNegCheck));
            continue;
          }
          Step s;
          s.literal = static_cast<int>(i);
          if (l.kind == Literal::Kind::kAssign) {
            // Already bound (by the delta atom of a negation plan): the assignment is a check.
            s.kind = bound[l.var] ? Step::Kind::kCompare : Step::Kind::kAssign;
            bound[l.var] = true;
          } else {
            s.kind = l.kind == Literal::Kind::kCompare ? Step::Kind::kCompare : Step::Kind::kTest;
          }
          p.steps.push_back(std::move(s));
        }
      }
      // Next positive atom: the one whose first column (the datapath / tenant by convention) is
      // bound, then the one with most bound columns, then source order.
      // A probe that binds a whole key of the table (at most one match) goes before others.
      int best = -1, best_score = -1;
      for (size_t i = 0; i < r.body.size(); ++i) {
        const Literal& l = r.body[i];
        if (done[i] || l.kind != Literal::Kind::kAtom || l.atom.negated) continue;
        int score = 0;
        std::vector<bool> col_bound(l.atom.args.size());
        for (size_t c = 0; c < l.atom.args.size(); ++c) {
          const Term& t = l.atom.args[c];
          bool b = t.kind == Term::Kind::kConst || (t.kind == Term::Kind::kVar && bound[t.var]);
          col_bound[c] = b;
          if (b) score += c == 0 ? 1000 : 10;
        }
        const std::vector<int>& key = prog.tables()[l.atom.table].key;
        if (!key.empty() && std::all_of(key.begin(), key.end(), [&](int c) { return col_bound[c]; })) score += 5;
        if (score > best_score) {
          best = static_cast<int>(i);
          best_score = score;
        }
      }
      if (best < 0) break;
      done[best] = true;
      p.steps.push_back(make_atom_step(best, Step::Kind::kScan));
    }
    return p;
  }

  void Build() {
    tables.resize(prog.tables().size());
    for (size_t t = 0; t < prog.tables().size(); ++t) {
      tables[t].store = std::make_unique<Relation>(static_cast<int>(prog.tables()[t].columns.size()));
      if (!prog.tables()[t].key.empty()) tables[t].store->AddIndex(prog.tables()[t].key);
    }
    aggs.resize(prog.rules().size());
    int max_vars = 0;
    for (size_t ri = 0; ri < prog.rules().size(); ++ri) {
      const Rule& r = prog.rules()[ri];
      max_vars = std::max(max_vars, r.num_vars());
      if (r.agg != AggKind::kNone) tables[r.head_table].agg_rules.push_back(static_cast<int>(ri));
      std::vector<int> seen;
      for (size_t li = 0; li < r.body.size(); ++li) {
        if (r.body[li].kind != Literal::Kind::kAtom) continue;
        int t = r.body[li].atom.table;
        if (std::find(seen.begin(), seen.end(), t) != seen.end()) tables[t].needs_view = true;
        seen.push_back(t);
        tables[t].plans.push_back(static_cast<int>(plans.size()));
        plans.push_back(BuildPlan(static_cast<int>(ri), static_cast<int>(li)));
      }
    }
    vars.resize(max_vars);
  }

  // ---- execution ----

  void Emit(const Plan& p, int64_t sign) {
    const Rule& r = prog.rules()[p.rule];
    head_scratch.clear();
    if (r.agg == AggKind::kNone) {
      for (const Term& t : r.head) head_scratch.push_back(t.kind == Term::Kind::kVar ? vars[t.var] : t.constant);
      auto& pending = tables[r.head_table].pending;
      auto it = pending.try_emplace(head_scratch, 0).first;
      it->second += sign;
      return;
    }
    for (size_t i = 0; i < r.head.size(); ++i) {
      if (static_cast<int>(i) == r.agg_pos) continue;
      const Term& t = r.head[i];
      head_scratch.push_back(t.kind == Term::Kind::kVar ? vars[t.var] : t.constant);
    }
    head_scratch.push_back(vars[r.head[r.agg_pos].var]);
    auto it = aggs[p.rule].pending.try_emplace(head_scratch, 0).first;
    it->second += sign;
  }

  bool BindRow(const Step& s, const Value* row) {
    for (const auto& [c, v] : s.binds) vars[v] = row[c];
    for (const auto& [c, v] : s.checks) {
      if (row[c] != vars[v]) return false;
    }
    return true;
  }

  // Number of rows of `s.table` matching the step's key in the view the step reads.
  int64_t CountMatches(const Step& s, const Value* key) {
    TableState& ts = tables[s.table];
    if (s.index < 0) {
      // Exact row (negation without wildcards).
      int64_t n = ts.store->Count(key) > 0 ? 1 : 0;
      if (s.new_view) n += (ts.plus->Count(key) > 0 ? 1 : 0) - (ts.minus->Count(key) > 0 ? 1 : 0);
      return n;
    }
    int64_t n = 0;
    ts.store->ForEachMatch(s.index, key, [&](uint32_t) { ++n; });
    if (s.new_view) {
      ts.plus->ForEachMatch(s.index, key, [&](uint32_t) { ++n; });
      ts.minus->ForEachMatch(s.index, key, [&](uint32_t) { --n; });
    }
    return n;
  }

  void Run(const Plan& p, size_t k, int64_t sign) {
    if (k == p.steps.size()) {
      Emit(p, sign);
      return;
    }
    const Step& s = p.steps[k];
    const Rule& r = prog.rules()[p.rule];
    const Literal& l = r.body[s.literal];
    switch (s.kind) {
      case Step::Kind::kScan: {
        TableState& ts = tables[s.table];
        Value* key = const_cast<Value*>(s.scratch.data());
        for (size_t i = 0; i < s.key.size(); ++i) {
          key[i] = s.key[i].kind == Term::Kind::kVar ? vars[s.key[i].var] : s.key[i].constant;
        }
        auto visit_store = [&](uint32_t id) {
          const Value* row = ts.store->RowAt(id);
          if (s.new_view && ts.minus->Count(row) > 0) return;
          if (BindRow(s, row)) Run(p, k + 1, sign);
        };
        if (s.index >= 0) ts.store->ForEachMatch(s.index, key, visit_store);
        else ts.store->ForEach(visit_store);
        if (s.new_view) {
          auto visit_plus = [&](uint32_t id) {
            if (BindRow(s, ts.plus->RowAt(id))) Run(p, k + 1, sign);
          };
          if (s.index >= 0) ts.plus->ForEachMatch(s.index, key, visit_plus);
          else ts.plus->ForEach(visit_plus);
        }
        return;
      }
      case Step::Kind::kNegCheck: {
        Value* key = const_cast<Value*>(s.scratch.data());
        for (size_t i = 0; i < s.key.size(); ++i) {
          key[i] = s.key[i].kind == Term::Kind::kVar ? vars[s.key[i].var] : s.key[i].constant;
        }
        if (CountMatches(s, key) == 0) Run(p, k + 1, sign);
        return;
      }
      case Step::Kind::kAssign: {
        if (EvalExpr(l.rhs, vars.data(), &vars[l.var])) Run(p, k + 1, sign);
        return;
      }
      case Step::Kind::kCompare: {
        Value a, b;
        if (l.kind == Literal::Kind::kAssign) {
          if (!EvalExpr(l.rhs, vars.data(), &b)) return;
          if (vars[l.var] == b) Run(p, k + 1, sign);
          return;
        }
        if (!EvalExpr(l.lhs, vars.data(), &a) || !EvalExpr(l.rhs, vars.data(), &b)) return;
        if (EvalCompare(l.op, a, b)) Run(p, k + 1, sign);
        return;
      }
      case Step::Kind::kTest: {
        Value a;
        if (EvalExpr(l.lhs, vars.data(), &a) && a.AsBool()) Run(p, k + 1, sign);
        return;
      }
    }
  }

  // Propagates the set delta of table t (rows appearing: +1, disappearing: -1) through every
  // rule that reads t. REQUIRES: t's store still holds the old contents.
  void Propagate(int t, const std::vector<std::pair<Row, int>>& delta) {
    TableState& ts = tables[t];
    if (delta.empty() || ts.plans.empty()) return;
    if (ts.needs_view) {
      int arity = ts.store->arity();
      ts.plus = std::make_unique<Relation>(arity);
      ts.minus = std::make_unique<Relation>(arity);
      // Same index ids as the store: the steps use the store's index numbers.
      for (int i = 0; i < ts.store->num_indexes(); ++i) {
        ts.plus->AddIndex(ts.store->IndexColumns(i));
        ts.minus->AddIndex(ts.store->IndexColumns(i));
      }
      for (const auto& [row, sign] : delta) (sign > 0 ? ts.plus : ts.minus)->AddCount(row.data(), 1);
    }
    for (int pi : ts.plans) {
      const Plan& p = plans[pi];
      const Atom& a = prog.rules()[p.rule].body[p.delta_literal].atom;
      if (EmptyScan(p)) continue;
      if (!a.negated) {
        for (const auto& [row, sign] : delta) {
          if (!BindDelta(p, row.data())) continue;
          Run(p, 0, sign);
        }
        continue;
      }
      // Negation: the weight of key k is [no row matches k]; group the delta by key.
      RowMap<int64_t> by_key;
      Row key;
      for (const auto& [row, sign] : delta) {
        key.clear();
        for (int c : p.neg_key_cols) key.push_back(row[c]);
        by_key[key] += sign;
      }
      for (const auto& [k, net] : by_key) {
        if (net == 0) continue;
        int64_t old_n = 0;
        if (p.neg_index >= 0) {
          ts.store->ForEachMatch(p.neg_index, k.data(), [&](uint32_t) { ++old_n; });
        } else {
          old_n = ts.store->Count(k.data()) > 0 ? 1 : 0;
        }
        int64_t new_n = old_n + net;
        int64_t change = (new_n == 0 ? 1 : 0) - (old_n == 0 ? 1 : 0);
        if (change == 0) continue;
        // Bind from the key (columns are neg_key_cols in order).
        std::vector<Value> full(ts.store->arity());
        for (size_t i = 0; i < p.neg_key_cols.size(); ++i) full[p.neg_key_cols[i]] = k[i];
        if (BindDelta(p, full.data())) Run(p, 0, change);
      }
    }
    ts.plus.reset();
    ts.minus.reset();
  }

  // True if some positive table the plan joins is empty in the view the plan reads, so the
  // plan derives nothing (e.g. the first transaction of a bulk load).
  bool EmptyScan(const Plan& p) {
    for (const Step& s : p.steps) {
      if (s.kind != Step::Kind::kScan) continue;
      const TableState& ts = tables[s.table];
      if (ts.store->size() == 0 && !(s.new_view && ts.plus && ts.plus->size() > 0)) return true;
    }
    return false;
  }

  bool BindDelta(const Plan& p, const Value* row) {
    for (const auto& [c, v] : p.delta_consts) {
      if (row[c] != v) return false;
    }
    for (const auto& [c, v] : p.delta_binds) vars[v] = row[c];
    for (const auto& [c, v] : p.delta_checks) {
      if (row[c] != vars[v]) return false;
    }
    return true;
  }

  // Folds pending aggregate changes of the rules deriving t into t's pending counts.
  void FlushAggregates(int t) {
    for (int ri : tables[t].agg_rules) {
      const Rule& r = prog.rules()[ri];
      AggState& st = aggs[ri];
      if (st.pending.empty()) continue;
      // Old aggregate of every touched group, before any change.
      RowMap<std::optional<Value>> before;
      for (const auto& [gv, dc] : st.pending) {
        if (dc == 0) continue;
        Row g(gv.begin(), gv.end() - 1);
        if (before.contains(g)) continue;
        auto it = st.groups.find(g);
        before[g] = it == st.groups.end() ? std::nullopt : std::optional<Value>(Aggregate(r.agg, it->second));
      }
      for (const auto& [gv, dc] : st.pending) {
        if (dc == 0) continue;
        Row g(gv.begin(), gv.end() - 1);
        auto& m = st.groups[g];
        int64_t& c = m[gv.back()];
        c += dc;
        if (c < 0) std::abort();
        if (c == 0) m.erase(gv.back());
        if (m.empty()) st.groups.erase(g);
      }
      st.pending.clear();
      for (const auto& [g, old] : before) {
        auto it = st.groups.find(g);
        std::optional<Value> now =
            it == st.groups.end() ? std::nullopt : std::optional<Value>(Aggregate(r.agg, it->second));
        if (old == now) continue;
        if (old) tables[t].pending[HeadRow(r, g, *old)] -= 1;
        if (now) tables[t].pending[HeadRow(r, g, *now)] += 1;
      }
    }
  }

  static Value Aggregate(AggKind k, const std::map<Value, int64_t, ValueLess>& m) {
    switch (k) {
      case AggKind::kCount: return Value::Int(static_cast<int64_t>(m.size()));
      case AggKind::kMin: return m.begin()->first;
      case AggKind::kMax: return m.rbegin()->first;
      case AggKind::kNone: break;
    }
    std::abort();
  }

  static Row HeadRow(const Rule& r, const Row& group, const Value& agg) {
    Row row(group.begin(), group.end());
    row.insert(row.begin() + r.agg_pos, agg);
    return row;
  }

  // Runs every table's turn in evaluation order. `input_delta` holds the set deltas of input
  // tables; derived tables take theirs from their pending counts.
  Delta Process(std::vector<std::vector<std::pair<Row, int>>>& input_delta) {
    Delta out;
    for (int t : prog.order()) {
      const TableDecl& decl = prog.tables()[t];
      TableState& ts = tables[t];
      std::vector<std::pair<Row, int>> derived;
      std::vector<std::pair<Row, int>>* delta = &input_delta[t];
      if (decl.kind != TableKind::kInput) {
        FlushAggregates(t);
        for (const auto& [row, dc] : ts.pending) {
          if (dc == 0) continue;
          int64_t old = ts.store->Count(row.data());
          int64_t now = old + dc;
          if (now < 0) std::abort();  // more retractions than derivations: a bug
          if (old == 0 && now > 0) derived.push_back({row, 1});
          if (old > 0 && now == 0) derived.push_back({row, -1});
        }
        delta = &derived;
      }
      Propagate(t, *delta);
      if (decl.kind != TableKind::kInput) {
        for (const auto& [row, dc] : ts.pending) {
          if (dc != 0) ts.store->AddCount(row.data(), dc);
        }
        ts.pending.clear();
      } else {
        for (const auto& [row, sign] : *delta) ts.store->AddCount(row.data(), sign);
      }
      if (decl.kind == TableKind::kOutput && !delta->empty()) {
        TableDelta& td = out.tables[decl.name];
        for (const auto& [row, sign] : *delta) (sign > 0 ? td.inserted : td.deleted).push_back(row);
        std::sort(td.inserted.begin(), td.inserted.end(), RowLess);
        std::sort(td.deleted.begin(), td.deleted.end(), RowLess);
      }
    }
    return out;
  }

  absl::Status Validate(const Transaction& tx, std::vector<std::vector<std::pair<Row, int>>>* out);
};

absl::Status Engine::Impl::Validate(const Transaction& tx, std::vector<std::vector<std::pair<Row, int>>>* out) {
  out->assign(prog.tables().size(), {});
  std::vector<absl::flat_hash_set<Row>> dels(prog.tables().size()), ins(prog.tables().size());
  for (const auto& ch : tx.changes()) {
    int t = prog.TableIndex(ch.table);
    const char* verb = ch.insert ? "insert into" : "delete from";
    if (t < 0) return absl::NotFoundError(absl::StrCat("transaction: ", verb, " unknown table '", ch.table, "'"));
    const TableDecl& d = prog.tables()[t];
    if (d.kind != TableKind::kInput) {
      return absl::InvalidArgumentError(
          absl::StrCat("transaction: ", verb, " table '", ch.table, "': only input tables can be changed"));
    }
    if (ch.row.size() != d.columns.size()) {
      return absl::InvalidArgumentError(absl::StrCat("transaction: ", verb, " table '", ch.table, "': row has ",
                                                     ch.row.size(), " values, the table has ", d.columns.size(),
                                                     " columns"));
    }
    for (size_t c = 0; c < ch.row.size(); ++c) {
      if (ch.row[c].type() != d.columns[c].type) {
        return absl::InvalidArgumentError(absl::StrCat("transaction: ", verb, " table '", ch.table, "': column '",
                                                       d.columns[c].name, "' is ", TypeName(d.columns[c].type),
                                                       ", got ", TypeName(ch.row[c].type())));
      }
    }
    auto& set = ch.insert ? ins[t] : dels[t];
    if (!set.insert(ch.row).second) {
      return absl::InvalidArgumentError(absl::StrCat("transaction: ", verb, " table '", ch.table, "': row ",
                                                     RowToString(ch.row), " is listed twice"));
    }
  }
  for (size_t t = 0; t < prog.tables().size(); ++t) {
    const TableDecl& d = prog.tables()[t];
    const Relation& store = *tables[t].store;
    for (const Row& row : dels[t]) {
      if (store.Count(row.data()) == 0) {
        return absl::NotFoundError(absl::StrCat("transaction: delete from table '", d.name, "': row ",
                                                RowToString(row), " is not present"));
      }
    }
    for (const Row& row : ins[t]) {
      if (store.Count(row.data()) > 0 && !dels[t].contains(row)) {
        return absl::AlreadyExistsError(absl::StrCat("transaction: insert into table '", d.name, "': row ",
                                                     RowToString(row), " is already present"));
      }
    }
    auto& delta = (*out)[t];
    for (const Row& row : dels[t]) {
      if (!ins[t].contains(row)) delta.push_back({row, -1});
    }
    for (const Row& row : ins[t]) {
      if (!dels[t].contains(row)) delta.push_back({row, +1});
    }
    if (d.key.empty()) continue;
    // Key check: rows per touched key afterwards = present - deleted + inserted.
    absl::flat_hash_map<Row, int64_t> per_key;
    for (const auto& [row, sign] : delta) {
      Row k;
      for (int c : d.key) k.push_back(row[c]);
      per_key[k] += sign;
    }
    for (const auto& [k, net] : per_key) {
      if (net <= 0) continue;
      int64_t present = 0;
      store.ForEachMatch(0, k.data(), [&](uint32_t) { ++present; });
      if (present + net > 1) {
        std::string key_text;
        for (size_t i = 0; i < d.key.size(); ++i) {
          absl::StrAppend(&key_text, i ? ", " : "", d.columns[d.key[i]].name, "=", k[i].ToLiteral());
        }
        return absl::FailedPreconditionError(absl::StrCat("transaction: table '", d.name, "': key (", key_text,
                                                          ") would have ", present + net,
                                                          " rows; delete the old row in the same transaction"));
      }
    }
  }
  return absl::OkStatus();
}

Engine::Engine(Program program) : program_(std::move(program)), impl_(std::make_unique<Impl>(program_)) {
  impl_->Build();
  // Rules without positive body tables hold in the empty database: evaluate them once.
  for (size_t ri = 0; ri < program_.rules().size(); ++ri) {
    const Rule& r = program_.rules()[ri];
    bool positive = std::any_of(r.body.begin(), r.body.end(), [](const Literal& l) {
      return l.kind == Literal::Kind::kAtom && !l.atom.negated;
    });
    if (positive) continue;
    Plan seed = impl_->BuildPlan(static_cast<int>(ri), -1);
    impl_->Run(seed, 0, +1);
  }
  std::vector<std::vector<std::pair<Row, int>>> none(program_.tables().size());
  initial_delta_ = impl_->Process(none);
}

Engine::~Engine() = default;

absl::StatusOr<Delta> Engine::Apply(const Transaction& tx) {
  std::vector<std::vector<std::pair<Row, int>>> input;
  if (absl::Status s = impl_->Validate(tx, &input); !s.ok()) return s;
  return impl_->Process(input);
}

absl::StatusOr<std::vector<Row>> Engine::Scan(std::string_view table) const {
  int t = program_.TableIndex(table);
  if (t < 0) return absl::NotFoundError(absl::StrCat("unknown table '", std::string(table), "'"));
  std::vector<Row> rows = impl_->tables[t].store->Rows();
  std::sort(rows.begin(), rows.end(), RowLess);
  return rows;
}

bool Engine::Contains(std::string_view table, const Row& row) const {
  int t = program_.TableIndex(table);
  if (t < 0 || row.size() != program_.tables()[t].columns.size()) return false;
  return impl_->tables[t].store->Count(row.data()) > 0;
}

size_t Engine::TableSize(std::string_view table) const {
  int t = program_.TableIndex(table);
  return t < 0 ? 0 : impl_->tables[t].store->size();
}

namespace {

size_t AggMemory(const AggState& a) {
  size_t b = a.groups.capacity() * (sizeof(Row) + 64);
  for (const auto& [g, m] : a.groups) b += g.capacity() * sizeof(Value) + m.size() * (sizeof(Value) + 48);
  return b;
}

}  // namespace

size_t Engine::MemoryBytes() const {
  size_t b = sizeof(*this) + sizeof(Impl);
  for (const auto& ts : impl_->tables) b += ts.store->MemoryBytes();
  for (const auto& a : impl_->aggs) b += AggMemory(a);
  return b;
}

std::vector<TableMemory> Engine::MemoryByTable() const {
  std::vector<TableMemory> out;
  for (size_t t = 0; t < program_.tables().size(); ++t) {
    const TableDecl& d = program_.tables()[t];
    const Relation& rel = *impl_->tables[t].store;
    const Relation::Memory m = rel.MemoryUsage();
    TableMemory tm;
    tm.name = d.name;
    tm.kind = d.kind;
    tm.rows = rel.size();
    tm.arity = rel.arity();
    tm.indexes = rel.num_indexes();
    tm.values = m.values;
    tm.counts = m.counts;
    tm.free_list = m.free_list;
    tm.row_set = m.row_set;
    tm.index_heads = m.index_heads;
    tm.index_links = m.index_links;
    for (int ri : impl_->tables[t].agg_rules) tm.aggregate += AggMemory(impl_->aggs[ri]);
    tm.total = sizeof(Relation) + m.Total() + tm.aggregate;
    out.push_back(std::move(tm));
  }
  return out;
}

}  // namespace rampart::nlog
