// Test fixture: a private ovsdb-server + ovs-vswitchd (netdev datapath, bridges br-int and
// br-ref with fail_mode=secure) in a temp dir, ovs-vswitchd inside a network namespace created
// and removed by the fixture (test/ovs/testdata/openflow/ovs_sandbox.sh). Skips without root.
#ifndef RAMPART_TEST_OVS_OPENFLOW_SANDBOX_H_
#define RAMPART_TEST_OVS_OPENFLOW_SANDBOX_H_

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ovs/ofp_flow.h"
#include "ovs/openflow_client.h"

namespace rampart::ofp::testing {

inline const std::string kSandbox =
    std::string(RAMPART_SOURCE_DIR) + "/test/ovs/testdata/openflow/ovs_sandbox.sh";

inline std::string Shell(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  if (rc != nullptr) *rc = WEXITSTATUS(status);
  return out;
}

class OvsSandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespace)";
    if (Shell("command -v ovs-vswitchd").empty()) GTEST_SKIP() << "openvswitch-switch missing";
    char tmpl[] = "/tmp/rampart-of-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ns_ = absl::StrCat("rampart-of-", ::getpid());
    int rc = 0;
    std::string out = Shell(absl::StrCat("timeout 60 ", kSandbox, " start ", dir_, " ", ns_), &rc);
    ASSERT_EQ(rc, 0) << out;
    started_ = true;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      Shell(absl::StrCat("timeout 60 ", kSandbox, " stop ", dir_, " ", ns_));
      Shell(absl::StrCat("rm -rf ", dir_));
    }
  }

  std::string Mgmt(const std::string& br) const { return absl::StrCat(dir_, "/", br, ".mgmt"); }
  std::string Ofctl(const std::string& args) {
    return Shell(absl::StrCat("timeout 20 ovs-ofctl -O OpenFlow13 --timeout=10 ", args));
  }
  std::string Vsctl(const std::string& args) {
    return Shell(absl::StrCat("timeout 20 ovs-vsctl --timeout=10 --db=unix:", dir_, "/db.sock ",
                            args));
  }
  // dump-flows lines without statistics, as a sorted multiset.
  std::multiset<std::string> Dump(const std::string& br) {
    std::multiset<std::string> out;
    for (auto line : absl::StrSplit(Ofctl(absl::StrCat("--no-stats dump-flows unix:", Mgmt(br))),
                                    '\n')) {
      std::string l(line);
      while (!l.empty() && l[0] == ' ') l.erase(0, 1);
      if (!l.empty()) out.insert(l);
    }
    return out;
  }
  // Per-flow durations in seconds, keyed by the flow's cookie (unique in our corpus).
  std::map<std::string, double> Durations(const std::string& br) {
    std::map<std::string, double> out;
    std::regex re(R"(cookie=(0x[0-9a-f]+), duration=([0-9.]+)s)");
    std::string text = Ofctl(absl::StrCat("dump-flows unix:", Mgmt(br)));
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
      out[(*it)[1]] = std::stod((*it)[2]);
    }
    return out;
  }
  // Installs `flows` on br-ref via ovs-ofctl from our text form (replace-flows: exactly these).
  void InstallReference(const std::vector<Flow>& flows) {
    std::string path = dir_ + "/ref.flows";
    std::ofstream f(path);
    for (const Flow& fl : flows) f << fl.ToString() << "\n";
    f.close();
    std::string out = Ofctl(absl::StrCat("replace-flows unix:", Mgmt("br-ref"), " ", path));
    EXPECT_EQ(out, "") << out;
  }
  void ExpectSameAsReference(const std::vector<Flow>& flows) {
    InstallReference(flows);
    auto got = Dump("br-int");
    auto want = Dump("br-ref");
    EXPECT_EQ(got.size(), flows.size());
    EXPECT_EQ(got, want);
    if (got != want) {
      for (const auto& l : got) {
        if (!want.contains(l)) ADD_FAILURE() << "only in br-int (ours): " << l;
      }
      for (const auto& l : want) {
        if (!got.contains(l)) ADD_FAILURE() << "only in br-ref (ovs-ofctl): " << l;
      }
    }
  }

  static OfClientOptions Options() {
    OfClientOptions o;
    o.backoff_initial = absl::Milliseconds(50);
    o.backoff_max = absl::Milliseconds(500);
    o.echo_interval = absl::Seconds(30);  // keep byte counts exact during the test
    o.echo_timeout = absl::Seconds(90);
    return o;
  }

  std::string dir_, ns_;
  bool started_ = false;
};

}  // namespace rampart::ofp::testing

#endif  // RAMPART_TEST_OVS_OPENFLOW_SANDBOX_H_
