// Frame parser: Ethernet (+ up to two 802.1Q/802.1ad tags), IPv4 (options, fragments),
// IPv6 (extension-header chain, fragments), TCP (MSS / window-scale / SACK-permitted options on
// SYN), UDP, ICMP and ICMPv6 (echo ids; error messages with the quoted inner header).
//
// Data-plane code: never reads outside [data, data+len), never allocates, never throws, never
// logs. Every malformed frame gets exactly one ParseError (packet.h); docs/packet.md says what
// the engine does with each. Fields are filled as far as parsing got, but callers must look at
// `error` first: only kOk frames are complete.
//
// Thread-safety: pure functions; each caller owns its ParsedPacket.
#ifndef RAMPART_PACKET_PARSER_H_
#define RAMPART_PACKET_PARSER_H_

#include <cstddef>
#include <cstdint>

#include "packet/packet.h"

namespace rampart {

struct ParseOptions {
  // Verify the IPv4 header checksum (outer header only; an ICMP error's quoted header is not
  // checked). Off for frames whose checksum a NIC or OVS has not filled in yet.
  bool verify_ipv4_checksum = true;
};

// Most IPv6 extension headers followed before kTooManyIpv6ExtHeaders.
constexpr int kMaxIpv6ExtHeaders = 8;
// Largest frame accepted (all offsets in ParsedPacket are 16-bit); longer = kFrameTooLong.
constexpr size_t kMaxFrameLen = 65535;

// Parses one frame into *out (fully overwritten). Returns out->error. Untagged or single-802.1Q
// IPv4/TCP frames without IP options take a straight-line fast path (same result).
ParseError ParsePacket(const uint8_t* data, size_t len, ParsedPacket* out,
                       const ParseOptions& opts = {});

// Batched form: out[i] = parse of frames[i] (lens[i] bytes). Returns how many parsed kOk.
size_t ParsePackets(const uint8_t* const* frames, const uint16_t* lens, size_t n,
                    ParsedPacket* out, const ParseOptions& opts = {});

}  // namespace rampart

#endif  // RAMPART_PACKET_PARSER_H_
