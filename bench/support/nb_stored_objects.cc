#include "bench/support/nb_stored_objects.h"

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/support/nb_generator.h"
#include "controller/api/nb_objects.h"

namespace rampart::bench {

std::vector<std::string> NbYamlDocuments(const controller::NbSpec& spec) {
  const std::string text = NbSpecToYaml(spec);
  std::vector<std::string> docs;
  constexpr std::string_view kSep = "---\n";
  // Document separators are "---" lines; rule lines are indented, so no document contains one.
  size_t pos = text.rfind(kSep, 0) == 0 ? 0 : text.find("\n---\n");
  if (pos != 0 && pos != std::string::npos) ++pos;  // at the '-'
  while (pos != std::string::npos && pos < text.size()) {
    const size_t begin = pos + kSep.size();
    size_t end = text.find("\n---\n", begin);
    if (end == std::string::npos) {
      docs.push_back(text.substr(begin));
      break;
    }
    docs.push_back(text.substr(begin, end + 1 - begin));
    pos = end + 1;
  }
  return docs;
}

namespace {

// The stored key and JSON of one document.
absl::StatusOr<std::pair<std::string, std::string>> StoredForm(const std::string& doc) {
  auto parsed = controller::ParseNbDocuments(absl::StrCat("---\n", doc), "generated.yaml");
  if (!parsed.ok()) return parsed.status();
  if (parsed->size() != 1)
    return absl::InternalError(absl::StrCat("generated document yields ", parsed->size(), " objects: ", doc));
  const controller::NbDocument& d = (*parsed)[0];
  return std::make_pair(controller::NbObjectKey({d.kind, d.tenant, d.name}), d.json);
}

}  // namespace

absl::StatusOr<StoredObjects> NbStoredObjects(const controller::NbSpec& spec) {
  auto docs = controller::ParseNbDocuments(NbSpecToYaml(spec), "generated.yaml");
  if (!docs.ok()) return docs.status();
  StoredObjects out;
  for (const auto& d : *docs) out[controller::NbObjectKey({d.kind, d.tenant, d.name})] = d.json;
  return out;
}

StoredObjectDiff::StoredObjectDiff(const controller::NbSpec& base, StoredObjects objects)
    : objects_(std::move(objects)) {
  for (std::string& d : NbYamlDocuments(base)) base_docs_.insert(std::move(d));
}

absl::StatusOr<std::vector<StoredObjectChange>> StoredObjectDiff::Changes(const controller::NbSpec& after) const {
  std::vector<std::string> docs = NbYamlDocuments(after);
  std::unordered_set<std::string> after_docs(docs.begin(), docs.end());
  std::map<std::string, StoredObjectChange> changes;
  auto before_of = [&](const std::string& key) -> std::optional<std::string> {
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::nullopt;
    return it->second;
  };
  for (const std::string& d : docs) {
    if (base_docs_.count(d)) continue;
    auto kv = StoredForm(d);
    if (!kv.ok()) return kv.status();
    changes[kv->first] = {kv->first, before_of(kv->first), kv->second};
  }
  for (const std::string& d : base_docs_) {
    if (after_docs.count(d)) continue;
    auto kv = StoredForm(d);
    if (!kv.ok()) return kv.status();
    if (!changes.count(kv->first)) changes[kv->first] = {kv->first, before_of(kv->first), std::nullopt};
  }
  std::vector<StoredObjectChange> out;
  for (auto& [k, c] : changes) out.push_back(std::move(c));
  return out;
}

}  // namespace rampart::bench
