#include "fwd/fanout_bpf.h"

namespace rampart::fwd {

namespace {

// Offsets relative to the network header (SKF_NET_OFF), so the program does not depend on
// where the kernel left skb->data or on the VLAN tag it stripped.
constexpr uint32_t Net(int off) { return static_cast<uint32_t>(SKF_NET_OFF + off); }

class Asm {
 public:
  size_t pc() const { return prog_.size(); }
  void Emit(uint16_t code, uint32_t k, uint8_t jt = 0, uint8_t jf = 0) { prog_.push_back({code, jt, jf, k}); }
  // Conditional jump to labels resolved later.
  size_t Jeq(uint32_t k) {
    Emit(BPF_JMP | BPF_JEQ | BPF_K, k);
    return pc() - 1;
  }
  size_t Ja() {
    Emit(BPF_JMP | BPF_JA, 0);
    return pc() - 1;
  }
  void SetTrue(size_t at, size_t target) { prog_[at].jt = static_cast<uint8_t>(target - at - 1); }
  void SetFalse(size_t at, size_t target) { prog_[at].jf = static_cast<uint8_t>(target - at - 1); }
  void SetJa(size_t at, size_t target) { prog_[at].k = static_cast<uint32_t>(target - at - 1); }
  // A ^= word at the given absolute (ind=false) or X-relative (ind=true) offset, using M[0].
  void XorWord(uint32_t k, bool ind) {
    Emit(BPF_ST, 0);                                            // M[0] = A
    Emit(BPF_LD | BPF_W | (ind ? BPF_IND : BPF_ABS), k);        // A = word
    if (ind) {
      Emit(BPF_ST, 1);                                          // keep X intact: M[1] = A
      Emit(BPF_LD | BPF_MEM, 0);                                // A = M[0]
      Emit(BPF_STX, 2);                                         // M[2] = X
      Emit(BPF_LDX | BPF_MEM, 1);                               // X = M[1]
      Emit(BPF_ALU | BPF_XOR | BPF_X, 0);                       // A ^= X
      Emit(BPF_LDX | BPF_MEM, 2);                               // X = M[2]
    } else {
      Emit(BPF_LDX | BPF_MEM, 0);                               // X = M[0]
      Emit(BPF_ALU | BPF_XOR | BPF_X, 0);                       // A ^= X
    }
  }
  std::vector<sock_filter> Take() { return std::move(prog_); }

 private:
  std::vector<sock_filter> prog_;
};

}  // namespace

std::vector<sock_filter> SymmetricFanoutProgram() {
  // Classic BPF only jumps forward, so the "outer addresses" blocks are emitted twice rather
  // than jumped back to.
  Asm a;
  std::vector<size_t> to_mix;
  auto outer_v4 = [&] {
    a.Emit(BPF_LD | BPF_IMM, 0);
    a.XorWord(Net(12), false);
    a.XorWord(Net(16), false);
    to_mix.push_back(a.Ja());
  };
  auto outer_v6 = [&] {
    a.Emit(BPF_LD | BPF_IMM, 0);
    for (int off = 8; off < 40; off += 4) a.XorWord(Net(off), false);
    to_mix.push_back(a.Ja());
  };

  a.Emit(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL));  // ethertype
  size_t is_v4 = a.Jeq(0x0800);
  size_t is_v6 = a.Jeq(0x86dd);
  a.SetFalse(is_v4, is_v6);
  a.Emit(BPF_RET | BPF_K, 0);  // not IP (or a second tag): worker 0
  a.SetFalse(is_v6, a.pc() - 1);

  // IPv4.
  a.SetTrue(is_v4, a.pc());
  a.Emit(BPF_LD | BPF_B | BPF_ABS, Net(9));  // protocol
  size_t v4_icmp = a.Jeq(1);
  a.SetFalse(v4_icmp, a.pc());
  outer_v4();
  a.SetTrue(v4_icmp, a.pc());
  a.Emit(BPF_LDX | BPF_B | BPF_MSH, Net(0));  // X = IHL * 4
  a.Emit(BPF_LD | BPF_B | BPF_IND, Net(0));   // ICMP type
  size_t t3 = a.Jeq(3);
  size_t t11 = a.Jeq(11);
  size_t t12 = a.Jeq(12);
  a.SetFalse(t3, t11);
  a.SetFalse(t11, t12);
  a.SetFalse(t12, a.pc());
  outer_v4();  // not an error: the outer addresses
  size_t v4_inner = a.pc();
  a.SetTrue(t3, v4_inner);
  a.SetTrue(t11, v4_inner);
  a.SetTrue(t12, v4_inner);
  a.Emit(BPF_LD | BPF_IMM, 0);
  a.XorWord(Net(8 + 12), true);  // quoted header's source
  a.XorWord(Net(8 + 16), true);  // and destination
  to_mix.push_back(a.Ja());

  // IPv6.
  a.SetTrue(is_v6, a.pc());
  a.Emit(BPF_LD | BPF_B | BPF_ABS, Net(6));  // next header
  size_t v6_icmp = a.Jeq(58);
  a.SetFalse(v6_icmp, a.pc());
  outer_v6();
  a.SetTrue(v6_icmp, a.pc());
  a.Emit(BPF_LD | BPF_B | BPF_ABS, Net(40));  // ICMPv6 type: errors are 1..4
  a.Emit(BPF_JMP | BPF_JGT | BPF_K, 4);
  size_t gt4 = a.pc() - 1;
  a.Emit(BPF_JMP | BPF_JEQ | BPF_K, 0);
  size_t eq0 = a.pc() - 1;
  a.SetFalse(gt4, eq0);
  size_t v6_not_error = a.pc() + 1;  // after the jump below
  size_t skip = a.Ja();              // types 1..4: the quoted header
  a.SetTrue(gt4, v6_not_error);
  a.SetTrue(eq0, v6_not_error);
  a.SetFalse(eq0, skip);
  outer_v6();
  a.SetJa(skip, a.pc());
  a.Emit(BPF_LD | BPF_IMM, 0);
  for (int off = 48 + 8; off < 48 + 40; off += 4) a.XorWord(Net(off), false);
  to_mix.push_back(a.Ja());

  // Mix the 32 bits so that the kernel's `% workers` sees all of them.
  size_t mix = a.pc();
  for (size_t j : to_mix) a.SetJa(j, mix);
  a.Emit(BPF_MISC | BPF_TAX, 0);
  a.Emit(BPF_ALU | BPF_RSH | BPF_K, 16);
  a.Emit(BPF_ALU | BPF_XOR | BPF_X, 0);
  a.Emit(BPF_ALU | BPF_MUL | BPF_K, 0x45d9f3b);
  a.Emit(BPF_MISC | BPF_TAX, 0);
  a.Emit(BPF_ALU | BPF_RSH | BPF_K, 16);
  a.Emit(BPF_ALU | BPF_XOR | BPF_X, 0);
  a.Emit(BPF_RET | BPF_A, 0);
  return a.Take();
}

}  // namespace rampart::fwd
