// Timing of PolicyCompiler edits (not a test: timing never goes into assertions).
//   policy_edit_timing RULES_FILE [EDITS]
// Imports a ClassBench rule set, compiles it, then times: a full CompilePolicy; EDITS AddRule +
// RemoveRule pairs of rules copied from the set at random priorities; ReplaceRule; and
// AddGroupPrefix/RemoveGroupPrefix on a group used by 3 rules. Prints one line per measurement.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "policy/classbench_import.h"
#include "policy/compiler.h"

namespace {
using Clock = std::chrono::steady_clock;
double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
}  // namespace

int main(int argc, char** argv) {
  using namespace rampart;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RULES_FILE [EDITS]\n", argv[0]);
    return 2;
  }
  int edits = argc > 2 ? std::atoi(argv[2]) : 1000;
  auto policy = ImportClassBenchFile(argv[1]);
  if (!policy.ok()) {
    std::fprintf(stderr, "%s\n", std::string(policy.status().message()).c_str());
    return 1;
  }
  policy->groups.push_back(AddressGroup{"g", {Prefix::V4(0xc6120000u, 24)}});
  for (int i = 0; i < 3; ++i) {
    Rule r;
    r.id = 1000000 + i;
    r.priority = static_cast<int32_t>(policy->rules.size() / 2);
    r.src.prefixes = {Prefix::V4(0xc6130000u + (i << 8), 24), Prefix::V4(0xc6130000u + (i << 8) + 128, 25)};
    r.dst.groups = {"g"};
    r.action = Action::kDrop;
    policy->rules.push_back(r);
  }
  auto t0 = Clock::now();
  auto full = CompilePolicy(*policy);
  auto t1 = Clock::now();
  if (!full.ok()) {
    std::fprintf(stderr, "%s\n", std::string(full.status().message()).c_str());
    return 1;
  }
  std::printf("rules %zu: CompilePolicy %.1f ms, %zu entries\n", policy->rules.size(), Us(t1 - t0) / 1000,
              (*full)->classifier->Stats().rules);

  PolicyCompiler pc;
  if (!pc.Reset(*policy).ok()) return 1;
  std::mt19937 rng(1);
  const size_t n = policy->rules.size();
  Clock::duration add{0}, remove{0}, replace{0}, gadd{0}, gremove{0};
  int rebuilds = 0;
  for (int i = 0; i < edits; ++i) {
    Rule r = policy->rules[rng() % n];
    r.id = 2000000 + i;
    r.priority = static_cast<int32_t>(rng() % n);
    auto a = Clock::now();
    if (!pc.AddRule(r).ok()) return 1;
    auto b = Clock::now();
    rebuilds += pc.last_edit().rebuilt;
    if (!pc.RemoveRule(r.id).ok()) return 1;
    auto c = Clock::now();
    add += b - a;
    remove += c - b;
    Rule x = policy->rules[rng() % n];
    x.action = i % 2 ? Action::kDrop : Action::kAllow;
    auto d = Clock::now();
    if (!pc.ReplaceRule(x).ok()) return 1;
    replace += Clock::now() - d;
    Prefix p = Prefix::V4(0xc6140000u + (static_cast<uint32_t>(i) << 4), 28);
    auto e = Clock::now();
    if (!pc.AddGroupPrefix("g", p).ok()) return 1;
    auto f = Clock::now();
    if (!pc.RemoveGroupPrefix("g", p).ok()) return 1;
    gremove += Clock::now() - f;
    gadd += f - e;
  }
  std::printf("%d edits each: AddRule %.1f us, RemoveRule %.1f us, ReplaceRule %.1f us, "
              "AddGroupPrefix %.1f us, RemoveGroupPrefix %.1f us (mean; %d AddRule rebuilds)\n",
              edits, Us(add) / edits, Us(remove) / edits, Us(replace) / edits, Us(gadd) / edits,
              Us(gremove) / edits, rebuilds);
  return 0;
}
