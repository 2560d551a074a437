// Fuzzes the JSON transaction reader (nlog/json_io.h) against a fixed program with every column
// type, and applies what it accepts: any input must give a transaction or an error, never a crash,
// and an accepted transaction must either apply or be rejected without changing any table.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nlog/engine.h"
#include "nlog/json_io.h"

namespace {
constexpr const char* kProgram = R"(
input table A(t: string, n: int, b: bool, ip: ip, p: prefix, m: mac) key(t, n).
output table B(t: string, x: int).
B(t, count(n)) :- A(t, n, _, ip, p, _), prefix_contains(p, ip).
)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const rampart::nlog::Program* prog = [] {
    auto p = rampart::nlog::Program::Compile(kProgram, "fuzz.nlog");
    if (!p.ok()) __builtin_trap();
    return new rampart::nlog::Program(*std::move(p));
  }();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tx = rampart::nlog::ParseTransactionJson(text, *prog);
  if (!tx.ok()) {
    if (tx.status().message().empty()) __builtin_trap();
    return 0;
  }
  rampart::nlog::Engine engine(*prog);
  auto d = engine.Apply(*tx);
  if (!d.ok()) {
    if (engine.TableSize("A") != 0 || engine.TableSize("B") != 0) __builtin_trap();
    return 0;
  }
  (void)rampart::nlog::DeltaToJson(1, *d);
  return 0;
}
