// `rampartctl certs init`: a private CA for one Rampart installation, the controller's server
// certificate (localhost, 127.0.0.1, plus extra names), one client certificate per host (CN =
// host name: the agent stream's per-host identity) and a tokens file with a random
// datacenter-admin token. Files in `dir`:
//   ca.pem ca.key                    the CA (ECDSA P-256, 10 years)
//   server.pem server.key            serverAuth; SAN DNS:localhost, IP:127.0.0.1 (+ extra_names)
//   hosts/<host>.pem hosts/<host>.key  clientAuth; CN=<host>, SAN DNS:<host>
//   tokens.yaml                      [{token, name: admin, role: datacenter-admin}]
// Existing files are kept (the CA is reused), so running it again with more hosts adds only their
// certificates. Keys are written 0600.
//
// Thread-safety: pure function of the file system.
#ifndef RAMPART_CONTROLLER_API_CERTS_H_
#define RAMPART_CONTROLLER_API_CERTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace rampart::controller {

struct CertsOptions {
  std::string dir;
  std::vector<std::string> hosts;        // one client certificate each
  std::vector<std::string> extra_names;  // more server SANs (DNS names or IP addresses)
  int days = 825;                        // validity of leaf certificates
};

// Returns the paths it created (existing files it kept are not listed).
absl::StatusOr<std::vector<std::string>> InitCerts(const CertsOptions& options);

// A random token of 32 bytes as 64 hex digits (OpenSSL RAND_bytes).
absl::StatusOr<std::string> RandomToken();

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_API_CERTS_H_
