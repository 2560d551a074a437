// Private helpers of the OVSDB client (not for other components).
#ifndef RAMPART_OVS_OVSDB_UTIL_H_
#define RAMPART_OVS_OVSDB_UTIL_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rampart::ovs::internal {

// Debian's abseil has its own absl::string_view, which StrCat takes but std::string_view is
// not converted to; Cat() accepts both.
template <typename T>
decltype(auto) CatArg(const T& v) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return absl::string_view(v.data(), v.size());
  } else {
    return (v);
  }
}

template <typename... A>
std::string Cat(const A&... a) {
  return absl::StrCat(CatArg(a)...);
}

}  // namespace rampart::ovs::internal

#endif  // RAMPART_OVS_OVSDB_UTIL_H_
