// Private: reading the PEM files of a TlsFiles, with errors that name the option and file.
#ifndef RAMPART_STREAM_TLS_H_
#define RAMPART_STREAM_TLS_H_

#include <string>

#include "absl/status/statusor.h"
#include "stream/agent_client.h"

namespace rampart::stream {

struct TlsPems {
  std::string ca, cert, key;
};

// All three files are required (`ca` to verify the peer, `cert`+`key` as own identity).
absl::StatusOr<TlsPems> ReadTlsFiles(const TlsFiles& files, bool need_own_identity);

}  // namespace rampart::stream

#endif  // RAMPART_STREAM_TLS_H_
