// Fuzzes the frame parser and the reject-reply builders.
//  - ParsePacket must never read out of bounds (ASan) and must equal the general parser
//    (the untagged IPv4/TCP fast path is only an optimisation);
//  - for every frame that may be rejected, the RST and ICMP replies must re-parse cleanly with
//    correct checksums, and must never themselves be answered with a RST.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "packet/builder.h"
#include "packet/checksum.h"
#include "packet/parser.h"
#include "packet/parser_internal.h"

namespace {

using namespace rampart;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "packet_parse_fuzz: %s\n", what);
    std::abort();
  }
}

void CheckReply(const uint8_t* r, size_t n) {
  ParsedPacket p;
  Check(ParsePacket(r, n, &p) == ParseError::kOk, "reply does not parse");
  Check(p.has_l4, "reply has no L4 header");
  const uint8_t* ip = r + p.l3_offset;
  const uint8_t* l4 = r + p.l4_offset;
  const size_t l4_len = size_t{p.l3_offset} + p.l3_len - p.l4_offset;
  uint16_t c;
  if (p.family == 4) {
    c = p.proto == kProtoIcmp ? InternetChecksum(l4, l4_len)
                              : L4ChecksumV4(ip + 12, ip + 16, p.proto, l4, l4_len);
  } else {
    c = L4ChecksumV6(ip + 8, ip + 24, p.proto, l4, l4_len);
  }
  Check(c == 0, "reply L4 checksum wrong");
  uint8_t again[kMaxIcmpUnreachableLen];
  Check(BuildTcpReset(r, p, again, sizeof(again)) == 0, "a reply was answered with a RST");
  if (p.proto != kProtoTcp) {
    Check(BuildIcmpUnreachable(r, p, again, sizeof(again)) == 0, "ICMP error answered");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (bool verify : {true, false}) {
    const ParseOptions opts{.verify_ipv4_checksum = verify};
    ParsedPacket p, g;
    const ParseError e = ParsePacket(data, size, &p, opts);
    packet_internal::ParsePacketGeneral(data, size, &g, opts);
    Check(p == g, "fast path differs from the general parser");
    Check(e == p.error, "returned error differs from out->error");
    if (e != ParseError::kOk) continue;
    Check(size_t{p.l3_offset} + p.l3_len <= size, "l3_len past the end of the frame");
    static uint8_t out[kMaxIcmpUnreachableLen];
    size_t n = BuildTcpReset(data, p, out, sizeof(out));
    if (n) CheckReply(out, n);
    n = BuildIcmpUnreachable(data, p, out, sizeof(out));
    if (n) {
      CheckReply(out, n);
      ParsedPacket r;
      ParsePacket(out, n, &r);
      Check(r.icmp_is_error && r.has_inner, "unreachable carries no inner header");
      Check(r.l3_len <= (p.family == 4 ? 576 : 1280), "unreachable too long");
    }
  }
  return 0;
}
