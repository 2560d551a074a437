// A small client of the northbound REST API (api_server.h), used by rampartctl and the tests.
// HTTPS with the CA file given (the server certificate must name the host of the URL), or plain
// HTTP for an http:// URL.
//
// Thread-safety: one ApiClient per thread (each call opens its own connection).
#ifndef RAMPART_CONTROLLER_API_API_CLIENT_H_
#define RAMPART_CONTROLLER_API_API_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rampart::controller {

struct ApiClientOptions {
  std::string server = "https://127.0.0.1:8443";  // https://H:P or http://H:P
  std::string token;                              // bearer token ("" = none)
  std::string ca_file;                            // PEM CA that signed the server's certificate
  int timeout_seconds = 300;  // a first apply of a very large spec takes a while
};

struct ApiReply {
  int status = 0;    // HTTP status
  std::string body;  // JSON (an error body is {"error": {"code", "message", "details"}})
};

class ApiClient {
 public:
  explicit ApiClient(ApiClientOptions options) : options_(std::move(options)) {}

  // Transport failures (cannot connect, TLS verification failed) are errors; any HTTP status is
  // a reply.
  absl::StatusOr<ApiReply> Get(const std::string& path_and_query);
  absl::StatusOr<ApiReply> Delete(const std::string& path_and_query);
  // POST /v1/apply with the given files (name for error messages, text) as multipart parts.
  absl::StatusOr<ApiReply> Apply(const std::vector<std::pair<std::string, std::string>>& files, bool dry_run);

  // The "message" of an error body (or the body itself when it is not one).
  static std::string ErrorMessage(const ApiReply& reply);

 private:
  ApiClientOptions options_;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_API_API_CLIENT_H_
