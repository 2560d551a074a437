// Verdicts and the one list of reasons the engine gives for them.
//
// Every frame the engine sees leaves with a Verdict and a Reason. Reasons double as counter
// names: each instance (and the engine, for frames that belong to no instance) keeps one counter
// per Reason. The list is declared once (X-macro, Envoy ALL_*_STATS style) from three parts:
// parse errors (packet.h names and order), conntrack's invalid reasons (conntrack.h names and
// order; a packet conntrack finds invalid, e.g. a mid-stream TCP segment of an unknown
// connection in strict mode, leaves with that reason), then the engine's own.
//
// Thread-safety: plain values.
#ifndef RAMPART_ENGINE_REASONS_H_
#define RAMPART_ENGINE_REASONS_H_

#include <cstdint>

#include "conntrack/conntrack.h"
#include "packet/packet.h"

namespace rampart {

enum class Verdict : uint8_t {
  kAllow = 0,
  kDrop = 1,
  kReject = 2,    // dropped, and Frame::reply holds a TCP RST / ICMP unreachable (when one applies)
  kRedirect = 3,  // hand to the service Frame::service (SVMI); not forwarded by the engine
};
const char* VerdictName(Verdict v);

// Engine reasons, after the parse errors. X(enum_name, "counter-name"). Some entries are events
// (counted, never a frame's final reason); they say so.
#define RAMPART_ENGINE_REASONS(X)                                                              \
  /* allowed */                                                                                \
  X(kAllowNew, "allow-new")                   /* first packet of a connection, rule allows */  \
  X(kAllowEstablished, "allow-established")   /* known connection, cached verdict */           \
  X(kAllowRelated, "allow-related")           /* ICMP error about a known connection */        \
  X(kAllowStateless, "allow-stateless")       /* stateless allow rule, no conntrack */         \
  X(kAllowUntracked, "allow-untracked")       /* never tracked (ICMP info, ND...), rule allows */ \
  X(kAllowFragment, "allow-fragment")         /* later fragment, first fragment was allowed */ \
  /* decided by a rule */                                                                      \
  X(kRuleDrop, "rule-drop")                                                                    \
  X(kRuleReject, "rule-reject")                                                                \
  X(kRuleRedirect, "rule-redirect")           /* first packet / stateless: rule redirects */   \
  X(kRedirectEstablished, "redirect-established") /* known connection, cached redirect */      \
  X(kFragmentDrop, "fragment-drop")           /* later fragment, first fragment was not allowed */ \
  /* dropped by the engine */                                                                  \
  X(kFragmentWithoutFirst, "fragment-without-first")                                           \
  X(kConnLimit, "conn-limit")                 /* port or instance connection limit reached */  \
  X(kRevalidateDrop, "revalidate-drop")       /* rule change no longer allows the connection */ \
  X(kNoPolicy, "no-policy")                   /* instance has no policy yet */                 \
  X(kUnknownTag, "unknown-tag")               /* outer 802.1Q tag bound to nothing */          \
  X(kNoTag, "no-tag")                         /* untagged frame on the tagged path */          \
  X(kInnerTag, "inner-tag")                   /* a VM's own 802.1Q tag inside ours */          \
  X(kNotVm, "not-vm")                         /* replay: neither from nor to the VM */         \
  /* events (counted, never a final reason) */                                                 \
  X(kEvConnCommitted, "conn-committed")                                                        \
  X(kEvRevalidated, "revalidated")            /* re-classified after a rule change, kept */    \
  X(kEvFragmentTableFull, "fragment-table-full")                                               \
  X(kEvFragmentExpired, "fragment-expired")                                                    \
  X(kEvRejectNoReply, "reject-no-reply")      /* reject verdict, no reply built */             \
  X(kEvLogRingFull, "log-ring-full")          /* a log record was lost */

enum class Reason : uint8_t {
#define RAMPART_X(name, str) name,
  RAMPART_PARSE_ERRORS(RAMPART_X)
  RAMPART_CONNTRACK_INVALID(RAMPART_X)
  RAMPART_ENGINE_REASONS(RAMPART_X)
#undef RAMPART_X
  kCount
};
constexpr int kReasonCount = static_cast<int>(Reason::kCount);

const char* ReasonName(Reason r);
// ParseError values are the first Reason values, same order.
constexpr Reason ReasonOf(ParseError e) { return static_cast<Reason>(e); }
constexpr Reason ReasonOf(CtInvalid e) {
  return static_cast<Reason>(static_cast<int>(ParseError::kCount) + static_cast<int>(e));
}
// True for the conntrack part of the list (the packet was invalid for its connection state).
constexpr bool IsInvalidReason(Reason r) {
  return r >= ReasonOf(CtInvalid::kNone) && r < ReasonOf(CtInvalid::kCount);
}
// True for the entries marked "events" above.
constexpr bool IsEventReason(Reason r) { return r >= Reason::kEvConnCommitted && r < Reason::kCount; }

}  // namespace rampart

#endif  // RAMPART_ENGINE_REASONS_H_
