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
#include "nlog/json_io.h"
#include "nlohmann/json.hpp"

namespace rampart::cli {
namespace {

using nlog::Engine;
using nlog::Program;
using nlog::TableKind;

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
  if (!engine.initial_delta().empty()) std::printf("%s\n", nlog::DeltaToJson(0, engine.initial_delta()).c_str());
  std::string line;
  int line_no = 0, tx_no = 0, status = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ++tx_no;
    std::string err;
    absl::StatusOr<nlog::Delta> delta;
    absl::StatusOr<nlog::Transaction> tx = nlog::ParseTransactionJson(line, engine.program());
    if (!tx.ok()) {
      err = std::string(tx.status().message());
    } else {
      delta = engine.Apply(*tx);
      if (!delta.ok()) err = std::string(delta.status().message());
    }
    if (!err.empty()) {
      std::string msg = std::string(input_path) + ":" + std::to_string(line_no) + ": " + err;
      nlohmann::ordered_json out;
      out["tx"] = tx_no;
      out["error"] = msg;
      std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
      std::fprintf(stderr, "%s\n", msg.c_str());
      status = 1;
      continue;
    }
    std::printf("%s\n", nlog::DeltaToJson(tx_no, *delta).c_str());
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
