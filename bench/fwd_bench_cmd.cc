// `rampart-bench fwd`: rampart-fwd's packets per second on its port, per worker count.
//
// The benchmark moves itself into a fresh network namespace (needs root), makes a veth pair, runs
// the real Daemon (AF_PACKET TPACKET_V3 workers in a symmetric fanout group + the engine) on one
// end, configures it through the FEI like the agent does, and blasts small UDP frames of many
// established flows, tagged with a VM's slice, into the other end with batched sendmmsg. It counts
// what rampart-fwd received and what came back allowed.
//
// On a small machine the blaster and the workers share the cores: the JSON says how many cores
// there are so the figure is read in context.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_command.h"
#include "fwd/af_packet.h"
#include "fwd/daemon.h"
#include "fwd/fei_server.h"
#include "nlohmann/json.hpp"
#include "packet/frame_builder.h"

namespace rampart::bench {
namespace {

using nlohmann::json;

int Run(int argc, char** argv) {
  int workers = 1, flows = 1024;
  double seconds = 3;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers" && i + 1 < argc) workers = std::atoi(argv[++i]);
    else if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (a == "--flows" && i + 1 < argc) flows = std::atoi(argv[++i]);
    else if (a == "--json") as_json = true;
    else {
      std::fprintf(stderr, "usage: rampart-bench fwd [--workers N] [--seconds S] [--flows F] [--json]\n");
      return 2;
    }
  }
  if (unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "rampart-bench fwd: needs root (unshare CLONE_NEWNET): %s\n", std::strerror(errno));
    return 1;
  }
  if (std::system("ip link add fwa type veth peer name fwb && ip link set fwa up && ip link set fwb up") != 0) return 1;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("rampart-bench-fwd-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  fwd::DaemonOptions o;
  o.interface = "fwa";
  o.workers = workers;
  o.fei_socket = (dir / "fwd.sock").string();
  auto d = fwd::Daemon::Start(o);
  if (!d.ok()) {
    std::fprintf(stderr, "rampart-bench fwd: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  std::thread control([&] { (*d)->Run(); });
  auto fei = fwd::FeiClient::Connect(o.fei_socket);
  auto call = [&](const std::string& m, const json& p) {
    auto r = (*fei)->Call(m, p);
    if (!r.ok()) std::fprintf(stderr, "rampart-bench fwd: %s: %s\n", m.c_str(), std::string(r.status().message()).c_str());
    return r.ok() ? *r : json();
  };
  call("instance.create", {{"id", 1}, {"name", "bench"}});
  call("tag.bind", {{"vid", 10}, {"instance", 1}, {"port", 1}, {"direction", "from-vm"}});
  call("policy.set", {{"instance", 1}, {"policy", "default: drop\nrules:\n  - {id: 1, direction: from-vm, protocol: udp, action: allow}\n"}});

  // Frames of `flows` UDP flows from the VM (64-byte frames with the tag).
  std::vector<std::vector<uint8_t>> frames;
  for (int f = 0; f < flows; ++f) {
    Ip src = Ip::V4(0xc6120000u | static_cast<uint32_t>(f % 250 + 1) << 8 | 10);  // 198.18.x.10
    Ip dst = Ip::V4(0xc6130000u | static_cast<uint32_t>(f / 250 + 1));            // 198.19.0.y
    frames.push_back(FrameBuilder().Vlan(10).Ip(src, dst).Udp(static_cast<uint16_t>(1024 + f), 53).Payload(14).Build());
  }
  std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
  auto tx = fwd::AfPacketPort::Open({.ifname = "fwb"});
  auto rx = fwd::AfPacketPort::Open({.ifname = "fwb"});
  if (!tx.ok() || !rx.ok()) return 1;
  // Warm up: every flow's first packet creates its connection.
  (*tx)->Send(spans.data(), spans.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> returned{0};
  std::thread receiver([&] {
    fwd::RxFrame buf[256];
    while (!stop.load(std::memory_order_relaxed)) returned.fetch_add((*rx)->Receive(buf, 256, 10), std::memory_order_relaxed);
  });
  json before = call("stats", json::object());
  uint64_t offered = 0;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  size_t next = 0;
  returned.store(0);
  while (std::chrono::steady_clock::now() < end) {
    size_t n = std::min<size_t>(64, spans.size() - next);
    offered += (*tx)->Send(spans.data() + next, n);
    next = (next + n) % spans.size();
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  receiver.join();
  json after = call("stats", json::object());
  uint64_t fwd_rx = 0, drops = 0;
  json per_worker = json::array();
  for (size_t w = 0; w < after["workers"].size(); ++w) {
    uint64_t r = after["workers"][w]["rx_frames"].get<uint64_t>() - before["workers"][w]["rx_frames"].get<uint64_t>();
    fwd_rx += r;
    drops += after["workers"][w]["rx_kernel_drops"].get<uint64_t>();
    per_worker.push_back(static_cast<double>(r) / elapsed);
  }
  json out = {{"workers", workers},
              {"cores", std::thread::hardware_concurrency()},
              {"flows", flows},
              {"seconds", elapsed},
              {"frame_bytes", frames[0].size()},
              {"offered_pps", static_cast<double>(offered) / elapsed},
              {"fwd_rx_pps", static_cast<double>(fwd_rx) / elapsed},
              {"forwarded_pps", static_cast<double>(returned.load()) / elapsed},
              {"fwd_rx_pps_per_worker", per_worker},
              {"kernel_ring_drops", drops}};
  (*d)->Stop();
  control.join();
  d->reset();
  std::filesystem::remove_all(dir);
  if (as_json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s\n", out.dump(2).c_str());
  }
  return 0;
}

Registrar reg({"fwd", "rampart-fwd packets/s on its port (veth in a private netns; needs root)", &Run});

}  // namespace
}  // namespace rampart::bench
