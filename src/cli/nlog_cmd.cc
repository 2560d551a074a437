// `rampartctl nlog ...`: run nlog programs offline.
//   rampartctl nlog check PROGRAM.nlog                  compile only; prints the tables
//   rampartctl nlog run PROGRAM.nlog --input CHANGES.jsonl
// `run` reads one transaction per line ({"insert": {"Table": [[v1, ...], ...]}, "delete": {...}})
// and prints after each one JSON line {"tx": n, "insert": {...}, "delete": {...}} with the output
// tables' changes (tables and rows sorted). A bad line prints {"tx": n, "error": "..."} (also on
// stderr), changes nothing, and makes the exit status 1.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "cli/command.h"
#include "nlog/engine.h"
#include "nlohmann/json.hpp"

namespace rampart::cli {
namespace {

using nlog::Engine;
using nlog::Program;
using nlog::Row;
using nlog::TableKind;
using nlog::Type;
using nlog::Value;

nlohmann::ordered_json ToJson(const Value& v) {
  switch (v.type()) {
    case Type::kInt: return v.AsInt();
    case Type::kBool: return v.AsBool();
    default: return v.ToString();
  }
}

nlohmann::ordered_json RowsJson(const std::vector<Row>& rows) {
  auto arr = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    auto jr = nlohmann::ordered_json::array();
    for (const Value& v : r) jr.push_back(ToJson(v));
    arr.push_back(std::move(jr));
  }
  return arr;
}

std::string DeltaLine(int tx, const nlog::Delta& d) {
  nlohmann::ordered_json out;
  out["tx"] = tx;
  out["insert"] = nlohmann::ordered_json::object();
  out["delete"] = nlohmann::ordered_json::object();
  for (const auto& [name, td] : d.tables) {  // std::map: sorted by table name
    if (!td.inserted.empty()) out["insert"][name] = RowsJson(td.inserted);
    if (!td.deleted.empty()) out["delete"][name] = RowsJson(td.deleted);
  }
  return out.dump();
}

// Converts a JSON value to the column's type; empty string on success, else the reason.
std::string ConvertValue(const nlohmann::json& j, Type t, Value* out) {
  switch (t) {
    case Type::kInt:
      if (!j.is_number_integer()) return "expected an integer, got " + j.dump();
      if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return "integer " + j.dump() + " does not fit in 64 bits";
      }
      *out = Value::Int(j.get<int64_t>());
      return "";
    case Type::kBool:
      if (!j.is_boolean()) return "expected true or false, got " + j.dump();
      *out = Value::Bool(j.get<bool>());
      return "";
    case Type::kString:
      if (!j.is_string()) return "expected a string, got " + j.dump();
      *out = Value::String(j.get<std::string>());
      return "";
    default: {
      if (!j.is_string()) return std::string("expected a string holding ") + nlog::TypeName(t) + ", got " + j.dump();
      auto v = Value::Parse(t, j.get<std::string>());
      if (!v) return j.dump() + " is not a valid " + nlog::TypeName(t);
      *out = *v;
      return "";
    }
  }
}

// Builds a transaction from one JSON line; returns an error message or "".
std::string ParseLine(const std::string& line, const Program& prog, nlog::Transaction* tx) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "not valid JSON";
  if (!j.is_object()) return "expected a JSON object with \"insert\" and/or \"delete\"";
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool insert = it.key() == "insert";
    if (!insert && it.key() != "delete") return "unknown key \"" + it.key() + "\" (expected \"insert\" or \"delete\")";
    if (!it->is_object()) return "\"" + it.key() + "\" must be an object of table name -> list of rows";
    for (auto t = it->begin(); t != it->end(); ++t) {
      int id = prog.TableIndex(t.key());
      if (id < 0) return "unknown table '" + t.key() + "'";
      const nlog::TableDecl& decl = prog.tables()[id];
      if (decl.kind != TableKind::kInput) return "table '" + t.key() + "' is not an input table";
      if (!t->is_array()) return "table '" + t.key() + "': expected a list of rows";
      int n = 0;
      for (const auto& jr : *t) {
        ++n;
        std::string where = "table '" + t.key() + "', " + it.key() + " row " + std::to_string(n);
        if (!jr.is_array()) return where + ": expected a row as a list of values";
        if (jr.size() != decl.columns.size()) {
          return where + ": " + std::to_string(jr.size()) + " values, the table has " +
                 std::to_string(decl.columns.size()) + " columns";
        }
        Row row(jr.size());
        for (size_t c = 0; c < jr.size(); ++c) {
          std::string err = ConvertValue(jr[c], decl.columns[c].type, &row[c]);
          if (!err.empty()) return where + ", column '" + decl.columns[c].name + "': " + err;
        }
        if (insert) tx->Insert(t.key(), std::move(row));
        else tx->Delete(t.key(), std::move(row));
      }
    }
  }
  return "";
}

absl::StatusOr<Program> LoadProgram(const char* path) {
  std::ifstream f(path);
  if (!f) return absl::NotFoundError(std::string("cannot open ") + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return Program::Compile(ss.str(), path);
}

int Run(int argc, char** argv) {
  const char* prog_path = nullptr;
  const char* input_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--input") && i + 1 < argc) {
      input_path = argv[++i];
    } else if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::printf("usage: rampartctl nlog run PROGRAM.nlog --input CHANGES.jsonl (- for stdin)\n");
      return 0;
    } else if (!prog_path && argv[i][0] != '-') {
      prog_path = argv[i];
    } else {
      std::fprintf(stderr, "rampartctl nlog run: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (!prog_path || !input_path) {
    std::fprintf(stderr, "usage: rampartctl nlog run PROGRAM.nlog --input CHANGES.jsonl (- for stdin)\n");
    return 2;
  }
  auto prog = LoadProgram(prog_path);
  if (!prog.ok()) {
    std::fprintf(stderr, "%s\n", std::string(prog.status().message()).c_str());
    return 1;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (std::strcmp(input_path, "-") != 0) {
    file.open(input_path);
    if (!file) {
      std::fprintf(stderr, "rampartctl nlog run: cannot open %s\n", input_path);
      return 1;
    }
    in = &file;
  }
  Engine engine(*std::move(prog));
  if (!engine.initial_delta().empty()) std::printf("%s\n", DeltaLine(0, engine.initial_delta()).c_str());
  std::string line;
  int line_no = 0, tx_no = 0, status = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++tx_no;
    nlog::Transaction tx;
    std::string err = ParseLine(line, engine.program(), &tx);
    absl::StatusOr<nlog::Delta> delta;
    if (err.empty()) {
      delta = engine.Apply(tx);
      if (!delta.ok()) err = std::string(delta.status().message());
    }
    if (!err.empty()) {
      std::string msg = std::string(input_path) + ":" + std::to_string(line_no) + ": " + err;
      nlohmann::ordered_json out;
      out["tx"] = tx_no;
      out["error"] = msg;
      std::printf("%s\n", out.dump().c_str());
      std::fprintf(stderr, "%s\n", msg.c_str());
      status = 1;
      continue;
    }
    std::printf("%s\n", DeltaLine(tx_no, *delta).c_str());
  }
  return status;
}

int Check(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: rampartctl nlog check PROGRAM.nlog\n");
    return 2;
  }
  auto prog = LoadProgram(argv[1]);
  if (!prog.ok()) {
    std::fprintf(stderr, "%s\n", std::string(prog.status().message()).c_str());
    return 1;
  }
  for (int t : prog->order()) {
    const auto& d = prog->tables()[t];
    const char* kind = d.kind == TableKind::kInput ? "input" : d.kind == TableKind::kOutput ? "output" : "internal";
    std::printf("%-8s %s(", kind, d.name.c_str());
    for (size_t c = 0; c < d.columns.size(); ++c) {
      std::printf("%s%s: %s", c ? ", " : "", d.columns[c].name.c_str(), nlog::TypeName(d.columns[c].type));
    }
    std::printf(")\n");
  }
  std::printf("%zu rules: ok\n", prog->rules().size());
  return 0;
}

Registrar reg({"nlog", "nlog programs offline: check a program, run it on a stream of transactions",
               [](int argc, char** argv) { return DispatchGroup("nlog", argc, argv); }});
SubRegistrar run_reg("nlog", {"run", "run PROGRAM.nlog on --input CHANGES.jsonl, print output deltas", &Run});
SubRegistrar check_reg("nlog", {"check", "compile PROGRAM.nlog and list its tables in evaluation order", &Check});

}  // namespace
}  // namespace rampart::cli
