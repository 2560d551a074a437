#include "common/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace rampart {

namespace {
uint64_t LoadBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void StoreBe64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
}  // namespace

Ip Ip::V6(const uint8_t bytes[16]) { return Ip{LoadBe64(bytes), LoadBe64(bytes + 8)}; }

void Ip::ToBytes(uint8_t out[16]) const {
  StoreBe64(hi, out);
  StoreBe64(lo, out + 8);
}

std::optional<Ip> Ip::Parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1) return Ip::V4(ntohl(a4.s_addr));
  uint8_t a6[16];
  if (inet_pton(AF_INET6, buf, a6) == 1) return Ip::V6(a6);
  return std::nullopt;
}

std::string Ip::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (IsV4()) {
    in_addr a4;
    a4.s_addr = htonl(V4Addr());
    inet_ntop(AF_INET, &a4, buf, sizeof(buf));
  } else {
    uint8_t a6[16];
    ToBytes(a6);
    inet_ntop(AF_INET6, a6, buf, sizeof(buf));
  }
  return buf;
}

Ip MaskIp(const Ip& ip, int len) {
  if (len <= 0) return Ip{};
  if (len >= 128) return ip;
  if (len <= 64) {
    uint64_t m = len == 64 ? ~0ull : ~(~0ull >> len);
    return Ip{ip.hi & m, 0};
  }
  uint64_t m = ~(~0ull >> (len - 64));
  return Ip{ip.hi, ip.lo & m};
}

Prefix Prefix::V4(uint32_t addr, int v4_len) { return Make(Ip::V4(addr), 96 + v4_len); }

Prefix Prefix::Make(const Ip& addr, int len) {
  if (len < 0) len = 0;
  if (len > 128) len = 128;
  return Prefix{MaskIp(addr, len), static_cast<uint8_t>(len)};
}

std::optional<Prefix> Prefix::Parse(std::string_view text) {
  size_t slash = text.find('/');
  auto ip = Ip::Parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max_len = ip->IsV4() ? 32 : 128;
  int len = max_len;
  if (slash != std::string_view::npos) {
    std::string_view l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3) return std::nullopt;
    len = 0;
    for (char c : l) {
      if (c < '0' || c > '9') return std::nullopt;
      len = len * 10 + (c - '0');
    }
    if (len > max_len) return std::nullopt;
  }
  // A prefix with host bits set is ambiguous input: refuse it rather than guess.
  int full = ip->IsV4() ? 96 + len : len;
  if (MaskIp(*ip, full) != *ip) return std::nullopt;
  return Prefix{*ip, static_cast<uint8_t>(full)};
}

std::string Prefix::ToString() const {
  if (IsV4()) return addr.ToString() + "/" + std::to_string(len - 96);
  return addr.ToString() + "/" + std::to_string(len);
}

bool Prefix::Contains(const Ip& ip) const { return MaskIp(ip, len) == addr; }

}  // namespace rampart
