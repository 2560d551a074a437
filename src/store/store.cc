#include "store/store.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/embedded_store.h"
#include "store/etcd_store.h"

namespace rampart::store {

namespace {
bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}
}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url_in) {
  const std::string url_text(url_in);
  std::string_view url = url_in;
  if (url == "mem:") {
    absl::StatusOr<std::unique_ptr<EmbeddedStore>> s = EmbeddedStore::Open(EmbeddedOptions{});
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(*std::move(s));
  }
  if (ConsumePrefix(&url, "etcd://")) {
    std::vector<std::string> endpoints;
    for (absl::string_view ep : absl::StrSplit(absl::string_view(url.data(), url.size()), ',', absl::SkipWhitespace())) {
      if (ep.find(':') == absl::string_view::npos || ep.find('/') != absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("store URL ", url_text, ": member \"", ep, "\" is not HOST:PORT"));
      }
      endpoints.emplace_back(ep);
    }
    if (endpoints.empty()) {
      return absl::InvalidArgumentError("store URL etcd://: no members (expected etcd://HOST:PORT[,HOST:PORT...])");
    }
    return OpenEtcdStore(EtcdOptions{std::move(endpoints)});
  }
  std::string_view dir = url;
  if (!ConsumePrefix(&dir, "file:")) {
    if (url.find("://") != std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("store URL \"", url_text,
                                                     "\": unknown scheme (use file:DIR, a path, etcd://H:P or mem:)"));
    }
  }
  if (dir.empty()) return absl::InvalidArgumentError(absl::StrCat("store URL \"", url_text, "\": empty directory"));
  EmbeddedOptions opts;
  opts.dir = std::string(dir);
  absl::StatusOr<std::unique_ptr<EmbeddedStore>> s = EmbeddedStore::Open(opts);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Store>(*std::move(s));
}

}  // namespace rampart::store
