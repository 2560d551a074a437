// `rampartctl fw check --rules FILE [--format native|classbench] --trace FILE`: compiles a rule
// set and prints, for each header of a ClassBench trace, the 0-based position (in the rule list)
// of the first matching rule, or -1 when only the default rule matches. One number per line on
// stdout and nothing else; errors go to stderr with a non-zero exit.
//
// The trace carries no direction, so rule directions are ignored (every rule matches both).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "classifier/classbench.h"
#include "cli/command.h"
#include "policy/classbench_import.h"
#include "policy/compiler.h"
#include "policy/policy_parser.h"

namespace rampart::cli {
namespace {

constexpr const char* kUsage =
    "usage: rampartctl fw check --rules FILE [--format native|classbench] --trace FILE [--stats]\n"
    "\n"
    "Prints for each header line of the ClassBench trace FILE the 0-based position of the first\n"
    "matching rule of the rule set (-1: only the default rule matches), one per line.\n"
    "--format: native (YAML/JSON policy, docs/policy.md) or classbench (.rules); by default\n"
    "classbench for a .rules file, native otherwise. Rule directions are ignored.\n"
    "--stats: also print to stderr the compile and lookup times and the classifier's size.\n";

bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

int Run(int argc, char** argv) {
  std::string rules_path, trace_path, format;
  bool stats = false;
  int rc = ParseFlags("rampartctl fw check", kUsage, argc, argv,
                      {{"--rules", &rules_path}, {"--trace", &trace_path}, {"--format", &format},
                       {"--stats", nullptr, &stats}});
  if (rc >= 0) return rc;
  if (rules_path.empty() || trace_path.empty()) {
    std::fprintf(stderr, "rampartctl fw check: --rules and --trace are required\n\n%s", kUsage);
    return 2;
  }
  if (format.empty()) format = EndsWith(rules_path, ".rules") ? "classbench" : "native";
  if (format != "native" && format != "classbench") {
    std::fprintf(stderr, "rampartctl fw check: --format must be native or classbench, not '%s'\n", format.c_str());
    return 2;
  }

  absl::StatusOr<Policy> policy =
      format == "classbench" ? ImportClassBenchFile(rules_path) : ParsePolicyFile(rules_path);
  if (!policy.ok()) {
    std::fprintf(stderr, "rampartctl fw check: %s\n", std::string(policy.status().message()).c_str());
    return 1;
  }
  for (Rule& r : policy->rules) r.direction_mask = 3;
  CompilerOptions options;
  options.doc_name = rules_path;
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto compiled = CompilePolicy(*policy, options);
  auto t1 = Clock::now();
  if (!compiled.ok()) {
    std::fprintf(stderr, "rampartctl fw check: %s\n", std::string(compiled.status().message()).c_str());
    return 1;
  }
  auto trace = ReadClassBenchTrace(trace_path);
  if (!trace.ok()) {
    std::fprintf(stderr, "rampartctl fw check: %s\n", std::string(trace.status().message()).c_str());
    return 1;
  }

  // rule id -> position in the list, for each CompiledPolicy slot.
  absl::flat_hash_map<uint32_t, int64_t> position;
  for (size_t i = 0; i < policy->rules.size(); ++i) position[policy->rules[i].id] = static_cast<int64_t>(i);
  const CompiledPolicy& cp = **compiled;
  std::vector<int64_t> slot_position(cp.rules.size(), -1);
  for (size_t s = 0; s < cp.rules.size(); ++s) {
    auto it = position.find(cp.rules[s].rule_id);
    if (it != position.end()) slot_position[s] = it->second;
  }

  constexpr size_t kBatch = 256;
  std::vector<ClassKey> keys(kBatch);
  std::vector<uint32_t> out(kBatch);
  std::string text;
  text.reserve(trace->size() * 6);
  auto t2 = Clock::now();
  std::chrono::nanoseconds lookup_time{0};
  for (size_t base = 0; base < trace->size(); base += kBatch) {
    size_t n = std::min(kBatch, trace->size() - base);
    for (size_t i = 0; i < n; ++i) keys[i] = (*trace)[base + i].key;
    auto l0 = Clock::now();
    cp.classifier->LookupBatch(keys.data(), n, out.data());
    lookup_time += Clock::now() - l0;
    for (size_t i = 0; i < n; ++i) {
      int64_t pos = out[i] < slot_position.size() ? slot_position[out[i]] : -1;
      text += std::to_string(pos);
      text += '\n';
    }
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "rampartctl fw check: writing the output failed\n");
    return 1;
  }
  if (stats) {
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    ClassifierStats cs = cp.classifier->Stats();
    double lookup_ms = ms(lookup_time);
    std::fprintf(stderr,
                 "rules %zu, classifier entries %zu, tables %zu, memory %.1f MiB\n"
                 "compile %.1f ms; %zu lookups in %.1f ms (%.1f M lookups/s, batches of %zu); total check %.1f ms\n",
                 policy->rules.size(), cs.rules, cs.tables, cs.memory_bytes / 1048576.0, ms(t1 - t0), trace->size(),
                 lookup_ms, lookup_ms > 0 ? trace->size() / lookup_ms / 1000.0 : 0.0, kBatch, ms(Clock::now() - t2));
  }
  return 0;
}

SubRegistrar reg("fw", {"check", "first matching rule for each header of a ClassBench trace", &Run});

}  // namespace
}  // namespace rampart::cli
