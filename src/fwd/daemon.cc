#include "fwd/daemon.h"

#include <linux/if_packet.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <span>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fwd/worker_path.h"
#include "policy/policy_parser.h"

namespace rampart::fwd {

using nlohmann::json;

namespace {

constexpr size_t kFrameBuf = 9216 + 8;  // a jumbo frame plus a re-inserted tag

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

absl::StatusOr<Direction> ParseDirection(const json& v) {
  std::string s = v.get<std::string>();
  if (s == "from-vm") return Direction::kFromVm;
  if (s == "to-vm") return Direction::kToVm;
  return absl::InvalidArgumentError(absl::StrCat("direction '", s, "' is neither from-vm nor to-vm"));
}

const char* DirectionName(Direction d) { return d == Direction::kFromVm ? "from-vm" : "to-vm"; }

absl::StatusOr<InstanceOptions> ParseInstanceOptions(const json& o) {
  InstanceOptions opt;
  for (const auto& [k, v] : o.items()) {
    if (k == "loose_tcp") opt.loose_tcp = v.get<bool>();
    else if (k == "revalidate_on_change") opt.revalidate_on_change = v.get<bool>();
    else if (k == "max_conns_per_port") opt.max_conns_per_port = v.get<uint32_t>();
    else if (k == "max_conns_per_instance") opt.max_conns_per_instance = v.get<uint32_t>();
    else if (k == "fragment_policy") {
      std::string f = v.get<std::string>();
      if (f == "drop") opt.fragment_policy = FragmentPolicy::kDrop;
      else if (f == "classify") opt.fragment_policy = FragmentPolicy::kClassify;
      else return absl::InvalidArgumentError(absl::StrCat("options.fragment_policy '", f, "' is neither drop nor classify"));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("options: unknown field '", k, "'"));
    }
  }
  return opt;
}

json InstanceJson(const InstanceInfo& i) {
  return {{"id", i.id},
          {"name", i.name},
          {"tenant", i.tenant},
          {"options",
           {{"loose_tcp", i.options.loose_tcp},
            {"revalidate_on_change", i.options.revalidate_on_change},
            {"fragment_policy", i.options.fragment_policy == FragmentPolicy::kDrop ? "drop" : "classify"},
            {"max_conns_per_port", i.options.max_conns_per_port},
            {"max_conns_per_instance", i.options.max_conns_per_instance}}}};
}

absl::StatusOr<ConnFilter> ParseFilter(const json& f) {
  ConnFilter filter;
  for (const auto& [k, v] : f.items()) {
    if (k == "family") filter.family = v.get<uint8_t>();
    else if (k == "proto") filter.proto = v.get<uint8_t>();
    else if (k == "sport") filter.sport = v.get<uint16_t>();
    else if (k == "dport") filter.dport = v.get<uint16_t>();
    else if (k == "either_direction") filter.either_direction = v.get<bool>();
    else if (k == "src" || k == "dst") {
      auto p = Prefix::Parse(v.get<std::string>());
      if (!p) return absl::InvalidArgumentError(absl::StrCat("filter.", k, ": '", v.get<std::string>(), "' is not an address or prefix"));
      (k == "src" ? filter.src : filter.dst) = *p;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("filter: unknown field '", k, "'"));
    }
  }
  return filter;
}

json ConnJson(const PortConnection& c, uint64_t now_ns) {
  const ConnInfo& i = c.info;
  return {{"port", c.port_id},
          {"worker", c.worker},
          {"family", i.key.family},
          {"proto", i.key.proto},
          {"src", i.key.src.ToString()},
          {"dst", i.key.dst.ToString()},
          {"sport", i.key.sport},
          {"dport", i.key.dport},
          {"state", ConnStateName(i.state)},
          {"rule_id", i.verdict.rule_id},
          {"action", ActionName(i.verdict.action)},
          {"generation", i.verdict.generation},
          {"packets", {i.packets[0], i.packets[1]}},
          {"bytes", {i.bytes[0], i.bytes[1]}},
          {"age_s", (now_ns - std::min(now_ns, i.first_seen_ns)) / 1000000000ull},
          {"idle_s", (now_ns - std::min(now_ns, i.last_seen_ns)) / 1000000000ull}};
}

json CountersJson(const InstanceCounters& c) {
  json reasons = json::object();
  for (int r = 0; r < kReasonCount; ++r) {
    if (c.by_reason[r]) reasons[ReasonName(static_cast<Reason>(r))] = c.by_reason[r];
  }
  json verdicts = json::object();
  for (int v = 0; v < 4; ++v) {
    verdicts[VerdictName(static_cast<Verdict>(v))] = {{"packets", c.packets_by_verdict[v]}, {"bytes", c.bytes_by_verdict[v]}};
  }
  return {{"reasons", reasons}, {"verdicts", verdicts}};
}

// Brings `compiler` to `desired` with incremental edits where that is cheaper than a rebuild.
// All or nothing: on any failure the compiler is put back to the policy it had.
absl::StatusOr<PolicyCompiler::Snapshot> ApplyPolicy(PolicyCompiler& c, const Policy& desired, json* how) {
  if (!c.current()) {
    (*how)["mode"] = "full";
    return c.Reset(desired);
  }
  const Policy old = c.policy();
  std::map<uint32_t, const Rule*> old_rules, new_rules;
  for (const Rule& r : old.rules) old_rules[r.id] = &r;
  for (const Rule& r : desired.rules) new_rules[r.id] = &r;
  size_t edits = 0;
  for (const auto& [id, r] : old_rules) edits += !new_rules.count(id) || !RuleEquals(*r, *new_rules[id]);
  for (const auto& [id, r] : new_rules) edits += !old_rules.count(id);
  if (edits * 4 > desired.rules.size() + 8) {
    (*how)["mode"] = "full";
    return c.Reset(desired);
  }
  auto prefixes_of = [](const Policy& p) {
    std::map<std::string, std::set<Prefix>> m;
    for (const auto& g : p.groups) m[g.name].insert(g.prefixes.begin(), g.prefixes.end());
    return m;
  };
  auto old_groups = prefixes_of(old), new_groups = prefixes_of(desired);
  auto run = [&]() -> absl::StatusOr<PolicyCompiler::Snapshot> {
    absl::StatusOr<PolicyCompiler::Snapshot> s = c.current();
    for (const auto& [id, r] : old_rules) {
      if (!new_rules.count(id)) { s = c.RemoveRule(id); if (!s.ok()) return s; }
    }
    for (const auto& [g, ps] : new_groups) {
      for (const Prefix& p : ps) {
        if (!old_groups[g].count(p)) { s = c.AddGroupPrefix(g, p); if (!s.ok()) return s; }
      }
    }
    for (const Rule& r : desired.rules) {
      auto it = old_rules.find(r.id);
      if (it == old_rules.end()) s = c.AddRule(r);
      else if (!RuleEquals(*it->second, r)) s = c.ReplaceRule(r);
      if (!s.ok()) return s;
    }
    for (const auto& [g, ps] : old_groups) {
      for (const Prefix& p : ps) {
        if (!new_groups[g].count(p)) { s = c.RemoveGroupPrefix(g, p); if (!s.ok()) return s; }
      }
    }
    if (old.default_action != desired.default_action || old.default_log != desired.default_log) {
      s = c.SetDefault(desired.default_action, desired.default_log);
    }
    return s;
  };
  auto s = run();
  if (s.ok() && PolicyEquals(c.policy(), desired)) {
    (*how)["mode"] = "incremental";
    (*how)["edits"] = edits;
    return s;
  }
  // An edit failed, or the edits could not reproduce the desired order: rebuild from scratch,
  // and if even that fails, restore the old policy so nothing is half-applied.
  (*how)["mode"] = "full";
  auto full = c.Reset(desired);
  if (full.ok()) return full;
  auto restored = c.Reset(old);
  if (!restored.ok()) return absl::InternalError(absl::StrCat("could not restore the previous policy: ", restored.status().message()));
  return full.status();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const DaemonOptions& options) {
  if (options.workers < 1 || options.workers > 64) {
    return absl::InvalidArgumentError(absl::StrCat("workers must be 1..64, not ", options.workers));
  }
  std::unique_ptr<Daemon> d(new Daemon());
  d->options_ = options;
  EngineOptions eo;
  eo.num_workers = options.workers;
  auto engine = Engine::Create(eo);
  if (!engine.ok()) return engine.status();
  d->engine_ = std::move(*engine);
  d->services_ = std::make_unique<ServiceRegistry>(*d->engine_, eo.max_services);
  int group = options.fanout_group >= 0 ? options.fanout_group : (getpid() & 0xffff);
  for (int i = 0; i < options.workers; ++i) {
    PortOptions po = options.port;
    po.ifname = options.interface;
    po.fanout_group = group;
    po.symmetric_fanout = true;
    auto port = AfPacketPort::Open(po);
    if (!port.ok()) return port.status();
    d->ports_.push_back(std::move(*port));
    d->io_.push_back(std::make_unique<WorkerIoStats>());
  }
  auto fei = FeiServer::Listen(options.fei_socket);
  if (!fei.ok()) return fei.status();
  d->fei_ = std::move(*fei);
  d->RegisterHandlers();
  for (int i = 0; i < options.workers; ++i) d->threads_.emplace_back([p = d.get(), i] { p->WorkerLoop(i); });
  return d;
}

Daemon::~Daemon() {
  Stop();
  for (auto& t : threads_) t.join();
}

void Daemon::Run() { fei_->Run(); }

void Daemon::Stop() {
  stop_.store(true);
  if (fei_) fei_->Stop();
}

template <typename Fn>
auto Daemon::Quiesced(Fn&& fn) -> decltype(fn()) {
  pause_.store(true);
  while (parked_.load() < static_cast<int>(threads_.size()) && !stop_.load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  struct Resume {
    Daemon* d;
    ~Resume() { d->pause_.store(false); }
  } resume{this};
  return fn();
}

void Daemon::WorkerLoop(int index) {
  AfPacketPort& port = *ports_[index];
  Worker& worker = engine_->worker(index);
  WorkerIoStats& io = *io_[index];
  std::vector<uint8_t> buffers(kMaxBatch * kFrameBuf);
  std::vector<RxFrame> rx(kMaxBatch);
  std::vector<Frame> frames(kMaxBatch);
  std::vector<uint8_t*> bufs(kMaxBatch);
  WorkerServiceCounters& service_counters = services_->counters(index);
  std::vector<std::span<const uint8_t>> tx;
  tx.reserve(kMaxBatch * 2);
  while (!stop_.load(std::memory_order_relaxed)) {
    if (pause_.load(std::memory_order_acquire)) {
      parked_.fetch_add(1);
      while (pause_.load() && !stop_.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
      parked_.fetch_sub(1);
      continue;
    }
    size_t n = port.Receive(rx.data(), kMaxBatch, 10);
    if (n == 0) continue;
    size_t m = 0;
    for (size_t i = 0; i < n; ++i) {
      uint8_t* buf = buffers.data() + m * kFrameBuf;
      size_t len = WithVlan(rx[i], buf, kFrameBuf);
      if (len == 0) {
        io.oversize.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      frames[m] = Frame{};
      frames[m].data = buf;
      frames[m].len = static_cast<uint32_t>(len);
      bufs[m] = buf;
      ++m;
    }
    engine_->ProcessBatch(worker, std::span<Frame>(frames.data(), m), MonotonicNs());
    // No SVMI partner can attach yet: every redirect gets its service's failure behaviour.
    std::shared_ptr<const ServiceTable> services = services_->Table();
    const RedirectTotals rt = ApplyServiceFailure(*services, std::span<Frame>(frames.data(), m), service_counters);
    tx.clear();
    const TxTotals tt = CollectTx(std::span<const Frame>(frames.data(), m), bufs.data(), &tx);
    if (!tx.empty()) port.Send(tx.data(), tx.size());
    io.batches.fetch_add(1, std::memory_order_relaxed);
    io.tx_allowed.fetch_add(tt.allowed, std::memory_order_relaxed);
    io.tx_replies.fetch_add(tt.replies, std::memory_order_relaxed);
    if (rt.redirected != 0) {
      io.redirect_no_service.fetch_add(rt.redirected, std::memory_order_relaxed);
      io.redirect_failure_drop.fetch_add(rt.failure_dropped, std::memory_order_relaxed);
      io.redirect_failure_allow.fetch_add(rt.failure_allowed, std::memory_order_relaxed);
      io.redirect_unknown_service.fetch_add(rt.unknown_service, std::memory_order_relaxed);
    }
  }
}

void Daemon::RegisterHandlers() {
  FeiServer& s = *fei_;
  s.Handle("instance.create", [this](const json& p) -> absl::StatusOr<json> {
    InstanceInfo info;
    info.id = p.at("id").get<InstanceId>();
    info.name = p.value("name", "");
    if (p.contains("tenant")) {
      if (!p["tenant"].is_string()) return absl::InvalidArgumentError("instance.create: field 'tenant' must be a string");
      info.tenant = p["tenant"].get<std::string>();
    }
    auto opt = ParseInstanceOptions(p.value("options", json::object()));
    if (!opt.ok()) return opt.status();
    info.options = *opt;
    if (auto st = engine_->CreateInstance(info); !st.ok()) return st;
    return json::object();
  });
  s.Handle("instance.delete", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("id").get<InstanceId>();
    if (auto st = engine_->DestroyInstance(id); !st.ok()) return st;
    compilers_.erase(id);
    return json::object();
  });
  s.Handle("instance.list", [this](const json&) -> absl::StatusOr<json> {
    json out = json::array();
    for (const auto& i : engine_->ListInstances()) out.push_back(InstanceJson(i));
    return json{{"instances", out}};
  });
  s.Handle("tag.bind", [this](const json& p) -> absl::StatusOr<json> {
    TagBinding b;
    b.instance_id = p.at("instance").get<InstanceId>();
    b.port_id = p.at("port").get<PortId>();
    auto dir = ParseDirection(p.at("direction"));
    if (!dir.ok()) return dir.status();
    b.direction = *dir;
    b.return_tag = p.value("return_tag", kNoReturnTag);
    if (auto st = engine_->BindTag(p.at("vid").get<uint16_t>(), b); !st.ok()) return st;
    return json::object();
  });
  s.Handle("tag.unbind", [this](const json& p) -> absl::StatusOr<json> {
    if (auto st = engine_->UnbindTag(p.at("vid").get<uint16_t>()); !st.ok()) return st;
    return json::object();
  });
  s.Handle("tag.list", [this](const json&) -> absl::StatusOr<json> {
    json out = json::array();
    for (int vid = 1; vid < kMaxVlanId; ++vid) {
      auto b = engine_->GetBinding(static_cast<uint16_t>(vid));
      if (!b) continue;
      out.push_back({{"vid", vid}, {"instance", b->instance_id}, {"port", b->port_id},
                     {"direction", DirectionName(b->direction)},
                     {"return_tag", b->return_tag == kNoReturnTag ? vid : b->return_tag}});
    }
    return json{{"bindings", out}};
  });
  s.Handle("policy.set", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    if (!engine_->GetInstance(id).ok()) return absl::NotFoundError(absl::StrCat("instance ", id, " does not exist"));
    std::string doc = p.value("name", absl::StrCat("instance ", id, " policy"));
    auto policy = ParsePolicyYaml(p.at("policy").get<std::string>(), doc);
    if (!policy.ok()) return policy.status();
    auto& compiler = compilers_[id];
    if (!compiler) compiler = std::make_unique<PolicyCompiler>();
    json how = json::object();
    auto snap = ApplyPolicy(*compiler, *policy, &how);
    if (!snap.ok()) return snap.status();
    if (auto st = engine_->SetPolicy(id, *snap); !st.ok()) return st;
    how["generation"] = (*snap)->generation;
    how["rules"] = policy->rules.size();
    how["entries"] = compiler->entries();
    return how;
  });
  s.Handle("policy.get", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    auto it = compilers_.find(id);
    if (it == compilers_.end() || !it->second->current()) return absl::NotFoundError(absl::StrCat("instance ", id, " has no policy"));
    return json{{"policy", SerializePolicyYaml(it->second->policy())}, {"generation", it->second->current()->generation}};
  });
  s.Handle("conntrack.list", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    std::optional<PortId> port;
    if (p.contains("port")) port = p["port"].get<PortId>();
    auto filter = ParseFilter(p.value("filter", json::object()));
    if (!filter.ok()) return filter.status();
    auto conns = Quiesced([&] { return engine_->ListConnections(id, port, *filter); });
    if (!conns.ok()) return conns.status();
    uint64_t now = MonotonicNs();
    json out = json::array();
    for (const auto& c : *conns) out.push_back(ConnJson(c, now));
    return json{{"connections", out}};
  });
  s.Handle("conntrack.flush", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    std::optional<PortId> port;
    if (p.contains("port")) port = p["port"].get<PortId>();
    if (auto st = Quiesced([&] { return engine_->Flush(id, port); }); !st.ok()) return st;
    return json::object();
  });
  s.Handle("conntrack.export", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    PortId port = p.at("port").get<PortId>();
    auto blob = Quiesced([&] { return engine_->ExportPort(id, port, MonotonicNs()); });
    if (!blob.ok()) return blob.status();
    return json{{"blob", absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(blob->data()), blob->size()))},
                {"bytes", blob->size()}};
  });
  s.Handle("conntrack.import", [this](const json& p) -> absl::StatusOr<json> {
    InstanceId id = p.at("instance").get<InstanceId>();
    PortId port = p.at("port").get<PortId>();
    std::string raw;
    if (!absl::Base64Unescape(p.at("blob").get<std::string>(), &raw)) return absl::InvalidArgumentError("blob is not base64");
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
    auto kept = Quiesced([&] { return engine_->ImportPort(id, port, bytes, MonotonicNs()); });
    if (!kept.ok()) return kept.status();
    return json{{"kept", *kept}};
  });
  s.Handle("stats", [this](const json& p) -> absl::StatusOr<json> {
    json out;
    out["engine"] = CountersJson(engine_->EngineCounters());
    json instances = json::array();
    for (const auto& info : engine_->ListInstances()) {
      if (p.contains("instance") && p["instance"].get<InstanceId>() != info.id) continue;
      auto c = engine_->Counters(info.id);
      if (!c.ok()) continue;
      json inst = CountersJson(*c);
      inst["id"] = info.id;
      inst["name"] = info.name;
      json rules = json::array();
      if (auto hits = engine_->RuleCounters(info.id); hits.ok()) {
        for (const auto& h : *hits) {
          rules.push_back({{"rule_id", h.rule_id}, {"packets", h.packets}, {"bytes", h.bytes}, {"connections", h.connections}});
        }
      }
      inst["rules"] = rules;
      instances.push_back(inst);
    }
    out["instances"] = instances;
    json workers = json::array();
    for (size_t i = 0; i < ports_.size(); ++i) {
      PortStats ps = ports_[i]->Stats();
      workers.push_back({{"worker", i}, {"rx_frames", ps.rx_frames}, {"rx_kernel_drops", ps.rx_kernel_drops},
                         {"tx_frames", ps.tx_frames}, {"tx_errors", ps.tx_errors},
                         {"batches", io_[i]->batches.load()}, {"tx_allowed", io_[i]->tx_allowed.load()},
                         {"tx_replies", io_[i]->tx_replies.load()},
                         {"redirect_no_service", io_[i]->redirect_no_service.load()},
                         {"redirect_failure_drop", io_[i]->redirect_failure_drop.load()},
                         {"redirect_failure_allow", io_[i]->redirect_failure_allow.load()},
                         {"redirect_unknown_service", io_[i]->redirect_unknown_service.load()},
                         {"oversize", io_[i]->oversize.load()}});
    }
    out["workers"] = workers;
    return out;
  });
  s.Handle("service.set", [this](const json& p) -> absl::StatusOr<json> {
    auto config = ParseServiceConfig(p);
    if (!config.ok()) return config.status();
    auto changed = services_->Set(*config);
    if (!changed.ok()) return changed.status();
    return json{{"changed", *changed}};
  });
  s.Handle("service.delete", [this](const json& p) -> absl::StatusOr<json> {
    auto key = ParseServiceKey(p);
    if (!key.ok()) return key.status();
    if (auto st = services_->Delete(key->first, key->second); !st.ok()) return st;
    return json::object();
  });
  s.Handle("service.list", [this](const json&) -> absl::StatusOr<json> {
    auto entry = [](const ServiceRegistry::Entry& e, bool registered) {
      json j = registered ? ServiceConfigJson(e.config) : json{{"tenant", e.config.tenant}, {"name", e.config.name}};
      j["id"] = e.id;
      j["counters"] = {{"redirected", e.redirected}, {"failure_dropped", e.failure_dropped},
                       {"failure_allowed", e.failure_allowed}};
      return j;
    };
    json services = json::array(), unregistered = json::array();
    for (const auto& e : services_->List()) services.push_back(entry(e, true));
    for (const auto& e : services_->Unregistered()) unregistered.push_back(entry(e, false));
    return json{{"services", services}, {"unregistered", unregistered}};
  });
  s.Handle("logs.drain", [this](const json&) -> absl::StatusOr<json> {
    std::vector<LogRecord> recs;
    engine_->DrainLogs(&recs);
    json out = json::array();
    for (const auto& r : recs) {
      out.push_back({{"time_ns", r.time_ns}, {"instance", r.instance_id}, {"port", r.port_id}, {"rule_id", r.rule_id},
                     {"src", r.src.ToString()}, {"dst", r.dst.ToString()}, {"sport", r.sport}, {"dport", r.dport},
                     {"proto", r.proto}, {"len", r.len}, {"direction", DirectionName(r.direction)},
                     {"verdict", VerdictName(r.verdict)}, {"reason", ReasonName(r.reason)}});
    }
    return json{{"records", out}};
  });
}

}  // namespace rampart::fwd
