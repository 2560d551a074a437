#include "engine/reasons.h"

namespace rampart {

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllow: return "allow";
    case Verdict::kDrop: return "drop";
    case Verdict::kReject: return "reject";
    case Verdict::kRedirect: return "redirect";
  }
  return "?";
}

const char* ReasonName(Reason r) {
  static constexpr const char* kNames[] = {
#define RAMPART_X(name, str) str,
      RAMPART_PARSE_ERRORS(RAMPART_X) RAMPART_CONNTRACK_INVALID(RAMPART_X) RAMPART_ENGINE_REASONS(RAMPART_X)
#undef RAMPART_X
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == kReasonCount);
  const int i = static_cast<int>(r);
  return i >= 0 && i < kReasonCount ? kNames[i] : "?";
}

}  // namespace rampart
