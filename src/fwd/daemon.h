// rampart-fwd's process: packet workers on the firewall port and the FEI control thread.
//
// Each worker owns one AfPacketPort in a symmetric fanout group (fanout_bpf.h) and one engine
// Worker, so every conversation lives on exactly one worker. The control thread runs the FEI
// server (fei_server.h); the methods are documented in docs/fei.md. Control operations that read
// or change connection tables pause the workers for their duration (Quiesce); everything else
// publishes snapshots the workers pick up on their next batch.
//
// rampart-fwd keeps enforcing its last configuration when no agent is connected.
#ifndef RAMPART_FWD_DAEMON_H_
#define RAMPART_FWD_DAEMON_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "fwd/af_packet.h"
#include "fwd/fei_server.h"
#include "fwd/service_registry.h"
#include "policy/compiler.h"

namespace rampart::fwd {

struct DaemonOptions {
  std::string interface;                         // rampart-fwd's end of the firewall veth
  int workers = 1;
  std::string fei_socket = "/run/rampart/fwd.sock";
  int fanout_group = -1;                         // -1: derived from the process id
  PortOptions port;                              // ring geometry (ifname/fanout are set here)
};

// Per-worker I/O counters beyond the engine's.
struct WorkerIoStats {
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> tx_allowed{0};
  std::atomic<uint64_t> tx_replies{0};
  // Redirect verdicts while no SVMI partner is attached (all of them, until the SVMI exists),
  // split by what the service's failure behaviour did with them.
  std::atomic<uint64_t> redirect_no_service{0};
  std::atomic<uint64_t> redirect_failure_drop{0};     // on_failure: drop
  std::atomic<uint64_t> redirect_failure_allow{0};    // on_failure: allow (forwarded)
  std::atomic<uint64_t> redirect_unknown_service{0};  // no such service registered: dropped
  std::atomic<uint64_t> oversize{0};             // frames too large for the worker buffer
};

class Daemon {
 public:
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const DaemonOptions& options);
  ~Daemon();

  // Serves the FEI on the calling thread until Stop().
  void Run();
  void Stop();

  Engine& engine() { return *engine_; }

 private:
  Daemon() = default;
  void WorkerLoop(int index);
  void RegisterHandlers();
  // Runs `fn` while every worker is parked between batches.
  template <typename Fn>
  auto Quiesced(Fn&& fn) -> decltype(fn());

  DaemonOptions options_;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<AfPacketPort>> ports_;
  std::vector<std::unique_ptr<WorkerIoStats>> io_;
  std::vector<std::thread> threads_;
  std::unique_ptr<FeiServer> fei_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_{false};
  std::atomic<int> parked_{0};
  // Control state: one PolicyCompiler per instance (the source of incremental edits).
  std::map<InstanceId, std::unique_ptr<PolicyCompiler>> compilers_;
  // Services that redirect rules name (service.*); workers read its published table.
  std::unique_ptr<ServiceRegistry> services_;
};

}  // namespace rampart::fwd

#endif  // RAMPART_FWD_DAEMON_H_
