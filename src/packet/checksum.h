// Internet checksum (RFC 1071) helpers and incremental update (RFC 1624).
//
// Conventions: data is in network byte order; a "sum" is a 32-bit one's-complement accumulator
// of big-endian 16-bit words (an odd trailing byte is padded with zero); a checksum returned here
// is the 16-bit value in host order, to be stored big-endian into the header field. A header
// whose checksum field is correct sums (checksum included) to 0xffff, i.e.
// InternetChecksum(header) == 0.
//
// Thread-safety: pure functions.
#ifndef RAMPART_PACKET_CHECKSUM_H_
#define RAMPART_PACKET_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

namespace rampart {

// Adds len bytes to a running sum. REQUIRES: when chaining calls, every chunk but the last has
// even length.
uint32_t ChecksumAdd(const uint8_t* data, size_t len, uint32_t sum = 0);
// Folds carries and complements: the value to store in a checksum field.
uint16_t ChecksumFinish(uint32_t sum);
// ChecksumFinish(ChecksumAdd(data, len)).
uint16_t InternetChecksum(const uint8_t* data, size_t len);

// IPv4 header checksum over ihl_bytes (the field at offset 10 must be zero when computing it;
// a header whose field is correct yields 0).
uint16_t Ipv4HeaderChecksum(const uint8_t* ip_header, size_t ihl_bytes);

// Pseudo-header sums (addresses in network order, 4 or 16 bytes; l4_len in host order).
uint32_t PseudoHeaderSumV4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                           uint32_t l4_len);
uint32_t PseudoHeaderSumV6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                           uint32_t l4_len);

// Checksum of a TCP/UDP/ICMPv6 segment (l4 points at its header, the checksum field zeroed or,
// to verify, left as received: then a correct segment yields 0). ICMPv4 has no pseudo-header:
// use InternetChecksum for it.
uint16_t L4ChecksumV4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
                      const uint8_t* l4, size_t l4_len);
uint16_t L4ChecksumV6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
                      const uint8_t* l4, size_t l4_len);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Updates checksum `old_check` (host order) for one
// 16-bit word changing from old_word to new_word, or a 32-bit word (an IPv4 address).
uint16_t ChecksumUpdate16(uint16_t old_check, uint16_t old_word, uint16_t new_word);
uint16_t ChecksumUpdate32(uint16_t old_check, uint32_t old_word, uint32_t new_word);

}  // namespace rampart

#endif  // RAMPART_PACKET_CHECKSUM_H_
