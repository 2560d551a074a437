// Property test: random programs and random transaction sequences. After every transaction the
// incremental Engine's tables must equal a from-scratch NaiveEvaluate of the inputs so far, and
// each reported Delta must equal the difference of consecutive from-scratch results.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "nlog/engine.h"
#include "test/nlog/naive_eval.h"

namespace rampart::nlog {
namespace {

using testing::Database;
using testing::NaiveEvaluate;
using testing::RowSet;

struct GenTable {
  std::string name;
  std::vector<Type> types;
  bool input = false;
  bool output = false;
  bool keyed = false;
};

class Gen {
 public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  Type RandomType() {
    int r = Uniform(0, 9);
    if (r < 5) return Type::kInt;
    if (r < 8) return Type::kString;
    return r == 8 ? Type::kIp : Type::kPrefix;
  }

  static std::vector<Value> Domain(Type t) {
    switch (t) {
      case Type::kInt: return {Value::Int(0), Value::Int(1), Value::Int(2), Value::Int(3)};
      case Type::kString: return {Value::String("a"), Value::String("b"), Value::String("c")};
      case Type::kIp:
        // IPv4 values are held inline, IPv6 ones interned (value.h): both kinds.
        return {*Value::Parse(Type::kIp, "198.18.0.1"), *Value::Parse(Type::kIp, "198.18.0.5"),
                *Value::Parse(Type::kIp, "198.18.1.1"), *Value::Parse(Type::kIp, "2001:db8::1")};
      case Type::kPrefix:
        return {*Value::Parse(Type::kPrefix, "198.18.0.0/30"), *Value::Parse(Type::kPrefix, "198.18.0.0/23"),
                *Value::Parse(Type::kPrefix, "198.18.1.0/24"), *Value::Parse(Type::kPrefix, "2001:db8::/64")};
      default: return {Value::Bool(false), Value::Bool(true)};
    }
  }

  Value RandomValue(Type t) {
    auto d = Domain(t);
    return d[Uniform(0, static_cast<int>(d.size()) - 1)];
  }

  std::string Program(std::vector<GenTable>* tables_out) {
    std::vector<GenTable>& tables = *tables_out;
    int n_in = Uniform(1, 3), n_der = Uniform(1, 4);
    std::ostringstream out;
    for (int i = 0; i < n_in + n_der; ++i) {
      GenTable t;
      t.name = "T" + std::to_string(i);
      t.input = i < n_in;
      t.output = !t.input && Chance(0.6);
      t.keyed = t.input && Chance(0.25);
      int arity = Uniform(1, 3);
      for (int c = 0; c < arity; ++c) t.types.push_back(RandomType());
      if (t.keyed && arity < 2) t.keyed = false;
      out << (t.input ? "input" : t.output ? "output" : "internal") << " table " << t.name << "(";
      for (int c = 0; c < arity; ++c) out << (c ? ", " : "") << "c" << c << ": " << TypeName(t.types[c]);
      out << ")" << (t.keyed ? " key(c0)" : "") << ".\n";
      tables.push_back(t);
    }
    for (int j = n_in; j < n_in + n_der; ++j) {
      int n_rules = Uniform(1, 2);
      for (int k = 0; k < n_rules; ++k) out << Rule(tables, j) << "\n";
    }
    return out.str();
  }

  std::string Rule(const std::vector<GenTable>& tables, int j) {
    struct Var {
      std::string name;
      Type type;
    };
    std::vector<Var> vars;
    std::vector<std::string> body;
    auto pick_var = [&](Type t) -> const Var* {
      std::vector<const Var*> c;
      for (const Var& v : vars) {
        if (v.type == t) c.push_back(&v);
      }
      return c.empty() ? nullptr : c[Uniform(0, static_cast<int>(c.size()) - 1)];
    };
    int n_pos = Uniform(1, 3);
    for (int a = 0; a < n_pos; ++a) {
      const GenTable& t = tables[Uniform(0, j - 1)];
      std::string atom = t.name + "(";
      for (size_t c = 0; c < t.types.size(); ++c) {
        if (c) atom += ", ";
        double r = std::uniform_real_distribution<double>(0, 1)(rng_);
        const Var* v = pick_var(t.types[c]);
        if (r < 0.45 && v) {
          atom += v->name;
        } else if (r < 0.53) {
          atom += RandomValue(t.types[c]).ToLiteral();
        } else if (r < 0.6) {
          atom += "_";
        } else {
          vars.push_back({"v" + std::to_string(vars.size()), t.types[c]});
          atom += vars.back().name;
        }
      }
      body.push_back(atom + ")");
    }
    if (Chance(0.35)) {
      if (const Var* v = pick_var(Type::kInt)) {
        std::string n = "v" + std::to_string(vars.size());
        body.push_back(Chance(0.5) ? n + " = " + v->name + " + 1" : v->name + " - 1 = " + n);
        vars.push_back({n, Type::kInt});
      } else if (const Var* s = pick_var(Type::kString)) {
        std::string n = "v" + std::to_string(vars.size());
        body.push_back(n + " = concat(" + s->name + ", \"a\")");
        vars.push_back({n, Type::kString});
      }
    }
    if (Chance(0.2)) {
      if (const Var* ip = pick_var(Type::kIp)) {
        std::string n = "v" + std::to_string(vars.size());
        body.push_back(n + " = prefix(" + ip->name + ", 30)");
        vars.push_back({n, Type::kPrefix});
      }
    }
    if (!vars.empty() && Chance(0.4)) {
      const Var& a = vars[Uniform(0, static_cast<int>(vars.size()) - 1)];
      const Var* b = pick_var(a.type);
      static const char* kOps[] = {"!=", "<", "<=", ">", ">=", "=="};
      const char* op = kOps[Uniform(0, 5)];
      if (a.type == Type::kPrefix && pick_var(Type::kIp)) {
        body.push_back("prefix_contains(" + a.name + ", " + pick_var(Type::kIp)->name + ")");
      } else if (b && b != &a && Chance(0.5)) {
        body.push_back(a.name + " " + op + " " + b->name);
      } else {
        body.push_back(a.name + " " + op + " " + RandomValue(a.type).ToLiteral());
      }
    }
    if (Chance(0.4)) {
      const GenTable& t = tables[Uniform(0, j - 1)];
      std::string atom = "not " + t.name + "(";
      for (size_t c = 0; c < t.types.size(); ++c) {
        if (c) atom += ", ";
        const Var* v = pick_var(t.types[c]);
        double r = std::uniform_real_distribution<double>(0, 1)(rng_);
        if (v && r < 0.6) atom += v->name;
        else if (r < 0.8) atom += RandomValue(t.types[c]).ToLiteral();
        else atom += "_";
      }
      body.push_back(atom + ")");
    }
    // Head.
    const GenTable& h = tables[j];
    int agg_pos = -1;
    std::string agg;
    if (!vars.empty() && Chance(0.2)) {
      agg_pos = Uniform(0, static_cast<int>(h.types.size()) - 1);
      Type t = h.types[agg_pos];
      const Var* any = &vars[Uniform(0, static_cast<int>(vars.size()) - 1)];
      if (t == Type::kInt && Chance(0.5)) {
        agg = "count(" + any->name + ")";
      } else if (const Var* v = pick_var(t)) {
        agg = std::string(Chance(0.5) ? "min(" : "max(") + v->name + ")";
      } else {
        agg_pos = -1;
      }
    }
    std::string head = h.name + "(";
    for (size_t c = 0; c < h.types.size(); ++c) {
      if (c) head += ", ";
      if (static_cast<int>(c) == agg_pos) {
        head += agg;
        continue;
      }
      const Var* v = pick_var(h.types[c]);
      head += v ? v->name : RandomValue(h.types[c]).ToLiteral();
    }
    head += ")";
    std::string rule = head + " :- ";
    for (size_t i = 0; i < body.size(); ++i) rule += (i ? ", " : "") + body[i];
    return rule + ".";
  }

 private:
  std::mt19937 rng_;
};

// Rows of `after` missing from `before`.
std::vector<Row> Minus(const RowSet& after, const RowSet& before) {
  std::vector<Row> out;
  for (const Row& r : after) {
    if (!before.count(r)) out.push_back(r);
  }
  return out;
}

void ExpectMatchesOracle(const Engine& engine, const Program& prog, const Database& oracle, const std::string& ctx) {
  for (const TableDecl& t : prog.tables()) {
    auto rows = engine.Scan(t.name);
    ASSERT_TRUE(rows.ok());
    std::vector<Row> want(oracle.at(t.name).begin(), oracle.at(t.name).end());
    ASSERT_EQ(*rows, want) << ctx << "table " << t.name;
  }
}

constexpr uint32_t kPrograms = 800;  // ~10 s CPU under ASan+UBSan (Debug)

TEST(NlogProperty, IncrementalEqualsFromScratchOnRandomProgramsAndTransactions) {
  int programs = 0, transactions = 0, nonempty_deltas = 0, rejected = 0;
  for (uint32_t seed = 1; seed <= kPrograms; ++seed) {
    Gen gen(seed);
    std::vector<GenTable> tables;
    std::string text = gen.Program(&tables);
    auto prog = Program::Compile(text, "random.nlog");
    ASSERT_TRUE(prog.ok()) << prog.status() << "\n" << text;
    ++programs;
    Engine engine(*prog);
    Database inputs;
    for (const GenTable& t : tables) {
      if (t.input) inputs[t.name];
    }
    Database before = NaiveEvaluate(*prog, inputs);
    std::string ctx_base = "seed " + std::to_string(seed) + "\n" + text + "\n";
    ExpectMatchesOracle(engine, *prog, before, ctx_base);
    for (const TableDecl& t : prog->tables()) {
      if (t.kind != TableKind::kOutput) continue;
      auto it = engine.initial_delta().tables.find(t.name);
      std::vector<Row> got = it == engine.initial_delta().tables.end() ? std::vector<Row>{} : it->second.inserted;
      ASSERT_EQ(got, Minus(before.at(t.name), RowSet{})) << ctx_base;
    }
    std::string history;
    for (int step = 0; step < 30; ++step) {
      Transaction tx;
      Database next = inputs;
      int n = gen.Uniform(0, 4);
      std::set<std::pair<std::string, Row>> touched;
      for (int c = 0; c < n; ++c) {
        const GenTable& t = tables[gen.Uniform(0, static_cast<int>(std::count_if(
                                                         tables.begin(), tables.end(),
                                                         [](const GenTable& g) { return g.input; })) - 1)];
        RowSet& rows = next[t.name];
        if (!rows.empty() && gen.Chance(0.4)) {
          auto it = rows.begin();
          std::advance(it, gen.Uniform(0, static_cast<int>(rows.size()) - 1));
          if (touched.count({t.name, *it})) continue;
          touched.insert({t.name, *it});
          tx.Delete(t.name, *it);
          rows.erase(it);
          continue;
        }
        Row row;
        for (Type ty : t.types) row.push_back(gen.RandomValue(ty));
        if (rows.count(row) || touched.count({t.name, row})) continue;
        if (t.keyed) {
          // An update: delete the row holding this key first.
          auto same = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r[0] == row[0]; });
          if (same != rows.end()) {
            if (touched.count({t.name, *same})) continue;
            touched.insert({t.name, *same});
            tx.Delete(t.name, *same);
            rows.erase(same);
          }
        }
        touched.insert({t.name, row});
        tx.Insert(t.name, row);
        rows.insert(row);
      }
      for (const auto& ch : tx.changes()) {
        history += (ch.insert ? "+" : "-") + ch.table + RowToString(ch.row) + " ";
      }
      history += "| ";
      if (gen.Chance(0.15)) {
        // The same changes plus the deletion of an absent row: rejected, nothing changes.
        const GenTable& t = tables[0];
        Row absent;
        for (Type ty : t.types) absent.push_back(gen.RandomValue(ty));
        if (!inputs[t.name].count(absent) && !touched.count({t.name, absent})) {
          Transaction bad = tx;
          bad.Delete(t.name, absent);
          ASSERT_FALSE(engine.Apply(bad).ok()) << ctx_base << history;
          ++rejected;
          ExpectMatchesOracle(engine, *prog, before, ctx_base + "after a rejected transaction: " + history + "\n");
        }
      }
      auto delta = engine.Apply(tx);
      ASSERT_TRUE(delta.ok()) << delta.status() << ctx_base << history;
      ++transactions;
      inputs = next;
      Database after = NaiveEvaluate(*prog, inputs);
      std::string ctx = ctx_base + "after: " + history + "\n";
      ExpectMatchesOracle(engine, *prog, after, ctx);
      for (const TableDecl& t : prog->tables()) {
        if (t.kind != TableKind::kOutput) continue;
        auto ins = Minus(after.at(t.name), before.at(t.name));
        auto del = Minus(before.at(t.name), after.at(t.name));
        auto it = delta->tables.find(t.name);
        if (ins.empty() && del.empty()) {
          ASSERT_TRUE(it == delta->tables.end()) << ctx << "unchanged table " << t.name << " reported";
          continue;
        }
        ++nonempty_deltas;
        ASSERT_TRUE(it != delta->tables.end()) << ctx << t.name;
        ASSERT_EQ(it->second.inserted, ins) << ctx << t.name;
        ASSERT_EQ(it->second.deleted, del) << ctx << t.name;
      }
      before = std::move(after);
    }
  }
  // The generator must actually exercise the engine (guards against a vacuous test).
  EXPECT_EQ(programs, static_cast<int>(kPrograms));
  EXPECT_GT(nonempty_deltas, 2500);
  EXPECT_GT(rejected, 1000);
  std::printf("programs=%d transactions=%d nonempty output deltas=%d rejected=%d\n", programs, transactions,
              nonempty_deltas, rejected);
}

}  // namespace
}  // namespace rampart::nlog
