// Fuzz target: a byte string drives a sequence of Track / Commit / Find / Delete / Expire /
// Export+Import operations on a small ConnTable (TCP, UDP, ICMP echo and errors, v4 and v6,
// few addresses and ports so packets hit the same connections). Checks the table's invariants
// after every step: never more entries than the limit, List() agrees with Size(), every listed
// entry is found by its key, and Track never reports an impossible combination.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "conntrack/conntrack.h"

using namespace rampart;

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t U8() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) << 16 | U16(); }
};

Ip Addr(bool v6, uint8_t which) {
  if (!v6) return Ip::V4(0xC6120000u + (which & 3));
  Ip ip = *Ip::Parse("2001:db8::");
  ip.lo += which & 3;
  return ip;
}

ParsedPacket MakePacket(Reader& r) {
  ParsedPacket p;
  const uint8_t b = r.U8();
  const bool v6 = b & 1;
  p.family = v6 ? 6 : 4;
  p.src = Addr(v6, b >> 1);
  p.dst = Addr(v6, b >> 3);
  p.has_l4 = !(b & 0x80) || (r.U8() & 1);
  p.is_fragment = !p.has_l4;
  const uint8_t kind = r.U8() % 5;
  p.l3_len = r.U16();
  if (kind == 0 || kind == 1) {
    p.proto = kind == 0 ? kProtoTcp : kProtoUdp;
    p.sport = r.U8() & 3;
    p.dport = r.U8() & 3;
    p.tcp_flags = r.U8();
    p.tcp_seq = r.U32();
    p.tcp_ack = r.U32();
    p.tcp_window = r.U16();
    p.tcp_wscale = r.U8();
    p.tcp_sack_permitted = r.U8() & 1;
    p.l4_payload_len = r.U16();
  } else if (kind == 2 || kind == 3) {
    p.proto = v6 ? kProtoIcmpV6 : kProtoIcmp;
    p.icmp_type = r.U8();
    p.icmp_code = r.U8();
    p.icmp_id = r.U8() & 3;
    p.icmp_is_error = kind == 3;
    p.has_inner = kind == 3 && (r.U8() & 1);
    const uint8_t ib = r.U8();
    p.inner.src = Addr(v6 != (ib & 1), ib >> 1);
    p.inner.dst = Addr(v6, ib >> 3);
    p.inner.proto = r.U8() % 3 == 0 ? kProtoTcp : (ib & 0x40 ? kProtoUdp : p.proto);
    p.inner.sport = r.U8() & 3;
    p.inner.dport = r.U8() & 3;
    p.inner.has_ports = r.U8() & 1;
  } else {
    p.proto = r.U8();
  }
  if (r.U8() == 0xff) p.error = ParseError::kTruncatedTcp;
  return p;
}

void CheckInvariants(const ConnTable& t) {
  if (t.Size() > t.options().max_connections) std::abort();
  auto all = t.List({});
  if (all.size() != t.Size()) std::abort();
  for (const ConnInfo& c : all) {
    auto h = t.Find(c.key);
    if (!h) std::abort();
    if (!(t.Info(*h).key == c.key)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r{data, size};
  ConnTableOptions o;
  o.max_connections = 1 + (r.U8() % 24);
  o.initial_capacity = 1;
  o.loose_pickup = r.U8() & 1;
  o.timeouts[ConnState::kTcpEstablished] = 50;
  InstanceBudget budget(1 + r.U8() % 32);
  o.instance_budget = &budget;
  auto created = ConnTable::Create(o);
  if (!created.ok()) std::abort();
  ConnTable& t = **created;
  uint64_t now = 1000;
  while (r.n > 0) {
    const uint8_t op = r.U8();
    now += op >> 4;
    ParsedPacket p = MakePacket(r);
    const Direction dir = (op & 8) ? Direction::kToVm : Direction::kFromVm;
    switch (op & 7) {
      case 0:
      case 1: {
        TrackResult res = t.Track(p, dir, now);
        if ((res.kind == TrackKind::kInvalid) != (res.invalid != CtInvalid::kNone)) std::abort();
        if ((res.kind == TrackKind::kEstablished || res.kind == TrackKind::kRelated) &&
            res.handle == kNoConn) {
          std::abort();
        }
        if (res.kind == TrackKind::kNew) {
          CommitResult c = t.Commit(p, dir, now, CtVerdict{op, Action::kAllow, 1});
          if (c.status == CommitStatus::kCreated && t.Track(p, dir, now).kind == TrackKind::kNew) {
            std::abort();  // a committed connection must be found right away
          }
        }
        break;
      }
      case 2:
        t.Commit(p, dir, now, CtVerdict{op, Action::kDrop, 2});
        break;
      case 3: {
        auto k = ConnTable::PacketKey(p);
        if (k) t.Delete(*k);
        break;
      }
      case 4:
        t.Expire(now, op >> 3);
        break;
      case 5: {
        std::vector<uint8_t> blob = t.Export(now);
        t.Flush();
        if (!t.Import(blob, now).ok()) std::abort();
        break;
      }
      case 6:
        if ((op >> 3) == 0) t.Flush();
        break;
      default:
        SymmetricFlowHash(p);
        break;
    }
    CheckInvariants(t);
    if (budget.used() < t.Size()) std::abort();
  }
  return 0;
}
