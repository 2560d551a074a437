#include "stream/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace rampart::stream {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& option, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("tls.", option, ": no file given"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("tls.", option, ": cannot read '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("tls.", option, ": '", path, "' is not a PEM file"));
  }
  return text;
}

}  // namespace

absl::StatusOr<TlsPems> ReadTlsFiles(const TlsFiles& files, bool need_own_identity) {
  TlsPems out;
  auto ca = ReadPem("ca", files.ca);
  if (!ca.ok()) return ca.status();
  out.ca = *std::move(ca);
  if (need_own_identity || !files.cert.empty() || !files.key.empty()) {
    auto cert = ReadPem("cert", files.cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPem("key", files.key);
    if (!key.ok()) return key.status();
    out.cert = *std::move(cert);
    out.key = *std::move(key);
  }
  return out;
}

}  // namespace rampart::stream
