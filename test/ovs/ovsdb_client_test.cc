// OvsdbClient and the datum encodings against a scripted fake server on a socketpair.
#include "ovs/ovsdb_client.h"

#include <gtest/gtest.h>

#include "ovs/ovsdb_datum.h"
#include "test/ovs/ovsdb_fake_server.h"

namespace rampart::ovs {
namespace {

using testing::FakeOvsdbServer;

constexpr const char* kUuid1 = "2b8e2b5e-9a3c-4b8a-9a5e-3c1f1f0d2a11";
constexpr const char* kUuid2 = "4a1e0c55-5f7d-4b2b-9d0e-2f2b6e1f7c02";

OvsdbClientOptions Options(FakeOvsdbServer& server) {
  OvsdbClientOptions o;
  o.connector = server.Connector();
  o.call_timeout = absl::Seconds(5);
  o.reconnect_attempts = 3;
  o.reconnect_backoff = absl::Milliseconds(5);
  return o;
}

Json InitialInterfaces() {
  return Json::parse(std::string(R"({"Interface":{")") + kUuid1 +
                     R"(":{"new":{"name":"vm-a1","ofport":["set",[]]}}}})");
}

// Answers list_dbs, echo, monitor and monitor_cancel like ovsdb-server.
std::vector<Json> BasicHandler(const JsonRpcMessage& m) {
  if (m.method == "list_dbs") return {MakeResponse(Json::array({"Open_vSwitch", "_Server"}), m.id)};
  if (m.method == "echo") return {MakeResponse(m.params, m.id)};
  if (m.method == "monitor") return {MakeResponse(InitialInterfaces(), m.id)};
  if (m.method == "monitor_cancel") return {MakeResponse(Json::object(), m.id)};
  return {};
}

TEST(OvsdbDatum, EncodesAtomsSetsMapsAndUuids) {
  using namespace ovsdb;
  EXPECT_EQ(Uuid(kUuid1), Json::parse(std::string(R"(["uuid",")") + kUuid1 + "\"]"));
  EXPECT_EQ(NamedUuid("row1"), Json::parse(R"(["named-uuid","row1"])"));
  EXPECT_EQ(Set({1, 2}), Json::parse(R"(["set",[1,2]])"));
  EXPECT_EQ(Map({{"b", "2"}, {"a", "1"}}), Json::parse(R"(["map",[["a","1"],["b","2"]]])"));
  EXPECT_EQ(StringSet({}), Json::parse(R"(["set",[]])"));
  EXPECT_EQ(InsertOp("Port", Json{{"name", "p"}}, "new_port"),
            Json::parse(R"({"op":"insert","table":"Port","row":{"name":"p"},"uuid-name":"new_port"})"));
  EXPECT_EQ(MutateOp("Bridge", Json::array({Condition("name", "==", "br-int")}),
                     Json::array({Mutation("ports", "insert", Set({NamedUuid("new_port")}))})),
            Json::parse(R"({"op":"mutate","table":"Bridge","where":[["name","==","br-int"]],
                            "mutations":[["ports","insert",["set",[["named-uuid","new_port"]]]]]})"));
  EXPECT_EQ(WaitOp("Port", Json::array(), {"name"}, "==", Json::array(), 0),
            Json::parse(R"({"op":"wait","table":"Port","where":[],"columns":["name"],
                            "until":"==","rows":[],"timeout":0})"));
  EXPECT_EQ(DeleteOp("Port", Json::array()), Json::parse(R"({"op":"delete","table":"Port","where":[]})"));
  EXPECT_EQ(SelectOp("Port", Json::array(), {"name"}),
            Json::parse(R"({"op":"select","table":"Port","where":[],"columns":["name"]})"));
  EXPECT_EQ(UpdateOp("Port", Json::array(), Json{{"tag", 5}}),
            Json::parse(R"({"op":"update","table":"Port","where":[],"row":{"tag":5}})"));
}

TEST(OvsdbDatum, DecodesAndRejectsWithReason) {
  using namespace ovsdb;
  auto set = DecodeSet(Json::parse(R"(["set",[1,2,3]])"));
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->size(), 3u);
  auto single = DecodeSet(Uuid(kUuid2));  // a 1-element set may be the bare atom
  ASSERT_TRUE(single.ok());
  ASSERT_EQ(single->size(), 1u);
  EXPECT_EQ(*DecodeUuid((*single)[0]), kUuid2);
  EXPECT_FALSE(DecodeSet(Json::parse(R"(["set",5])")).ok());
  EXPECT_FALSE(DecodeSet(Json::object()).ok());

  auto map = DecodeStringMap(Json::parse(R"(["map",[["iface-id","a1"],["attached-mac","02:00:00:00:01:01"]]])"));
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->at("iface-id"), "a1");
  auto bad_map = DecodeStringMap(Json::parse(R"(["map",[["k",5]]])"));
  ASSERT_FALSE(bad_map.ok());
  EXPECT_NE(bad_map.status().message().find("[string, string]"), std::string::npos);

  EXPECT_FALSE(DecodeUuid(Json::parse(R"(["uuid","not-a-uuid"])")).ok());
  EXPECT_FALSE(DecodeUuid(Json::parse(R"(["named-uuid","x"])")).ok());
  EXPECT_EQ(*DecodeOptionalInt(Json::parse(R"(["set",[]])")), std::nullopt);
  EXPECT_EQ(*DecodeOptionalInt(Json(7)), 7);
  EXPECT_EQ(*DecodeOptionalInt(Json::parse(R"(["set",[9]])")), 9);
  EXPECT_FALSE(DecodeOptionalInt(Json("x")).ok());
  EXPECT_TRUE(IsUuid(kUuid1));
  EXPECT_FALSE(IsUuid("2b8e2b5e-9a3c-4b8a-9a5e-3c1f1f0d2a1"));
}

TEST(OvsdbClient, ListDbsSendsRfc7047Request) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok()) << client.status();
  auto dbs = (*client)->ListDbs();
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  EXPECT_EQ(*dbs, (std::vector<std::string>{"Open_vSwitch", "_Server"}));
  auto rx = server.received();
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0].method, "list_dbs");
  EXPECT_EQ(rx[0].params, Json::array());
  EXPECT_TRUE(rx[0].id.is_number());
}

TEST(OvsdbClient, AnswersServerEchoWhileWaitingForReply) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    if (m.method == "list_dbs") {
      // The server's keep-alive arrives before the reply.
      return {MakeRequest("echo", Json::array({"ping"}), "echo"),
              MakeResponse(Json::array({"Open_vSwitch"}), m.id)};
    }
    return {};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->ListDbs().ok());
  EXPECT_EQ((*client)->echo_requests_answered(), 1u);
  // The echo reply reached the server (after list_dbs): result == params, same id.
  std::vector<JsonRpcMessage> rx;
  for (int i = 0; i < 200 && rx.size() < 2; ++i) {
    rx = server.received();
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(rx.size(), 2u);
  EXPECT_EQ(rx[1].kind, JsonRpcMessage::Kind::kResponse);
  EXPECT_EQ(rx[1].id, "echo");
  EXPECT_EQ(rx[1].result, Json::array({"ping"}));
}

TEST(OvsdbClient, EchoRoundTrip) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Echo().ok());
}

TEST(OvsdbClient, TransactReturnsResultsAndSendsOps) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    if (m.method != "transact") return {};
    return {MakeResponse(Json::parse(std::string(R"([{"uuid":["uuid",")") + kUuid1 + R"("]},{"count":1}])"), m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  using namespace ovsdb;
  auto r = (*client)->Transact(
      "Open_vSwitch", {InsertOp("Interface", Json{{"name", "p1"}}, "i"),
                       MutateOp("Bridge", Json::array({Condition("name", "==", "br-int")}),
                                Json::array({Mutation("ports", "insert", Set({NamedUuid("i")}))}))});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(*DecodeUuid((*r)[0]["uuid"]), kUuid1);
  auto rx = server.received();
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0].params[0], "Open_vSwitch");
  EXPECT_EQ(rx[0].params[1]["op"], "insert");
  EXPECT_EQ(rx[0].params[2]["mutations"][0][2], Json::parse(R"(["set",[["named-uuid","i"]]])"));
}

TEST(OvsdbClient, TransactOpErrorNamesTheOp) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    return {MakeResponse(Json::parse(R"([{},{"error":"constraint violation","details":"duplicate name br-int"},null])"), m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  using namespace ovsdb;
  auto r = (*client)->Transact("Open_vSwitch", {CommentOp("x"), InsertOp("Bridge", Json{{"name", "br-int"}}),
                                                DeleteOp("Port", Json::array())});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("op 1 (insert Bridge)"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("duplicate name br-int"), std::string::npos) << r.status();
}

TEST(OvsdbClient, TransactCommitErrorAndWaitTimeout) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    if (m.params.size() == 2 && m.params[1]["op"] == "wait") {
      return {MakeResponse(Json::parse(R"([{"error":"timed out"}])"), m.id)};
    }
    return {MakeResponse(Json::parse(R"([{"count":1},{"error":"I/O error","details":"disk full"}])"), m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  using namespace ovsdb;
  auto commit = (*client)->Transact("Open_vSwitch", {DeleteOp("Port", Json::array())});
  EXPECT_EQ(commit.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(commit.status().message().find("commit"), std::string::npos) << commit.status();
  auto wait = (*client)->Transact("Open_vSwitch", {WaitOp("Port", Json::array(), {"name"}, "==", Json::array())});
  EXPECT_EQ(wait.status().code(), absl::StatusCode::kAborted);
}

TEST(OvsdbClient, RpcErrorBecomesStatus) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    return {MakeErrorResponse(Json{{"error", "unknown database"}, {"details", "Nope"}}, m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  auto s = (*client)->GetSchema("Nope");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unknown database"), std::string::npos);
  EXPECT_TRUE((*client)->connected());  // an error reply is not a transport failure
}

TEST(OvsdbClient, IgnoresRepliesWithOtherIds) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    return {MakeResponse(Json::array({"stale"}), 999999), MakeResponse(Json::array({"Open_vSwitch"}), m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  auto dbs = (*client)->ListDbs();
  ASSERT_TRUE(dbs.ok());
  EXPECT_EQ(*dbs, std::vector<std::string>{"Open_vSwitch"});
}

TEST(OvsdbClient, CallTimesOutWhenServerIsSilent) {
  FakeOvsdbServer server([](const JsonRpcMessage&) { return std::vector<Json>{}; });
  OvsdbClientOptions o = Options(server);
  o.call_timeout = absl::Milliseconds(50);
  auto client = OvsdbClient::Connect(o);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->ListDbs().status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(OvsdbClient, MonitorInitialThenUpdates) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  auto initial = (*client)->Monitor("Open_vSwitch", "agent", {{"Interface", {"name", "ofport"}}});
  ASSERT_TRUE(initial.ok()) << initial.status();
  EXPECT_TRUE(initial->initial);
  ASSERT_EQ(initial->rows.size(), 1u);
  EXPECT_TRUE(initial->rows[0].IsInsert());
  EXPECT_EQ(initial->rows[0].new_row["name"], "vm-a1");
  auto rx = server.received();
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0].params, Json::parse(R"(["Open_vSwitch","agent",{"Interface":{"columns":["name","ofport"]}}])"));

  // Nothing pending: empty after the timeout.
  auto none = (*client)->PollUpdates(absl::Milliseconds(10));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  server.Push(MakeNotification("update", Json::array({"other-monitor", InitialInterfaces()})));
  server.Push(MakeNotification(
      "update", Json::array({"agent", Json::parse(std::string(R"({"Interface":{")") + kUuid1 +
                                                  R"(":{"old":{"ofport":["set",[]]},"new":{"name":"vm-a1","ofport":7}}}})")})));
  server.Push(MakeNotification(
      "update", Json::array({"agent", Json::parse(std::string(R"({"Interface":{")") + kUuid1 +
                                                  R"(":{"old":{"name":"vm-a1","ofport":7}}}})")})));
  std::vector<MonitorUpdate> got;
  for (int i = 0; i < 50 && got.size() < 2; ++i) {
    auto u = (*client)->PollUpdates(absl::Milliseconds(100));
    ASSERT_TRUE(u.ok()) << u.status();
    for (auto& x : *u) got.push_back(std::move(x));
  }
  ASSERT_EQ(got.size(), 2u);  // the unknown monitor's update was dropped
  EXPECT_EQ(got[0].monitor_id, "agent");
  EXPECT_FALSE(got[0].initial);
  EXPECT_EQ(got[0].rows[0].new_row["ofport"], 7);
  EXPECT_FALSE(got[0].rows[0].IsInsert());
  EXPECT_TRUE(got[1].rows[0].IsDelete());

  EXPECT_EQ((*client)->Monitor("Open_vSwitch", "agent", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE((*client)->MonitorCancel("agent").ok());
  EXPECT_EQ((*client)->MonitorCancel("agent").code(), absl::StatusCode::kNotFound);
}

TEST(OvsdbClient, UpdatesArrivingDuringACallAreQueued) {
  FakeOvsdbServer server([](const JsonRpcMessage& m) -> std::vector<Json> {
    if (m.method == "monitor") return {MakeResponse(Json::object(), m.id)};
    return {MakeNotification("update", Json::array({"agent", InitialInterfaces()})),
            MakeResponse(Json::array(), m.id)};
  });
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Monitor("Open_vSwitch", "agent", {{"Interface", {}}}).ok());
  ASSERT_TRUE((*client)->ListDbs().ok());
  auto u = (*client)->PollUpdates(absl::ZeroDuration());
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].rows.size(), 1u);
}

TEST(OvsdbClient, MalformedUpdateForcesResync) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Monitor("Open_vSwitch", "agent", {{"Interface", {}}}).ok());
  server.Push(MakeNotification("update", Json::array({"agent", Json::parse(R"({"Interface":{"not-a-uuid":{}}})")})));
  auto u = (*client)->PollUpdates(absl::Seconds(5));
  EXPECT_EQ(u.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*client)->connected());
  // The next poll reconnects and re-delivers the monitor's full contents.
  auto again = (*client)->PollUpdates(absl::Seconds(1));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_TRUE((*again)[0].initial);
  EXPECT_EQ(server.connections(), 2);
}

TEST(OvsdbClient, ReconnectsAndReissuesMonitors) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Monitor("Open_vSwitch", "agent", {{"Interface", {"name"}}}).ok());
  server.KillConnection();  // server restarts
  // The next call notices the dead connection, fails (no silent retry of the request) ...
  auto first = (*client)->ListDbs();
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE((*client)->connected());
  // ... and the one after reconnects.
  auto dbs = (*client)->ListDbs();
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  EXPECT_EQ((*client)->reconnects(), 1u);
  EXPECT_EQ(server.connections(), 2);
  auto u = (*client)->PollUpdates(absl::ZeroDuration());
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->size(), 1u);
  EXPECT_TRUE((*u)[0].initial);
  EXPECT_EQ((*u)[0].monitor_id, "agent");
  int monitors = 0;
  for (const auto& m : server.received()) monitors += m.method == "monitor";
  EXPECT_EQ(monitors, 2);
}

TEST(OvsdbClient, ReconnectGivesUpWithUnavailable) {
  FakeOvsdbServer server(BasicHandler);
  auto client = OvsdbClient::Connect(Options(server));
  ASSERT_TRUE(client.ok());
  server.set_refuse(true);
  auto s = (*client)->Reconnect();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("3 attempts"), std::string::npos) << s;
  server.set_refuse(false);
  EXPECT_TRUE((*client)->ListDbs().ok());
}

TEST(OvsdbClient, ConnectFailsWithPath) {
  OvsdbClientOptions o;
  o.socket_path = "/nonexistent/db.sock";
  auto c = OvsdbClient::Connect(o);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("/nonexistent/db.sock"), std::string::npos);
}

TEST(OvsdbClient, ParseTableUpdatesRejectsBadShapes) {
  EXPECT_FALSE(ParseTableUpdates(Json::array()).ok());
  EXPECT_FALSE(ParseTableUpdates(Json::parse(R"({"T":[]})")).ok());
  EXPECT_FALSE(ParseTableUpdates(Json::parse(std::string(R"({"T":{")") + kUuid1 + R"(":{}}})")).ok());
  EXPECT_FALSE(ParseTableUpdates(Json::parse(std::string(R"({"T":{")") + kUuid1 + R"(":{"new":5}}})")).ok());
  auto ok = ParseTableUpdates(Json::parse(std::string(R"({"T":{")") + kUuid1 + R"(":{"new":{}}}})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)[0].table, "T");
}

}  // namespace
}  // namespace rampart::ovs
