// Engine control plane: instances, bindings, policies, counters, connection tables.
#include "engine/engine.h"

#include <algorithm>
#include <atomic>
#include <map>

#include "absl/strings/str_cat.h"
#include "engine/engine_impl.h"

namespace rampart {

Worker::Worker(int index, const EngineOptions& options)
    : index_(index),
      max_instances_(options.max_instances),
      slots_(std::make_unique<WorkerSlot[]>(options.max_instances)),
      frags_(options.fragment_table_entries, options.fragment_timeout_ns),
      logs_(options.log_ring_entries),
      reply_buf_(std::make_unique<uint8_t[]>(kMaxBatch * kReplySlot)) {}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  if (options.num_workers < 1 || options.num_workers > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine options: num_workers ", options.num_workers, " is not in 1..1024"));
  }
  if (options.max_instances < 1 || options.max_instances > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("engine options: max_instances ",
                                                   options.max_instances, " is not in 1..1048576"));
  }
  if (options.fragment_table_entries < 1 || options.fragment_table_entries > (1u << 24)) {
    return absl::InvalidArgumentError("engine options: fragment_table_entries is not in 1..16777216");
  }
  if (options.log_ring_entries < 1 || options.log_ring_entries > (1u << 24)) {
    return absl::InvalidArgumentError("engine options: log_ring_entries is not in 1..16777216");
  }
  if (options.max_services < 1 || options.max_services >= kNoService) {
    return absl::InvalidArgumentError("engine options: max_services is not in 1..65534");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  for (int i = 0; i < options.num_workers; ++i) {
    impl->workers.push_back(std::make_unique<Worker>(i, options));
  }
  auto snap = std::make_shared<Snapshot>();
  snap->version = 1;
  snap->tags = std::make_shared<TagTable>();
  snap->slots.resize(options.max_instances);
  impl->current = snap;
  impl->published.store(impl->current);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

int Engine::num_workers() const { return static_cast<int>(impl_->workers.size()); }
Worker& Engine::worker(int i) { return *impl_->workers.at(i); }

namespace {
const InstanceState* Find(const Snapshot& s, InstanceId id) {
  auto it = s.slot_of.find(id);
  return it == s.slot_of.end() ? nullptr : s.slots[it->second].get();
}
absl::Status NoInstance(InstanceId id) {
  return absl::NotFoundError(absl::StrCat("instance ", id, " does not exist"));
}
}  // namespace

namespace {
void AddHits(const PolicyState& ps, int num_workers, absl::flat_hash_map<uint32_t, RuleHits>* into) {
  for (size_t r = 0; r < ps.num_rules; ++r) {
    RuleHits& h = (*into)[ps.policy->rules[r].rule_id];
    h.rule_id = ps.policy->rules[r].rule_id;
    for (int w = 0; w < num_workers; ++w) {
      const RuleHitCell& c = ps.HitsOf(w)[r];
      h.packets += c.packets.Get();
      h.bytes += c.bytes.Get();
      h.connections += c.connections.Get();
    }
  }
}

// Folds replaced policy snapshots that no worker can hold any more (ours is the only reference)
// into the running totals and frees them.
void FoldRetired(Engine::Impl::RuleTotals& totals, int num_workers) {
  auto& retired = totals.retired;
  for (auto it = retired.begin(); it != retired.end();) {
    if (it->use_count() == 1) {
      std::atomic_thread_fence(std::memory_order_acquire);
      AddHits(**it, num_workers, &totals.folded);
      it = retired.erase(it);
    } else {
      ++it;
    }
  }
}
}  // namespace

absl::Status Engine::CreateInstance(const InstanceInfo& info) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const Snapshot& cur = *impl_->current;
  if (cur.slot_of.contains(info.id)) {
    return absl::AlreadyExistsError(absl::StrCat("instance ", info.id, " already exists"));
  }
  const auto& o = info.options;
  if (o.max_conns_per_port > (1u << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("instance ", info.id,
                                                   ": max_conns_per_port ", o.max_conns_per_port,
                                                   " is above 2^30"));
  }
  uint32_t slot = 0;
  while (slot < cur.slots.size() && cur.slots[slot] != nullptr) ++slot;
  if (slot == cur.slots.size()) {
    return absl::ResourceExhaustedError(absl::StrCat("instance ", info.id, ": the engine already has ",
                                                     cur.slots.size(), " instances (max_instances)"));
  }
  auto inst = std::make_shared<InstanceState>();
  inst->info = info;
  inst->slot = slot;
  inst->incarnation = impl_->next_incarnation++;
  if (o.max_conns_per_instance > 0) inst->budget = std::make_shared<InstanceBudget>(o.max_conns_per_instance);
  // The table options must be acceptable to conntrack: check once here, so creating a table on
  // the data plane cannot fail.
  auto probe = ConnTable::Create(Impl::TableOptions(*inst));
  if (!probe.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance ", info.id, ": connection table options: ", probe.status().message()));
  }
  impl_->rule_totals.erase(info.id);
  impl_->Publish([&](Snapshot& s) {
    s.slots[slot] = inst;
    s.slot_of[info.id] = slot;
  });
  return absl::OkStatus();
}

absl::Status Engine::DestroyInstance(InstanceId id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  const uint32_t slot = inst->slot;
  impl_->Publish([&](Snapshot& s) {
    s.slots[slot] = nullptr;
    s.slot_of.erase(id);
    auto tags = std::make_shared<TagTable>(*s.tags);
    for (auto& t : *tags) {
      if (t.bound && t.slot == slot) t = TagEntry{};
    }
    s.tags = tags;
  });
  impl_->rule_totals.erase(id);
  return absl::OkStatus();
}

std::vector<InstanceInfo> Engine::ListInstances() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<InstanceInfo> out;
  for (const auto& s : impl_->current->slots) {
    if (s) out.push_back(s->info);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<InstanceInfo> Engine::GetInstance(InstanceId id) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  return inst->info;
}

absl::Status Engine::BindTag(uint16_t vid, const TagBinding& b) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (vid < 1 || vid > 4094) {
    return absl::InvalidArgumentError(absl::StrCat("tag ", vid, " is not a usable VLAN id (1..4094)"));
  }
  if (b.return_tag != kNoReturnTag && (b.return_tag < 1 || b.return_tag > 4094)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag ", vid, ": return tag ", b.return_tag, " is not a usable VLAN id (1..4094)"));
  }
  const InstanceState* inst = Find(*impl_->current, b.instance_id);
  if (inst == nullptr) return NoInstance(b.instance_id);
  if ((*impl_->current->tags)[vid].bound) {
    return absl::AlreadyExistsError(absl::StrCat("tag ", vid, " is already bound (unbind it first)"));
  }
  const uint32_t slot = inst->slot;
  impl_->Publish([&](Snapshot& s) {
    auto tags = std::make_shared<TagTable>(*s.tags);
    (*tags)[vid] = TagEntry{true, slot, b};
    s.tags = tags;
  });
  return absl::OkStatus();
}

absl::Status Engine::UnbindTag(uint16_t vid) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (vid > kMaxVlanId || !(*impl_->current->tags)[vid].bound) {
    return absl::NotFoundError(absl::StrCat("tag ", vid, " is not bound"));
  }
  impl_->Publish([&](Snapshot& s) {
    auto tags = std::make_shared<TagTable>(*s.tags);
    (*tags)[vid] = TagEntry{};
    s.tags = tags;
  });
  return absl::OkStatus();
}

std::optional<TagBinding> Engine::GetBinding(uint16_t vid) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (vid > kMaxVlanId || !(*impl_->current->tags)[vid].bound) return std::nullopt;
  return (*impl_->current->tags)[vid].binding;
}

absl::Status Engine::SetPolicy(InstanceId id, std::shared_ptr<const CompiledPolicy> policy) {
  if (policy == nullptr || policy->classifier == nullptr || policy->rules.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance ", id, ": policy is empty (no classifier or no rules)"));
  }
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  auto ps = std::make_shared<PolicyState>();
  ps->policy = std::move(policy);
  ps->epoch = impl_->next_epoch++;
  if (impl_->next_epoch == 0) impl_->next_epoch = 1;
  ps->num_rules = ps->policy->rules.size();
  ps->hits = std::make_unique<RuleHitCell[]>(ps->num_rules * impl_->workers.size());
  for (size_t i = 0; i < ps->num_rules; ++i) ps->index_of.emplace(ps->policy->rules[i].rule_id, i);
  for (const std::string& name : ps->policy->services) {
    auto sid = impl_->InternLocked(inst->info.tenant, name);
    if (!sid.ok()) return absl::Status(sid.status().code(), absl::StrCat("instance ", id, ": ", sid.status().message()));
    ps->service_ids.push_back(*sid);
  }
  auto next = std::make_shared<InstanceState>(*inst);
  if (inst->policy) {
    // Retire the old snapshot's hit cells; fold (and free) the ones workers have let go of, so
    // frequent rule changes do not pile up old snapshots.
    auto& totals = impl_->rule_totals[id];
    totals.retired.push_back(inst->policy);
    FoldRetired(totals, static_cast<int>(impl_->workers.size()));
  }
  next->policy = ps;
  const uint32_t slot = inst->slot;
  impl_->Publish([&](Snapshot& s) { s.slots[slot] = next; });
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> Engine::Impl::InternLocked(std::string_view tenant, std::string_view name) {
  auto key = std::make_pair(std::string(tenant), std::string(name));
  auto it = service_ids.find(key);
  if (it != service_ids.end()) return it->second;
  if (service_names.size() >= options.max_services) {
    return absl::ResourceExhaustedError(absl::StrCat("redirect service '", std::string(name), "' of tenant '", std::string(tenant),
                                                     "': the engine already knows ", options.max_services,
                                                     " service names (max_services)"));
  }
  const auto sid = static_cast<uint16_t>(service_names.size());
  service_names.push_back({key.first, key.second});
  service_ids.emplace(std::move(key), sid);
  return sid;
}

absl::StatusOr<uint16_t> Engine::InternService(std::string_view tenant, std::string_view name) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->InternLocked(tenant, name);
}

std::vector<Engine::ServiceName> Engine::ServiceNames() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->service_names;
}

std::shared_ptr<const CompiledPolicy> Engine::GetPolicy(InstanceId id) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr || inst->policy == nullptr) return nullptr;
  return inst->policy->policy;
}

absl::StatusOr<InstanceCounters> Engine::Counters(InstanceId id) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  InstanceCounters out;
  for (const auto& w : impl_->workers) {
    const WorkerSlot& ws = w->slots_[inst->slot];
    if (ws.incarnation.load(std::memory_order_acquire) == inst->incarnation) ws.counters.AddTo(&out);
  }
  return out;
}

InstanceCounters Engine::EngineCounters() const {
  InstanceCounters out;
  for (const auto& w : impl_->workers) w->engine_counters_.AddTo(&out);
  return out;
}

absl::StatusOr<std::vector<RuleHits>> Engine::RuleCounters(InstanceId id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  Impl::RuleTotals& totals = impl_->rule_totals[id];
  const int nw = static_cast<int>(impl_->workers.size());
  auto add = [nw](const PolicyState& ps, absl::flat_hash_map<uint32_t, RuleHits>* into) { AddHits(ps, nw, into); };
  FoldRetired(totals, nw);
  absl::flat_hash_map<uint32_t, RuleHits> sum = totals.folded;
  for (const auto& ps : totals.retired) add(*ps, &sum);
  if (inst->policy) add(*inst->policy, &sum);
  std::vector<RuleHits> out;
  out.reserve(sum.size());
  for (const auto& [rid, h] : sum) out.push_back(h);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.rule_id < b.rule_id; });
  return out;
}

size_t Engine::DrainLogs(std::vector<LogRecord>* out) {
  std::lock_guard<std::mutex> l(impl_->mu);
  size_t n = 0;
  for (auto& w : impl_->workers) n += w->logs_.Drain(out);
  return n;
}

// ---- Connection tables (workers quiesced).

absl::StatusOr<std::vector<PortConnection>> Engine::ListConnections(InstanceId id,
                                                                    std::optional<PortId> port,
                                                                    const ConnFilter& filter) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  std::vector<PortConnection> out;
  for (auto& w : impl_->workers) {
    WorkerSlot& ws = w->slots_[inst->slot];
    if (ws.incarnation.load(std::memory_order_acquire) != inst->incarnation) continue;
    std::vector<PortId> ports;
    for (const auto& [p, t] : ws.ports) {
      if (!port || *port == p) ports.push_back(p);
    }
    std::sort(ports.begin(), ports.end());
    for (PortId p : ports) {
      for (auto& info : ws.ports[p]->List(filter)) out.push_back(PortConnection{p, w->index_, info});
    }
  }
  return out;
}

absl::Status Engine::Flush(InstanceId id, std::optional<PortId> port) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  for (auto& w : impl_->workers) {
    WorkerSlot& ws = w->slots_[inst->slot];
    if (ws.incarnation.load(std::memory_order_acquire) != inst->incarnation) continue;
    for (auto& [p, t] : ws.ports) {
      if (!port || *port == p) t->Flush();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> Engine::ExportPort(InstanceId id, PortId port, uint64_t now_ns) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  // v1: one worker's table per port holds the port's connections when the port was imported or
  // traffic was steered by SymmetricFlowHash % workers; export the table of every worker that
  // has one, and refuse when several do (the format is one table's snapshot).
  ConnTable* found = nullptr;
  int holders = 0;
  for (auto& w : impl_->workers) {
    WorkerSlot& ws = w->slots_[inst->slot];
    if (ws.incarnation.load(std::memory_order_acquire) != inst->incarnation) continue;
    auto it = ws.ports.find(port);
    if (it == ws.ports.end() || it->second->Size() == 0) continue;
    found = it->second.get();
    ++holders;
  }
  if (holders > 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "instance ", id, " port ", port, ": connections are spread over ", holders,
        " workers; export supports one (v1)"));
  }
  if (found == nullptr) {
    // An empty table's export: a valid blob with no entries.
    auto empty = ConnTable::Create(Impl::TableOptions(*inst));
    if (!empty.ok()) return empty.status();
    return (*empty)->Export(now_ns);
  }
  return found->Export(now_ns);
}

absl::StatusOr<size_t> Engine::ImportPort(InstanceId id, PortId port, std::span<const uint8_t> blob,
                                          uint64_t now_ns) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const InstanceState* inst = Find(*impl_->current, id);
  if (inst == nullptr) return NoInstance(id);
  Worker& w = *impl_->workers[0];
  Impl::Reconcile(w, *impl_->current);
  WorkerSlot& ws = Impl::EnsureSlot(w, *inst);
  ConnTable* table = Impl::TableFor(w, ws, *inst, port);
  auto st = table->Import(blob, now_ns);
  if (!st.ok()) {
    return absl::Status(st.status().code(), absl::StrCat("instance ", id, " port ", port,
                                                         ": import: ", st.status().message()));
  }
  // Re-classify the imported entries under this instance's policy (their cached verdicts came
  // from another host's rule set).
  std::vector<ConnKey> remove;
  std::vector<std::pair<ConnHandle, CtVerdict>> update;
  table->ForEach(ConnFilter{}, [&](ConnHandle h, const ConnInfo& info) {
    if (!(info.flags & kConnFlagImported)) return;
    if (inst->policy == nullptr) {
      remove.push_back(info.key);
      return;
    }
    ClassKey k;
    k.src = info.key.src;
    k.dst = info.key.dst;
    k.proto = info.key.proto;
    k.family = info.key.family;
    k.direction = static_cast<uint8_t>((info.flags & kConnFlagOrigToVm) ? Direction::kToVm : Direction::kFromVm);
    if (info.key.proto == kProtoIcmp || info.key.proto == kProtoIcmpV6) {
      // Echo connections: classify as the echo request (type 8 / 128, code 0).
      k.sport = info.key.proto == kProtoIcmp ? 8 : 128;
      k.dport = 0;
    } else {
      k.sport = info.key.sport;
      k.dport = info.key.dport;
    }
    const CompiledRule& rule = inst->policy->policy->Classify(k);
    // A connection a stateful redirect rule now covers stays, with "redirect" cached.
    if (rule.action == Action::kAllow || (rule.action == Action::kRedirect && !rule.stateless)) {
      update.emplace_back(h, CtVerdict{rule.rule_id, rule.action, inst->policy->epoch});
    } else {
      remove.push_back(info.key);
    }
  });
  for (const auto& [h, v] : update) table->UpdateVerdict(h, v);
  for (const auto& k : remove) table->Delete(k);
  return update.size();
}

}  // namespace rampart
