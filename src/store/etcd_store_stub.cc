// Until the etcd backend lands: etcd:// URLs are refused with a clear error.
#include "absl/status/status.h"
#include "store/etcd_store.h"

namespace rampart::store {
absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(const EtcdOptions&) {
  return absl::UnimplementedError("store: the etcd backend is not built yet; use file:DIR or mem:");
}
}  // namespace rampart::store
