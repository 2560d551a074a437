// Helpers shared by the packet tests.
#ifndef RAMPART_TEST_PACKET_PACKET_TEST_UTIL_H_
#define RAMPART_TEST_PACKET_PACKET_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "packet/packet.h"
#include "packet/parser.h"
#include "packet/parser_internal.h"

namespace rampart::testing {

// Parses `f` with ParsePacket and checks that the general (no fast path) parser agrees on
// every field.
inline ParsedPacket ParseChecked(const std::vector<uint8_t>& f, ParseOptions opts = {}) {
  ParsedPacket fast, general;
  const ParseError e1 = ParsePacket(f.data(), f.size(), &fast, opts);
  const ParseError e2 = packet_internal::ParsePacketGeneral(f.data(), f.size(), &general, opts);
  EXPECT_EQ(e1, fast.error);
  EXPECT_EQ(e2, general.error);
  EXPECT_TRUE(fast == general) << "fast path differs from the general parser: "
                               << ParseErrorName(e1) << " vs " << ParseErrorName(e2);
  return fast;
}

// RFC 1071 in its plainest form: the test's own oracle, independent of checksum.cc.
inline uint16_t NaiveChecksum(const std::vector<uint8_t>& bytes) {
  uint32_t sum = 0;
  for (size_t i = 0; i < bytes.size(); i += 2) {
    uint32_t word = uint32_t{bytes[i]} << 8;
    if (i + 1 < bytes.size()) word |= bytes[i + 1];
    sum += word;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(~sum & 0xffff);
}

// Checks the IP header checksum and the L4 checksum (with its pseudo-header, built by hand
// here) of a parsed kOk frame. Returns true when both verify.
inline bool ChecksumsVerify(const std::vector<uint8_t>& f, const ParsedPacket& p) {
  const uint8_t* ip = f.data() + p.l3_offset;
  if (p.family == 4) {
    const size_t ihl = (ip[0] & 0x0f) * 4u;
    if (NaiveChecksum(std::vector<uint8_t>(ip, ip + ihl)) != 0) return false;
  }
  // A fragment's L4 checksum covers the whole reassembled datagram: not checkable here.
  if (!p.has_l4 || p.is_fragment) return true;
  const size_t l4_len = p.l3_offset + p.l3_len - p.l4_offset;
  std::vector<uint8_t> buf;
  if (p.family == 4 && p.proto != kProtoIcmp) {
    buf.insert(buf.end(), ip + 12, ip + 20);
    buf.push_back(0);
    buf.push_back(p.proto);
    buf.push_back(static_cast<uint8_t>(l4_len >> 8));
    buf.push_back(static_cast<uint8_t>(l4_len));
  } else if (p.family == 6) {
    buf.insert(buf.end(), ip + 8, ip + 40);
    buf.push_back(0);
    buf.push_back(0);
    buf.push_back(static_cast<uint8_t>(l4_len >> 8));
    buf.push_back(static_cast<uint8_t>(l4_len));
    buf.push_back(0);
    buf.push_back(0);
    buf.push_back(0);
    buf.push_back(p.proto);
  }
  buf.insert(buf.end(), f.begin() + p.l4_offset, f.begin() + p.l4_offset + l4_len);
  return NaiveChecksum(buf) == 0;
}

}  // namespace rampart::testing

#endif  // RAMPART_TEST_PACKET_PACKET_TEST_UTIL_H_
