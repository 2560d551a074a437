// rampart-controller's Controller on an in-process store: northbound applies (through the REST
// API's request handler) reach the right hosts' agents; a restart on the same file store resumes
// the agents consistently; two controllers on one store share the hosts and take over each
// other's when one stops.
#include "controller/server/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <fstream>
#include <sstream>
#include <thread>

#include "controller/api/api_server.h"
#include "controller/logical_stage.h"
#include "controller/nb_spec.h"
#include "controller/physical/physical_stage.h"
#include "nlohmann/json.hpp"
#include "store/store.h"
#include "test/stream/test_agent.h"

namespace rampart::controller {
namespace {

using stream::testing::Eventually;
using stream::testing::TempDir;
using stream::testing::TestAgent;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SeedSpec() { return ReadFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/seed-attached.yaml"); }

ApiOptions AdminApi() {
  ApiOptions o;
  o.tokens.push_back({"test-token", "admin", "datacenter-admin", ""});
  return o;
}

// An API server on a free loopback port (its tokens are loaded by Start); requests go straight
// to its handler.
std::unique_ptr<ApiServer> StartApi(store::Store* store) {
  auto api = std::make_unique<ApiServer>(store, AdminApi());
  absl::Status st = api->Start("127.0.0.1", 0);
  EXPECT_TRUE(st.ok()) << st;
  return api;
}

int64_t RevisionOf(const ApiResponse& resp) {
  auto j = nlohmann::json::parse(resp.body, nullptr, false);
  if (j.is_discarded() || !j.contains("revision")) return -1;
  return j["revision"].get<int64_t>();
}

// Applies YAML through the API's request handler (as `rampartctl apply -f` would); returns the
// store revision of the change.
int64_t Apply(ApiServer& api, const std::string& yaml) {
  ApiRequest r;
  r.method = "POST";
  r.path = "/v1/apply";
  r.authorization = "Bearer test-token";
  r.files.push_back({"t.yaml", yaml});
  ApiResponse resp = api.Handle(r);
  EXPECT_EQ(resp.status, 200) << resp.body;
  return RevisionOf(resp);
}

int64_t Delete(ApiServer& api, const std::string& path) {
  ApiRequest r;
  r.method = "DELETE";
  r.path = "/v1/objects/" + path;
  r.authorization = "Bearer test-token";
  ApiResponse resp = api.Handle(r);
  EXPECT_EQ(resp.status, 200) << resp.body;
  return RevisionOf(resp);
}

// The host's share computed from scratch (a fresh logical + physical stage on the whole spec).
std::set<records::Record> Reference(const std::string& yaml, const std::string& host) {
  auto spec = ParseNbSpec(yaml, "t.yaml");
  EXPECT_TRUE(spec.ok()) << spec.status();
  auto prog = CompileLogicalProgram();
  EXPECT_TRUE(prog.ok());
  nlog::Engine engine(*std::move(prog));
  PhysicalStage physical(nullptr);
  if (!engine.initial_delta().empty()) {
    EXPECT_TRUE(physical.Apply(engine, engine.initial_delta()).ok());
  }
  auto d = engine.Apply(DiffRows({}, SpecToRows(*spec)));
  EXPECT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(physical.Apply(engine, *d).ok());
  return physical.Snapshot(host).rows();
}

stream::AgentClientOptions AgentOptions(const std::string& host, const std::string& target) {
  stream::AgentClientOptions o;
  o.host = host;
  o.target = target;
  o.min_backoff = std::chrono::milliseconds(20);
  o.max_backoff = std::chrono::milliseconds(200);
  return o;
}

// Which way the stream server gets snapshots (ControllerOptions::stream_keeps_shares): the
// parameterized tests set it for the controllers they start.
bool g_keep_shares = false;
// Source mode only: snapshots in the wire form (true, the default) or as records (false).
bool g_encoded_snapshots = true;

ControllerOptions Options(const TempDir& dir, const std::string& id) {
  ControllerOptions o;
  o.stream_keeps_shares = g_keep_shares;
  o.encoded_snapshots = g_encoded_snapshots;
  o.agents = {"unix:" + dir.File(id + ".sock")};
  o.id = id;
  o.lease_ttl_seconds = 2;
  o.log = [](const std::string&) {};
  return o;
}

std::set<records::Record> Rows(const TestAgent& a) { return a.rows().rows(); }

std::vector<std::string> Column(const std::set<records::Record>& rows, const std::string& table, size_t col) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    if (r.table == table && col < r.values.size()) out.push_back(r.values[col]);
  }
  return out;
}

// Waits until the agent holds what the controller's stream server has for its host.
bool Converged(Controller& c, TestAgent& a, const std::string& host) {
  return Eventually([&] {
    auto share = c.streams().Share(host);
    return share.has_value() && a.client().held_revision() == c.streams().Revision(host) && Rows(a) == share->rows() &&
           c.streams().AckedRevision(host) == c.streams().Revision(host);
  });
}

// Runs a test with the stream server snapshotting from the physical stage (0, the default: encoded
// snapshots, which Converged() compares with the records of StreamServer::Share), keeping every
// host's share itself (1), and snapshotting from the physical stage as records (2).
class ControllerModes : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    g_keep_shares = GetParam() == 1;
    g_encoded_snapshots = GetParam() != 2;
  }
  void TearDown() override {
    g_keep_shares = false;
    g_encoded_snapshots = true;
  }
};
INSTANTIATE_TEST_SUITE_P(All, ControllerModes, ::testing::Values(0, 1, 2), [](const ::testing::TestParamInfo<int>& i) {
  return i.param == 0 ? "Source" : i.param == 1 ? "KeptShares" : "SourceRecords";
});

TEST_P(ControllerModes, ApplyReachesTheRightHostsAgents) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok()) << store.status();
  auto c = Controller::Start(store->get(), Options(dir, "c1"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  const std::string addr = (*c)->agent_addresses()[0];
  TestAgent h1(AgentOptions("h1", addr));
  TestAgent h2(AgentOptions("h2", addr));
  ASSERT_TRUE(h1.Start().ok());
  ASSERT_TRUE(h2.Start().ok());
  // Before any object exists the agents get an empty snapshot.
  ASSERT_TRUE(Eventually([&] { return !h1.seen().empty() && !h2.seen().empty(); }));
  EXPECT_TRUE(h1.seen()[0].snapshot);
  EXPECT_EQ(h1.seen()[0].rows, 0u);

  const std::string spec = SeedSpec();
  ASSERT_FALSE(spec.empty());
  int64_t rev = Apply(api, spec);
  ASSERT_GT(rev, 0);
  ASSERT_TRUE((*c)->WaitApplied(rev, std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  ASSERT_TRUE(Converged(**c, h2, "h2"));
  // Exactly the share a from-scratch computation gives each host.
  EXPECT_EQ(Rows(h1), Reference(spec, "h1"));
  EXPECT_EQ(Rows(h2), Reference(spec, "h2"));
  // Each host has its own VM ports only.
  EXPECT_EQ(Column(Rows(h1), "VmPort", 1), (std::vector<std::string>{"vm1", "vm3"}));
  EXPECT_EQ(Column(Rows(h2), "VmPort", 1), (std::vector<std::string>{"vm2", "vm4"}));
  // (The first apply is bigger than half the share it creates, so it may arrive as a snapshot;
  // small changes after it arrive as deltas, checked below.)

  // A rule change reaches the hosts as a delta with the new rule text.
  std::string changed = spec;
  const size_t at = changed.find("destination_ports: [80, 5201]");
  ASSERT_NE(at, std::string::npos);
  changed.replace(at, std::strlen("destination_ports: [80, 5201]"), "destination_ports: [443]");
  const auto seen_before = h1.seen().size();
  rev = Apply(api, changed);
  ASSERT_TRUE((*c)->WaitApplied(rev, std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  ASSERT_GT(h1.seen().size(), seen_before);
  EXPECT_FALSE(h1.seen().back().snapshot);
  bool found = false;
  for (const auto& t : Column(Rows(h1), "FwRule", 4)) found |= t.find("dport=443") != std::string::npos;
  EXPECT_TRUE(found);

  // Deleting a VM port removes its rows from its host.
  rev = Delete(api, "Port/A/vm3");
  ASSERT_TRUE((*c)->WaitApplied(rev, std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  EXPECT_EQ(Column(Rows(h1), "VmPort", 1), (std::vector<std::string>{"vm1"}));
  for (size_t i = seen_before; i < h1.seen().size(); ++i) EXPECT_FALSE(h1.seen()[i].snapshot) << i;
  ASSERT_TRUE(Converged(**c, h2, "h2"));  // h2 tunnels to vm3: its flows changed too

  ControllerStatus st = (*c)->Status();
  EXPECT_EQ(st.controllers, (std::vector<std::string>{"c1"}));
  EXPECT_EQ(st.apply_errors, 0u);
  for (const auto& h : st.hosts) {
    EXPECT_TRUE(h.owned) << h.host;
    EXPECT_EQ(h.acked, h.revision) << h.host;
  }
  EXPECT_EQ(h1.rows().inconsistencies(), 0u);
  EXPECT_EQ(h1.out_of_order(), 0);
}

TEST_P(ControllerModes, UnchangedReapplyPublishesNothing) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  auto c = Controller::Start(store->get(), Options(dir, "c1"));
  ASSERT_TRUE(c.ok()) << c.status();
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  TestAgent h1(AgentOptions("h1", (*c)->agent_addresses()[0]));
  ASSERT_TRUE(h1.Start().ok());
  ASSERT_TRUE((*c)->WaitApplied(Apply(api, SeedSpec()), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  const uint64_t rev = (*c)->streams().Revision("h1");
  // Touch an object without changing it (a no-op put of the same value).
  auto kv = (*store)->Get("/rampart/nb/Port/A/vm1");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  auto put = (*store)->Put((*kv)->key, (*kv)->value);
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE((*c)->WaitApplied(*put, std::chrono::seconds(20)));
  EXPECT_EQ((*c)->streams().Revision("h1"), rev);
}

TEST_P(ControllerModes, BadStoredObjectIsReportedAndIgnored) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  std::vector<std::string> logs;
  std::mutex mu;
  ControllerOptions o = Options(dir, "c1");
  o.log = [&](const std::string& s) {
    std::lock_guard<std::mutex> l(mu);
    logs.push_back(s);
  };
  auto c = Controller::Start(store->get(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto put = (*store)->Put("/rampart/nb/Port/A/bad", "{not json");
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE((*c)->WaitApplied(*put, std::chrono::seconds(20)));
  EXPECT_EQ((*c)->Status().apply_errors, 1u);
  std::lock_guard<std::mutex> l(mu);
  bool named = false;
  for (const auto& s : logs) named |= s.find("/rampart/nb/Port/A/bad") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST_P(ControllerModes, RestartOnTheSameFileStoreResumesAgentsConsistently) {
  TempDir dir;
  const std::string url = "file:" + dir.File("store");
  const std::string spec = SeedSpec();
  std::set<records::Record> before_h1, before_h2;
  uint64_t rev_before = 0;
  std::unique_ptr<TestAgent> h1, h2;
  {
    auto store = store::OpenStore(url);
    ASSERT_TRUE(store.ok()) << store.status();
    auto c = Controller::Start(store->get(), Options(dir, "c1"));
    ASSERT_TRUE(c.ok()) << c.status();
    auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
    ASSERT_TRUE((*c)->WaitApplied(Apply(api, spec), std::chrono::seconds(20)));
    h1 = std::make_unique<TestAgent>(AgentOptions("h1", (*c)->agent_addresses()[0]));
    h2 = std::make_unique<TestAgent>(AgentOptions("h2", (*c)->agent_addresses()[0]));
    ASSERT_TRUE(h1->Start().ok());
    ASSERT_TRUE(h2->Start().ok());
    ASSERT_TRUE(Converged(**c, *h1, "h1"));
    ASSERT_TRUE(Converged(**c, *h2, "h2"));
    before_h1 = Rows(*h1);
    before_h2 = Rows(*h2);
    rev_before = h1->client().held_revision();
    (*c)->Stop();
  }
  // The agents keep their rows while the controller is away.
  EXPECT_TRUE(Eventually([&] { return !h1->client().connected(); }));
  EXPECT_EQ(Rows(*h1), before_h1);
  // A new controller process on the same store: same numbers (tags, keys) for the same spec,
  // and the agents converge on it by themselves, at a higher revision.
  auto store = store::OpenStore(url);
  ASSERT_TRUE(store.ok()) << store.status();
  auto c = Controller::Start(store->get(), Options(dir, "c1"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(Converged(**c, *h1, "h1"));
  ASSERT_TRUE(Converged(**c, *h2, "h2"));
  EXPECT_GT(h1->client().held_revision(), rev_before);
  EXPECT_EQ(Rows(*h1), before_h1);
  EXPECT_EQ(Rows(*h2), before_h2);
  // And later changes flow as deltas again.
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  ASSERT_TRUE((*c)->WaitApplied(Delete(api, "Port/A/vm3"), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, *h1, "h1"));
  EXPECT_EQ(Column(Rows(*h1), "VmPort", 1), (std::vector<std::string>{"vm1"}));
  EXPECT_FALSE(h1->seen().back().snapshot);
  EXPECT_EQ(h1->out_of_order(), 0);
}

// The stream server keeps no rows: agents that register (or fall behind a tiny history) while
// rule changes keep arriving get their snapshot from the physical stage, at a revision the later
// deltas continue, and end up with exactly what a from-scratch computation gives.
TEST(Controller, SnapshotsComeFromThePhysicalStageWhileChangesArrive) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  ControllerOptions o = Options(dir, "c1");
  o.history_deltas = 2;
  auto c = Controller::Start(store->get(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE((*c)->streams().source_mode());
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  std::string spec = SeedSpec();
  ASSERT_TRUE((*c)->WaitApplied(Apply(api, spec), std::chrono::seconds(20)));
  const std::string addr = (*c)->agent_addresses()[0];
  const std::string from = "destination_ports: [80, 5201]";
  ASSERT_NE(spec.find(from), std::string::npos);
  // Rule changes in the background: the port list of one rule, 20 times.
  std::vector<std::string> specs;
  for (int i = 0; i < 20; ++i) {
    std::string changed = spec;
    changed.replace(changed.find(from), from.size(), "destination_ports: [" + std::to_string(8000 + i) + "]");
    specs.push_back(changed);
  }
  std::atomic<int64_t> last_rev{0};
  std::thread changer([&] {
    for (const std::string& sp : specs) {
      last_rev = Apply(api, sp);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int round = 0; round < 4; ++round) {
    for (const char* h : {"h1", "h2"}) {
      agents.push_back(std::make_unique<TestAgent>(AgentOptions(h, addr)));
      ASSERT_TRUE(agents.back()->Start().ok());
    }
    // Each has its first snapshot (one source call each) before it goes.
    for (const auto& a : agents) ASSERT_TRUE(Eventually([&] { return !a->seen().empty(); }));
    EXPECT_TRUE(agents[0]->seen()[0].snapshot);
    if (round < 3) agents.clear();  // the next ones register from scratch
  }
  changer.join();
  ASSERT_TRUE((*c)->WaitApplied(last_rev.load(), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, *agents[0], "h1"));
  ASSERT_TRUE(Converged(**c, *agents[1], "h2"));
  EXPECT_EQ(Rows(*agents[0]), Reference(specs.back(), "h1"));
  EXPECT_EQ(Rows(*agents[1]), Reference(specs.back(), "h2"));
  for (const auto& a : agents) {
    EXPECT_EQ(a->out_of_order(), 0);
    EXPECT_EQ(a->rows().inconsistencies(), 0u);
    EXPECT_EQ(a->client().counters().protocol_errors, 0u);
  }
  ControllerStatus st = (*c)->Status();
  EXPECT_GE(st.stream.source_calls, 8u);  // at least one snapshot per registration
  for (const auto& h : st.hosts) {
    if (h.host == "h1") {
      EXPECT_EQ(h.rows, Reference(specs.back(), "h1").size());
    }
  }
}

// Every batch at or above snapshot_batch_rows reaches the hosts as snapshots (as the first
// computation of a whole deployment does at the default): still exactly the physical stage's
// shares, at growing revisions, and only the changed hosts get one.
TEST(Controller, LargeBatchesReachTheHostsAsSnapshots) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  ControllerOptions o = Options(dir, "c1");
  o.snapshot_batch_rows = 1;  // every change
  auto c = Controller::Start(store->get(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  const std::string addr = (*c)->agent_addresses()[0];
  TestAgent h1(AgentOptions("h1", addr));
  TestAgent h2(AgentOptions("h2", addr));
  TestAgent h3(AgentOptions("h3", addr));  // no VM: never changes
  ASSERT_TRUE(h1.Start().ok());
  ASSERT_TRUE(h2.Start().ok());
  ASSERT_TRUE(h3.Start().ok());
  std::string spec = SeedSpec();
  ASSERT_TRUE((*c)->WaitApplied(Apply(api, spec), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  ASSERT_TRUE(Converged(**c, h2, "h2"));
  EXPECT_EQ(Rows(h1), Reference(spec, "h1"));
  EXPECT_EQ(Rows(h2), Reference(spec, "h2"));
  const uint64_t before = h1.client().held_revision();
  const size_t h3_seen = h3.seen().size();
  const std::string from = "destination_ports: [80, 5201]";
  spec.replace(spec.find(from), from.size(), "destination_ports: [443]");
  ASSERT_TRUE((*c)->WaitApplied(Apply(api, spec), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(**c, h1, "h1"));
  ASSERT_TRUE(Converged(**c, h2, "h2"));
  EXPECT_TRUE(h1.seen().back().snapshot);
  EXPECT_EQ(h1.client().held_revision(), before + 1);
  EXPECT_EQ(Rows(h1), Reference(spec, "h1"));
  EXPECT_EQ(Rows(h2), Reference(spec, "h2"));
  EXPECT_EQ(h3.seen().size(), h3_seen);
  EXPECT_EQ(h1.out_of_order(), 0);
  EXPECT_EQ(h1.rows().inconsistencies(), 0u);
}

TEST(Controller, RendezvousOwnerIsStableAndBalanced) {
  const std::vector<std::string> ids = {"c1", "c2", "c3"};
  std::map<std::string, int> per;
  int moved = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string h = "host" + std::to_string(i);
    const std::string o = RendezvousOwner(h, ids);
    ++per[o];
    EXPECT_EQ(o, RendezvousOwner(h, {"c3", "c1", "c2"}));  // order does not matter
    // Removing c3 moves only c3's hosts.
    const std::string o2 = RendezvousOwner(h, {"c1", "c2"});
    if (o != "c3") {
      EXPECT_EQ(o2, o);
    }
    moved += o != o2;
  }
  EXPECT_EQ(moved, per["c3"]);
  for (const auto& [id, n] : per) {
    EXPECT_GT(n, 800) << id;
    EXPECT_LT(n, 1200) << id;
  }
  EXPECT_EQ(RendezvousOwner("h", {}), "");
}

// Two controllers on one store: each serves the hosts it owns, redirects the others; stopping
// one hands its hosts to the other, and their agents converge there.
TEST_P(ControllerModes, TwoControllersShareHostsAndTakeOver) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  auto c1 = Controller::Start(store->get(), Options(dir, "c1"));
  ASSERT_TRUE(c1.ok()) << c1.status();
  auto c2 = Controller::Start(store->get(), Options(dir, "c2"));
  ASSERT_TRUE(c2.ok()) << c2.status();
  ASSERT_TRUE(Eventually([&] { return (*c1)->Status().controllers.size() == 2 && (*c2)->Status().controllers.size() == 2; }));
  auto api_holder = StartApi(store->get());
  ApiServer& api = *api_holder;
  const int64_t rev = Apply(api, SeedSpec());
  ASSERT_TRUE((*c1)->WaitApplied(rev, std::chrono::seconds(20)));
  ASSERT_TRUE((*c2)->WaitApplied(rev, std::chrono::seconds(20)));
  // Both allocated the same numbers; the second to commit found them written and kept them.
  EXPECT_EQ((*c1)->Status().restart_needed, "");
  EXPECT_EQ((*c2)->Status().restart_needed, "");
  EXPECT_GT((*c1)->Status().allocations_adopted + (*c2)->Status().allocations_adopted, 0u);

  const std::string targets = (*c1)->agent_addresses()[0] + "," + (*c2)->agent_addresses()[0];
  std::map<std::string, Controller*> by_id = {{"c1", c1->get()}, {"c2", c2->get()}};
  // Enough hosts that both controllers own some (h1/h2 have rows; the others get empty shares).
  std::vector<std::string> hosts = {"h1", "h2", "h3", "h4", "h5", "h6"};
  std::map<std::string, std::unique_ptr<TestAgent>> agents;
  for (const auto& h : hosts) {
    agents[h] = std::make_unique<TestAgent>(AgentOptions(h, targets));
    ASSERT_TRUE(agents[h]->Start().ok());
  }
  std::set<std::string> owners;
  for (const auto& h : hosts) {
    const std::string owner = RendezvousOwner(h, {"c1", "c2"});
    owners.insert(owner);
    ASSERT_TRUE(Converged(*by_id[owner], *agents[h], h)) << h << " at " << owner;
    EXPECT_EQ(agents[h]->client().current_target(), by_id[owner]->agent_addresses()[0]) << h;
  }
  ASSERT_EQ(owners.size(), 2u) << "pick hosts so that both controllers own some";
  const std::set<records::Record> h1_rows = Rows(*agents["h1"]);
  EXPECT_EQ(h1_rows, Reference(SeedSpec(), "h1"));

  // Stop the owner of h1: everything moves to the other one.
  const std::string dying = RendezvousOwner("h1", {"c1", "c2"});
  const std::string survivor = dying == "c1" ? "c2" : "c1";
  const uint64_t held_before = agents["h1"]->client().held_revision();
  by_id[dying]->Stop();
  Controller* s = by_id[survivor];
  ASSERT_TRUE(Eventually([&] { return s->Status().controllers == std::vector<std::string>{survivor}; }));
  for (const auto& h : hosts) {
    ASSERT_TRUE(Converged(*s, *agents[h], h)) << h;
    EXPECT_EQ(agents[h]->client().current_target(), s->agent_addresses()[0]) << h;
  }
  EXPECT_EQ(Rows(*agents["h1"]), h1_rows);  // the same share (allocations are shared through the store)
  EXPECT_GT(agents["h1"]->client().held_revision(), held_before);
  // Changes now reach every host through the survivor.
  ASSERT_TRUE(s->WaitApplied(Delete(api, "Port/A/vm3"), std::chrono::seconds(20)));
  ASSERT_TRUE(Converged(*s, *agents["h1"], "h1"));
  EXPECT_EQ(Column(Rows(*agents["h1"]), "VmPort", 1), (std::vector<std::string>{"vm1"}));
}

// Another controller persisted a different number for a datapath this controller is about to
// number (it batched the changes differently): the controller must neither overwrite it nor
// publish its own. It asks to be restarted, and once restarted it uses the store's number.
TEST(Controller, ConflictingAllocationsAskForARestartThatAdoptsTheStoresNumbers) {
  TempDir dir;
  auto store = store::OpenStore("mem:");
  ASSERT_TRUE(store.ok());
  std::mutex mu;
  std::string reason;
  ControllerOptions o = Options(dir, "c1");
  o.on_restart_needed = [&](const std::string& r) {
    std::lock_guard<std::mutex> l(mu);
    reason = r;
  };
  auto c = Controller::Start(store->get(), o);
  ASSERT_TRUE(c.ok()) << c.status();
  // Written after c1 loaded the allocations, as by a controller that got there first.
  const std::string key = std::string(kAllocPrefix) + "dp/A/ls1";
  ASSERT_TRUE((*store)->Put(key, "4242").ok());
  auto api = StartApi(store->get());
  const int64_t rev = Apply(*api, SeedSpec());
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> l(mu);
    return !reason.empty();
  }));
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_NE(reason.find(key + ": the store holds 4242, this controller chose "), std::string::npos) << reason;
    EXPECT_EQ((*c)->Status().restart_needed, reason);
  }
  ASSERT_TRUE((*c)->WaitApplied(rev, std::chrono::seconds(20)));  // processed (refused) ...
  EXPECT_EQ((*c)->streams().Revision("h1"), 0u);                     // ... and nothing published
  auto kv = (*store)->Get(key);
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->value, "4242");  // not overwritten
  (*c)->Stop();
  c->reset();

  // Restarted on the same store: everything recomputed with the store's numbers.
  auto again = Controller::Start(store->get(), Options(dir, "c1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->Status().restart_needed, "");
  TestAgent agent(AgentOptions("h1", (*again)->agent_addresses()[0]));
  ASSERT_TRUE(agent.Start().ok());
  ASSERT_TRUE(Converged(**again, agent, "h1"));
  bool found = false;
  for (const auto& r : Rows(agent)) {
    if (r.table == "Datapath" && r.values.size() == 4 && r.values[0] == "A" && r.values[1] == "ls1") {
      EXPECT_EQ(r.values[3], "4242");
      found = true;
    }
  }
  EXPECT_TRUE(found) << "h1 holds no Datapath row for A/ls1";
}

}  // namespace
}  // namespace rampart::controller
