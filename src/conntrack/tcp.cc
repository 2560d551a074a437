// TCP state machine and window tracking, after Linux net/netfilter/nf_conntrack_proto_tcp.c
// (tcp_conntracks[], tcp_in_window(), tcp_packet(), tcp_new()). docs/conntrack.md explains the
// rules and where this tracker differs from Linux (it is stricter: see "Differences").
#include <algorithm>

#include "conntrack/internal.h"

namespace rampart::ct_internal {
namespace {

constexpr uint8_t sNO = static_cast<uint8_t>(ConnState::kFree);
constexpr uint8_t sSS = static_cast<uint8_t>(ConnState::kTcpSynSent);
constexpr uint8_t sSR = static_cast<uint8_t>(ConnState::kTcpSynRecv);
constexpr uint8_t sES = static_cast<uint8_t>(ConnState::kTcpEstablished);
constexpr uint8_t sFW = static_cast<uint8_t>(ConnState::kTcpFinWait);
constexpr uint8_t sCW = static_cast<uint8_t>(ConnState::kTcpCloseWait);
constexpr uint8_t sLA = static_cast<uint8_t>(ConnState::kTcpLastAck);
constexpr uint8_t sTW = static_cast<uint8_t>(ConnState::kTcpTimeWait);
constexpr uint8_t sCL = static_cast<uint8_t>(ConnState::kTcpClose);
constexpr uint8_t sS2 = static_cast<uint8_t>(ConnState::kTcpSynSent2);
constexpr uint8_t sIV = kTcpInvalidMarker;
constexpr uint8_t sIG = kTcpIgnoreMarker;

// [dir][index][old state], columns: sNO sSS sSR sES sFW sCW sLA sTW sCL sS2 (the ConnState
// values 0..9). Rows as in Linux (v4.x-v6.x): the comments name the interesting cells.
constexpr uint8_t kTable[2][6][10] = {
    {
        // ORIGINAL
        /*syn*/ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
        //   sTW/sCL -> sSS: SYN reopens a closed connection (handled as delete + new).
        /*synack*/ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
        //   sS2 -> sSR: simultaneous open, our side answers; sSR -> sSR late retransmission;
        //   sES.. -> sIV: the initiator never sends a SYN/ACK afterwards.
        /*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /*ack*/ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
        //   sSS -> sIV: ACK from the initiator before any SYN/ACK.
        /*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
    {
        // REPLY
        /*syn*/ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
        //   sSS -> sS2: simultaneous open; sTW -> sSS: reopened with roles switched.
        /*synack*/ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
        //   sSR -> sIG: retransmitted SYN/ACK.
        /*fin*/ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
        /*ack*/ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
        /*rst*/ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
        /*none*/ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
    },
};

// Linux tcp_valid_flags[] over FIN|SYN|RST|ACK|URG (PSH, ECE, CWR ignored).
bool ValidFlagsImpl(uint8_t f) {
  f &= (kTcpFin | kTcpSyn | kTcpRst | kTcpAck | kTcpUrg);
  switch (f) {
    case kTcpSyn:
    case kTcpSyn | kTcpUrg:
    case kTcpSyn | kTcpAck:
    case kTcpRst:
    case kTcpRst | kTcpAck:
    case kTcpFin | kTcpAck:
    case kTcpFin | kTcpAck | kTcpUrg:
    case kTcpAck:
    case kTcpAck | kTcpUrg:
      return true;
    default:
      return false;
  }
}

inline bool Before(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool After(uint32_t a, uint32_t b) { return Before(b, a); }

constexpr uint32_t kMaxAckWinConst = 66000;

uint32_t SegEnd(const ParsedPacket& p) {
  return p.tcp_seq + p.l4_payload_len + ((p.tcp_flags & kTcpSyn) ? 1 : 0) +
         ((p.tcp_flags & kTcpFin) ? 1 : 0);
}

// One direction's window state, unpacked from the record.
struct Win {
  uint32_t end, maxend, maxwin;
  uint8_t scale, flags;
};

void ApplyOptions(const ParsedPacket& p, Win& w) {
  w.scale = 0;
  w.flags &= static_cast<uint8_t>(~(kTcpWinScaleSet | kTcpWinSackPerm));
  if (p.tcp_wscale != 0xff) {
    w.scale = std::min<uint8_t>(p.tcp_wscale, 14);
    w.flags |= kTcpWinScaleSet;
  }
  if (p.tcp_sack_permitted) w.flags |= kTcpWinSackPerm;
}

// tcp_in_window(): on success updates sender/receiver and returns kNone.
CtInvalid InWindow(ConnState state, int dir, TcpIndex index, const ParsedPacket& p, Win& sender,
                   Win& receiver) {
  const bool syn = p.tcp_flags & kTcpSyn;
  const bool ack_flag = p.tcp_flags & kTcpAck;
  const bool rst = p.tcp_flags & kTcpRst;
  uint32_t seq = p.tcp_seq;
  uint32_t ack = p.tcp_ack;
  uint32_t win = p.tcp_window;
  uint32_t end = SegEnd(p);

  if (sender.maxwin == 0) {
    // First packet seen from this side.
    if (syn) {
      sender.end = sender.maxend = end;
      sender.maxwin = win == 0 ? 1 : win;
      ApplyOptions(p, sender);
      if (!((sender.flags & kTcpWinScaleSet) && (receiver.flags & kTcpWinScaleSet))) {
        sender.scale = receiver.scale = 0;
      }
      if (!ack_flag) return CtInvalid::kNone;  // simultaneous open: nothing to check yet
    } else {
      sender.end = end;
      uint32_t swin = win << sender.scale;
      sender.maxwin = swin == 0 ? 1 : swin;
      sender.maxend = end + sender.maxwin;
      if (receiver.maxwin == 0) receiver.end = receiver.maxend = ack;
    }
  } else if (((state == ConnState::kTcpSynSent && dir == 0) ||
              (state == ConnState::kTcpSynRecv && dir == 1)) &&
             After(end, sender.end)) {
    // SYN (or SYN/ACK) with a new initial sequence number: re-initialise this side.
    sender.end = sender.maxend = end;
    sender.maxwin = win == 0 ? 1 : win;
    ApplyOptions(p, sender);
  }

  if (!ack_flag) {
    ack = receiver.end;
  } else if (rst && ack == 0) {
    ack = receiver.end;
  }
  // A segment without data (and not a RST, except the RST answering a SYN) is not checked
  // against the sequence window: pure ACKs carry the current td_end.
  if (seq == end && (!rst || (seq == 0 && state == ConnState::kTcpSynSent))) {
    seq = end = sender.end;
  }

  const uint32_t max_ack_win = std::max(sender.maxwin, kMaxAckWinConst);
  const bool c1 = Before(seq, sender.maxend + 1);
  const bool c2 = After(end, sender.end - receiver.maxwin - 1);
  const bool c3 = Before(ack, receiver.end + 1);
  const bool c4 = After(ack, receiver.end - max_ack_win - 1);
  if (!(c1 && c2 && c3 && c4)) {
    if (!(sender.flags & kTcpWinBeLiberal)) {
      if (rst) return CtInvalid::kTcpRstOutOfWindow;
      if (!c1) return CtInvalid::kTcpSeqAboveWindow;
      if (!c2) return CtInvalid::kTcpSeqBelowWindow;
      if (!c3) return CtInvalid::kTcpAckUnsentData;
      return CtInvalid::kTcpAckTooOld;
    }
    // Liberal (loose pickup): accept and learn.
  }
  if (!syn) win <<= sender.scale;
  uint32_t swin = win;  // no SACK blocks: sack == ack
  if (sender.maxwin < swin) sender.maxwin = swin;
  if (After(end, sender.end)) {
    sender.end = end;
    sender.flags |= kTcpWinDataUnacked;
  }
  if (receiver.maxwin != 0 && After(end, sender.maxend)) {
    receiver.maxwin += end - sender.maxend;
  }
  if (After(ack + win, receiver.maxend - 1)) {
    receiver.maxend = ack + win;
    if (win == 0) receiver.maxend++;
  }
  if (ack == receiver.end) receiver.flags &= static_cast<uint8_t>(~kTcpWinDataUnacked);
  (void)index;
  return CtInvalid::kNone;
}

Win Load(const RecBody& b, int d) {
  return Win{b.td_end[d], b.td_maxend[d], b.td_maxwin[d], b.td_scale[d], b.td_flags[d]};
}
void Store(RecBody& b, int d, const Win& w) {
  b.td_end[d] = w.end;
  b.td_maxend[d] = w.maxend;
  b.td_maxwin[d] = w.maxwin;
  b.td_scale[d] = w.scale;
  b.td_flags[d] = w.flags;
}

}  // namespace

TcpIndex TcpFlagIndex(uint8_t f) {
  if (f & kTcpRst) return kRstSet;
  if (f & kTcpSyn) return (f & kTcpAck) ? kSynAckSet : kSynSet;
  if (f & kTcpFin) return kFinSet;
  if (f & kTcpAck) return kAckSet;
  return kNoneSet;
}

bool TcpFlagsValid(uint8_t flags) { return ValidFlagsImpl(flags); }

uint8_t TcpNextState(int dir, TcpIndex index, ConnState old_state) {
  uint8_t s = static_cast<uint8_t>(old_state);
  if (s > sS2) return sIV;
  return kTable[dir][index][s];
}

void TcpInitNew(RecBody& b, const ParsedPacket& p, bool loose) {
  Win w{};
  Win r{};
  uint32_t end = SegEnd(p);
  if (!loose) {
    // tcp_new(), SYN: the initiator's side is known, the responder's is not.
    w.end = w.maxend = end;
    w.maxwin = p.tcp_window == 0 ? 1 : p.tcp_window;
    ApplyOptions(p, w);
    b.state = sSS;
  } else {
    // tcp_new(), loose pickup: window scale unknown, so both sides are tracked liberally.
    w.end = end;
    w.maxwin = p.tcp_window == 0 ? 1 : p.tcp_window;
    w.maxend = w.end + w.maxwin;
    w.flags = kTcpWinSackPerm | kTcpWinBeLiberal;
    r.flags = kTcpWinSackPerm | kTcpWinBeLiberal;
    b.state = sES;
  }
  Store(b, 0, w);
  Store(b, 1, r);
}

CtInvalid TcpTrack(RecBody& b, const ParsedPacket& p, int dir, bool* reopen) {
  *reopen = false;
  if (!TcpFlagsValid(p.tcp_flags)) return CtInvalid::kTcpBadFlags;
  const ConnState old_state = static_cast<ConnState>(b.state);
  const TcpIndex index = TcpFlagIndex(p.tcp_flags);
  uint8_t next = TcpNextState(dir, index, old_state);

  if (next == sSS && (old_state == ConnState::kTcpTimeWait || old_state == ConnState::kTcpClose)) {
    // A new SYN for a closed connection: the caller removes the entry and treats the packet as
    // the first of a new connection (Linux: nf_ct_kill + NF_REPEAT).
    *reopen = true;
    return CtInvalid::kNone;
  }
  if (next == sIV) return CtInvalid::kTcpInvalidTransition;
  if (next == sIG) {
    // Valid for the connection but says nothing new (e.g. retransmitted SYN/ACK, SYN in an
    // established connection): accepted without state or window change, as Linux does.
    return CtInvalid::kNone;
  }

  Win w[2] = {Load(b, 0), Load(b, 1)};
  // A SYN/ACK answering a SYN must acknowledge exactly that SYN (RFC 793 3.4); Linux relies on
  // the window check, we are exact because the initiator's td_end is the ISN + 1.
  if (index == kSynAckSet && w[1 - dir].maxwin != 0 &&
      (old_state == ConnState::kTcpSynSent || old_state == ConnState::kTcpSynSent2) &&
      p.tcp_ack != w[1 - dir].end) {
    return CtInvalid::kTcpSynAckMismatch;
  }
  CtInvalid r = InWindow(old_state, dir, index, p, w[dir], w[1 - dir]);
  if (r != CtInvalid::kNone) return r;

  Store(b, 0, w[0]);
  Store(b, 1, w[1]);
  b.state = next;
  if (old_state != static_cast<ConnState>(next) && next == sFW) {
    b.td_flags[dir] |= kTcpWinCloseInit;
  }
  if (index == kRstSet) b.td_flags[dir] |= kTcpWinCloseInit;
  return CtInvalid::kNone;
}

}  // namespace rampart::ct_internal
