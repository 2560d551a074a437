// The controller's northbound REST/JSON API (docs/api.md, docs/openapi.yaml): apply, list, get,
// delete northbound objects stored one per key under /rampart/nb/ (nb_objects.h), with bearer
// tokens and roles (datacenter-admin, tenant-admin scoped to its tenant, read-only), over TLS.
//
//   POST   /v1/apply[?dry_run=1]            body: YAML/JSON documents (text, or multipart files)
//   GET    /v1/objects[?kind=K&tenant=T]
//   GET    /v1/objects/<Kind>/<tenant>/<name>  (tenant "-" for Tenant and Host), with referrers
//   DELETE /v1/objects/<Kind>/<tenant>/<name>[?revision=N]
//   GET    /v1/openapi.yaml, GET /healthz   (no token needed)
//
// An apply is all-or-nothing: every document is checked alone, then merged with the stored
// objects and the references are checked on the merged set, then ALL changes commit in one store
// transaction guarded by the mod_revision of every touched key (and of a guard key every NB write
// bumps), so a concurrent writer makes it retry once and then fail with 409.
//
// Thread-safety: Start/Stop from one thread; requests are served on the server's own threads;
// writes through one ApiServer are serialized.
#ifndef RAMPART_CONTROLLER_API_API_SERVER_H_
#define RAMPART_CONTROLLER_API_API_SERVER_H_

#include <map>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store.h"

namespace rampart::controller {

// One bearer token (a row of the tokens file).
struct ApiToken {
  std::string token;
  std::string name;    // who, for messages and logs
  std::string role;    // datacenter-admin | tenant-admin | read-only
  std::string tenant;  // tenant-admin: required; read-only: optional scope ("" = everything)
};

// Reads a tokens file: a YAML list of {token, name, role, tenant}. Errors name file, entry, field.
absl::StatusOr<std::vector<ApiToken>> LoadTokensFile(const std::string& path);

struct ApiOptions {
  std::string tokens_file;       // YAML list of {token, name, role, tenant}; may be empty
  std::vector<ApiToken> tokens;  // used in addition to tokens_file
  size_t max_body_bytes = 16 << 20;
  // GET /v1/status: returns a JSON object describing the controller this API runs in (its
  // controllers, hosts, owners, revisions, acks). Unset = the endpoint answers 503. Called on an
  // API thread; must be thread-safe.
  std::function<std::string()> status_json;
};

// A plain HTTP request/response, so the API can be driven without sockets (tests, fuzzing).
struct ApiRequest {
  std::string method;  // GET | POST | DELETE
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::string authorization;  // the Authorization header's value
  // POST /v1/apply: the files of the body, (file name for errors, text).
  std::vector<std::pair<std::string, std::string>> files;
};
struct ApiResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

class ApiServer {
 public:
  // `store` is borrowed and must outlive the server.
  ApiServer(store::Store* store, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Loads the tokens, binds `address:port` (port 0 = a free port, see port()) and serves on
  // background threads. TLS with `cert_file`/`key_file` (PEM); both empty = plain HTTP (tests).
  absl::Status Start(const std::string& address, int port, const std::string& cert_file = "",
                     const std::string& key_file = "");
  // Stops serving and joins the threads. Idempotent.
  void Stop();
  int port() const { return port_; }

  // Serves one request (what the HTTP handlers call). Thread-safe. Before Start() only
  // ApiOptions::tokens are known (the tokens file is read by Start).
  ApiResponse Handle(const ApiRequest& request);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_API_API_SERVER_H_
