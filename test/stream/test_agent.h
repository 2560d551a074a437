// Test helpers for the stream: a recording agent (AgentClient + the rows it holds) and
// certificates made with the openssl command line.
#ifndef RAMPART_TEST_STREAM_TEST_AGENT_H_
#define RAMPART_TEST_STREAM_TEST_AGENT_H_

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "records/records.h"
#include "stream/agent_client.h"

namespace rampart::stream::testing {

// A temporary directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rampart-stream-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Applies what it receives to a RecordSet (as an agent would), acks each revision (unless
// auto_ack is off), and records the messages.
class TestAgent {
 public:
  struct Seen {
    uint64_t revision;
    bool snapshot;
    size_t rows;  // snapshot rows, or deletes + inserts
  };

  // Called on the client's thread after each message is applied, with the rows held then
  // (before the ack; blocking here holds the stream back, as a slow agent would).
  using OnApplied = std::function<void(const records::Delta& d, const records::RecordSet& rows)>;

  explicit TestAgent(AgentClientOptions o, bool auto_ack = true, OnApplied on_applied = nullptr)
      : client_(std::move(o)), auto_ack_(auto_ack), on_applied_(std::move(on_applied)) {}
  ~TestAgent() { client_.Stop(); }

  absl::Status Start() {
    return client_.Start([this](const records::Delta& d) {
      records::RecordSet after;
      {
        std::lock_guard<std::mutex> l(mu_);
        if (!d.snapshot && d.revision != rows_.revision() + 1) ++out_of_order_;
        rows_.Apply(d);
        seen_.push_back({d.revision, d.snapshot, d.snapshot ? d.inserts.size() : d.deletes.size() + d.inserts.size()});
        if (on_applied_) after = rows_;
      }
      if (on_applied_) on_applied_(d, after);
      cv_.notify_all();
      if (auto_ack_) client_.Ack(d.revision);
    });
  }
  void Stop() { client_.Stop(); }
  // Before Start: the rows (and revision) an agent kept from an earlier stream.
  void Seed(const records::RecordSet& rows) {
    records::Delta d;
    d.snapshot = true;
    d.revision = rows.revision();
    d.inserts.assign(rows.rows().begin(), rows.rows().end());
    std::lock_guard<std::mutex> l(mu_);
    rows_.Apply(d);
  }

  // Waits until the agent holds `revision` (true) or 10 s pass.
  bool WaitRevision(uint64_t revision, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return rows_.revision() >= revision; });
  }
  records::RecordSet rows() const {
    std::lock_guard<std::mutex> l(mu_);
    return rows_;
  }
  std::vector<Seen> seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  void ClearSeen() {
    std::lock_guard<std::mutex> l(mu_);
    seen_.clear();
  }
  int out_of_order() const {
    std::lock_guard<std::mutex> l(mu_);
    return out_of_order_;
  }
  AgentClient& client() { return client_; }

 private:
  AgentClient client_;
  bool auto_ack_;
  OnApplied on_applied_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  records::RecordSet rows_;
  std::vector<Seen> seen_;
  int out_of_order_ = 0;
};

// Polls `pred` until it holds or the timeout passes.
inline bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// A CA plus certificates signed by it, made with the openssl command line in `dir`:
// <name>.pem / <name>.key with CN = name (and SAN DNS:name). Returns false if openssl failed.
inline bool MakeCa(const std::string& dir) {
  const std::string cmd = "cd '" + dir +
                          "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                          "-keyout ca.key -out ca.pem -days 2 -subj /CN=rampart-test-ca >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}
inline bool MakeCert(const std::string& dir, const std::string& name) {
  const std::string cmd =
      "cd '" + dir + "' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" + name +
      ".key' -out '" + name + ".csr' -subj '/CN=" + name + "' >/dev/null 2>&1 && printf 'subjectAltName=DNS:" + name +
      "\\n' > '" + name + ".ext' && openssl x509 -req -in '" + name + ".csr' -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out '" +
      name + ".pem' -extfile '" + name + ".ext' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

inline records::Record Row(const std::string& table, std::vector<std::string> values) {
  return records::Record{table, std::move(values)};
}

}  // namespace rampart::stream::testing

#endif  // RAMPART_TEST_STREAM_TEST_AGENT_H_
