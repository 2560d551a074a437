// store_latency URL [N] [WRITERS] [VALUE_BYTES]: measures Put latency (and throughput) of a store,
// e.g. `store_latency file:/tmp/s 2000 1 200` (fsync per commit) or `store_latency etcd://127.0.0.1:2379`.
// Not a test: numbers for docs/store.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "store/store.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [N] [WRITERS] [VALUE_BYTES]\n", argv[0]);
    return 2;
  }
  int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  int writers = argc > 3 ? std::atoi(argv[3]) : 1;
  int value_bytes = argc > 4 ? std::atoi(argv[4]) : 200;
  auto store = rampart::store::OpenStore(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  std::vector<std::vector<double>> lat(writers);
  std::string value(value_bytes, 'v');
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < n / writers; ++i) {
        auto a = std::chrono::steady_clock::now();
        auto r = (*store)->Put(absl::StrCat("/bench/", w, "/", i % 1000), value);
        auto b = std::chrono::steady_clock::now();
        if (!r.ok()) {
          std::fprintf(stderr, "put: %s\n", std::string(r.status().message()).c_str());
          std::exit(1);
        }
        lat[w].push_back(std::chrono::duration<double, std::micro>(b - a).count());
      }
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("%s: %zu puts, %d writers, %d-byte values: p50 %.0f us, p99 %.0f us, max %.0f us, %.0f puts/s\n",
              (*store)->Describe().c_str(), all.size(), writers, value_bytes, pct(0.5), pct(0.99), all.back(),
              all.size() / secs);
  return 0;
}
