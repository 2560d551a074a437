// FEI wire format: the framing of rampart-fwd's local control API (docs/fei.md).
//
// A message is a 4-byte big-endian length N followed by N bytes of UTF-8 JSON (one object).
// Requests:  {"id": <uint>, "method": "<name>", "params": {...}}
// Responses: {"id": <uint>, "result": {...}}  or  {"id": <uint>, "error": {"code": "<absl code>",
//            "message": "<text>"}}
// Messages larger than kMaxFeiMessage are refused and the connection is closed.
//
// Thread-safety: a decoder belongs to one connection.
#ifndef RAMPART_FWD_FEI_CODEC_H_
#define RAMPART_FWD_FEI_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rampart::fwd {

constexpr size_t kMaxFeiMessage = 64u << 20;

// Appends the framed encoding of `msg` to `out`.
void EncodeFeiMessage(const nlohmann::json& msg, std::string* out);

class FeiDecoder {
 public:
  // Appends received bytes.
  void Feed(std::string_view bytes) { buf_.append(bytes); }
  // Returns the next complete message, std::nullopt if more bytes are needed, or an error for
  // an oversize frame or a body that is not a JSON object (the connection should then be closed).
  absl::StatusOr<std::optional<nlohmann::json>> Next();
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_FEI_CODEC_H_
