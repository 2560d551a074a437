// Built-in functions of nlog and expression evaluation (shared by the engine and the reference
// evaluator in tests).
#include <algorithm>

#include "nlog/program.h"

namespace rampart::nlog {
namespace {

Ip LastAddress(const Prefix& p) {
  Ip ip = p.addr;
  int host_bits = 128 - p.len;
  if (host_bits >= 64) {
    ip.lo = ~0ull;
    ip.hi |= host_bits == 128 ? ~0ull : (host_bits == 64 ? 0 : ((1ull << (host_bits - 64)) - 1));
  } else if (host_bits > 0) {
    ip.lo |= (1ull << host_bits) - 1;
  }
  return ip;
}

// ip + n with 128-bit wrap-around; an IPv4 address stays inside the IPv4 space (wraps mod 2^32).
Ip AddToIp(const Ip& ip, int64_t n) {
  if (ip.IsV4()) {
    uint32_t a = ip.V4Addr() + static_cast<uint32_t>(static_cast<uint64_t>(n));
    return Ip::V4(a);
  }
  uint64_t d = static_cast<uint64_t>(n);
  uint64_t dhi = n < 0 ? ~0ull : 0;
  Ip out;
  out.lo = ip.lo + d;
  out.hi = ip.hi + dhi + (out.lo < ip.lo ? 1 : 0);
  return out;
}

}  // namespace

bool EvalCompare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq: return a == b;
    case CmpOp::kNe: return a != b;
    case CmpOp::kLt: return Compare(a, b) < 0;
    case CmpOp::kLe: return Compare(a, b) <= 0;
    case CmpOp::kGt: return Compare(a, b) > 0;
    case CmpOp::kGe: return Compare(a, b) >= 0;
  }
  return false;
}

bool EvalExpr(const Expr& e, const Value* vars, Value* out) {
  switch (e.kind) {
    case Expr::Kind::kConst: *out = e.constant; return true;
    case Expr::Kind::kVar: *out = vars[e.var]; return true;
    case Expr::Kind::kCall: break;
  }
  // Small fixed buffer: builtins with more arguments evaluate them one at a time.
  Value a[2];
  auto eval_first = [&](size_t n) {
    for (size_t i = 0; i < n && i < e.args.size(); ++i) {
      if (!EvalExpr(e.args[i], vars, &a[i])) return false;
    }
    return true;
  };
  switch (e.fn) {
    case Builtin::kPrefixContains: {
      if (!eval_first(2)) return false;
      Prefix p = a[0].AsPrefix();
      if (a[1].type() == Type::kIp) *out = Value::Bool(p.Contains(a[1].AsIp()));
      else *out = Value::Bool(p.Contains(a[1].AsPrefix()));
      return true;
    }
    case Builtin::kNetwork:
      if (!eval_first(1)) return false;
      *out = Value::FromIp(a[0].AsPrefix().addr);
      return true;
    case Builtin::kBroadcast:
      if (!eval_first(1)) return false;
      *out = Value::FromIp(LastAddress(a[0].AsPrefix()));
      return true;
    case Builtin::kLength: {
      if (!eval_first(1)) return false;
      Prefix p = a[0].AsPrefix();
      *out = Value::Int(p.IsV4() ? p.len - 96 : p.len);
      return true;
    }
    case Builtin::kMakePrefix: {
      if (!eval_first(2)) return false;
      Ip ip = a[0].AsIp();
      int64_t len = a[1].AsInt();
      int64_t max = ip.IsV4() ? 32 : 128;
      if (len < 0 || len > max) return false;
      *out = Value::FromPrefix(Prefix::Make(ip, static_cast<int>(ip.IsV4() ? 96 + len : len)));
      return true;
    }
    case Builtin::kIpAdd:
      if (!eval_first(2)) return false;
      *out = Value::FromIp(AddToIp(a[0].AsIp(), a[1].AsInt()));
      return true;
    case Builtin::kIsV4:
      if (!eval_first(1)) return false;
      *out = Value::Bool(a[0].type() == Type::kIp ? a[0].AsIp().IsV4() : a[0].AsPrefix().IsV4());
      return true;
    case Builtin::kHash: {
      uint64_t h = 0x6e6c6f67ull;  // "nlog"
      for (const Expr& arg : e.args) {
        if (!EvalExpr(arg, vars, &a[0])) return false;
        h = a[0].StableHash(h);
      }
      *out = Value::Int(static_cast<int64_t>(h & 0x7fffffffffffffffull));
      return true;
    }
    case Builtin::kConcat: {
      std::string s;
      for (const Expr& arg : e.args) {
        if (!EvalExpr(arg, vars, &a[0])) return false;
        s += a[0].ToString();
      }
      *out = Value::String(s);
      return true;
    }
    case Builtin::kToString:
      if (!eval_first(1)) return false;
      *out = Value::String(a[0].ToString());
      return true;
    case Builtin::kAdd:
      if (!eval_first(2)) return false;
      *out = Value::Int(static_cast<int64_t>(static_cast<uint64_t>(a[0].AsInt()) +
                                             static_cast<uint64_t>(a[1].AsInt())));
      return true;
    case Builtin::kSub:
      if (!eval_first(2)) return false;
      *out = Value::Int(static_cast<int64_t>(static_cast<uint64_t>(a[0].AsInt()) -
                                             static_cast<uint64_t>(a[1].AsInt())));
      return true;
    case Builtin::kMin2:
      if (!eval_first(2)) return false;
      *out = Compare(a[0], a[1]) <= 0 ? a[0] : a[1];
      return true;
    case Builtin::kMax2:
      if (!eval_first(2)) return false;
      *out = Compare(a[0], a[1]) >= 0 ? a[0] : a[1];
      return true;
  }
  return false;
}

}  // namespace rampart::nlog
