#include "policy/compiler.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "classifier/classifier.h"
#include "packet/packet.h"
#include "policy/validate.h"

namespace rampart {
namespace {

// Classifier priorities ("keys"). Rules take keys in [0, kMaxKey]; the default rule takes
// kDefaultKey, after all of them. Keys are spread kSpacing apart on a full build.
constexpr uint32_t kDefaultKey = 0xffffffffu;
constexpr uint32_t kMaxKey = 0xfffffffeu;
constexpr uint32_t kSpacing = 1u << 16;
constexpr uint32_t kDefaultEntryId = 0;
// Entry ids come from a counter; when it nears the top, the next edit rebuilds (ids restart).
constexpr uint32_t kMaxEntryId = 0xfff00000u;

const Prefix kAnyV4 = Prefix::V4(0, 0);  // ::ffff:0.0.0.0/96
const Prefix kAnyV6 = Prefix{};          // ::/0, with family 6 on the entry

uint8_t FamilyBit(const Prefix& p) { return p.IsV4() ? 1 : 2; }

using Pair = std::pair<Prefix, Prefix>;
using OrderKey = std::pair<int32_t, uint64_t>;  // (priority, sequence in list order)

}  // namespace

// Everything the compiler knows about one rule.
struct RuleState {
  uint32_t slot = 0;
  uint32_t key = 0;
  uint64_t seq = 0;
  int32_t priority = 0;
  uint8_t families = 3;  // RuleFamilies()
  bool collapse = false;  // both sides any, both families: one family-0 entry per port combination
  std::vector<std::string> src_groups, dst_groups;
  // Effective prefixes per side -> how many references (listed prefixes + groups) hold them.
  std::map<Prefix, int> src, dst;
  std::vector<std::pair<PortRange, PortRange>> ports;
  RuleMatch base;  // proto, direction; addresses/ports/family filled per entry
  // (source, destination) -> first entry id; ports.size() consecutive ids.
  std::map<Pair, uint32_t> entries;

  size_t Entries() const { return entries.size() * ports.size(); }
  bool Compatible(const Prefix& s, const Prefix& d) const {
    return FamilyBit(s) == FamilyBit(d) && (families & FamilyBit(s));
  }
  // Number of (source, destination) pairs the current sets produce.
  size_t CountPairs() const {
    if (collapse) return 1;
    size_t s4 = 0, s6 = 0, d4 = 0, d6 = 0;
    for (const auto& [p, n] : src) (p.IsV4() ? s4 : s6)++;
    for (const auto& [p, n] : dst) (p.IsV4() ? d4 : d6)++;
    return ((families & 1) ? s4 * d4 : 0) + ((families & 2) ? s6 * d6 : 0);
  }
  std::vector<Pair> AllPairs() const {
    std::vector<Pair> out;
    if (collapse) {
      out.push_back({kAnyV6, kAnyV6});
      return out;
    }
    for (const auto& [s, n] : src) {
      for (const auto& [d, m] : dst) {
        if (Compatible(s, d)) out.push_back({s, d});
      }
    }
    return out;
  }
  // Appends the entries of `pair` with ids first_id.. to `out`.
  void Emit(const Pair& pair, uint32_t first_id, std::vector<ClassRule>* out) const {
    for (size_t k = 0; k < ports.size(); ++k) {
      ClassRule cr;
      cr.priority = key;
      cr.id = first_id + static_cast<uint32_t>(k);
      cr.value = slot;
      cr.match = base;
      cr.match.family = collapse ? 0 : (pair.first.IsV4() ? 4 : 6);
      cr.match.src = pair.first;
      cr.match.dst = pair.second;
      cr.match.sport = ports[k].first;
      cr.match.dport = ports[k].second;
      out->push_back(cr);
    }
  }
  void AppendIds(uint32_t first_id, std::vector<uint32_t>* out) const {
    for (size_t k = 0; k < ports.size(); ++k) out->push_back(first_id + static_cast<uint32_t>(k));
  }
};

struct policy_internal::CompilerState {
  Policy policy;
  absl::flat_hash_map<uint32_t, RuleState> rules;
  std::map<OrderKey, uint32_t> order;  // -> rule id
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint32_t>> group_users;
  std::vector<CompiledRule> slots;
  std::vector<uint32_t> free_slots;
  uint32_t default_slot = 0;
  std::vector<std::string> services;
  absl::flat_hash_map<std::string, uint16_t> service_index;
  uint32_t next_id = kDefaultEntryId + 1;
  uint64_t next_seq = 0;
  size_t total_entries = 0;  // without the default entry
  std::shared_ptr<const Classifier> classifier;

  const AddressGroup* FindGroup(std::string_view name) const {
    for (const AddressGroup& g : policy.groups) {
      if (g.name == name) return &g;
    }
    return nullptr;
  }
  size_t RuleIndex(uint32_t id) const {
    for (size_t i = 0; i < policy.rules.size(); ++i) {
      if (policy.rules[i].id == id) return i;
    }
    return policy.rules.size();
  }
  // The service index `name` has or would get.
  uint16_t ServiceFor(const std::string& name) const {
    auto it = service_index.find(name);
    return it != service_index.end() ? it->second : static_cast<uint16_t>(services.size());
  }
  void InternService(const std::string& name) {
    if (!service_index.contains(name)) {
      service_index.emplace(name, static_cast<uint16_t>(services.size()));
      services.push_back(name);
    }
  }
  CompiledRule MakeCompiledRule(const Rule& r) const {
    CompiledRule c;
    c.rule_id = r.id;
    c.action = r.action;
    c.log = r.log;
    c.stateless = r.stateless;
    c.redirect_service = r.action == Action::kRedirect ? ServiceFor(r.redirect_service) : 0;
    return c;
  }
  void Link(uint32_t id, const RuleState& rs) {
    for (const auto& g : rs.src_groups) group_users[g].insert(id);
    for (const auto& g : rs.dst_groups) group_users[g].insert(id);
  }
  void Unlink(uint32_t id, const RuleState& rs) {
    for (const auto* gs : {&rs.src_groups, &rs.dst_groups}) {
      for (const auto& g : *gs) {
        auto it = group_users.find(g);
        if (it != group_users.end()) it->second.erase(id);
      }
    }
  }

  // A key strictly between the neighbours of (priority, seq) in `order`, ignoring `exclude`.
  std::optional<uint32_t> AllocateKey(int32_t priority, uint64_t seq, std::optional<OrderKey> exclude) const {
    auto it = order.lower_bound({priority, seq});
    auto next = it;
    if (next != order.end() && exclude && next->first == *exclude) ++next;
    int64_t lo = -1;
    for (auto p = it; p != order.begin();) {
      --p;
      if (exclude && p->first == *exclude) continue;
      lo = rules.at(p->second).key;
      break;
    }
    int64_t hi = next == order.end() ? int64_t{kMaxKey} + 1 : int64_t{rules.at(next->second).key};
    if (lo < 0 && next == order.end()) return 1u << 31;
    if (lo < 0 && hi - kSpacing > lo) return static_cast<uint32_t>(hi - kSpacing);
    if (next == order.end() && lo + kSpacing < hi) return static_cast<uint32_t>(lo + kSpacing);
    int64_t mid = lo + (hi - lo) / 2;
    if (mid > lo && mid < hi) return static_cast<uint32_t>(mid);
    return std::nullopt;
  }
};

namespace {

std::string RuleField(const Rule& r) { return absl::StrCat("rules[id=", r.id, "]"); }

// The rule's state (sets, port combinations, match template) without key, slot or entries.
RuleState Expand(const Rule& r, const std::vector<AddressGroup>& groups) {
  RuleState rs;
  rs.priority = r.priority;
  rs.families = RuleFamilies(r);
  rs.src_groups = r.src.groups;
  rs.dst_groups = r.dst.groups;
  auto fill = [&](const AddressSpec& side, std::map<Prefix, int>* out) {
    if (side.IsAny()) {
      if (rs.families & 1) (*out)[kAnyV4] = 1;
      if (rs.families & 2) (*out)[kAnyV6] = 1;
      return;
    }
    for (const Prefix& p : side.prefixes) ++(*out)[p];
    for (const std::string& name : side.groups) {
      for (const AddressGroup& g : groups) {
        if (g.name != name) continue;
        for (const Prefix& p : g.prefixes) ++(*out)[p];
      }
    }
  };
  fill(r.src, &rs.src);
  fill(r.dst, &rs.dst);
  rs.collapse = r.src.IsAny() && r.dst.IsAny() && rs.families == 3;
  rs.base.proto = r.proto.value_or(0);
  rs.base.proto_mask = r.proto ? 0xff : 0;
  rs.base.direction_mask = r.direction_mask;
  const PortRange any{};
  if (r.proto == kProtoIcmp || r.proto == kProtoIcmpV6) {
    PortRange type = r.icmp_type ? PortRange{*r.icmp_type, *r.icmp_type} : any;
    PortRange code = r.icmp_code ? PortRange{*r.icmp_code, *r.icmp_code} : any;
    rs.ports.push_back({type, code});
  } else {
    std::vector<PortRange> sp = r.sports.empty() ? std::vector<PortRange>{any} : r.sports;
    std::vector<PortRange> dp = r.dports.empty() ? std::vector<PortRange>{any} : r.dports;
    for (const PortRange& a : sp) {
      for (const PortRange& b : dp) rs.ports.push_back({a, b});
    }
  }
  return rs;
}

absl::Status TooMany(const CompilerOptions& o, const Rule& r, const std::string& field, size_t entries,
                     const RuleState& rs) {
  return absl::ResourceExhaustedError(absl::StrCat(
      o.doc_name, ": ", field, ": rule ", r.id, r.name.empty() ? "" : absl::StrCat(" '", r.name, "'"),
      " expands to ", entries, " classifier entries (", rs.src.size(), " source prefixes x ", rs.dst.size(),
      " destination prefixes x ", rs.ports.size(), " port combinations), more than the limit of ",
      o.max_entries_per_rule, "; split the rule or use fewer, larger prefixes or port ranges"));
}

absl::Status TooManyTotal(const CompilerOptions& o, size_t total) {
  return absl::ResourceExhaustedError(absl::StrCat(o.doc_name, ": the policy would need ", total,
                                                   " classifier entries, more than the limit of ", o.max_entries));
}

absl::Status WithDoc(const CompilerOptions& o, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(o.doc_name, ": classifier: ", s.message()));
}

CompiledRule FreeSlot() {
  CompiledRule c;
  c.rule_id = kFreeSlotRuleId;
  return c;
}

ClassRule DefaultEntry(uint32_t slot) {
  ClassRule d;
  d.priority = kDefaultKey;
  d.id = kDefaultEntryId;
  d.value = slot;
  d.match = RuleMatch{};  // family 0, ::/0 both sides, any ports/protocol/direction
  return d;
}

absl::StatusOr<std::unique_ptr<policy_internal::CompilerState>> BuildState(Policy policy, const CompilerOptions& o) {
  if (auto issue = CheckPolicy(policy)) return IssueToStatus(o.doc_name, *issue);
  auto st = std::make_unique<policy_internal::CompilerState>();
  policy_internal::CompilerState& s = *st;
  const size_t n = policy.rules.size();
  if (n >= kMaxKey / 2) return absl::InvalidArgumentError(absl::StrCat(o.doc_name, ": too many rules (", n, ")"));
  std::vector<size_t> by_order(n);
  std::iota(by_order.begin(), by_order.end(), 0);
  std::stable_sort(by_order.begin(), by_order.end(),
                   [&](size_t a, size_t b) { return policy.rules[a].priority < policy.rules[b].priority; });
  uint64_t spacing = std::min<uint64_t>(kSpacing, uint64_t{kMaxKey} / (n + 1));
  uint64_t start = std::max<int64_t>(static_cast<int64_t>(spacing),
                                     static_cast<int64_t>(1ull << 31) - static_cast<int64_t>(spacing * (n / 2)));
  std::vector<uint32_t> keys(n);
  for (size_t k = 0; k < n; ++k) keys[by_order[k]] = static_cast<uint32_t>(start + k * spacing);

  std::vector<ClassRule> all;
  for (size_t i = 0; i < n; ++i) {
    const Rule& r = policy.rules[i];
    RuleState rs = Expand(r, policy.groups);
    size_t count = rs.CountPairs() * rs.ports.size();
    if (count > o.max_entries_per_rule) return TooMany(o, r, absl::StrCat("rules[", i, "]"), count, rs);
    s.total_entries += count;
    if (s.total_entries > o.max_entries) return TooManyTotal(o, s.total_entries);
    rs.slot = static_cast<uint32_t>(i);
    rs.key = keys[i];
    rs.seq = i;
    if (r.action == Action::kRedirect) s.InternService(r.redirect_service);
    for (const Pair& pair : rs.AllPairs()) {
      rs.entries.emplace(pair, s.next_id);
      rs.Emit(pair, s.next_id, &all);
      s.next_id += static_cast<uint32_t>(rs.ports.size());
    }
    s.slots.push_back(s.MakeCompiledRule(r));
    s.order.emplace(OrderKey{r.priority, i}, r.id);
    s.Link(r.id, rs);
    s.rules.emplace(r.id, std::move(rs));
  }
  s.next_seq = n;
  s.default_slot = static_cast<uint32_t>(n);
  CompiledRule d;
  d.rule_id = kDefaultRuleId;
  d.action = policy.default_action;
  d.log = policy.default_log;
  s.slots.push_back(d);
  all.push_back(DefaultEntry(s.default_slot));
  auto c = Classifier::Build(all);
  if (!c.ok()) return WithDoc(o, c.status());
  s.classifier = *std::move(c);
  s.policy = std::move(policy);
  return st;
}

std::shared_ptr<const CompiledPolicy> MakeSnapshot(const policy_internal::CompilerState& s, uint64_t generation) {
  auto cp = std::make_shared<CompiledPolicy>();
  cp->classifier = s.classifier;
  cp->rules = s.slots;
  cp->services = s.services;
  cp->generation = generation;
  cp->default_index = s.default_slot;
  return cp;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompilePolicy(const Policy& policy,
                                                                    const CompilerOptions& options) {
  auto st = BuildState(policy, options);
  if (!st.ok()) return st.status();
  return MakeSnapshot(**st, 1);
}

PolicyCompiler::PolicyCompiler(CompilerOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {}
PolicyCompiler::~PolicyCompiler() = default;

const Policy& PolicyCompiler::policy() const { return state_->policy; }

size_t PolicyCompiler::entries() const { return current_ ? state_->total_entries + 1 : 0; }

PolicyCompiler::Snapshot PolicyCompiler::Publish(const State& s) {
  current_ = MakeSnapshot(s, ++generation_);
  return current_;
}

absl::Status PolicyCompiler::EnsureBuilt() {
  if (current_) return absl::OkStatus();
  auto r = Reset(state_->policy);
  return r.ok() ? absl::OkStatus() : r.status();
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::RebuildWith(Policy policy) {
  auto st = BuildState(std::move(policy), options_);
  if (!st.ok()) return st.status();
  size_t before = entries();
  state_ = *std::move(st);
  last_edit_ = EditStats{state_->total_entries + 1, before, true};
  return Publish(*state_);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::Reset(Policy policy) {
  return RebuildWith(std::move(policy));
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::AddRule(Rule rule) {
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  State& s = *state_;
  std::string field = RuleField(rule);
  if (s.rules.contains(rule.id)) {
    return absl::AlreadyExistsError(absl::StrCat(options_.doc_name, ": ", field, ".id: a rule with id ", rule.id,
                                                 " already exists (rules[", s.RuleIndex(rule.id), "])"));
  }
  if (auto issue = CheckRule(rule, s.policy, field)) return IssueToStatus(options_.doc_name, *issue);
  RuleState rs = Expand(rule, s.policy.groups);
  size_t count = rs.CountPairs() * rs.ports.size();
  if (count > options_.max_entries_per_rule) return TooMany(options_, rule, field, count, rs);
  if (s.total_entries + count > options_.max_entries) return TooManyTotal(options_, s.total_entries + count);
  rs.seq = s.next_seq;
  auto key = s.AllocateKey(rule.priority, rs.seq, std::nullopt);
  if (!key || s.next_id + count >= kMaxEntryId) {
    Policy p = s.policy;
    p.rules.push_back(std::move(rule));
    return RebuildWith(std::move(p));
  }
  rs.key = *key;
  rs.slot = s.free_slots.empty() ? static_cast<uint32_t>(s.slots.size()) : s.free_slots.back();
  std::vector<ClassRule> add;
  uint32_t next_id = s.next_id;
  for (const Pair& pair : rs.AllPairs()) {
    rs.entries.emplace(pair, next_id);
    rs.Emit(pair, next_id, &add);
    next_id += static_cast<uint32_t>(rs.ports.size());
  }
  auto c = s.classifier->WithChanges(add, {});
  if (!c.ok()) return WithDoc(options_, c.status());
  // Commit.
  s.classifier = *std::move(c);
  s.next_id = next_id;
  ++s.next_seq;
  s.total_entries += count;
  if (rule.action == Action::kRedirect) s.InternService(rule.redirect_service);
  CompiledRule cr = s.MakeCompiledRule(rule);
  if (rs.slot == s.slots.size()) {
    s.slots.push_back(cr);
  } else {
    s.slots[rs.slot] = cr;
    s.free_slots.pop_back();
  }
  s.order.emplace(OrderKey{rule.priority, rs.seq}, rule.id);
  s.Link(rule.id, rs);
  s.rules.emplace(rule.id, std::move(rs));
  s.policy.rules.push_back(std::move(rule));
  last_edit_ = EditStats{add.size(), 0, false};
  return Publish(s);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::RemoveRule(uint32_t id) {
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  State& s = *state_;
  auto it = s.rules.find(id);
  if (it == s.rules.end()) {
    return absl::NotFoundError(absl::StrCat(options_.doc_name, ": rules[id=", id, "]: no rule has id ", id));
  }
  const RuleState& rs = it->second;
  std::vector<uint32_t> remove;
  for (const auto& [pair, first] : rs.entries) rs.AppendIds(first, &remove);
  auto c = s.classifier->WithChanges({}, remove);
  if (!c.ok()) return WithDoc(options_, c.status());
  s.classifier = *std::move(c);
  s.total_entries -= rs.Entries();
  s.slots[rs.slot] = FreeSlot();
  s.free_slots.push_back(rs.slot);
  s.order.erase(OrderKey{rs.priority, rs.seq});
  s.Unlink(id, rs);
  s.rules.erase(it);
  s.policy.rules.erase(s.policy.rules.begin() + static_cast<ptrdiff_t>(s.RuleIndex(id)));
  last_edit_ = EditStats{0, remove.size(), false};
  return Publish(s);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::ReplaceRule(Rule rule) {
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  State& s = *state_;
  std::string field = RuleField(rule);
  auto it = s.rules.find(rule.id);
  if (it == s.rules.end()) {
    return absl::NotFoundError(absl::StrCat(options_.doc_name, ": ", field, ": no rule has id ", rule.id));
  }
  if (auto issue = CheckRule(rule, s.policy, field)) return IssueToStatus(options_.doc_name, *issue);
  const RuleState& old = it->second;
  RuleState rs = Expand(rule, s.policy.groups);
  size_t count = rs.CountPairs() * rs.ports.size();
  if (count > options_.max_entries_per_rule) return TooMany(options_, rule, field, count, rs);
  size_t total = s.total_entries - old.Entries() + count;
  if (total > options_.max_entries) return TooManyTotal(options_, total);
  rs.seq = old.seq;
  rs.slot = old.slot;
  std::optional<uint32_t> key = old.key;
  if (rule.priority != old.priority) key = s.AllocateKey(rule.priority, rs.seq, OrderKey{old.priority, old.seq});
  size_t index = s.RuleIndex(rule.id);
  if (!key || s.next_id + count >= kMaxEntryId) {
    Policy p = s.policy;
    p.rules[index] = std::move(rule);
    return RebuildWith(std::move(p));
  }
  rs.key = *key;
  std::vector<ClassRule> add;
  std::vector<uint32_t> remove;
  for (const auto& [pair, first] : old.entries) old.AppendIds(first, &remove);
  uint32_t next_id = s.next_id;
  for (const Pair& pair : rs.AllPairs()) {
    rs.entries.emplace(pair, next_id);
    rs.Emit(pair, next_id, &add);
    next_id += static_cast<uint32_t>(rs.ports.size());
  }
  auto c = s.classifier->WithChanges(add, remove);
  if (!c.ok()) return WithDoc(options_, c.status());
  s.classifier = *std::move(c);
  s.next_id = next_id;
  s.total_entries = total;
  if (rule.action == Action::kRedirect) s.InternService(rule.redirect_service);
  s.slots[rs.slot] = s.MakeCompiledRule(rule);
  s.order.erase(OrderKey{old.priority, old.seq});
  s.order.emplace(OrderKey{rule.priority, rs.seq}, rule.id);
  s.Unlink(rule.id, old);
  s.Link(rule.id, rs);
  it->second = std::move(rs);
  s.policy.rules[index] = std::move(rule);
  last_edit_ = EditStats{add.size(), remove.size(), false};
  return Publish(s);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::AddGroupPrefix(std::string_view group_name,
                                                                        const Prefix& prefix) {
  const std::string group(group_name);
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  State& s = *state_;
  const AddressGroup* g = s.FindGroup(group);
  size_t gi = g ? static_cast<size_t>(g - s.policy.groups.data()) : s.policy.groups.size();
  AddressGroup probe{std::string(group), {}};
  if (g) probe.prefixes = g->prefixes;
  if (std::find(probe.prefixes.begin(), probe.prefixes.end(), prefix) != probe.prefixes.end()) {
    last_edit_ = EditStats{};
    return current_;
  }
  probe.prefixes.push_back(prefix);
  if (auto issue = CheckGroup(probe, absl::StrCat("address_groups[", gi, "]"))) {
    return IssueToStatus(options_.doc_name, *issue);
  }
  // Plan: for each rule using the group, the pairs the new prefix creates on the sides where it is
  // new (a prefix the side already has through another reference adds nothing).
  struct Plan {
    RuleState* rs;
    bool src_gain, dst_gain, uses_src, uses_dst;
    std::vector<std::pair<Pair, uint32_t>> pairs;
  };
  std::vector<Plan> plans;
  std::vector<ClassRule> add;
  uint32_t next_id = s.next_id;
  size_t total = s.total_entries;
  if (auto users = s.group_users.find(group); users != s.group_users.end()) {
    // Deterministic order (ids), so entry ids do not depend on hash iteration.
    std::vector<uint32_t> ids(users->second.begin(), users->second.end());
    std::sort(ids.begin(), ids.end());
    for (uint32_t id : ids) {
      RuleState& rs = s.rules.at(id);
      Plan plan{&rs, false, false, false, false, {}};
      plan.uses_src = std::find(rs.src_groups.begin(), rs.src_groups.end(), group) != rs.src_groups.end();
      plan.uses_dst = std::find(rs.dst_groups.begin(), rs.dst_groups.end(), group) != rs.dst_groups.end();
      plan.src_gain = plan.uses_src && !rs.src.contains(prefix);
      plan.dst_gain = plan.uses_dst && !rs.dst.contains(prefix);
      std::vector<Pair> pairs;
      if (plan.src_gain) {
        for (const auto& [d, n] : rs.dst) {
          if (rs.Compatible(prefix, d)) pairs.push_back({prefix, d});
        }
      }
      if (plan.dst_gain) {
        for (const auto& [src, n] : rs.src) {
          if (rs.Compatible(src, prefix)) pairs.push_back({src, prefix});
        }
        if (plan.src_gain && rs.Compatible(prefix, prefix)) pairs.push_back({prefix, prefix});
      }
      size_t now = rs.Entries() + pairs.size() * rs.ports.size();
      if (now > options_.max_entries_per_rule) {
        const Rule& r = s.policy.rules[s.RuleIndex(id)];
        return absl::ResourceExhaustedError(absl::StrCat(
            options_.doc_name, ": address_groups[", gi, "].prefixes: adding ", prefix.ToString(), " to '", group,
            "' would make rule ", r.id, r.name.empty() ? "" : absl::StrCat(" '", r.name, "'"), " (rules[",
            s.RuleIndex(id), "]) expand to ", now, " classifier entries, more than the limit of ",
            options_.max_entries_per_rule));
      }
      total += pairs.size() * rs.ports.size();
      for (const Pair& p : pairs) {
        plan.pairs.push_back({p, next_id});
        rs.Emit(p, next_id, &add);
        next_id += static_cast<uint32_t>(rs.ports.size());
      }
      plans.push_back(std::move(plan));
    }
  }
  if (total > options_.max_entries) return TooManyTotal(options_, total);
  if (next_id >= kMaxEntryId) {
    Policy p = s.policy;
    if (gi == p.groups.size()) p.groups.push_back(AddressGroup{std::string(group), {}});
    p.groups[gi].prefixes.push_back(prefix);
    return RebuildWith(std::move(p));
  }
  auto c = s.classifier->WithChanges(add, {});
  if (!c.ok()) return WithDoc(options_, c.status());
  s.classifier = *std::move(c);
  s.next_id = next_id;
  s.total_entries = total;
  for (Plan& plan : plans) {
    if (plan.uses_src) ++plan.rs->src[prefix];
    if (plan.uses_dst) ++plan.rs->dst[prefix];
    for (const auto& [p, first] : plan.pairs) plan.rs->entries.emplace(p, first);
  }
  if (gi == s.policy.groups.size()) s.policy.groups.push_back(AddressGroup{std::string(group), {}});
  s.policy.groups[gi].prefixes.push_back(prefix);
  last_edit_ = EditStats{add.size(), 0, false};
  return Publish(s);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::RemoveGroupPrefix(std::string_view group_name,
                                                                           const Prefix& prefix) {
  const std::string group(group_name);
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  State& s = *state_;
  const AddressGroup* g = s.FindGroup(group);
  if (!g) {
    return absl::NotFoundError(absl::StrCat(options_.doc_name, ": address_groups: unknown address group '", group, "'"));
  }
  size_t gi = static_cast<size_t>(g - s.policy.groups.data());
  auto pit = std::find(g->prefixes.begin(), g->prefixes.end(), prefix);
  if (pit == g->prefixes.end()) {
    return absl::NotFoundError(absl::StrCat(options_.doc_name, ": address_groups[", gi, "].prefixes: address group '",
                                            group, "' has no prefix ", prefix.ToString()));
  }
  struct Plan {
    RuleState* rs;
    bool uses_src, uses_dst;
    std::vector<Pair> gone;
  };
  std::vector<Plan> plans;
  std::vector<uint32_t> remove;
  size_t removed_entries = 0;
  if (auto users = s.group_users.find(group); users != s.group_users.end()) {
    for (uint32_t id : users->second) {
      RuleState& rs = s.rules.at(id);
      Plan plan{&rs, false, false, {}};
      plan.uses_src = std::find(rs.src_groups.begin(), rs.src_groups.end(), group) != rs.src_groups.end();
      plan.uses_dst = std::find(rs.dst_groups.begin(), rs.dst_groups.end(), group) != rs.dst_groups.end();
      bool src_lose = plan.uses_src && rs.src.at(prefix) == 1;
      bool dst_lose = plan.uses_dst && rs.dst.at(prefix) == 1;
      for (const auto& [pair, first] : rs.entries) {
        if ((src_lose && pair.first == prefix) || (dst_lose && pair.second == prefix)) {
          plan.gone.push_back(pair);
          rs.AppendIds(first, &remove);
          removed_entries += rs.ports.size();
        }
      }
      plans.push_back(std::move(plan));
    }
  }
  auto c = s.classifier->WithChanges({}, remove);
  if (!c.ok()) return WithDoc(options_, c.status());
  s.classifier = *std::move(c);
  s.total_entries -= removed_entries;
  for (Plan& plan : plans) {
    for (auto* side : {plan.uses_src ? &plan.rs->src : nullptr, plan.uses_dst ? &plan.rs->dst : nullptr}) {
      if (!side) continue;
      auto it = side->find(prefix);
      if (--it->second == 0) side->erase(it);
    }
    for (const Pair& p : plan.gone) plan.rs->entries.erase(p);
  }
  auto& prefixes = s.policy.groups[gi].prefixes;
  prefixes.erase(std::find(prefixes.begin(), prefixes.end(), prefix));
  last_edit_ = EditStats{0, remove.size(), false};
  return Publish(s);
}

absl::StatusOr<PolicyCompiler::Snapshot> PolicyCompiler::SetDefault(Action action, bool log) {
  if (auto s = EnsureBuilt(); !s.ok()) return s;
  if (action != Action::kAllow && action != Action::kDrop && action != Action::kReject) {
    return absl::InvalidArgumentError(absl::StrCat(options_.doc_name, ": default: the default action must be allow, drop or reject, not ",
                                                   ActionName(action)));
  }
  State& s = *state_;
  s.policy.default_action = action;
  s.policy.default_log = log;
  s.slots[s.default_slot].action = action;
  s.slots[s.default_slot].log = log;
  last_edit_ = EditStats{};
  return Publish(s);
}

}  // namespace rampart
