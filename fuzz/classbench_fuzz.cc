// ClassBench text parsers (rules, trace, expected) on arbitrary bytes: each input either parses
// or fails with a status; never a crash. Inputs that parse as rules are also built into the fast
// Classifier and the LinearClassifier, and the two must agree on keys taken from the input
// (a differential check of the classifier on fuzzer-chosen rule sets).
//
// Input: bytes up to the first "\n%%\n" are the rules text, the rest the trace text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "classifier/classbench.h"
#include "classifier/classifier.h"
#include "classifier/linear.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t sep = in.find("\n%%\n");
  std::string_view rules_text = in.substr(0, sep);
  std::string_view trace_text = sep == std::string_view::npos ? in : in.substr(sep + 4);

  auto expected = rampart::ParseClassBenchExpected(in, "fuzz.expected");
  (void)expected;
  auto trace = rampart::ParseClassBenchTrace(trace_text, "fuzz.trace");
  auto rules = rampart::ParseClassBenchRules(rules_text, "fuzz.rules");
  if (!rules.ok() || rules->size() > 256) return 0;

  // Formatting a parsed rule and parsing it again gives the same match.
  for (const rampart::ClassRule& r : *rules) {
    auto again = rampart::ParseClassBenchRules(rampart::FormatClassBenchRule(r), "round-trip");
    if (!again.ok() || again->size() != 1 || (*again)[0].match.src != r.match.src ||
        (*again)[0].match.dst != r.match.dst || !((*again)[0].match.sport == r.match.sport) ||
        !((*again)[0].match.dport == r.match.dport) || (*again)[0].match.proto != r.match.proto) {
      std::abort();
    }
  }

  auto fast = rampart::Classifier::Build(*rules);
  auto linear = rampart::LinearClassifier::Make(*rules);
  if (fast.ok() != linear.ok()) std::abort();
  if (!fast.ok()) return 0;
  std::vector<rampart::ClassKey> keys;
  if (trace.ok()) {
    for (size_t i = 0; i < trace->size() && i < 256; ++i) keys.push_back((*trace)[i].key);
  }
  // Corners of the rules themselves.
  for (const rampart::ClassRule& r : *rules) {
    rampart::ClassKey k;
    k.family = 4;
    k.src = r.match.src.len ? r.match.src.addr : rampart::Ip::V4(0);
    k.dst = r.match.dst.len ? r.match.dst.addr : rampart::Ip::V4(0);
    k.sport = r.match.sport.hi;
    k.dport = r.match.dport.lo;
    k.proto = r.match.proto;
    keys.push_back(k);
  }
  std::vector<uint32_t> batch(keys.size());
  (*fast)->LookupBatch(keys.data(), keys.size(), batch.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    uint32_t want = (*linear)->Lookup(keys[i]);
    if ((*fast)->Lookup(keys[i]) != want || batch[i] != want) std::abort();
  }
  // Removing every other rule keeps them in agreement.
  std::vector<uint32_t> rm;
  for (size_t i = 0; i < rules->size(); i += 2) rm.push_back((*rules)[i].id);
  auto fast2 = (*fast)->WithChanges({}, rm);
  auto lin2 = (*linear)->WithChanges({}, rm);
  if (!fast2.ok() || !lin2.ok()) std::abort();
  for (const rampart::ClassKey& k : keys) {
    if ((*fast2)->Lookup(k) != (*lin2)->Lookup(k)) std::abort();
  }
  return 0;
}
