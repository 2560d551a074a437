// A REST API server for the rampartctl end-to-end test (run_rampartctl_api.sh): ApiServer on a
// "mem:" store, TLS files and tokens from DIR (rampartctl certs init), a free port on 127.0.0.1
// written to DIR/port. Serves until stdin closes.
#include <fstream>
#include <iostream>

#include "controller/api/api_server.h"
#include "store/store.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: api_test_server DIR\n";
    return 2;
  }
  std::string dir = argv[1];
  auto st = rampart::store::OpenStore("mem:");
  if (!st.ok()) {
    std::cerr << st.status() << "\n";
    return 1;
  }
  rampart::controller::ApiOptions o;
  o.tokens_file = dir + "/tokens.yaml";
  // A fixed controller status for `rampartctl status`: h1 in sync, h2 with a change in flight,
  // h3 served by another controller.
  o.status_json = [] {
    return std::string(
        R"({"id":"ctl-a","epoch":2,"applied_revision":9,"controllers":["ctl-a","ctl-b"],"hosts":[)"
        R"({"host":"h1","owner":"ctl-a","owned":true,"revision":5,"acked":5,"connected":1,"rows":40},)"
        R"({"host":"h2","owner":"ctl-a","owned":true,"revision":6,"acked":4,"connected":1,"rows":41},)"
        R"({"host":"h3","owner":"ctl-b","owned":false}]})");
  };
  rampart::controller::ApiServer server(st->get(), o);
  if (auto s = server.Start("127.0.0.1", 0, dir + "/server.pem", dir + "/server.key"); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  std::ofstream(dir + "/port.tmp") << server.port() << "\n";
  std::rename((dir + "/port.tmp").c_str(), (dir + "/port").c_str());
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server.Stop();
  return 0;
}
