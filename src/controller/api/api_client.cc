#include "controller/api/api_client.h"

// CPPHTTPLIB_OPENSSL_SUPPORT (TLS) comes from cpp-httplib.pc, as the library was built with it.
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace rampart::controller {
namespace {

absl::StatusOr<std::unique_ptr<httplib::Client>> Connect(const ApiClientOptions& o) {
  if (o.server.rfind("https://", 0) != 0 && o.server.rfind("http://", 0) != 0)
    return absl::InvalidArgumentError(absl::StrCat("server '", o.server, "' must start with https:// or http://"));
  auto c = std::make_unique<httplib::Client>(o.server);
  if (!c->is_valid()) return absl::InvalidArgumentError(absl::StrCat("server '", o.server, "' is not a valid URL"));
  if (o.server.rfind("https://", 0) == 0) {
    if (o.ca_file.empty())
      return absl::InvalidArgumentError("an https server needs the CA certificate (--ca FILE or RAMPART_CA)");
    c->set_ca_cert_path(o.ca_file.c_str());
    c->enable_server_certificate_verification(true);
  }
  if (!o.token.empty()) c->set_bearer_token_auth(o.token.c_str());
  c->set_connection_timeout(o.timeout_seconds, 0);
  c->set_read_timeout(o.timeout_seconds, 0);
  c->set_write_timeout(o.timeout_seconds, 0);
  return c;
}

absl::StatusOr<ApiReply> Result(const ApiClientOptions& o, httplib::Client& c, httplib::Result r) {
  if (!r) {
    std::string why = httplib::to_string(r.error());
    if (r.error() == httplib::Error::SSLServerVerification || r.error() == httplib::Error::SSLConnection)
      why += " (is --ca the CA that signed the server's certificate?)";
    return absl::UnavailableError(absl::StrCat("cannot reach ", o.server, ": ", why));
  }
  return ApiReply{r->status, r->body};
}

}  // namespace

absl::StatusOr<ApiReply> ApiClient::Get(const std::string& path) {
  auto c = Connect(options_);
  if (!c.ok()) return c.status();
  return Result(options_, **c, (*c)->Get(path.c_str()));
}

absl::StatusOr<ApiReply> ApiClient::Delete(const std::string& path) {
  auto c = Connect(options_);
  if (!c.ok()) return c.status();
  return Result(options_, **c, (*c)->Delete(path.c_str()));
}

absl::StatusOr<ApiReply> ApiClient::Apply(const std::vector<std::pair<std::string, std::string>>& files, bool dry_run) {
  auto c = Connect(options_);
  if (!c.ok()) return c.status();
  httplib::MultipartFormDataItems items;
  for (const auto& [name, text] : files) items.push_back({"file", text, name, "application/yaml"});
  std::string path = dry_run ? "/v1/apply?dry_run=1" : "/v1/apply";
  return Result(options_, **c, (*c)->Post(path.c_str(), items));
}

std::string ApiClient::ErrorMessage(const ApiReply& reply) {
  auto j = nlohmann::json::parse(reply.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string())
    return j["error"]["message"].get<std::string>();
  return absl::StrCat("HTTP ", reply.status, ": ", reply.body);
}

}  // namespace rampart::controller
