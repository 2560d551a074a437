#include "ovs/flow_table_sync.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rampart::ofp {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthArp = 0x0806;

FlowMod MakeMod(FlowModCommand cmd, const Flow& f, uint64_t cookie_mask) {
  FlowMod fm;
  fm.command = cmd;
  fm.flow = f;
  fm.cookie_mask = cookie_mask;
  return fm;
}

}  // namespace

absl::Status CheckPrerequisites(const Match& m) {
  auto u = [&m](Field f) -> std::optional<uint64_t> {
    const MatchField* mf = m.Find(f);
    if (mf == nullptr || mf->has_mask) return std::nullopt;
    return mf->ValueAsUint();
  };
  std::optional<uint64_t> eth = u(Field::kEthType);
  std::optional<uint64_t> proto = u(Field::kIpProto);
  bool ip = eth == kEthIpv4 || eth == kEthIpv6;
  // Neighbour discovery: ICMPv6 type 135 (solicitation) or 136 (advertisement), code 0.
  std::optional<uint64_t> icmp6_type = u(Field::kIcmpv6Type), icmp6_code = u(Field::kIcmpv6Code);
  bool icmp6 = eth == kEthIpv6 && proto == 58 && icmp6_code == 0;
  for (const MatchField& mf : m.fields()) {
    const char* need = nullptr;
    switch (mf.field) {
      case Field::kIpDscp:
      case Field::kIpProto:
        if (!ip) need = "dl_type=0x0800 or 0x86dd";
        break;
      case Field::kIpv4Src:
      case Field::kIpv4Dst:
        if (eth != kEthIpv4) need = "dl_type=0x0800";
        break;
      case Field::kIpv6Src:
      case Field::kIpv6Dst:
        if (eth != kEthIpv6) need = "dl_type=0x86dd";
        break;
      case Field::kTcpSrc:
      case Field::kTcpDst:
        if (!ip || proto != 6) need = "dl_type=0x0800/0x86dd and nw_proto=6";
        break;
      case Field::kUdpSrc:
      case Field::kUdpDst:
        if (!ip || proto != 17) need = "dl_type=0x0800/0x86dd and nw_proto=17";
        break;
      case Field::kIcmpv4Type:
      case Field::kIcmpv4Code:
        if (eth != kEthIpv4 || proto != 1) need = "dl_type=0x0800 and nw_proto=1";
        break;
      case Field::kIcmpv6Type:
      case Field::kIcmpv6Code:
        if (eth != kEthIpv6 || proto != 58) need = "dl_type=0x86dd and nw_proto=58";
        break;
      case Field::kNdTarget:
      case Field::kNdReserved:
      case Field::kNdOptionsType:
        if (!icmp6 || (icmp6_type != 135 && icmp6_type != 136))
          need = "an ND message: dl_type=0x86dd, nw_proto=58, icmpv6_type=135 or 136, icmpv6_code=0";
        break;
      case Field::kNdSll:
        if (!icmp6 || icmp6_type != 135) need = "a solicitation: dl_type=0x86dd, nw_proto=58, icmpv6_type=135, icmpv6_code=0";
        break;
      case Field::kNdTll:
        if (!icmp6 || icmp6_type != 136) need = "an advertisement: dl_type=0x86dd, nw_proto=58, icmpv6_type=136, icmpv6_code=0";
        break;
      case Field::kArpOp:
      case Field::kArpSpa:
      case Field::kArpTpa:
      case Field::kArpSha:
      case Field::kArpTha:
        if (eth != kEthArp) need = "dl_type=0x0806";
        break;
      case Field::kVlanPcp: {
        const MatchField* vid = m.Find(Field::kVlanVid);
        bool present = vid != nullptr && (vid->ValueAsUint() & kVlanPresent) &&
                       (!vid->has_mask || (GetFieldInfo(Field::kVlanVid).length == 2 &&
                                           ((vid->mask[0] << 8 | vid->mask[1]) & kVlanPresent)));
        if (!present) need = "vlan_vid with the present bit (0x1000)";
        break;
      }
      default:
        break;
    }
    if (need != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("match field ",
                                                     GetFieldInfo(mf.field).name, " requires ",
                                                     need));
    }
  }
  return absl::OkStatus();
}

std::vector<FlowMod> DiffFlows(const std::map<FlowKey, Flow>& installed,
                               const std::map<FlowKey, Flow>& desired, uint64_t owner_mask,
                               FlowSyncResult* result) {
  std::vector<FlowMod> deletes, modifies, adds;
  for (const auto& [key, flow] : installed) {
    if (!desired.contains(key)) {
      // Strict delete restricted to our cookie, so a flow someone else put at the same key in
      // the meantime survives.
      deletes.push_back(MakeMod(FlowModCommand::kDeleteStrict, flow, owner_mask));
      deletes.back().flow.instructions = Instructions{};  // not needed to delete
    }
  }
  for (const auto& [key, flow] : desired) {
    auto it = installed.find(key);
    if (it == installed.end()) {
      adds.push_back(MakeMod(FlowModCommand::kAdd, flow, 0));
    } else if (it->second.cookie != flow.cookie) {
      // OpenFlow 1.3 modify keeps the old cookie; an add replaces the whole flow.
      adds.push_back(MakeMod(FlowModCommand::kAdd, flow, 0));
    } else if (it->second.instructions != flow.instructions) {
      modifies.push_back(MakeMod(FlowModCommand::kModifyStrict, flow, ~uint64_t{0}));
    }
  }
  if (result != nullptr) {
    result->deletes = deletes.size();
    result->modifies = modifies.size();
    result->adds = adds.size();
  }
  std::vector<FlowMod> out = std::move(deletes);
  out.insert(out.end(), modifies.begin(), modifies.end());
  out.insert(out.end(), adds.begin(), adds.end());
  return out;
}

FlowTableSync::FlowTableSync(OpenFlowClient& client, FlowSyncOptions options)
    : client_(client), options_(options) {}

FlowTableSync::~FlowTableSync() { StopAutoResync(); }

size_t FlowTableSync::desired_size() const {
  std::lock_guard<std::mutex> l(mu_);
  return desired_.size();
}

uint64_t FlowTableSync::synced_generation() const {
  std::lock_guard<std::mutex> l(mu_);
  return installed_known_ ? installed_generation_ : 0;
}

absl::StatusOr<FlowSyncResult> FlowTableSync::SetDesired(std::vector<Flow> flows) {
  std::map<FlowKey, Flow> desired;
  for (size_t i = 0; i < flows.size(); ++i) {
    const Flow& f = flows[i];
    if ((f.cookie & options_.owner_mask) != options_.owner_value) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "desired flow %d (%s): cookie 0x%x lacks the owner tag 0x%x/0x%x", i, f.ToString(),
          f.cookie, options_.owner_value, options_.owner_mask));
    }
    if (absl::Status st = CheckPrerequisites(f.match); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("desired flow %d (%s): %s", i, f.ToString(), st.message()));
    }
    auto [it, inserted] = desired.emplace(f.Key(), f);
    if (!inserted) {
      size_t first = 0;
      while (first < i && flows[first].Key() != it->first) ++first;
      return absl::InvalidArgumentError(absl::StrFormat(
          "desired flow %d (%s) has the same table, priority and match as flow %d", i,
          f.ToString(), first));
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  desired_ = std::move(desired);
  desired_set_ = true;
  return SyncLocked();
}

absl::StatusOr<FlowSyncResult> FlowTableSync::Resync() {
  std::lock_guard<std::mutex> l(mu_);
  // Before the first SetDesired there is no desired state: "no flows" would mean deleting what
  // a previous agent installed, a gap in enforcement on every agent restart. Do nothing.
  if (!desired_set_) return FlowSyncResult{};
  if (installed_known_ && installed_generation_ == client_.generation() &&
      client_.IsConnected()) {
    return FlowSyncResult{};
  }
  return SyncLocked();
}

absl::StatusOr<std::map<FlowKey, Flow>> FlowTableSync::DumpOwned() {
  FlowStatsRequest req;
  req.cookie = options_.owner_value;
  req.cookie_mask = options_.owner_mask;
  auto stats = client_.DumpFlows(req);
  if (!stats.ok()) return stats.status();
  std::map<FlowKey, Flow> out;
  for (FlowStats& fs : *stats) {
    FlowKey key = fs.flow.Key();
    out.emplace(std::move(key), std::move(fs.flow));
  }
  return out;
}

absl::StatusOr<FlowSyncResult> FlowTableSync::SyncLocked() {
  FlowSyncResult result;
  uint64_t gen = client_.generation();
  if (!client_.IsConnected()) {
    installed_known_ = false;
    return absl::UnavailableError("flow sync: no OpenFlow session; will resync on reconnect");
  }
  if (!installed_known_ || installed_generation_ != gen) {
    auto dumped = DumpOwned();
    if (!dumped.ok()) {
      installed_known_ = false;
      return absl::Status(dumped.status().code(),
                          absl::StrCat("flow sync: reading installed flows: ",
                                       dumped.status().message()));
    }
    installed_ = std::move(*dumped);
    installed_known_ = true;
    installed_generation_ = gen;
    result.dumped = true;
  }
  std::vector<FlowMod> mods = DiffFlows(installed_, desired_, options_.owner_mask, &result);
  if (mods.empty()) return result;
  absl::Status st = client_.ApplyBundle(mods);
  if (!st.ok()) {
    // The bundle is atomic, so the switch is as before; but re-read it next time anyway (the
    // session may have ended mid-commit).
    installed_known_ = false;
    return absl::Status(st.code(), absl::StrCat("flow sync: ", st.message()));
  }
  if (client_.generation() != gen) {
    installed_known_ = false;  // a new session came up meanwhile: what it has is unknown
  } else {
    installed_ = desired_;
  }
  result.sent = true;
  return result;
}

void FlowTableSync::StartAutoResync() {
  std::lock_guard<std::mutex> l(thread_mu_);
  if (thread_.joinable()) return;
  thread_stop_ = false;
  thread_ = std::thread([this] {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(thread_mu_);
        if (thread_stop_) return;
      }
      uint64_t gen = client_.WaitForSessionAfter(seen, absl::Milliseconds(200));
      {
        std::unique_lock<std::mutex> l(thread_mu_);
        if (thread_stop_) return;
      }
      if (gen > seen && client_.IsConnected()) {
        auto r = Resync();
        if (r.ok()) {
          seen = gen;
        } else {
          std::unique_lock<std::mutex> l(thread_mu_);
          thread_cv_.wait_for(l, std::chrono::milliseconds(200), [this] { return thread_stop_; });
        }
      }
    }
  });
}

void FlowTableSync::StopAutoResync() {
  {
    std::lock_guard<std::mutex> l(thread_mu_);
    thread_stop_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::vector<FlowHits>> FlowTableSync::HitCounters() {
  FlowStatsRequest req;
  req.cookie = options_.owner_value;
  req.cookie_mask = options_.owner_mask;
  auto stats = client_.DumpFlows(req);
  if (!stats.ok()) return stats.status();
  std::vector<FlowHits> out;
  out.reserve(stats->size());
  for (FlowStats& fs : *stats) {
    out.push_back(FlowHits{std::move(fs.flow), fs.packet_count, fs.byte_count, fs.duration_sec});
  }
  return out;
}

}  // namespace rampart::ofp
