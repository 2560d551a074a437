// rampart-fwd: the firewall data plane of one host. See fwd/daemon.h and docs/fei.md.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "CLI/CLI.hpp"
#include "fwd/daemon.h"

namespace {
rampart::fwd::Daemon* g_daemon = nullptr;
void OnSignal(int) {
  if (g_daemon) g_daemon->Stop();
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rampart-fwd: stateful firewall data plane on the host's firewall port"};
  rampart::fwd::DaemonOptions o;
  app.add_option("-i,--interface", o.interface, "rampart-fwd's end of the firewall veth")->required();
  app.add_option("-w,--workers", o.workers, "packet worker threads")->check(CLI::Range(1, 64));
  app.add_option("-s,--fei-socket", o.fei_socket, "unix socket of the FEI control API");
  app.add_option("--fanout-group", o.fanout_group, "PACKET_FANOUT group id (default: from the pid)");
  app.add_option("--ring-blocks", o.port.block_count, "TPACKET_V3 ring blocks per worker");
  app.add_option("--ring-block-size", o.port.block_size, "TPACKET_V3 ring block size (bytes)");
  CLI11_PARSE(app, argc, argv);

  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(o.fei_socket).parent_path(), ec);
  auto d = rampart::fwd::Daemon::Start(o);
  if (!d.ok()) {
    std::fprintf(stderr, "rampart-fwd: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  g_daemon = d->get();
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::fprintf(stderr, "rampart-fwd: %d worker(s) on %s, FEI at %s\n", o.workers, o.interface.c_str(), o.fei_socket.c_str());
  (*d)->Run();
  g_daemon = nullptr;
  return 0;
}
