// rampart-agent's input: a records file (JSON lines / arrays) and the translation of whatever
// rows it holds into OpenFlow. Any input gets a defined outcome: parsed or an error; translated
// flows have unique keys and pass OVS's prerequisite checks, or the row is counted as skipped.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "agent/fei_reconcile.h"
#include "agent/records_io.h"
#include "agent/translator.h"
#include "ovs/flow_table_sync.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto rs = rampart::agent::ParseRecords(text, "fuzz", "h1");
  if (!rs.ok()) return 0;
  rampart::agent::LocalFacts facts{"h1", 9, 1, {{"A/vm1", 5}, {"A/vm3", 6}, {"B/vm2", 7}}};
  auto t = rampart::agent::TranslateRecords(*rs, facts);
  std::set<rampart::ofp::FlowKey> keys;
  for (const auto& f : t.flows) {
    if (!keys.insert(f.Key()).second) std::abort();
    if (!rampart::ofp::CheckPrerequisites(f.match).ok()) std::abort();
  }
  for (const auto* r : rs->Table("Instance")) {
    if (r->values.size() == 5) (void)rampart::agent::InstancePolicyJson(*rs, r->values[0], r->values[1]);
  }
  return 0;
}
