// Private to rampart_packet and its tests.
#ifndef RAMPART_PACKET_PARSER_INTERNAL_H_
#define RAMPART_PACKET_PARSER_INTERNAL_H_

#include <cstddef>
#include <cstdint>

#include "packet/parser.h"

namespace rampart::packet_internal {

// ParsePacket without the untagged-IPv4/TCP fast path: the reference the fast path must equal.
ParseError ParsePacketGeneral(const uint8_t* data, size_t len, ParsedPacket* out,
                              const ParseOptions& opts);

}  // namespace rampart::packet_internal

#endif  // RAMPART_PACKET_PARSER_INTERNAL_H_
