// TCP state machine and window tracking (Linux nf_conntrack_proto_tcp.c semantics).
#include "conntrack/conntrack.h"
#include "gtest/gtest.h"
#include "test/conntrack/ct_test_util.h"

namespace rampart {
namespace {

using namespace ct_test;

TEST(ConntrackTcp, FullHandshakeAndTeardownInitiatorClosesFirst) {
  for (bool v6 : {false, true}) {
    auto t = MakeTable();
    TcpConv c(*t, v6);
    ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
    EXPECT_EQ(c.Info().state, ConnState::kTcpSynSent);
    TrackResult r = c.Send(1, kTcpSyn | kTcpAck);
    ASSERT_EQ(r.kind, TrackKind::kEstablished);
    EXPECT_EQ(r.side, ConnSide::kReply);
    EXPECT_EQ(r.state, ConnState::kTcpSynRecv);
    r = c.Send(0, kTcpAck);
    EXPECT_EQ(r.side, ConnSide::kOriginal);
    EXPECT_EQ(r.state, ConnState::kTcpEstablished);
    EXPECT_EQ(c.Send(0, kTcpAck | kTcpPsh, 100).kind, TrackKind::kEstablished);
    EXPECT_EQ(c.Send(1, kTcpAck | kTcpPsh, 300).kind, TrackKind::kEstablished);
    EXPECT_EQ(c.Send(0, kTcpAck).kind, TrackKind::kEstablished);
    EXPECT_EQ(c.Send(0, kTcpFin | kTcpAck).state, ConnState::kTcpFinWait);
    EXPECT_EQ(c.Send(1, kTcpAck).state, ConnState::kTcpCloseWait);
    EXPECT_EQ(c.Send(1, kTcpFin | kTcpAck).state, ConnState::kTcpLastAck);
    r = c.Send(0, kTcpAck);
    EXPECT_EQ(r.kind, TrackKind::kEstablished);
    EXPECT_EQ(r.state, ConnState::kTcpTimeWait);
    ConnInfo info = c.Info();
    EXPECT_EQ(info.packets[0], 6u);  // SYN, ACK, data, ACK, FIN, final ACK
    EXPECT_EQ(info.packets[1], 4u);
    EXPECT_EQ(info.verdict, Allow());
    EXPECT_EQ(info.flags & kConnFlagOrigToVm, 0);
    EXPECT_GT(info.bytes[1], info.bytes[0]);
  }
}

TEST(ConntrackTcp, TeardownResponderClosesFirst) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  EXPECT_EQ(c.Send(1, kTcpFin | kTcpAck).state, ConnState::kTcpFinWait);
  EXPECT_EQ(c.Send(0, kTcpAck).state, ConnState::kTcpCloseWait);
  EXPECT_EQ(c.Send(0, kTcpFin | kTcpAck).state, ConnState::kTcpLastAck);
  EXPECT_EQ(c.Send(1, kTcpAck).state, ConnState::kTcpTimeWait);
}

TEST(ConntrackTcp, SimultaneousClose) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  EXPECT_EQ(c.Send(0, kTcpFin | kTcpAck).state, ConnState::kTcpFinWait);
  // The server's FIN crosses the client's: it does not ack the client's FIN yet.
  ParsedPacket fin = c.Pkt(1, kTcpFin | kTcpAck, 0, 0, -1);
  EXPECT_EQ(c.Send(fin, 1).state, ConnState::kTcpLastAck);
  EXPECT_EQ(c.Send(0, kTcpAck).state, ConnState::kTcpTimeWait);
  EXPECT_EQ(c.Send(1, kTcpAck).state, ConnState::kTcpTimeWait);
}

TEST(ConntrackTcp, SimultaneousOpen) {
  auto t = MakeTable();
  TcpConv c(*t);
  ASSERT_EQ(c.Open(0).status, CommitStatus::kCreated);
  TrackResult r = c.Send(1, kTcpSyn);  // the peer's own SYN crosses ours
  ASSERT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpSynSent2);
  // Each side answers the other's SYN with a SYN/ACK that repeats its own ISN.
  r = c.Send(c.Pkt(0, kTcpSyn | kTcpAck, 0, -1), 0);
  ASSERT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpSynRecv);
  r = c.Send(c.Pkt(1, kTcpSyn | kTcpAck, 0, -1), 1);
  ASSERT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpSynRecv);
  r = c.Send(0, kTcpAck);
  EXPECT_EQ(r.state, ConnState::kTcpEstablished);
  EXPECT_EQ(c.Send(1, kTcpAck | kTcpPsh, 10).kind, TrackKind::kEstablished);
}

TEST(ConntrackTcp, SegmentBeyondReceiverWindowIsInvalidAndChangesNothing) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.win_[1] = 1000;
  c.Handshake();
  EXPECT_EQ(c.Send(1, kTcpAck).kind, TrackKind::kEstablished);  // server advertises 1000
  ConnInfo before = c.Info();
  ParsedPacket p = c.Pkt(0, kTcpAck | kTcpPsh, 100, /*seq_off=*/5000);
  TrackResult r = c.Send(p, 0);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpSeqAboveWindow);
  EXPECT_EQ(c.Info(), before);
  EXPECT_EQ(t->Stats().invalid[static_cast<size_t>(CtInvalid::kTcpSeqAboveWindow)], 1u);
  // Inside the window is fine (out of order but acceptable).
  EXPECT_EQ(c.Send(c.Pkt(0, kTcpAck | kTcpPsh, 100, 800), 0).kind, TrackKind::kEstablished);
}

TEST(ConntrackTcp, AckOfDataNeverSentIsInvalid) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  ConnInfo before = c.Info();
  TrackResult r = c.Send(c.Pkt(0, kTcpAck, 0, 0, /*ack_off=*/100), 0);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpAckUnsentData);
  EXPECT_EQ(c.Info(), before);
}

TEST(ConntrackTcp, AckFarBelowWindowIsInvalid) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  TrackResult r = c.Send(c.Pkt(0, kTcpAck, 0, 0, /*ack_off=*/-200000), 0);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpAckTooOld);
}

TEST(ConntrackTcp, OldDuplicateSegmentIsInvalid) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.win_[1] = 1000;
  c.Handshake();
  EXPECT_EQ(c.Send(1, kTcpAck).kind, TrackKind::kEstablished);
  const ParsedPacket first = c.Pkt(0, kTcpAck | kTcpPsh, 1000);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(c.Send(0, kTcpAck | kTcpPsh, 1000).kind, TrackKind::kEstablished) << i;
    ASSERT_EQ(c.Send(1, kTcpAck).kind, TrackKind::kEstablished) << i;
  }
  ConnInfo before = c.Info();
  TrackResult r = c.Send(first, 0);  // the first segment again, long acknowledged
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpSeqBelowWindow);
  EXPECT_EQ(c.Info(), before);
}

TEST(ConntrackTcp, RstInWindowClosesConnection) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  TrackResult r = c.Send(1, kTcpRst | kTcpAck);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpClose);
}

TEST(ConntrackTcp, RstOutOfWindowIsInvalidAndKeepsConnection) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  ConnInfo before = c.Info();
  TrackResult r = c.Send(c.Pkt(1, kTcpRst, 0, /*seq_off=*/10000000), 1);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpRstOutOfWindow);
  EXPECT_EQ(c.Info(), before);
  EXPECT_EQ(c.Send(0, kTcpAck | kTcpPsh, 10).state, ConnState::kTcpEstablished);
}

TEST(ConntrackTcp, RstAnsweringSynRefusesConnection) {
  auto t = MakeTable();
  TcpConv c(*t);
  ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
  TrackResult r = c.Send(c.Pkt(1, kTcpRst | kTcpAck), 1);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpClose);
}

TEST(ConntrackTcp, FinThenRstRaceEndsClosed) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  EXPECT_EQ(c.Send(0, kTcpFin | kTcpAck).state, ConnState::kTcpFinWait);
  EXPECT_EQ(c.Send(1, kTcpRst | kTcpAck).state, ConnState::kTcpClose);
  // The FIN's late retransmission or a stray ACK does not bring the connection back.
  TrackResult r = c.Send(0, kTcpAck);
  EXPECT_EQ(r.state, ConnState::kTcpClose);
}

TEST(ConntrackTcp, RstThenFinRaceStaysClosed) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  EXPECT_EQ(c.Send(0, kTcpRst | kTcpAck).state, ConnState::kTcpClose);
  TrackResult r = c.Send(1, kTcpFin | kTcpAck);
  EXPECT_EQ(r.state, ConnState::kTcpClose);
  // CLOSE times out quickly (10 s by default).
  ParsedPacket p = c.Pkt(1, kTcpAck);
  EXPECT_EQ(t->Track(p, Direction::kToVm, c.now_ + 11 * kS).invalid, CtInvalid::kTcpNoConnection);
  EXPECT_EQ(t->Size(), 0u);
}

TEST(ConntrackTcp, RetransmittedSynAndSynAckAreAccepted) {
  auto t = MakeTable();
  TcpConv c(*t);
  ParsedPacket syn = c.Pkt(0, kTcpSyn);
  ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
  TrackResult r = c.Send(syn, 0);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpSynSent);
  ParsedPacket synack = c.Pkt(1, kTcpSyn | kTcpAck);
  EXPECT_EQ(c.Send(synack, 1).state, ConnState::kTcpSynRecv);
  r = c.Send(synack, 1);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpSynRecv);
  EXPECT_EQ(c.Send(0, kTcpAck).state, ConnState::kTcpEstablished);
  EXPECT_EQ(c.Info().packets[0], 3u);
  EXPECT_EQ(c.Info().packets[1], 2u);
}

TEST(ConntrackTcp, SynWithNewIsnReinitialisesAndOldSynAckIsRejected) {
  auto t = MakeTable();
  TcpConv c(*t);
  ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
  ParsedPacket stale_synack = c.Pkt(1, kTcpSyn | kTcpAck);  // acks the first ISN
  c.nxt_[0] += 70000;  // the client restarts with a later ISN
  EXPECT_EQ(c.Send(0, kTcpSyn).kind, TrackKind::kEstablished);
  TrackResult r = c.Send(stale_synack, 1);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpSynAckMismatch);
  EXPECT_EQ(c.Send(1, kTcpSyn | kTcpAck).state, ConnState::kTcpSynRecv);
}

TEST(ConntrackTcp, SynAckAckingWrongSequenceIsInvalid) {
  auto t = MakeTable();
  TcpConv c(*t);
  ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
  TrackResult r = c.Send(c.Pkt(1, kTcpSyn | kTcpAck, 0, 0, /*ack_off=*/-1), 1);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpSynAckMismatch);
  EXPECT_EQ(c.Info().state, ConnState::kTcpSynSent);
}

TEST(ConntrackTcp, AckBeforeSynAckIsInvalidTransition) {
  auto t = MakeTable();
  TcpConv c(*t);
  ASSERT_EQ(c.Open().status, CommitStatus::kCreated);
  TrackResult r = c.Send(0, kTcpAck);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpInvalidTransition);
}

// Window scaling: the server advertises 1024 << 7 after the handshake; a segment 100000 bytes
// ahead is inside that window only if scaling was negotiated by both SYNs.
TEST(ConntrackTcp, WindowScalingFromSynOptionsWidensWindow) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.wscale_[0] = 7;
  c.wscale_[1] = 7;
  c.win_[1] = 1024;
  c.Handshake();
  EXPECT_EQ(c.Send(1, kTcpAck).kind, TrackKind::kEstablished);
  ConnInfo info = c.Info();
  EXPECT_EQ(info.tcp[0].scale, 7);
  EXPECT_EQ(info.tcp[1].scale, 7);
  EXPECT_TRUE(info.tcp[0].flags & kTcpWinScaleSet);
  TrackResult r = c.Send(c.Pkt(0, kTcpAck | kTcpPsh, 1000, 100000), 0);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(c.Send(c.Pkt(0, kTcpAck | kTcpPsh, 1000, 200000), 0).invalid,
            CtInvalid::kTcpSeqAboveWindow);
}

TEST(ConntrackTcp, WindowScaleIgnoredUnlessBothSidesOfferIt) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.wscale_[0] = 7;  // only the client offers scaling
  c.win_[1] = 1024;
  c.Handshake();
  EXPECT_EQ(c.Send(1, kTcpAck).kind, TrackKind::kEstablished);
  EXPECT_EQ(c.Info().tcp[0].scale, 0);
  EXPECT_EQ(c.Info().tcp[1].scale, 0);
  TrackResult r = c.Send(c.Pkt(0, kTcpAck | kTcpPsh, 1000, 100000), 0);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpSeqAboveWindow);
}

TEST(ConntrackTcp, SynToTimeWaitConnectionReopensIt) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  c.Send(0, kTcpFin | kTcpAck);
  c.Send(1, kTcpFin | kTcpAck);
  ASSERT_EQ(c.Send(0, kTcpAck).state, ConnState::kTcpTimeWait);
  c.nxt_[0] += 100000;
  ParsedPacket syn = c.Pkt(0, kTcpSyn);
  TrackResult r = t->Track(syn, Direction::kFromVm, c.now_ + kMs);
  EXPECT_EQ(r.kind, TrackKind::kNew);
  EXPECT_EQ(t->Size(), 0u);
  CommitResult cr = t->Commit(syn, Direction::kFromVm, c.now_ + kMs, Allow(9, 2));
  EXPECT_EQ(cr.status, CommitStatus::kCreated);
  EXPECT_EQ(c.Info().state, ConnState::kTcpSynSent);
  EXPECT_EQ(c.Info().verdict, Allow(9, 2));
}

TEST(ConntrackTcp, SynFromResponderToTimeWaitReopensWithSwappedRoles) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  c.Send(0, kTcpFin | kTcpAck);
  c.Send(1, kTcpFin | kTcpAck);
  ASSERT_EQ(c.Send(0, kTcpAck).state, ConnState::kTcpTimeWait);
  ParsedPacket syn = c.Pkt(1, kTcpSyn);
  EXPECT_EQ(t->Track(syn, Direction::kToVm, c.now_ + kMs).kind, TrackKind::kNew);
  ASSERT_EQ(t->Commit(syn, Direction::kToVm, c.now_ + kMs, Allow()).status, CommitStatus::kCreated);
  ConnInfo info = c.Info();
  EXPECT_EQ(info.key.src, c.ip_[1]);  // the server is now the initiator
  EXPECT_TRUE(info.flags & kConnFlagOrigToVm);
}

TEST(ConntrackTcp, SynInEstablishedConnectionIsIgnoredNotReset) {
  auto t = MakeTable();
  TcpConv c(*t);
  c.Handshake();
  ConnInfo before = c.Info();
  TrackResult r = t->Track(c.Pkt(0, kTcpSyn, 0, 12345), Direction::kFromVm, c.now_);
  EXPECT_EQ(r.kind, TrackKind::kEstablished);
  EXPECT_EQ(r.state, ConnState::kTcpEstablished);
  EXPECT_EQ(c.Info().tcp[0], before.tcp[0]);
}

TEST(ConntrackTcp, MidStreamPacketOfUnknownConnectionIsInvalidWhenStrict) {
  auto t = MakeTable();
  TcpConv c(*t);
  ParsedPacket p = c.Pkt(0, kTcpAck | kTcpPsh, 100);
  TrackResult r = t->Track(p, Direction::kFromVm, kS);
  EXPECT_EQ(r.kind, TrackKind::kInvalid);
  EXPECT_EQ(r.invalid, CtInvalid::kTcpNoConnection);
  CommitResult cr = t->Commit(p, Direction::kFromVm, kS, Allow());
  EXPECT_EQ(cr.status, CommitStatus::kNotNew);
  EXPECT_EQ(cr.invalid, CtInvalid::kTcpNoConnection);
  EXPECT_EQ(t->Size(), 0u);
  for (int f : {kTcpFin | kTcpAck, int{kTcpRst}, kTcpRst | kTcpAck, kTcpSyn | kTcpAck}) {
    EXPECT_EQ(t->Track(c.Pkt(0, static_cast<uint8_t>(f)), Direction::kFromVm, kS).invalid, CtInvalid::kTcpNoConnection)
        << int(f);
  }
}

TEST(ConntrackTcp, LoosePickupCreatesEstablishedEntryMidStream) {
  ConnTableOptions o;
  o.loose_pickup = true;
  auto t = MakeTable(o);
  TcpConv c(*t);
  c.wscale_[0] = c.wscale_[1] = 7;  // negotiated before we saw anything: windows unknown
  ParsedPacket p = c.Pkt(0, kTcpAck | kTcpPsh, 100);
  EXPECT_EQ(t->Track(p, Direction::kFromVm, c.now_).kind, TrackKind::kNew);
  CommitResult cr = t->Commit(p, Direction::kFromVm, c.now_, Allow());
  ASSERT_EQ(cr.status, CommitStatus::kCreated);
  c.Advance(p, 0);
  ConnInfo info = c.Info();
  EXPECT_EQ(info.state, ConnState::kTcpEstablished);
  EXPECT_TRUE(info.flags & kConnFlagLoosePickup);
  EXPECT_EQ(c.Send(1, kTcpAck | kTcpPsh, 2000).kind, TrackKind::kEstablished);
  EXPECT_EQ(c.Send(0, kTcpAck | kTcpPsh, 3000).kind, TrackKind::kEstablished);
  // Loose pickup still refuses FIN/RST/SYN-ACK of unknown connections (Linux: sIV from sNO).
  TcpConv other(*t, false, 41000);
  EXPECT_EQ(t->Track(other.Pkt(0, kTcpFin | kTcpAck), Direction::kFromVm, kS).invalid,
            CtInvalid::kTcpNoConnection);
  EXPECT_EQ(t->Commit(other.Pkt(0, kTcpRst), Direction::kFromVm, kS, Allow()).status,
            CommitStatus::kNotNew);
}

TEST(ConntrackTcp, InvalidFlagCombinationsAreRejected) {
  auto t = MakeTable();
  TcpConv c(*t);
  EXPECT_EQ(t->Track(c.Pkt(0, kTcpSyn | kTcpFin), Direction::kFromVm, kS).invalid,
            CtInvalid::kTcpBadFlags);
  EXPECT_EQ(t->Commit(c.Pkt(0, kTcpSyn | kTcpRst), Direction::kFromVm, kS, Allow()).invalid,
            CtInvalid::kTcpBadFlags);
  c.Handshake();
  EXPECT_EQ(c.Send(0, 0).invalid, CtInvalid::kTcpBadFlags);  // no flags at all
  EXPECT_EQ(c.Send(0, kTcpFin).invalid, CtInvalid::kTcpBadFlags);  // FIN without ACK
}

TEST(ConntrackTcp, EstablishedTimeoutComesFromOptions) {
  ConnTableOptions o;
  o.timeouts[ConnState::kTcpEstablished] = 60 * kS;
  auto t = MakeTable(o);
  TcpConv c(*t);
  c.Handshake();
  ParsedPacket p = c.Pkt(0, kTcpAck);
  EXPECT_EQ(t->Track(p, Direction::kFromVm, c.now_ + 59 * kS).kind, TrackKind::kEstablished);
  EXPECT_EQ(t->Track(p, Direction::kFromVm, c.now_ + 59 * kS + 61 * kS).invalid,
            CtInvalid::kTcpNoConnection);
  EXPECT_EQ(t->Stats().expired, 1u);
}

}  // namespace
}  // namespace rampart
