// libFuzzer target for the controller's per-rule cache of stored Firewall/VnicPolicy objects
// (controller/server/object_rows_cache.h), which cuts the "rules" array out of the stored JSON
// text with a structural scan instead of parsing the object. Property: for any text, the cache
// answers exactly what ObjectRows (the whole-object parser) answers — the same rows, or an error
// when ObjectRows errs — also on a second call that hits the cache, and after the input was
// first seen as a VnicPolicy. Seeds: fuzz/corpus/object_rows_cache/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controller/api/nb_objects.h"
#include "controller/server/object_rows_cache.h"

using namespace rampart::controller;

namespace {

std::string Text(const std::vector<InputRow>& rows) {
  std::string out;
  for (const auto& r : rows) out += r.table + rampart::nlog::RowToString(r.row) + "\n";
  return out;
}

void Check(ObjectRowsCache& cache, const std::string& key, const std::string& json) {
  auto whole = ObjectRows(key, json);
  auto split = cache.Rows(key, json);
  if (whole.ok() != split.ok()) std::abort();
  if (whole.ok() && Text(*whole) != Text(*split)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string json(reinterpret_cast<const char*>(data), size);
  ObjectRowsCache cache;
  Check(cache, "/rampart/nb/Firewall/A/fw", json);
  Check(cache, "/rampart/nb/Firewall/A/fw", json);  // every rule from the cache now
  Check(cache, "/rampart/nb/VnicPolicy/A/fw", json);
  return 0;
}
