#include "packet/checksum.h"

#include <cstring>

namespace rampart {

uint32_t ChecksumAdd(const uint8_t* data, size_t len, uint32_t sum) {
  // 64-bit accumulator over 32-bit big-endian words; folded at the end. One's-complement sums
  // are byte-order independent up to a final swap, but summing big-endian words directly keeps
  // the code obviously right.
  uint64_t acc = sum;
  size_t i = 0;
  for (; i + 4 <= len; i += 4) {
    acc += (uint32_t{data[i]} << 24) | (uint32_t{data[i + 1]} << 16) |
           (uint32_t{data[i + 2]} << 8) | data[i + 3];
  }
  for (; i + 2 <= len; i += 2) acc += (uint32_t{data[i]} << 8) | data[i + 1];
  if (i < len) acc += uint32_t{data[i]} << 8;
  // Fold 64 -> 32 keeping the one's-complement value (mod 0xffff).
  while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
  uint32_t s = static_cast<uint32_t>(acc);
  s = (s & 0xffff) + (s >> 16);
  return s;  // < 0x20000
}

uint16_t ChecksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint16_t InternetChecksum(const uint8_t* data, size_t len) {
  return ChecksumFinish(ChecksumAdd(data, len));
}

uint16_t Ipv4HeaderChecksum(const uint8_t* ip_header, size_t ihl_bytes) {
  return InternetChecksum(ip_header, ihl_bytes);
}

uint32_t PseudoHeaderSumV4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                           uint32_t l4_len) {
  uint32_t sum = ChecksumAdd(src, 4);
  sum = ChecksumAdd(dst, 4, sum);
  sum += proto;
  sum += l4_len >> 16;
  sum += l4_len & 0xffff;
  return sum;
}

uint32_t PseudoHeaderSumV6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                           uint32_t l4_len) {
  uint32_t sum = ChecksumAdd(src, 16);
  sum = ChecksumAdd(dst, 16, sum);
  sum += l4_len >> 16;
  sum += l4_len & 0xffff;
  sum += proto;
  return sum;
}

uint16_t L4ChecksumV4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                      const uint8_t* l4, size_t l4_len) {
  uint32_t sum = PseudoHeaderSumV4(src, dst, proto, static_cast<uint32_t>(l4_len));
  return ChecksumFinish(ChecksumAdd(l4, l4_len, sum));
}

uint16_t L4ChecksumV6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                      const uint8_t* l4, size_t l4_len) {
  uint32_t sum = PseudoHeaderSumV6(src, dst, proto, static_cast<uint32_t>(l4_len));
  return ChecksumFinish(ChecksumAdd(l4, l4_len, sum));
}

uint16_t ChecksumUpdate16(uint16_t old_check, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~old_check);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return ChecksumFinish(sum);
}

uint16_t ChecksumUpdate32(uint16_t old_check, uint32_t old_word, uint32_t new_word) {
  uint32_t sum = static_cast<uint16_t>(~old_check);
  sum += static_cast<uint16_t>(~(old_word >> 16));
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word >> 16;
  sum += new_word & 0xffff;
  return ChecksumFinish(sum);
}

}  // namespace rampart
