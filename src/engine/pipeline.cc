// The per-packet pipeline (data plane): no allocation per packet, no locks, no exceptions, no
// logging. See engine.h for the contract and docs/engine.md for the walk-through.
//
// A batch is processed in passes: parse every frame; then, in frame order, map the tag, consult
// the fragment table / conntrack, and decide every frame conntrack knows; frames that need the
// rules (new connections, untracked packets) wait in a pending list and are classified together
// (Classifier::LookupBatch per policy snapshot), then committed in frame order. A frame whose
// connection may depend on a pending one (same SymmetricFlowHash, an ICMP error, a later
// fragment) first flushes the pending list, so the result is exactly that of handling the frames
// one by one in order.
#include <algorithm>
#include <cstring>

#include "engine/engine.h"
#include "engine/engine_impl.h"
#include "packet/builder.h"
#include "packet/parser.h"

namespace rampart {

ConnTableOptions Engine::Impl::TableOptions(const InstanceState& inst) {
  ConnTableOptions o;
  if (inst.info.options.max_conns_per_port > 0) o.max_connections = inst.info.options.max_conns_per_port;
  o.initial_capacity = std::min<uint32_t>(1024, o.max_connections);
  o.loose_pickup = inst.info.options.loose_tcp;
  o.instance_budget = inst.budget.get();
  o.hash_seed ^= inst.incarnation * 0x9e3779b97f4a7c15ull;
  return o;
}

void Engine::Impl::Reconcile(Worker& w, const Snapshot& snap) {
  bool changed = false;
  for (uint32_t s = 0; s < w.max_instances_; ++s) {
    WorkerSlot& ws = w.slots_[s];
    const uint64_t inc = ws.incarnation.load(std::memory_order_relaxed);
    if (inc == 0) continue;
    const auto& live = snap.slots[s];
    if (live != nullptr && live->incarnation == inc) continue;
    // The instance was destroyed (maybe the slot reused): drop this worker's state for it.
    ws.incarnation.store(0, std::memory_order_release);
    ws.ports.clear();
    ws.budget.reset();
    ws.counters.Reset();
    changed = true;
  }
  if (changed) {
    w.tables_.clear();
    w.expire_cursor_ = 0;
    for (uint32_t s = 0; s < w.max_instances_; ++s) {
      for (auto& [p, t] : w.slots_[s].ports) w.tables_.push_back(t.get());
    }
  }
  w.seen_version_ = snap.version;
}

WorkerSlot& Engine::Impl::EnsureSlot(Worker& w, const InstanceState& inst) {
  WorkerSlot& ws = w.slots_[inst.slot];
  if (ws.incarnation.load(std::memory_order_relaxed) != inst.incarnation) {
    // Reconcile ran for this snapshot, so the slot is normally free here.
    if (!ws.ports.empty()) {
      for (auto& [p, t] : ws.ports) std::erase(w.tables_, t.get());
      w.expire_cursor_ = 0;
    }
    ws.ports.clear();
    ws.counters.Reset();
    ws.budget = inst.budget;
    ws.incarnation.store(inst.incarnation, std::memory_order_release);
  }
  return ws;
}

ConnTable* Engine::Impl::TableFor(Worker& w, WorkerSlot& ws, const InstanceState& inst, PortId port) {
  auto it = ws.ports.find(port);
  if (it != ws.ports.end()) return it->second.get();
  // First frame of this (instance, port) on this worker: an allocation, once per port.
  auto t = ConnTable::Create(TableOptions(inst));
  if (!t.ok()) __builtin_trap();  // options were validated by CreateInstance
  ConnTable* raw = t->get();
  ws.ports.emplace(port, std::move(*t));
  w.tables_.push_back(raw);
  return raw;
}

namespace {

// Per-frame state within one batch.
struct Slot {
  const InstanceState* inst = nullptr;  // null: frame belongs to no instance
  WorkerSlot* ws = nullptr;
  ConnTable* table = nullptr;
  Direction dir = Direction::kFromVm;
  TrackKind kind = TrackKind::kInvalid;
  uint64_t flow_hash = 0;
  uint32_t rule_index = 0;  // pending: classifier result
  bool decided = false;
};

ClassKey KeyOf(const ParsedPacket& p, Direction dir) {
  ClassKey k;
  k.src = p.src;
  k.dst = p.dst;
  k.sport = p.has_l4 ? p.MatchSport() : 0;
  k.dport = p.has_l4 ? p.MatchDport() : 0;
  k.proto = p.proto;
  k.direction = static_cast<uint8_t>(dir);
  k.family = p.family;
  return k;
}

// The key of the connection's first packet, from a packet of either side: re-classifying a
// connection must judge its original direction, not the reply's (ImportPort does the same).
ClassKey OriginalKeyOf(const ParsedPacket& p, Direction dir, ConnSide side) {
  ClassKey k = KeyOf(p, dir);
  if (side != ConnSide::kReply) return k;
  std::swap(k.src, k.dst);
  std::swap(k.sport, k.dport);
  k.direction = static_cast<uint8_t>(dir == Direction::kFromVm ? Direction::kToVm : Direction::kFromVm);
  if (p.proto == kProtoIcmp || p.proto == kProtoIcmpV6) {  // echo: classify the request
    k.sport = p.proto == kProtoIcmp ? 8 : 128;
    k.dport = 0;
  }
  return k;
}

bool IsLaterFragment(const ParsedPacket& p) { return p.is_fragment && p.frag_offset != 0; }

FragKey FragKeyOf(const ParsedPacket& p, const Slot& s, PortId port) {
  FragKey k;
  k.src = p.src;
  k.dst = p.dst;
  k.frag_id = p.frag_id;
  k.slot = s.inst->slot;
  k.port_id = port;
  k.proto = p.proto;
  k.direction = static_cast<uint8_t>(s.dir);
  return k;
}

class BatchRunner {
 public:
  BatchRunner(Worker& w, const Snapshot& snap, std::span<Frame> frames, uint64_t now)
      : w_(w), snap_(snap), frames_(frames), now_(now) {}

  void Run() {
    const size_t n = frames_.size();
    for (size_t i = 0; i < n; ++i) {
      ParsePacket(frames_[i].data, frames_[i].len, &w_.parsed_[i]);
    }
    for (size_t i = 0; i < n; ++i) Step(i);
    FlushPending();
  }

 private:
  // ---- Outcome of a frame: fields + counters.
  void Finish(size_t i, Verdict v, Reason r, uint32_t rule_id) {
    Frame& f = frames_[i];
    Slot& s = slots_[i];
    f.verdict = v;
    f.reason = r;
    f.rule_id = rule_id;
    s.decided = true;
    CounterSet& c = s.ws != nullptr ? s.ws->counters : w_.engine_counters_;
    c.by_reason[static_cast<int>(r)].Add(1);
    c.packets_by_verdict[static_cast<int>(v)].Add(1);
    c.bytes_by_verdict[static_cast<int>(v)].Add(f.len);
  }
  void Event(size_t i, Reason r) {
    CounterSet& c = slots_[i].ws != nullptr ? slots_[i].ws->counters : w_.engine_counters_;
    c.by_reason[static_cast<int>(r)].Add(1);
  }

  void Step(size_t i) {
    Frame& f = frames_[i];
    const ParsedPacket& p = w_.parsed_[i];
    Slot& s = slots_[i];
    s = Slot{};
    f.verdict = Verdict::kDrop;
    f.reason = Reason::kOk;
    f.rule_id = kNoRuleId;
    f.out_tag = 0;
    f.reply_tag = 0;
    f.service = 0;
    f.service_id = kNoService;
    f.reply = nullptr;
    f.reply_len = 0;
    f.new_connection = false;

    // Map the frame to (instance, port, direction).
    bool inner_tag = false;
    if (f.prebound) {
      auto it = snap_.slot_of.find(f.instance_id);
      if (it == snap_.slot_of.end()) return Finish(i, Verdict::kDrop, Reason::kUnknownTag, kNoRuleId);
      s.inst = snap_.slots[it->second].get();
      s.dir = f.direction;
      inner_tag = p.num_vlans > 0;
    } else {
      if (p.num_vlans == 0) {
        return Finish(i, Verdict::kDrop,
                      p.error != ParseError::kOk && p.error <= ParseError::kTruncatedVlan ? ReasonOf(p.error)
                                                                                         : Reason::kNoTag,
                      kNoRuleId);
      }
      const uint16_t vid = p.vlan_tci[0] & 0x0fff;
      const TagEntry& te = (*snap_.tags)[vid];
      if (!te.bound) return Finish(i, Verdict::kDrop, Reason::kUnknownTag, kNoRuleId);
      s.inst = snap_.slots[te.slot].get();
      if (s.inst == nullptr) return Finish(i, Verdict::kDrop, Reason::kUnknownTag, kNoRuleId);
      s.dir = te.binding.direction;
      f.instance_id = te.binding.instance_id;
      f.port_id = te.binding.port_id;
      f.direction = te.binding.direction;
      f.reply_tag = vid;
      f.out_tag = te.binding.return_tag == kNoReturnTag ? vid : te.binding.return_tag;
      inner_tag = p.num_vlans > 1;
    }
    s.ws = &Engine::Impl::EnsureSlot(w_, *s.inst);
    if (p.error != ParseError::kOk) return Finish(i, Verdict::kDrop, ReasonOf(p.error), kNoRuleId);
    if (inner_tag) return Finish(i, Verdict::kDrop, Reason::kInnerTag, kNoRuleId);
    const PolicyState* ps = s.inst->policy.get();
    if (ps == nullptr) return Finish(i, Verdict::kDrop, Reason::kNoPolicy, kNoRuleId);

    // Fragments share the fragment table in frame order: decide pending first fragments first.
    if (p.is_fragment && pending_frags_ > 0) FlushPending();
    if (IsLaterFragment(p)) return LaterFragment(i);

    s.table = Engine::Impl::TableFor(w_, *s.ws, *s.inst, f.port_id);
    if (npending_ > 0) {
      s.flow_hash = SymmetricFlowHash(p);
      bool conflict = p.icmp_is_error;
      for (size_t k = 0; k < npending_ && !conflict; ++k) conflict = slots_[pending_[k]].flow_hash == s.flow_hash;
      if (conflict) FlushPending();
    }
    const TrackResult r = s.table->Track(p, s.dir, now_);
    s.kind = r.kind;
    switch (r.kind) {
      case TrackKind::kEstablished:
        return Established(i, r);
      case TrackKind::kRelated:
        if (r.verdict.action == Action::kAllow) {
          CountRuleById(i, r.verdict.rule_id);
          return Finish(i, Verdict::kAllow, Reason::kAllowRelated, r.verdict.rule_id);
        }
        if (r.verdict.action == Action::kRedirect && SetRedirectTarget(i, r.verdict.rule_id)) {
          // An ICMP error about a redirected connection goes to the same service.
          CountRuleById(i, r.verdict.rule_id);
          return Finish(i, Verdict::kRedirect, Reason::kRedirectEstablished, r.verdict.rule_id);
        }
        return Finish(i, Verdict::kDrop, Reason::kRuleDrop, r.verdict.rule_id);
      case TrackKind::kInvalid:
        Finish(i, Verdict::kDrop, ReasonOf(r.invalid), kNoRuleId);
        if (p.is_fragment) RecordFragment(i);  // its later fragments are dropped with it
        return;
      case TrackKind::kNew:
      case TrackKind::kUntracked:
        if (s.flow_hash == 0) s.flow_hash = SymmetricFlowHash(p);
        pending_[npending_++] = static_cast<uint32_t>(i);
        pending_frags_ += p.is_fragment;
        return;
    }
  }

  void Established(size_t i, const TrackResult& r) {
    Slot& s = slots_[i];
    const ParsedPacket& p = w_.parsed_[i];
    const PolicyState& ps = *s.inst->policy;
    CtVerdict cv = r.verdict;
    // A cached redirect names its service through its rule; when the current policy no longer
    // has that rule as a redirect, the connection is re-classified as under revalidation.
    const bool stale_redirect = cv.action == Action::kRedirect && !SetRedirectTarget(i, cv.rule_id);
    if ((s.inst->info.options.revalidate_on_change && cv.generation != ps.epoch) || stale_redirect) {
      const CompiledRule& rule = ps.policy->Classify(OriginalKeyOf(p, s.dir, r.side));
      if (rule.action == Action::kAllow || (rule.action == Action::kRedirect && !rule.stateless)) {
        cv = CtVerdict{rule.rule_id, rule.action, ps.epoch};
        s.table->UpdateVerdict(r.handle, cv);
        Event(i, Reason::kEvRevalidated);
        if (rule.action == Action::kRedirect) SetRedirectTarget(i, rule);
      } else {
        s.table->Delete(s.table->Info(r.handle).key);
        CountRuleById(i, rule.rule_id);
        return Finish(i, Verdict::kDrop, Reason::kRevalidateDrop, rule.rule_id);
      }
    }
    CountRuleById(i, cv.rule_id);
    if (cv.action == Action::kAllow) {
      Finish(i, Verdict::kAllow, Reason::kAllowEstablished, cv.rule_id);
    } else if (cv.action == Action::kRedirect) {
      Finish(i, Verdict::kRedirect, Reason::kRedirectEstablished, cv.rule_id);
    } else {
      Finish(i, Verdict::kDrop, Reason::kRuleDrop, cv.rule_id);
    }
    if (p.is_fragment) RecordFragment(i);
  }

  void LaterFragment(size_t i) {
    Slot& s = slots_[i];
    Frame& f = frames_[i];
    const ParsedPacket& p = w_.parsed_[i];
    const FragKey key = FragKeyOf(p, s, f.port_id);
    bool expired = false;
    const FragDecision* d = w_.frags_.Find(key, now_, &expired);
    if (d != nullptr && d->incarnation == s.inst->incarnation) {
      CountRuleById(i, d->rule_id);
      switch (d->verdict) {
        case Verdict::kAllow:
          return Finish(i, Verdict::kAllow, Reason::kAllowFragment, d->rule_id);
        case Verdict::kRedirect:
          f.service = d->service;
          f.service_id = d->service_id;
          return Finish(i, Verdict::kRedirect, Reason::kRuleRedirect, d->rule_id);
        default:  // a later fragment gets no reject reply: its first fragment had it
          return Finish(i, Verdict::kDrop, Reason::kFragmentDrop, d->rule_id);
      }
    }
    if (expired) Event(i, Reason::kEvFragmentExpired);
    if (s.inst->info.options.fragment_policy == FragmentPolicy::kClassify) {
      const PolicyState& ps = *s.inst->policy;
      const uint32_t idx = ps.policy->classifier->Lookup(KeyOf(p, s.dir));
      const CompiledRule& rule = ps.policy->rules[idx];
      CountRule(i, idx);
      if (rule.action == Action::kAllow) return Finish(i, Verdict::kAllow, Reason::kAllowFragment, rule.rule_id);
      if (rule.action == Action::kRedirect) {
        SetRedirectTarget(i, rule);
        return Finish(i, Verdict::kRedirect, Reason::kRuleRedirect, rule.rule_id);
      }
      return Finish(i, Verdict::kDrop, Reason::kFragmentDrop, rule.rule_id);
    }
    Finish(i, Verdict::kDrop, Reason::kFragmentWithoutFirst, kNoRuleId);
  }

  void RecordFragment(size_t i) {
    const Slot& s = slots_[i];
    const Frame& f = frames_[i];
    FragDecision d;
    d.verdict = f.verdict;
    d.service = f.service;
    d.service_id = f.service_id;
    d.rule_id = f.rule_id;
    d.incarnation = s.inst->incarnation;
    if (!w_.frags_.Insert(FragKeyOf(w_.parsed_[i], s, f.port_id), d, now_)) {
      Event(i, Reason::kEvFragmentTableFull);
    }
  }

  // Fills the frame's service fields from a redirect rule of the instance's current policy.
  void SetRedirectTarget(size_t i, const CompiledRule& rule) {
    frames_[i].service = rule.redirect_service;
    frames_[i].service_id = slots_[i].inst->policy->ServiceIdOf(rule);
  }
  // The same by rule id; false when the current policy has no redirect rule with that id.
  bool SetRedirectTarget(size_t i, uint32_t rule_id) {
    const PolicyState& ps = *slots_[i].inst->policy;
    auto it = ps.index_of.find(rule_id);
    if (it == ps.index_of.end()) return false;
    const CompiledRule& rule = ps.policy->rules[it->second];
    if (rule.action != Action::kRedirect || rule.stateless) return false;
    SetRedirectTarget(i, rule);
    return true;
  }

  void CountRule(size_t i, uint32_t index) {
    const PolicyState& ps = *slots_[i].inst->policy;
    RuleHitCell& c = ps.HitsOf(w_.index_)[index];
    c.packets.Add(1);
    c.bytes.Add(frames_[i].len);
  }
  void CountRuleById(size_t i, uint32_t rule_id) {
    const PolicyState* ps = slots_[i].inst->policy.get();
    if (ps == nullptr) return;
    auto it = ps->index_of.find(rule_id);
    if (it != ps->index_of.end()) CountRule(i, it->second);
  }

  // Classifies every pending frame (one LookupBatch per policy snapshot), then applies the
  // actions in frame order.
  void FlushPending() {
    if (npending_ == 0) return;
    for (size_t a = 0; a < npending_; ++a) {
      if (done_[a]) continue;
      const PolicyState* ps = slots_[pending_[a]].inst->policy.get();
      size_t m = 0;
      for (size_t b = a; b < npending_; ++b) {
        if (done_[b] || slots_[pending_[b]].inst->policy.get() != ps) continue;
        const uint32_t i = pending_[b];
        keys_[m] = KeyOf(w_.parsed_[i], slots_[i].dir);
        which_[m++] = b;
      }
      ps->policy->classifier->LookupBatch(keys_.data(), m, results_.data());
      for (size_t k = 0; k < m; ++k) {
        slots_[pending_[which_[k]]].rule_index = results_[k];
        done_[which_[k]] = true;
      }
    }
    // Apply in frame order; the pending list is emptied first so Apply cannot recurse into it.
    const size_t n = npending_;
    npending_ = 0;
    pending_frags_ = 0;
    for (size_t a = 0; a < n; ++a) {
      done_[a] = false;
      Apply(pending_[a]);
    }
  }

  // A stateful rule's frame: commits its connection with the rule's action cached and finishes
  // it with `v` and `created` (a new connection) or `exists`; a full table or a mid-stream frame
  // of an unknown connection is dropped with its reason.
  void Commit(size_t i, const CompiledRule& rule, Verdict v, Reason created, Reason exists) {
    Slot& s = slots_[i];
    Frame& f = frames_[i];
    const PolicyState& ps = *s.inst->policy;
    const CommitResult c = s.table->Commit(w_.parsed_[i], s.dir, now_, CtVerdict{rule.rule_id, rule.action, ps.epoch});
    switch (c.status) {
      case CommitStatus::kCreated:
        f.new_connection = true;
        ps.HitsOf(w_.index_)[s.rule_index].connections.Add(1);
        Event(i, Reason::kEvConnCommitted);
        Finish(i, v, created, rule.rule_id);
        break;
      case CommitStatus::kExists:
        Finish(i, v, exists, rule.rule_id);
        break;
      case CommitStatus::kTableFull:
      case CommitStatus::kInstanceFull:
        Finish(i, Verdict::kDrop, Reason::kConnLimit, rule.rule_id);
        break;
      case CommitStatus::kNotNew:
        Finish(i, Verdict::kDrop, ReasonOf(c.invalid == CtInvalid::kNone ? CtInvalid::kNotNew : c.invalid), rule.rule_id);
        break;
    }
  }

  void Apply(size_t i) {
    Slot& s = slots_[i];
    Frame& f = frames_[i];
    const ParsedPacket& p = w_.parsed_[i];
    const PolicyState& ps = *s.inst->policy;
    const CompiledRule& rule = ps.policy->rules[s.rule_index];
    CountRule(i, s.rule_index);
    switch (rule.action) {
      case Action::kAllow:
        if (rule.stateless) {
          Finish(i, Verdict::kAllow, Reason::kAllowStateless, rule.rule_id);
        } else if (s.kind == TrackKind::kUntracked) {
          Finish(i, Verdict::kAllow, Reason::kAllowUntracked, rule.rule_id);
        } else {
          Commit(i, rule, Verdict::kAllow, Reason::kAllowNew, Reason::kAllowEstablished);
        }
        break;
      case Action::kDrop:
        Finish(i, Verdict::kDrop, Reason::kRuleDrop, rule.rule_id);
        break;
      case Action::kReject: {
        uint8_t* out = w_.reply_buf_.get() + i * Worker::kReplySlot;
        size_t len = 0;
        if (p.proto == kProtoTcp) {
          len = BuildTcpReset(f.data, p, out, Worker::kReplySlot);
        } else {
          len = BuildIcmpUnreachable(f.data, p, out, Worker::kReplySlot);
        }
        if (len > 0) {
          f.reply = out;
          f.reply_len = static_cast<uint32_t>(len);
        } else {
          Event(i, Reason::kEvRejectNoReply);
        }
        Finish(i, Verdict::kReject, Reason::kRuleReject, rule.rule_id);
        break;
      }
      case Action::kRedirect:
        SetRedirectTarget(i, rule);
        if (rule.stateless || s.kind == TrackKind::kUntracked) {
          Finish(i, Verdict::kRedirect, Reason::kRuleRedirect, rule.rule_id);
          break;
        }
        // Stateful: the connection is committed with "redirect" cached, so every later frame of
        // it (replies included) reaches the same service without a rule lookup.
        Commit(i, rule, Verdict::kRedirect, Reason::kRuleRedirect, Reason::kRedirectEstablished);
        break;
    }
    if (rule.log) Log(i);
    if (p.is_fragment) RecordFragment(i);
  }

  void Log(size_t i) {
    const Frame& f = frames_[i];
    const ParsedPacket& p = w_.parsed_[i];
    LogRecord r;
    r.time_ns = now_;
    r.instance_id = slots_[i].inst->info.id;
    r.port_id = f.port_id;
    r.rule_id = f.rule_id;
    r.src = p.src;
    r.dst = p.dst;
    r.sport = p.has_l4 ? p.MatchSport() : 0;
    r.dport = p.has_l4 ? p.MatchDport() : 0;
    r.len = static_cast<uint16_t>(std::min<uint32_t>(f.len, 0xffff));
    r.proto = p.proto;
    r.direction = slots_[i].dir;
    r.verdict = f.verdict;
    r.reason = f.reason;
    if (!w_.logs_.Push(r)) Event(i, Reason::kEvLogRingFull);
  }

  Worker& w_;
  const Snapshot& snap_;
  std::span<Frame> frames_;
  uint64_t now_;
  std::array<Slot, kMaxBatch> slots_;
  std::array<uint32_t, kMaxBatch> pending_;
  std::array<bool, kMaxBatch> done_{};
  size_t npending_ = 0;
  size_t pending_frags_ = 0;  // first fragments among the pending
  std::array<ClassKey, kMaxBatch> keys_;
  std::array<uint32_t, kMaxBatch> results_;
  std::array<uint32_t, kMaxBatch> which_;
};

}  // namespace

void Engine::ProcessBatch(Worker& w, std::span<Frame> frames, uint64_t now_ns) {
  // One snapshot for the whole call: a rule-set swap is never seen half-way through a batch.
  std::shared_ptr<const Snapshot> snap = impl_->published.load(std::memory_order_acquire);
  if (snap->version != w.seen_version_) Impl::Reconcile(w, *snap);
  if (frames.size() > kMaxBatch) __builtin_trap();  // REQUIRES: reply slots are per batch index
  BatchRunner(w, *snap, frames, now_ns).Run();
  // Incremental expiry: one table per batch, a bounded number of records.
  if (!w.tables_.empty()) {
    if (w.expire_cursor_ >= w.tables_.size()) w.expire_cursor_ = 0;
    w.tables_[w.expire_cursor_++]->Expire(now_ns, 64);
  }
}

}  // namespace rampart
