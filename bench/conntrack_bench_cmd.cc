// rampart-bench conntrack: connection-tracking throughput and memory, single core.
//
//   established_lookups_per_s  TrackBatch of data segments of established TCP connections,
//                              uniformly random connection and direction (the worst realistic
//                              pattern for caches), full TCP window check and counter update.
//   new_connections_per_s      TrackBatch miss + classification (Classifier built from ClassBench
//                              acl1_10k, keys from its trace) + Commit, fresh connections.
//   bytes_per_connection       table memory (records + index) / connections, table presized.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_command.h"
#include "classifier/classbench.h"
#include "classifier/classifier.h"
#include "conntrack/conntrack.h"

namespace rampart::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Rates are per second of this thread's CPU time (the machine may be shared; on an idle machine
// CPU time and wall time agree), wall-clock rates are reported beside them.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Args {
  uint64_t connections = 1000000;
  double seconds = 2.0;
  bool json = false;
  size_t batch = 32;
  std::string rules = std::string(RAMPART_SHARED_DIR) + "/data/classbench/acl1_10k.rules";
  std::string trace = std::string(RAMPART_SHARED_DIR) + "/data/classbench/acl1_10k.trace";
};

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "rampart-bench conntrack: %s\n", msg);
  std::fprintf(stderr,
               "usage: rampart-bench conntrack [--connections N] [--seconds S] [--batch B] [--json]\n"
               "         [--rules R.rules --trace T.trace]   (classification for new connections)\n");
  return 2;
}

// Connection i of the established set: client 198.18.0.0/15 + i, server 198.19.255.x:443.
// Everything is derived from i, so building a packet reads no memory.
inline uint32_t ClientAddr(uint64_t i) { return 0xC6120000u + static_cast<uint32_t>(i >> 10); }
inline uint16_t ClientPort(uint64_t i) { return static_cast<uint16_t>(1024 + (i & 1023)); }
inline uint32_t ServerAddr(uint64_t i) { return 0xC613FF00u + static_cast<uint32_t>(i % 7); }
inline uint32_t IsnC(uint64_t i) { return static_cast<uint32_t>(i * 2654435761u); }
inline uint32_t IsnS(uint64_t i) { return static_cast<uint32_t>(i * 40503u + 12345u); }

void FillTcp(ParsedPacket& p, uint64_t i, int from, uint8_t flags, uint16_t len) {
  const Ip c = Ip::V4(ClientAddr(i)), s = Ip::V4(ServerAddr(i));
  p.family = 4;
  p.proto = kProtoTcp;
  p.has_l4 = true;
  p.src = from == 0 ? c : s;
  p.dst = from == 0 ? s : c;
  p.sport = from == 0 ? ClientPort(i) : 443;
  p.dport = from == 0 ? 443 : ClientPort(i);
  p.tcp_flags = flags;
  const bool syn = flags & kTcpSyn;
  const uint32_t seq = from == 0 ? IsnC(i) : IsnS(i);
  const uint32_t ack = from == 0 ? IsnS(i) : IsnC(i);
  p.tcp_seq = syn ? seq : seq + 1;
  p.tcp_ack = (flags & kTcpAck) ? ack + 1 : 0;
  p.tcp_window = 65535;
  p.tcp_wscale = syn ? 7 : 0xff;
  p.l4_payload_len = len;
  p.l3_len = static_cast<uint16_t>(40 + len);
}

struct XorShift {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t operator()() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

int Run(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (s == "--json") {
      a.json = true;
    } else if (s == "--connections") {
      const char* v = next();
      if (!v) return Usage("--connections needs a value");
      a.connections = std::strtoull(v, nullptr, 10);
    } else if (s == "--seconds") {
      const char* v = next();
      if (!v) return Usage("--seconds needs a value");
      a.seconds = std::atof(v);
    } else if (s == "--batch") {
      const char* v = next();
      if (!v) return Usage("--batch needs a value");
      a.batch = std::strtoull(v, nullptr, 10);
    } else if (s == "--rules") {
      const char* v = next();
      if (!v) return Usage("--rules needs a value");
      a.rules = v;
    } else if (s == "--trace") {
      const char* v = next();
      if (!v) return Usage("--trace needs a value");
      a.trace = v;
    } else if (s == "-h" || s == "--help") {
      Usage(nullptr);
      return 0;
    } else {
      return Usage(("unknown argument " + s).c_str());
    }
  }
  if (a.connections < 1 || a.connections > (1u << 24)) return Usage("--connections must be 1..16777216");
  if (a.batch < 1 || a.batch > 1024) return Usage("--batch must be 1..1024");
  if (a.seconds <= 0) return Usage("--seconds must be > 0");
  const uint64_t n = a.connections;
  const uint64_t kS = 1000000000ull;

  // ---- established set
  ConnTableOptions o;
  o.max_connections = static_cast<uint32_t>(n);
  o.initial_capacity = static_cast<uint32_t>(n);
  auto tr = ConnTable::Create(o);
  if (!tr.ok()) {
    std::fprintf(stderr, "rampart-bench conntrack: %s\n", std::string(tr.status().message()).c_str());
    return 1;
  }
  auto& table = **tr;
  uint64_t now = 1000 * kS;
  auto setup0 = Clock::now();
  {
    ParsedPacket p;
    for (uint64_t i = 0; i < n; ++i) {
      FillTcp(p, i, 0, kTcpSyn, 0);
      if (table.Commit(p, Direction::kFromVm, now, CtVerdict{1, Action::kAllow, 1}).status !=
          CommitStatus::kCreated) {
        std::fprintf(stderr, "rampart-bench conntrack: setup commit %lu failed\n", (unsigned long)i);
        return 1;
      }
      FillTcp(p, i, 1, kTcpSyn | kTcpAck, 0);
      TrackResult r1 = table.Track(p, Direction::kToVm, now);
      FillTcp(p, i, 0, kTcpAck, 0);
      TrackResult r2 = table.Track(p, Direction::kFromVm, now);
      if (r1.kind != TrackKind::kEstablished || r2.state != ConnState::kTcpEstablished) {
        std::fprintf(stderr, "rampart-bench conntrack: setup handshake %lu failed\n", (unsigned long)i);
        return 1;
      }
    }
  }
  const double setup_s = Seconds(setup0, Clock::now());
  const ConnTableStats st = table.Stats();

  // ---- established lookups, batched and one by one
  std::vector<ParsedPacket> pkts(a.batch);
  std::vector<const ParsedPacket*> ptrs(a.batch);
  std::vector<Direction> dirs(a.batch);
  std::vector<TrackResult> out(a.batch);
  for (size_t i = 0; i < a.batch; ++i) ptrs[i] = &pkts[i];
  XorShift rng;
  uint64_t bad = 0;
  auto measure = [&](bool batched, double* wall_rate) {
    uint64_t done = 0;
    auto t0 = Clock::now();
    const double c0 = ThreadCpuSeconds();
    double el = 0;
    while (el < a.seconds) {
      for (int rep = 0; rep < 256; ++rep) {
        for (size_t i = 0; i < a.batch; ++i) {
          const uint64_t r = rng();
          const uint64_t c = (r >> 1) % n;
          const int from = static_cast<int>(r & 1);
          FillTcp(pkts[i], c, from, kTcpAck | kTcpPsh, 100);
          dirs[i] = from == 0 ? Direction::kFromVm : Direction::kToVm;
        }
        now += 1000;
        if (batched) {
          table.TrackBatch(ptrs.data(), dirs.data(), a.batch, now, out.data());
        } else {
          for (size_t i = 0; i < a.batch; ++i) out[i] = table.Track(pkts[i], dirs[i], now);
        }
        for (size_t i = 0; i < a.batch; ++i) bad += out[i].kind != TrackKind::kEstablished;
        done += a.batch;
      }
      el = ThreadCpuSeconds() - c0;
    }
    *wall_rate = done / Seconds(t0, Clock::now());
    return done / el;
  };
  double est_batched_wall = 0, est_single_wall = 0;
  const double est_batched = measure(true, &est_batched_wall);
  const double est_single = measure(false, &est_single_wall);

  // ---- new connections: Track miss + classify + Commit
  nlohmann::json newc;
  double new_per_s = 0, new_wall = 0;
  std::string new_note;
  auto rules = ReadClassBenchRules(a.rules);
  auto trace = rules.ok() ? ReadClassBenchTrace(a.trace)
                          : absl::StatusOr<std::vector<ClassBenchHeader>>(rules.status());
  std::shared_ptr<const Classifier> cls;
  if (rules.ok() && trace.ok() && !trace->empty()) {
    auto b = Classifier::Build(*rules);
    if (b.ok()) cls = *b;
    else new_note = std::string(b.status().message());
  } else {
    new_note = std::string((rules.ok() ? trace.status() : rules.status()).message());
  }
  if (cls) {
    const auto& hdrs = *trace;
    ConnTableOptions no;
    no.max_connections = static_cast<uint32_t>(n);
    no.initial_capacity = static_cast<uint32_t>(n);
    auto nt = ConnTable::Create(no);
    auto& t2 = **nt;
    std::vector<ClassKey> keys(a.batch);
    std::vector<uint32_t> vals(a.batch);
    uint64_t j = 0, created = 0, not_new = 0;
    double el = 0, wall = 0;
    while (el < a.seconds) {
      if (t2.Size() + a.batch > n) t2.Flush();  // untimed
      auto t0 = Clock::now();
      const double c0 = ThreadCpuSeconds();
      for (int rep = 0; rep < 64 && t2.Size() + a.batch <= n; ++rep) {
        for (size_t i = 0; i < a.batch; ++i, ++j) {
          const ClassBenchHeader& h = hdrs[j % hdrs.size()];
          ParsedPacket& p = pkts[i];
          p = ParsedPacket{};
          p.family = 4;
          p.proto = kProtoTcp;
          p.has_l4 = true;
          // Unique per j: the trace header with source port and low source bits rewritten.
          p.src = Ip::V4(h.key.src.V4Addr() ^ static_cast<uint32_t>((j >> 16) & 0xff));
          p.dst = h.key.dst;
          p.sport = static_cast<uint16_t>(j);
          p.dport = h.key.dport;
          p.tcp_flags = kTcpSyn;
          p.tcp_seq = static_cast<uint32_t>(j * 2654435761u);
          p.tcp_window = 65535;
          p.l3_len = 60;
          dirs[i] = Direction::kFromVm;
        }
        now += 1000;
        t2.TrackBatch(ptrs.data(), dirs.data(), a.batch, now, out.data());
        for (size_t i = 0; i < a.batch; ++i) {
          const ParsedPacket& p = pkts[i];
          ClassKey& k = keys[i];
          k.src = p.src;
          k.dst = p.dst;
          k.sport = p.sport;
          k.dport = p.dport;
          k.proto = p.proto;
          k.direction = 0;
          k.family = 4;
        }
        cls->LookupBatch(keys.data(), a.batch, vals.data());
        for (size_t i = 0; i < a.batch; ++i) {
          if (out[i].kind != TrackKind::kNew) {
            ++not_new;
            continue;
          }
          CommitResult c = t2.Commit(pkts[i], dirs[i], now, CtVerdict{vals[i], Action::kAllow, 1});
          created += c.status == CommitStatus::kCreated;
        }
      }
      el += ThreadCpuSeconds() - c0;
      wall += Seconds(t0, Clock::now());
    }
    new_per_s = created / el;
    new_wall = created / wall;
    newc = {{"rules", a.rules}, {"rule_count", rules->size()}, {"trace", a.trace},
            {"created", created}, {"not_new_duplicates", not_new}};
  }

  const double bytes_per_conn = static_cast<double>(st.memory_bytes) / n;
  nlohmann::json j = {
      {"benchmark", "conntrack"},
      {"connections", n},
      {"batch", a.batch},
      {"seconds", a.seconds},
      {"established_lookups_per_s", est_batched},
      {"established_lookups_unbatched_per_s", est_single},
      {"established_lookups_per_wall_s", est_batched_wall},
      {"established_lookups_unbatched_per_wall_s", est_single_wall},
      {"new_connections_per_wall_s", new_wall},
      {"rates_are_per", "thread CPU second (wall-clock rates in *_per_wall_s)"},
      {"lookups_not_established", bad},
      {"new_connections_per_s", cls ? nlohmann::json(new_per_s) : nlohmann::json(nullptr)},
      {"new_connections_classification",
       cls ? nlohmann::json(newc)
           : nlohmann::json({{"excluded", true}, {"reason", new_note}})},
      {"bytes_per_connection", bytes_per_conn},
      {"setup_seconds", setup_s},
      {"table",
       {{"ipv4_record_bytes", 96},
        {"ipv6_record_bytes", 128},
        {"index_slot_bytes", 8},
        {"index_slots", st.index_slots},
        {"index_max_load", "2/3"},
        {"capacity", st.capacity},
        {"memory_bytes", st.memory_bytes}}},
      {"context_bytes_per_connection", {{"linux_nf_conntrack", 304}, {"vpp_acl", 176}}},
  };
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("conntrack, %lu TCP connections, batch %zu, single core\n", (unsigned long)n, a.batch);
    std::printf("  established lookups: %.2f M/s batched, %.2f M/s one by one\n", est_batched / 1e6,
                est_single / 1e6);
    if (cls) {
      std::printf("  new connections (track + classify %zu rules + commit): %.2f M/s\n",
                  rules->size(), new_per_s / 1e6);
    } else {
      std::printf("  new connections: excluded (%s)\n", new_note.c_str());
    }
    std::printf("  memory: %.1f bytes/connection (records + index)\n", bytes_per_conn);
  }
  return bad == 0 ? 0 : 1;
}

Registrar reg({"conntrack", "connection tracking: established lookups/s, new connections/s, bytes/connection",
               &Run});

}  // namespace
}  // namespace rampart::bench
