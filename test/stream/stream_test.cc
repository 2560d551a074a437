// StreamServer + AgentClient in one process over a unix socket in a temp dir.
#include <gtest/gtest.h>

#include <random>

#include "stream/agent_client.h"
#include "stream/stream_server.h"
#include "test/stream/test_agent.h"

namespace rampart::stream {
namespace {

using testing::Eventually;
using testing::Row;
using testing::TempDir;
using testing::TestAgent;

struct Fixture {
  TempDir dir;
  std::unique_ptr<StreamServer> server;

  explicit Fixture(StreamServerOptions o = {}) {
    if (o.listen.empty()) o.listen = {"unix:" + dir.File("c.sock")};
    auto s = StreamServer::Start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) server = *std::move(s);
  }
  AgentClientOptions Agent(const std::string& host, uint64_t held = 0) const {
    AgentClientOptions o;
    o.host = host;
    o.target = server->addresses()[0];
    o.held_revision = held;
    o.min_backoff = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(200);
    return o;
  }
};

std::set<records::Record> ShareRows(const StreamServer& s, const std::string& host) {
  std::optional<records::RecordSet> share = s.Share(host);
  return share ? share->rows() : std::set<records::Record>{};
}

std::set<records::Record> Rows(const TestAgent& a) { return a.rows().rows(); }

records::Delta Ins(std::vector<records::Record> rows) {
  records::Delta d;
  d.inserts = std::move(rows);
  return d;
}
records::Delta Del(std::vector<records::Record> rows) {
  records::Delta d;
  d.deletes = std::move(rows);
  return d;
}

TEST(Stream, SnapshotThenDeltas) {
  Fixture f;
  ASSERT_NE(f.server, nullptr);
  const uint64_t r1 = f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"}), Row("Datapath", {"A", "ls1", "switch", "7"})}));
  EXPECT_EQ(r1, MakeRevision(1, 1));
  f.server->Publish("h2", Ins({Row("Host", {"h2", "198.19.255.2"})}));

  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(a.WaitRevision(r1));
  EXPECT_EQ(Rows(a), ShareRows(*f.server, "h1"));
  ASSERT_EQ(a.seen().size(), 1u);
  EXPECT_TRUE(a.seen()[0].snapshot);
  EXPECT_EQ(a.seen()[0].rows, 2u);

  const uint64_t r2 = f.server->Publish("h1", Del({Row("Datapath", {"A", "ls1", "switch", "7"})}));
  const uint64_t r3 = f.server->Publish("h1", Ins({Row("VmPort", {"A", "vm1", "ls1", "02:00:00:00:01:01", "A/vm1"})}));
  EXPECT_EQ(r2, r1 + 1);
  EXPECT_EQ(r3, r1 + 2);
  ASSERT_TRUE(a.WaitRevision(r3));
  auto seen = a.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_FALSE(seen[1].snapshot);
  EXPECT_EQ(seen[1].revision, r2);
  EXPECT_FALSE(seen[2].snapshot);
  EXPECT_EQ(Rows(a), ShareRows(*f.server, "h1"));
  EXPECT_EQ(a.rows().inconsistencies(), 0u);
  EXPECT_EQ(a.out_of_order(), 0);
  // h2's rows never reach h1.
  for (const auto& r : Rows(a)) EXPECT_NE(r.values[0], "h2");
}

TEST(Stream, EmptyChangeAssignsNoRevision) {
  Fixture f;
  const uint64_t r1 = f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  EXPECT_EQ(f.server->Publish("h1", records::Delta{}), r1);
  // Inserting a present row or deleting an absent one is no change either.
  EXPECT_EQ(f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})})), r1);
  EXPECT_EQ(f.server->Publish("h1", Del({Row("Host", {"h9", "198.19.255.9"})})), r1);
}

TEST(Stream, AcksAreRecordedAndAwaitable) {
  Fixture f;
  std::mutex mu;
  std::vector<std::pair<std::string, uint64_t>> acks;
  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  const uint64_t r1 = f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  EXPECT_TRUE(f.server->WaitForAck("h1", r1, std::chrono::seconds(10)));
  EXPECT_EQ(f.server->AckedRevision("h1"), r1);
  // An agent that does not ack leaves the acked revision where it is.
  TestAgent quiet(f.Agent("h2"), /*auto_ack=*/false);
  ASSERT_TRUE(quiet.Start().ok());
  const uint64_t q1 = f.server->Publish("h2", Ins({Row("Host", {"h2", "198.19.255.2"})}));
  ASSERT_TRUE(quiet.WaitRevision(q1));
  EXPECT_FALSE(f.server->WaitForAck("h2", q1, std::chrono::milliseconds(100)));
  // Acking a revision never sent is ignored.
  quiet.client().Ack(q1 + 5);
  EXPECT_TRUE(Eventually([&] { return f.server->counters().stale_acks >= 1; }));
  EXPECT_LT(f.server->AckedRevision("h2"), q1);
  quiet.client().Ack(q1);
  EXPECT_TRUE(f.server->WaitForAck("h2", q1, std::chrono::seconds(10)));
}

TEST(Stream, OnAckCallbackSeesEveryAdvance) {
  std::mutex mu;
  std::vector<uint64_t> acked;
  StreamServerOptions o;
  o.on_ack = [&](const std::string& host, uint64_t rev) {
    std::lock_guard<std::mutex> l(mu);
    if (host == "h1") acked.push_back(rev);
  };
  Fixture f(std::move(o));
  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) last = f.server->Publish("h1", Ins({Row("Flow", {"A", "ls1", std::to_string(i)})}));
  ASSERT_TRUE(f.server->WaitForAck("h1", last, std::chrono::seconds(10)));
  // The callback runs after the acked revision is recorded, outside the server's lock.
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return !acked.empty() && acked.back() == last;
  }));
  std::lock_guard<std::mutex> l(mu);
  EXPECT_TRUE(std::is_sorted(acked.begin(), acked.end()));
}

TEST(Stream, ResumeAfterDisconnectSendsOnlyMissingDeltas) {
  Fixture f;
  uint64_t rev = 0;
  for (int i = 0; i < 3; ++i) rev = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", std::to_string(i)})}));
  records::RecordSet held;
  {
    TestAgent a(f.Agent("h1"));
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(a.WaitRevision(rev));
    held = a.rows();
    a.Stop();
  }
  uint64_t later = rev;
  for (int i = 3; i < 7; ++i) later = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", std::to_string(i)})}));
  later = f.server->Publish("h1", Del({Row("Flow", {"A", "x", "0"})}));
  const auto resumes_before = f.server->counters().resumes;

  TestAgent b(f.Agent("h1", rev));
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(b.WaitRevision(later));
  auto seen = b.seen();
  ASSERT_EQ(seen.size(), 5u);
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_FALSE(seen[i].snapshot);
    EXPECT_EQ(seen[i].revision, rev + 1 + i);
  }
  EXPECT_EQ(f.server->counters().resumes, resumes_before + 1);
  // The held rows plus the deltas are the server's share (b started from the held revision
  // with an empty set, so apply its deltas to what the first agent held).
  records::RecordSet merged = held;
  for (const auto& r : Rows(b)) merged.Insert(r);
  merged.Erase(Row("Flow", {"A", "x", "0"}));
  EXPECT_EQ(merged.rows(), ShareRows(*f.server, "h1"));
}

TEST(Stream, ClientReconnectsAndResumesOnItsOwn) {
  TempDir dir;
  const std::string sock = "unix:" + dir.File("c.sock");
  StreamServerOptions o;
  o.listen = {sock};
  auto s1 = StreamServer::Start(o);
  ASSERT_TRUE(s1.ok());
  uint64_t rev = (*s1)->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  AgentClientOptions ao;
  ao.host = "h1";
  ao.target = sock;
  ao.min_backoff = std::chrono::milliseconds(20);
  ao.max_backoff = std::chrono::milliseconds(100);
  TestAgent a(ao);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(a.WaitRevision(rev));
  EXPECT_TRUE(Eventually([&] { return a.client().connected(); }));
  // The controller goes away: the agent notices and keeps its rows.
  (*s1)->Shutdown();
  s1->reset();
  EXPECT_TRUE(Eventually([&] { return !a.client().connected(); }));
  EXPECT_EQ(Rows(a).size(), 1u);
  // A new controller of a later epoch: the agent reconnects by itself and gets a snapshot with
  // a higher revision.
  o.epoch = 2;
  auto s2 = StreamServer::Start(o);
  ASSERT_TRUE(s2.ok());
  const uint64_t rev2 = (*s2)->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"}), Row("Host", {"h2", "198.19.255.2"})}));
  EXPECT_GT(rev2, rev);
  ASSERT_TRUE(a.WaitRevision(rev2));
  EXPECT_TRUE(a.seen().back().snapshot);
  EXPECT_EQ(Rows(a), ShareRows(**s2, "h1"));
  EXPECT_GE(a.client().counters().streams_established, 2u);
}

TEST(Stream, TooOldResumeGetsSnapshot) {
  StreamServerOptions o;
  o.history_deltas = 2;
  Fixture f(std::move(o));
  uint64_t rev = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", "a"})}));
  for (int i = 0; i < 4; ++i) f.server->Publish("h1", Ins({Row("Flow", {"A", "x", std::to_string(i)})}));
  const uint64_t now = f.server->Revision("h1");
  TestAgent b(f.Agent("h1", rev));
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(b.WaitRevision(now));
  ASSERT_EQ(b.seen().size(), 1u);
  EXPECT_TRUE(b.seen()[0].snapshot);
  EXPECT_EQ(Rows(b), ShareRows(*f.server, "h1"));
}

TEST(Stream, RevisionOfAnotherEpochOrFromTheFutureGetsSnapshot) {
  StreamServerOptions o;
  o.epoch = 3;
  Fixture f(std::move(o));
  const uint64_t rev = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", "a"})}));
  EXPECT_EQ(RevisionEpoch(rev), 3u);
  for (uint64_t held : {MakeRevision(2, 1), MakeRevision(3, 9), MakeRevision(4, 1)}) {
    TestAgent b(f.Agent("h1", held));
    ASSERT_TRUE(b.Start().ok());
    ASSERT_TRUE(Eventually([&] { return !b.seen().empty(); }));
    EXPECT_TRUE(b.seen()[0].snapshot) << held;
    EXPECT_EQ(b.seen()[0].revision, rev);
    EXPECT_EQ(Rows(b), ShareRows(*f.server, "h1"));
  }
}

TEST(Stream, ResetSendsSnapshotToConnectedAgent) {
  Fixture f;
  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  const uint64_t r1 = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", "a"})}));
  ASSERT_TRUE(a.WaitRevision(r1));
  records::RecordSet fresh;
  fresh.Insert(Row("Flow", {"A", "x", "b"}));
  const uint64_t r2 = f.server->Reset("h1", fresh);
  EXPECT_GT(r2, r1);
  ASSERT_TRUE(a.WaitRevision(r2));
  EXPECT_TRUE(a.seen().back().snapshot);
  EXPECT_EQ(Rows(a), fresh.rows());
}

TEST(Stream, LargeSnapshotArrivesInChunksAsOne) {
  Fixture f;
  records::Delta d;
  for (int i = 0; i < 10000; ++i) d.inserts.push_back(Row("Flow", {"A", "ls1", "ls_in", std::to_string(i), "ip", "drop"}));
  const uint64_t rev = f.server->Publish("h1", d);
  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(a.WaitRevision(rev));
  ASSERT_EQ(a.seen().size(), 1u);
  EXPECT_EQ(a.seen()[0].rows, 10000u);
  EXPECT_EQ(Rows(a), ShareRows(*f.server, "h1"));
}

TEST(Stream, NotReadyServerHoldsUnknownHostsUntilReady) {
  StreamServerOptions o;
  o.ready = false;
  Fixture f(std::move(o));
  TestAgent a(f.Agent("h1"));
  ASSERT_TRUE(a.Start().ok());
  TestAgent b(f.Agent("h2"));
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(Eventually([&] { return f.server->counters().registrations >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(a.seen().empty());
  // A published host is served at once; the others when the server is ready.
  const uint64_t r1 = f.server->Publish("h1", Ins({Row("Flow", {"A", "x", "a"})}));
  ASSERT_TRUE(a.WaitRevision(r1));
  EXPECT_TRUE(b.seen().empty());
  f.server->SetReady();
  ASSERT_TRUE(Eventually([&] { return !b.seen().empty(); }));
  EXPECT_TRUE(b.seen()[0].snapshot);
  EXPECT_EQ(b.seen()[0].rows, 0u);
}

TEST(Stream, RedirectsToTheOwner) {
  TempDir dir;
  StreamServerOptions owner_opts;
  owner_opts.listen = {"unix:" + dir.File("owner.sock")};
  auto owner = StreamServer::Start(owner_opts);
  ASSERT_TRUE(owner.ok());
  const uint64_t rev = (*owner)->Publish("h1", Ins({Row("Flow", {"A", "x", "a"})}));
  StreamServerOptions other_opts;
  other_opts.listen = {"unix:" + dir.File("other.sock")};
  other_opts.owner_address = [&](const std::string& host) -> std::optional<std::string> {
    if (host == "h1") return "unix:" + dir.File("owner.sock");
    return std::nullopt;
  };
  auto other = StreamServer::Start(other_opts);
  ASSERT_TRUE(other.ok());
  AgentClientOptions ao;
  ao.host = "h1";
  ao.target = "unix:" + dir.File("other.sock");
  TestAgent a(ao);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(a.WaitRevision(rev));
  EXPECT_EQ(a.client().current_target(), "unix:" + dir.File("owner.sock"));
  EXPECT_EQ(a.client().counters().redirects, 1u);
  EXPECT_EQ((*other)->counters().redirects, 1u);
  // Dropping the host at the owner sends the agent elsewhere (here: back to `other`, which
  // redirects it again to the owner, which serves it from scratch).
  (*owner)->Drop("h1", "unix:" + dir.File("other.sock"));
  EXPECT_TRUE(Eventually([&] { return a.client().counters().redirects >= 3; }));
}

TEST(Stream, ManyClientsEachGetTheirOwnShare) {
  Fixture f;
  constexpr int kHosts = 40;
  for (int h = 0; h < kHosts; ++h) {
    f.server->Publish("h" + std::to_string(h), Ins({Row("Host", {"h" + std::to_string(h), "198.19.255." + std::to_string(h + 1)})}));
  }
  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int h = 0; h < kHosts; ++h) {
    agents.push_back(std::make_unique<TestAgent>(f.Agent("h" + std::to_string(h))));
    ASSERT_TRUE(agents.back()->Start().ok());
  }
  for (int round = 0; round < 5; ++round) {
    for (int h = 0; h < kHosts; ++h) {
      f.server->Publish("h" + std::to_string(h), Ins({Row("Flow", {"h" + std::to_string(h), std::to_string(round)})}));
    }
  }
  for (int h = 0; h < kHosts; ++h) {
    const std::string host = "h" + std::to_string(h);
    ASSERT_TRUE(f.server->WaitForAck(host, f.server->Revision(host), std::chrono::seconds(20))) << host;
    EXPECT_EQ(Rows(*agents[h]), ShareRows(*f.server, host)) << host;
  }
  auto st = f.server->Status();
  ASSERT_EQ(st.size(), static_cast<size_t>(kHosts));
  for (const auto& s : st) {
    EXPECT_EQ(s.connected, 1) << s.host;
    EXPECT_EQ(s.acked, s.revision) << s.host;
  }
}

// Random publishes, resets and agent restarts: whatever happens, an agent that has caught up
// holds exactly the server's share, and never sees an out-of-order delta.
TEST(Stream, RandomChangesAndRestartsConverge) {
  StreamServerOptions o;
  o.history_deltas = 8;
  Fixture f(std::move(o));
  std::mt19937 rng(7);
  std::set<records::Record> reference;  // what the share must be
  std::unique_ptr<TestAgent> agent;
  uint64_t held = 0;
  for (int step = 0; step < 300; ++step) {
    const int what = rng() % 20;
    if (what == 0) {
      if (agent) {
        held = agent->client().held_revision();
        agent.reset();
      } else {
        agent = std::make_unique<TestAgent>(f.Agent("h1", held));
        ASSERT_TRUE(agent->Start().ok());
      }
    } else if (what == 1) {
      records::RecordSet rs;
      for (const auto& r : reference) {
        if (rng() % 2) rs.Insert(r);
      }
      reference = rs.rows();
      f.server->Reset("h1", rs);
    } else {
      records::Delta d;
      for (int k = rng() % 4; k > 0; --k) {
        records::Record r = Row("Flow", {"A", std::to_string(rng() % 40)});
        if (reference.count(r)) {
          d.deletes.push_back(r);
        } else {
          d.inserts.push_back(r);
        }
      }
      // A row both deleted and inserted in one delta is legal; apply like the server does.
      for (const auto& r : d.deletes) reference.erase(r);
      for (const auto& r : d.inserts) reference.insert(r);
      f.server->Publish("h1", d);
    }
    if (step % 50 == 0 && agent) {
      ASSERT_TRUE(agent->WaitRevision(f.server->Revision("h1")));
    }
  }
  if (!agent) {
    agent = std::make_unique<TestAgent>(f.Agent("h1", held));
    ASSERT_TRUE(agent->Start().ok());
  }
  ASSERT_TRUE(agent->WaitRevision(f.server->Revision("h1")));
  EXPECT_EQ(Rows(*agent), reference);
  EXPECT_EQ(ShareRows(*f.server, "h1"), reference);
  EXPECT_EQ(agent->out_of_order(), 0);
  EXPECT_EQ(agent->rows().inconsistencies(), 0u);
}

TEST(Stream, BadOptionsAreNamedErrors) {
  AgentClient c(AgentClientOptions{});
  auto st = c.Start([](const records::Delta&) {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("host"), std::string::npos);
  AgentClientOptions o;
  o.host = "h1";
  o.target = "unix:/nonexistent";
  o.tls.ca = "/nonexistent/ca.pem";
  AgentClient c2(o);
  st = c2.Start([](const records::Delta&) {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tls.ca"), std::string::npos) << st;
  EXPECT_NE(st.message().find("/nonexistent/ca.pem"), std::string::npos) << st;
  StreamServerOptions so;
  EXPECT_FALSE(StreamServer::Start(so).ok());
}

// ---- TLS -------------------------------------------------------------------------------------

struct TlsFixture {
  TempDir dir;
  bool ok = false;
  std::unique_ptr<StreamServer> server;
  TlsFixture() {
    ok = testing::MakeCa(dir.path()) && testing::MakeCert(dir.path(), "localhost") &&
         testing::MakeCert(dir.path(), "h1") && testing::MakeCert(dir.path(), "h2");
    if (!ok) return;
    StreamServerOptions o;
    o.listen = {"unix:" + dir.File("c.sock")};
    o.tls = {dir.File("ca.pem"), dir.File("localhost.pem"), dir.File("localhost.key")};
    auto s = StreamServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) server = *std::move(s);
  }
  AgentClientOptions Agent(const std::string& host, const std::string& cert_name) {
    AgentClientOptions o;
    o.host = host;
    o.target = "unix:" + dir.File("c.sock");
    o.tls = {dir.File("ca.pem"), dir.File(cert_name + ".pem"), dir.File(cert_name + ".key")};
    o.min_backoff = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(100);
    return o;
  }
};

TEST(StreamTls, AgentWithItsOwnCertificateIsServed) {
  TlsFixture f;
  ASSERT_TRUE(f.ok) << "openssl failed";
  ASSERT_NE(f.server, nullptr);
  const uint64_t rev = f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  TestAgent a(f.Agent("h1", "h1"));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(a.WaitRevision(rev));
  EXPECT_TRUE(f.server->WaitForAck("h1", rev, std::chrono::seconds(10)));
}

TEST(StreamTls, CertificateOfAnotherHostIsRefused) {
  TlsFixture f;
  ASSERT_TRUE(f.ok) << "openssl failed";
  ASSERT_NE(f.server, nullptr);
  f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  TestAgent a(f.Agent("h1", "h2"));  // h2's certificate, registering as h1
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(Eventually([&] { return f.server->counters().refused_identity >= 1; }));
  ASSERT_TRUE(Eventually([&] { return a.client().last_error().code() == absl::StatusCode::kPermissionDenied; }));
  EXPECT_NE(a.client().last_error().message().find("h2"), std::string::npos) << a.client().last_error();
  EXPECT_TRUE(a.seen().empty());
  EXPECT_EQ(f.server->AckedRevision("h1"), 0u);
}

TEST(StreamTls, PlainClientCannotTalkToTlsServer) {
  TlsFixture f;
  ASSERT_TRUE(f.ok) << "openssl failed";
  ASSERT_NE(f.server, nullptr);
  f.server->Publish("h1", Ins({Row("Host", {"h1", "198.19.255.1"})}));
  AgentClientOptions o = f.Agent("h1", "h1");
  o.tls = {};
  TestAgent a(o);
  ASSERT_TRUE(a.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(a.seen().empty());
  EXPECT_FALSE(a.client().connected());
  EXPECT_EQ(f.server->counters().registrations, 0u);
}

}  // namespace
}  // namespace rampart::stream
