// `rampartctl fw replay --policy FILE --pcap IN.pcap --vm IP [--per-packet]
//  [--out-allowed OUT.pcap] [--loose] [--revalidate]`: runs a capture through the stateful
// firewall engine as the firewall of the VM with address IP, in capture order with the capture's
// timestamps as the clock, and reports what it decided and why.
//
// Frames from IP are "from the VM", frames to IP "to the VM"; other IP frames are dropped
// "not-vm" (the engine never sees them). Frames without IP addresses (non-IP, truncated) go to the
// engine as "from the VM" and get their parse reason. Frames need no tag (the engine is fed the
// direction directly); a tagged frame carries a VM's own tag and is dropped "inner-tag".
//
// Output: a per-connection table (first frame, verdict, reason, deciding rule id and name,
// packets allowed/dropped) and a summary of counters. With --per-packet, stdout has exactly one
// line per frame, `<frame number from 1> <allow|drop|reject|redirect> <reason>`, and the rest
// goes to stderr.
#include <pcap/pcap.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "cli/command.h"
#include "engine/engine.h"
#include "packet/parser.h"
#include "policy/compiler.h"
#include "policy/policy_parser.h"

namespace rampart::cli {
namespace {

constexpr const char* kUsage =
    "usage: rampartctl fw replay --policy FILE --pcap IN.pcap --vm IP [--per-packet]\n"
    "                            [--out-allowed OUT.pcap] [--loose] [--revalidate]\n"
    "\n"
    "Runs the capture through the stateful firewall engine protecting the VM with address IP:\n"
    "frames from IP are 'from the VM', frames to IP 'to the VM', others are dropped 'not-vm'.\n"
    "  --per-packet     stdout: one line per frame '<n> <verdict> <reason>'; summary to stderr\n"
    "  --out-allowed F  write the allowed frames to the pcap file F\n"
    "  --loose          let conntrack pick up TCP connections mid-stream (default: strict)\n"
    "  --revalidate     revalidate_on_change (no effect within one replay: one rule set)\n";

constexpr InstanceId kInstance = 1;
constexpr PortId kPort = 1;

// A connection as the report groups frames: protocol and the two endpoints, VM side first.
// Later fragments are grouped per datagram (fragment id), ICMP messages per type/code.
enum class RowKind : uint8_t { kFlow = 0, kIcmp = 1, kFragment = 2 };
struct ConnKeyView {
  uint8_t proto = 0;
  RowKind kind = RowKind::kFlow;
  Ip vm;
  Ip peer;
  uint32_t a = 0;  // kFlow: VM port; kIcmp: type; kFragment: fragment id
  uint32_t b = 0;  // kFlow: peer port; kIcmp: code
  bool operator<(const ConnKeyView& o) const {
    return std::tie(proto, kind, vm, peer, a, b) < std::tie(o.proto, o.kind, o.vm, o.peer, o.a, o.b);
  }
};

struct ConnRow {
  uint64_t first_frame = 0;
  Direction opened = Direction::kFromVm;
  Verdict verdict = Verdict::kDrop;  // of the first frame
  Reason reason = Reason::kOk;
  uint32_t rule_id = kNoRuleId;
  uint64_t allowed = 0;
  uint64_t dropped = 0;  // drop, reject, redirect
};

std::string RuleLabel(uint32_t id, const absl::flat_hash_map<uint32_t, std::string>& names) {
  if (id == kNoRuleId) return "-";
  if (id == kDefaultRuleId) return "default";
  auto it = names.find(id);
  std::string s = std::to_string(id);
  if (it != names.end() && !it->second.empty()) s += "(" + it->second + ")";
  return s;
}

std::string Addr(const Ip& ip) { return ip.IsV4() ? ip.ToString() : "[" + ip.ToString() + "]"; }

std::string Ends(const ConnKeyView& k) {
  switch (k.kind) {
    case RowKind::kFlow:
      if (k.proto == kProtoTcp || k.proto == kProtoUdp) {
        return Addr(k.vm) + ":" + std::to_string(k.a) + " <-> " + Addr(k.peer) + ":" + std::to_string(k.b);
      }
      return Addr(k.vm) + " <-> " + Addr(k.peer);
    case RowKind::kIcmp:
      return Addr(k.vm) + " <-> " + Addr(k.peer) + " type " + std::to_string(k.a) + "/" + std::to_string(k.b);
    case RowKind::kFragment: {
      char id[16];
      std::snprintf(id, sizeof id, "0x%x", k.a);
      return Addr(k.vm) + " <-> " + Addr(k.peer) + " frag id " + id;
    }
  }
  return "";
}

const char* ProtoLabel(uint8_t p) {
  switch (p) {
    case kProtoTcp: return "tcp";
    case kProtoUdp: return "udp";
    case kProtoIcmp: return "icmp";
    case kProtoIcmpV6: return "icmpv6";
    default: return "ip";
  }
}

int Run(int argc, char** argv) {
  std::string policy_path, pcap_path, vm_text, out_path;
  bool per_packet = false, loose = false, revalidate = false;
  int parsed = ParseFlags("rampartctl fw replay", kUsage, argc, argv,
                      {{"--policy", &policy_path}, {"--pcap", &pcap_path}, {"--vm", &vm_text},
                       {"--out-allowed", &out_path}, {"--per-packet", nullptr, &per_packet},
                       {"--loose", nullptr, &loose}, {"--revalidate", nullptr, &revalidate}});
  if (parsed >= 0) return parsed;
  if (policy_path.empty() || pcap_path.empty() || vm_text.empty()) {
    std::fprintf(stderr, "rampartctl fw replay: --policy, --pcap and --vm are required\n\n%s", kUsage);
    return 2;
  }
  auto vm = Ip::Parse(vm_text);
  if (!vm) {
    std::fprintf(stderr, "rampartctl fw replay: --vm: '%s' is not an IPv4 or IPv6 address\n", vm_text.c_str());
    return 2;
  }

  auto policy = ParsePolicyFile(policy_path);
  if (!policy.ok()) {
    std::fprintf(stderr, "rampartctl fw replay: %s\n", std::string(policy.status().message()).c_str());
    return 1;
  }
  CompilerOptions copts;
  copts.doc_name = policy_path;
  auto compiled = CompilePolicy(*policy, copts);
  if (!compiled.ok()) {
    std::fprintf(stderr, "rampartctl fw replay: %s\n", std::string(compiled.status().message()).c_str());
    return 1;
  }
  absl::flat_hash_map<uint32_t, std::string> rule_names;
  for (const Rule& r : policy->rules) rule_names[r.id] = r.name;

  auto engine_or = Engine::Create(EngineOptions{});
  if (!engine_or.ok()) {
    std::fprintf(stderr, "rampartctl fw replay: %s\n", std::string(engine_or.status().message()).c_str());
    return 1;
  }
  Engine& engine = **engine_or;
  InstanceOptions io;
  io.loose_tcp = loose;
  io.revalidate_on_change = revalidate;
  absl::Status st = engine.CreateInstance(InstanceInfo{kInstance, "replay", io});
  if (st.ok()) st = engine.SetPolicy(kInstance, *compiled);
  if (!st.ok()) {
    std::fprintf(stderr, "rampartctl fw replay: %s\n", std::string(st.message()).c_str());
    return 1;
  }

  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline_with_tstamp_precision(pcap_path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (in == nullptr) {
    std::fprintf(stderr, "rampartctl fw replay: %s: %s\n", pcap_path.c_str(), errbuf);
    return 1;
  }
  if (pcap_datalink(in) != DLT_EN10MB) {
    std::fprintf(stderr, "rampartctl fw replay: %s: link type %s is not Ethernet\n", pcap_path.c_str(),
                 pcap_datalink_val_to_name(pcap_datalink(in)));
    pcap_close(in);
    return 1;
  }
  pcap_dumper_t* out = nullptr;
  if (!out_path.empty()) {
    out = pcap_dump_open(in, out_path.c_str());
    if (out == nullptr) {
      std::fprintf(stderr, "rampartctl fw replay: --out-allowed %s: %s\n", out_path.c_str(), pcap_geterr(in));
      pcap_close(in);
      return 1;
    }
  }

  FILE* report = per_packet ? stderr : stdout;
  std::map<ConnKeyView, ConnRow> conns;
  uint64_t frame_no = 0, not_vm = 0, truncated = 0, replies = 0, now = 0;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  int rc;
  while ((rc = pcap_next_ex(in, &hdr, &data)) == 1) {
    ++frame_no;
    const uint64_t ts = static_cast<uint64_t>(hdr->ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(hdr->ts.tv_usec);
    now = std::max(now, ts);  // the engine's clock never goes backwards
    if (hdr->caplen < hdr->len) ++truncated;  // parsed as captured: the parser reports truncation
    ParsedPacket p;
    ParsePacket(data, hdr->caplen, &p);
    Frame f;
    f.data = data;
    f.len = hdr->caplen;
    f.prebound = true;
    f.instance_id = kInstance;
    f.port_id = kPort;
    f.direction = Direction::kFromVm;
    bool known = true;
    if (p.family != 0) {
      if (p.src == *vm) f.direction = Direction::kFromVm;
      else if (p.dst == *vm) f.direction = Direction::kToVm;
      else known = false;
    }
    if (!known) {
      ++not_vm;
      f.verdict = Verdict::kDrop;
      f.reason = Reason::kNotVm;
    } else {
      engine.ProcessBatch(engine.worker(0), std::span<Frame>(&f, 1), now);
    }
    if (f.reply_len > 0) ++replies;
    if (per_packet) std::printf("%" PRIu64 " %s %s\n", frame_no, VerdictName(f.verdict), ReasonName(f.reason));
    if (f.verdict == Verdict::kAllow && out != nullptr) pcap_dump(reinterpret_cast<u_char*>(out), hdr, data);

    // Group by connection for the report (later fragments: by addresses and protocol).
    if (p.family != 0 && known) {
      ConnKeyView k;
      k.proto = p.proto;
      const bool from_vm = f.direction == Direction::kFromVm;
      k.vm = from_vm ? p.src : p.dst;
      k.peer = from_vm ? p.dst : p.src;
      if (!p.has_l4 && p.is_fragment) {
        k.kind = RowKind::kFragment;
        k.a = p.frag_id;
      } else if (p.proto == kProtoIcmp || p.proto == kProtoIcmpV6) {
        k.kind = RowKind::kIcmp;
        k.a = p.icmp_type;
        k.b = p.icmp_code;
      } else if (p.has_l4 && (p.proto == kProtoTcp || p.proto == kProtoUdp)) {
        k.a = from_vm ? p.sport : p.dport;
        k.b = from_vm ? p.dport : p.sport;
      }
      auto [it, fresh] = conns.try_emplace(k);
      ConnRow& row = it->second;
      if (fresh) {
        row.first_frame = frame_no;
        row.opened = f.direction;
        row.verdict = f.verdict;
        row.reason = f.reason;
        row.rule_id = f.rule_id;
      } else if (row.rule_id == kNoRuleId && f.rule_id != kNoRuleId) {
        row.rule_id = f.rule_id;  // e.g. a fragment seen before its first one
      }
      (f.verdict == Verdict::kAllow ? row.allowed : row.dropped) += 1;
    }
  }
  if (rc == -1) {
    std::fprintf(stderr, "rampartctl fw replay: %s: %s\n", pcap_path.c_str(), pcap_geterr(in));
    if (out) pcap_dump_close(out);
    pcap_close(in);
    return 1;
  }
  if (out) pcap_dump_close(out);
  pcap_close(in);

  std::fprintf(report, "connections (VM %s):\n", vm->ToString().c_str());
  std::fprintf(report, "  %-6s %-7s %-46s %-6s %-8s %-26s %-18s %s\n", "first", "proto", "vm <-> peer", "from",
               "verdict", "reason", "rule", "allowed/dropped");
  std::vector<std::pair<ConnKeyView, ConnRow>> rows(conns.begin(), conns.end());
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.second.first_frame < y.second.first_frame; });
  for (const auto& [k, row] : rows) {
    std::string ends = Ends(k);
    std::fprintf(report, "  %-6" PRIu64 " %-7s %-46s %-6s %-8s %-26s %-18s %" PRIu64 "/%" PRIu64 "\n", row.first_frame,
                 ProtoLabel(k.proto), ends.c_str(), row.opened == Direction::kFromVm ? "vm" : "peer",
                 VerdictName(row.verdict), ReasonName(row.reason), RuleLabel(row.rule_id, rule_names).c_str(),
                 row.allowed, row.dropped);
  }
  auto counters = engine.Counters(kInstance);
  if (counters.ok()) {
    counters->by_reason[static_cast<int>(Reason::kNotVm)] += not_vm;
    counters->packets_by_verdict[static_cast<int>(Verdict::kDrop)] += not_vm;
    std::fprintf(report, "frames: %" PRIu64 " (allow %" PRIu64 ", drop %" PRIu64 ", reject %" PRIu64
                         ", redirect %" PRIu64 "); reject replies built: %" PRIu64 "\n",
                 frame_no, counters->packets_by_verdict[0], counters->packets_by_verdict[1],
                 counters->packets_by_verdict[2], counters->packets_by_verdict[3], replies);
    if (truncated) std::fprintf(report, "frames truncated by the capture's snap length: %" PRIu64 "\n", truncated);
    std::fprintf(report, "counters:\n");
    for (int r = 0; r < kReasonCount; ++r) {
      if (counters->by_reason[r] != 0) {
        std::fprintf(report, "  %-28s %" PRIu64 "\n", ReasonName(static_cast<Reason>(r)), counters->by_reason[r]);
      }
    }
  }
  auto rules = engine.RuleCounters(kInstance);
  if (rules.ok()) {
    std::fprintf(report, "rules:\n  %-22s %10s %12s %12s\n", "rule", "packets", "bytes", "connections");
    for (const RuleHits& h : *rules) {
      std::fprintf(report, "  %-22s %10" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", RuleLabel(h.rule_id, rule_names).c_str(),
                   h.packets, h.bytes, h.connections);
    }
  }
  return 0;
}

SubRegistrar r("fw", {"replay", "run a pcap through the stateful engine as one VM's firewall", &Run});

}  // namespace
}  // namespace rampart::cli
