#include "fwd/fei_codec.h"

#include "absl/strings/str_cat.h"

namespace rampart::fwd {

void EncodeFeiMessage(const nlohmann::json& msg, std::string* out) {
  std::string body = msg.dump();
  uint32_t n = static_cast<uint32_t>(body.size());
  char hdr[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                 static_cast<char>(n)};
  out->append(hdr, 4);
  out->append(body);
}

absl::StatusOr<std::optional<nlohmann::json>> FeiDecoder::Next() {
  if (buf_.size() - pos_ < 4) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + pos_);
  size_t n = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
  if (n > kMaxFeiMessage) {
    return absl::ResourceExhaustedError(absl::StrCat("FEI message of ", n, " bytes exceeds the limit of ", kMaxFeiMessage));
  }
  if (buf_.size() - pos_ - 4 < n) return std::nullopt;
  std::string_view body(buf_.data() + pos_ + 4, n);
  pos_ += 4 + n;
  // Compact once the consumed prefix dominates, so long-lived connections do not grow.
  if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("FEI message body is not valid JSON");
  if (!j.is_object()) return absl::InvalidArgumentError("FEI message body is not a JSON object");
  return std::optional<nlohmann::json>(std::move(j));
}

}  // namespace rampart::fwd
