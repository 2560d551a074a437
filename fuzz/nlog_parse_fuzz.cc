// Fuzzes the nlog front end (lexer, parser, checker, stratifier) and, for programs that compile,
// builds an Engine and applies one small transaction derived from the input, so plan building and
// evaluation see arbitrary programs too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nlog/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto prog = rampart::nlog::Program::Compile(text, "fuzz.nlog");
  if (!prog.ok()) {
    if (prog.status().message().empty()) __builtin_trap();  // every error must say something
    return 0;
  }
  rampart::nlog::Engine fresh(*prog);
  rampart::nlog::Engine engine(*std::move(prog));
  // One row per input table, values derived from the input bytes.
  rampart::nlog::Transaction tx;
  size_t k = 0;
  for (const auto& t : engine.program().tables()) {
    if (t.kind != rampart::nlog::TableKind::kInput) continue;
    rampart::nlog::Row row;
    for (const auto& c : t.columns) {
      uint8_t b = size ? data[k++ % size] : 0;
      switch (c.type) {
        case rampart::nlog::Type::kInt: row.push_back(rampart::nlog::Value::Int(b % 4)); break;
        case rampart::nlog::Type::kString: row.push_back(rampart::nlog::Value::String(std::string(1, 'a' + b % 3))); break;
        case rampart::nlog::Type::kBool: row.push_back(rampart::nlog::Value::Bool(b & 1)); break;
        case rampart::nlog::Type::kIp: row.push_back(rampart::nlog::Value::FromIp(rampart::Ip::V4(0xc6120000u | b))); break;
        case rampart::nlog::Type::kPrefix: row.push_back(rampart::nlog::Value::FromPrefix(rampart::Prefix::V4(0xc6120000u, 16 + b % 17))); break;
        case rampart::nlog::Type::kMac: row.push_back(rampart::nlog::Value::Mac(b)); break;
      }
    }
    tx.Insert(t.name, row);
  }
  auto d1 = engine.Apply(tx);
  if (!d1.ok()) return 0;
  rampart::nlog::Transaction undo;
  for (const auto& ch : tx.changes()) undo.Delete(ch.table, ch.row);
  auto d2 = engine.Apply(undo);
  if (!d2.ok()) __builtin_trap();
  // Undoing it must bring every table back to the initial state.
  for (const auto& t : engine.program().tables()) {
    if (*engine.Scan(t.name) != *fresh.Scan(t.name)) __builtin_trap();
  }
  return 0;
}
