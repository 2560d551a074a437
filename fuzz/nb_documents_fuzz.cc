// libFuzzer target for the per-document northbound parser the REST API uses
// (controller/nb_spec.h ParseNbDocuments, controller/api/nb_objects.h). Properties:
//   - any input parses or fails with a message naming the file;
//   - each accepted document's canonical JSON parses back to the same JSON, and its stored form
//     gives rows (ObjectRows) and references (ObjectReferences) without error;
//   - when the whole text is a valid spec, the union of the documents' ObjectRows equals
//     SpecToRows of ParseNbSpec, and ParseStoredObjects of the stored form accepts it;
//   - ObjectDeps (the API's validation index) reads every accepted document's stored form.
// Seeds: fuzz/corpus/nb_documents/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/api/nb_objects.h"
#include "controller/nb_spec.h"

using namespace rampart::controller;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = ParseNbDocuments(text, "fuzz.yaml");
  if (!docs.ok()) {
    if (docs.status().message().substr(0, 9) != "fuzz.yaml") std::abort();
    return 0;
  }
  std::vector<rampart::store::KeyValue> kvs;
  std::vector<InputRow> rows;
  for (const auto& d : *docs) {
    auto again = ParseNbDocuments(d.json, "again.json");
    if (!again.ok() || again->size() != 1 || (*again)[0].json != d.json) std::abort();
    NbObjectId id{d.kind, d.tenant, d.name};
    std::string key = NbObjectKey(id);
    auto r = ObjectRows(key, d.json);
    if (!r.ok()) std::abort();
    if (!ObjectDeps(id, d.json).ok()) std::abort();
    rows.insert(rows.end(), r->begin(), r->end());
    if (!ObjectReferences(id, d.json).ok()) std::abort();
    kvs.push_back({key, d.json, 1, 1, 1, 0});
  }
  auto spec = ParseNbSpec(text, "fuzz.yaml");
  if (!spec.ok()) return 0;
  std::sort(rows.begin(), rows.end(), [](const InputRow& a, const InputRow& b) {
    return a.table != b.table ? a.table < b.table : rampart::nlog::RowLess(a.row, b.row);
  });
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const InputRow& a, const InputRow& b) { return a.table == b.table && a.row == b.row; }),
             rows.end());
  auto want = SpecToRows(*spec);
  if (rows.size() != want.size()) std::abort();
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].table != want[i].table || !(rows[i].row == want[i].row)) std::abort();
  std::sort(kvs.begin(), kvs.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  if (!ParseStoredObjects(kvs).ok()) std::abort();
  return 0;
}
