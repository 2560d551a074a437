#include "test/nlog/naive_eval.h"

#include <cstdlib>
#include <functional>
#include <optional>
#include <vector>

namespace rampart::nlog::testing {
namespace {

// Matches a row against an atom's arguments, extending `vars`/`bound`; false on conflict.
bool Unify(const Atom& a, const Row& row, std::vector<Value>& vars, std::vector<bool>& bound) {
  for (size_t c = 0; c < a.args.size(); ++c) {
    const Term& t = a.args[c];
    if (t.kind == Term::Kind::kConst && row[c] != t.constant) return false;
    if (t.kind == Term::Kind::kVar) {
      if (bound[t.var] && vars[t.var] != row[c]) return false;
      vars[t.var] = row[c];
      bound[t.var] = true;
    }
  }
  return true;
}

void Vars(const Expr& e, std::vector<int>* out) {
  if (e.kind == Expr::Kind::kVar) out->push_back(e.var);
  for (const Expr& a : e.args) Vars(a, out);
}

// All satisfying assignments of the rule body.
void Solve(const Rule& r, const Program& prog, const Database& db, std::vector<std::vector<Value>>* out) {
  std::vector<int> positives;
  for (size_t i = 0; i < r.body.size(); ++i) {
    if (r.body[i].kind == Literal::Kind::kAtom && !r.body[i].atom.negated) positives.push_back(static_cast<int>(i));
  }
  std::vector<Value> vars(r.num_vars());
  std::vector<bool> bound(r.num_vars(), false);
  std::function<void(size_t)> rec = [&](size_t k) {
    if (k < positives.size()) {
      const Atom& a = r.body[positives[k]].atom;
      const RowSet& rows = db.at(prog.tables()[a.table].name);
      for (const Row& row : rows) {
        std::vector<Value> v2 = vars;
        std::vector<bool> b2 = bound;
        if (Unify(a, row, vars, bound)) rec(k + 1);
        vars = v2;
        bound = b2;
      }
      return;
    }
    // Remaining literals in any order in which their inputs are bound.
    std::vector<Value> v = vars;
    std::vector<bool> b = bound;
    std::vector<bool> done(r.body.size(), false);
    for (int i : positives) done[i] = true;
    for (bool progress = true; progress;) {
      progress = false;
      for (size_t i = 0; i < r.body.size(); ++i) {
        if (done[i]) continue;
        const Literal& l = r.body[i];
        std::vector<int> need;
        if (l.kind == Literal::Kind::kAtom) {
          for (const Term& t : l.atom.args) {
            if (t.kind == Term::Kind::kVar) need.push_back(t.var);
          }
        } else {
          Vars(l.lhs, &need);
          Vars(l.rhs, &need);
        }
        bool ready = true;
        for (int n : need) ready = ready && b[n];
        if (!ready) continue;
        done[i] = true;
        progress = true;
        if (l.kind == Literal::Kind::kAtom) {
          bool exists = false;
          for (const Row& row : db.at(prog.tables()[l.atom.table].name)) {
            bool match = true;
            for (size_t c = 0; c < row.size(); ++c) {
              const Term& t = l.atom.args[c];
              if (t.kind == Term::Kind::kConst && row[c] != t.constant) match = false;
              if (t.kind == Term::Kind::kVar && row[c] != v[t.var]) match = false;
            }
            exists = exists || match;
          }
          if (exists) return;
        } else if (l.kind == Literal::Kind::kAssign) {
          Value x;
          if (!EvalExpr(l.rhs, v.data(), &x)) return;
          if (b[l.var] && v[l.var] != x) return;
          v[l.var] = x;
          b[l.var] = true;
        } else if (l.kind == Literal::Kind::kCompare) {
          Value x, y;
          if (!EvalExpr(l.lhs, v.data(), &x) || !EvalExpr(l.rhs, v.data(), &y)) return;
          if (!EvalCompare(l.op, x, y)) return;
        } else {
          Value x;
          if (!EvalExpr(l.lhs, v.data(), &x) || !x.AsBool()) return;
        }
      }
    }
    for (bool d : done) {
      if (!d) std::abort();  // the compiler promised every literal can be evaluated
    }
    out->push_back(v);
  };
  rec(0);
}

}  // namespace

Database NaiveEvaluate(const Program& prog, const Database& inputs) {
  Database db;
  for (const TableDecl& t : prog.tables()) {
    auto it = inputs.find(t.name);
    db[t.name] = (t.kind == TableKind::kInput && it != inputs.end()) ? it->second : RowSet{};
  }
  for (int t : prog.order()) {
    for (const Rule& r : prog.rules()) {
      if (r.head_table != t) continue;
      std::vector<std::vector<Value>> sols;
      Solve(r, prog, db, &sols);
      if (r.agg == AggKind::kNone) {
        for (const auto& v : sols) {
          Row row;
          for (const Term& h : r.head) row.push_back(h.kind == Term::Kind::kVar ? v[h.var] : h.constant);
          db[prog.tables()[t].name].insert(row);
        }
        continue;
      }
      // group (head terms other than the aggregate) -> set of distinct aggregated values
      std::map<Row, std::set<Value>, RowCmp> groups;
      for (const auto& v : sols) {
        Row g;
        for (size_t i = 0; i < r.head.size(); ++i) {
          if (static_cast<int>(i) == r.agg_pos) continue;
          g.push_back(r.head[i].kind == Term::Kind::kVar ? v[r.head[i].var] : r.head[i].constant);
        }
        groups[g].insert(v[r.head[r.agg_pos].var]);
      }
      for (const auto& [g, vals] : groups) {
        Value a = r.agg == AggKind::kCount ? Value::Int(static_cast<int64_t>(vals.size()))
                  : r.agg == AggKind::kMin ? *vals.begin()
                                           : *vals.rbegin();
        Row row = g;
        row.insert(row.begin() + r.agg_pos, a);
        db[prog.tables()[t].name].insert(row);
      }
    }
  }
  return db;
}

}  // namespace rampart::nlog::testing
