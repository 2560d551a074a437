// JSON-RPC framing and message decoding (src/ovs/json_rpc.h).
#include "ovs/json_rpc.h"

#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace rampart::ovs {
namespace {

// Recorded from ovsdb-server 3.1 (monitor reply and update notification, trimmed), plus an echo.
const char* const kRecorded[] = {
    R"({"id":1,"result":["Open_vSwitch","_Server"],"error":null})",
    R"({"id":"echo","method":"echo","params":[]})",
    R"({"id":2,"result":{"Interface":{"2b8e2b5e-9a3c-4b8a-9a5e-3c1f1f0d2a11":{"new":{"name":"vm-a1","ofport":2,"external_ids":["map",[["attached-mac","02:00:00:00:01:01"],["iface-id","a1"]]]}}},"Bridge":{"c0f3e1d2-0000-4000-8000-000000000001":{"new":{"name":"br-int","ports":["set",[["uuid","4a1e0c55-5f7d-4b2b-9d0e-2f2b6e1f7c01"],["uuid","4a1e0c55-5f7d-4b2b-9d0e-2f2b6e1f7c02"]]]}}}},"error":null})",
    R"({"id":null,"method":"update","params":["agent",{"Interface":{"2b8e2b5e-9a3c-4b8a-9a5e-3c1f1f0d2a11":{"old":{"ofport":["set",[]]},"new":{"name":"vm-a1","ofport":7}}}}]})",
    R"({"id":3,"result":[{"details":"Transaction causes multiple rows in \"Bridge\" table to have identical values (\"br-int\") for index on column \"name\".","error":"constraint violation"}],"error":null})",
    R"({"id":4,"result":[{"rows":[{"name":"we{ird]\"na\\me}","_uuid":["uuid","4a1e0c55-5f7d-4b2b-9d0e-2f2b6e1f7c02"]}]}],"error":null})",
};

std::string RecordedStream() {
  std::string s;
  for (const char* m : kRecorded) s += m;
  return s;
}

std::vector<std::string> SplitAll(JsonStreamSplitter& sp, const std::vector<std::string_view>& pieces) {
  std::vector<std::string> out;
  for (auto p : pieces) {
    EXPECT_TRUE(sp.Feed(p, &out).ok());
  }
  return out;
}

TEST(JsonStreamSplitter, SplitsRecordedStreamFedAtOnce) {
  JsonStreamSplitter sp;
  std::vector<std::string> out = SplitAll(sp, {RecordedStream()});
  ASSERT_EQ(out.size(), std::size(kRecorded));
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], kRecorded[i]);
  EXPECT_EQ(sp.buffered(), 0u);
}

TEST(JsonStreamSplitter, SameValuesAtEverySplitPoint) {
  const std::string s = RecordedStream();
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    JsonStreamSplitter sp;
    std::string_view v(s);
    std::vector<std::string> out = SplitAll(sp, {v.substr(0, cut), v.substr(cut)});
    ASSERT_EQ(out.size(), std::size(kRecorded)) << "cut at " << cut;
    for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], kRecorded[i]) << "cut at " << cut;
  }
}

TEST(JsonStreamSplitter, ByteAtATimeKeepsPartialValue) {
  JsonStreamSplitter sp;
  std::vector<std::string> out;
  std::string first = kRecorded[0];
  for (size_t i = 0; i + 1 < first.size(); ++i) {
    ASSERT_TRUE(sp.Feed(first.substr(i, 1), &out).ok());
    ASSERT_TRUE(out.empty());
  }
  EXPECT_EQ(sp.buffered(), first.size() - 1);
  ASSERT_TRUE(sp.Feed(first.substr(first.size() - 1), &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], first);
}

// Random JSON whose strings are full of structural characters and escapes.
Json RandomJson(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 3 : 5);
  static const std::string kChars = "ab{}[]\"\\,: \n\t\x01/u\xc3\xa9";
  auto random_string = [&] {
    std::string s;
    int n = std::uniform_int_distribution<int>(0, 12)(rng);
    for (int i = 0; i < n; ++i) {
      char c = kChars[std::uniform_int_distribution<size_t>(0, kChars.size() - 3)(rng)];
      s.push_back(c);
    }
    if (rng() % 4 == 0) s += "\xc3\xa9";  // valid UTF-8
    return s;
  };
  switch (kind(rng)) {
    case 0: return random_string();
    case 1: return static_cast<int64_t>(rng()) - (1ll << 31);
    case 2: return rng() % 2 == 0;
    case 3: return nullptr;
    case 4: {
      Json a = Json::array();
      int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      int n = std::uniform_int_distribution<int>(0, 4)(rng);
      for (int i = 0; i < n; ++i) o[random_string()] = RandomJson(rng, depth + 1);
      return o;
    }
  }
}

TEST(JsonStreamSplitter, RandomValuesRandomChunksRoundTrip) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    std::vector<Json> values;
    std::string stream;
    int n = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int i = 0; i < n; ++i) {
      Json v = rng() % 2 ? Json::object({{"id", i}, {"params", RandomJson(rng, 0)}})
                         : Json::array({RandomJson(rng, 0), i});
      values.push_back(v);
      stream += v.dump(rng() % 3 == 0 ? 1 : -1);
      stream += std::string(rng() % 3, " \n\t"[rng() % 3]);
    }
    JsonStreamSplitter sp;
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t len = std::uniform_int_distribution<size_t>(1, 40)(rng);
      ASSERT_TRUE(sp.Feed(std::string_view(stream).substr(pos, len), &out).ok());
      pos += len;
    }
    ASSERT_EQ(out.size(), values.size()) << stream;
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(Json::parse(out[i]), values[i]);
  }
}

TEST(JsonStreamSplitter, RejectsTopLevelScalar) {
  JsonStreamSplitter sp;
  std::vector<std::string> out;
  absl::Status s = sp.Feed("  \"hello\"", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sp.failed());
  // Stays failed: the stream position is lost.
  EXPECT_FALSE(sp.Feed("{}", &out).ok());
  EXPECT_TRUE(out.empty());
  sp.Reset();
  EXPECT_TRUE(sp.Feed("{}", &out).ok());
  EXPECT_EQ(out.size(), 1u);
}

TEST(JsonStreamSplitter, RejectsMismatchedBrackets) {
  JsonStreamSplitter sp;
  std::vector<std::string> out;
  absl::Status s = sp.Feed(R"({"a":[1,2}})", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("']' was expected"), std::string::npos) << s;
}

TEST(JsonStreamSplitter, BracketsInsideStringsAreData) {
  JsonStreamSplitter sp;
  std::vector<std::string> out;
  ASSERT_TRUE(sp.Feed(R"({"a":"}]\"\\"}{"b":"\\\\"})", &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Json::parse(out[0])["a"], "}]\"\\");
  EXPECT_EQ(Json::parse(out[1])["b"], "\\\\");
}

TEST(JsonStreamSplitter, RejectsOversizeValue) {
  JsonStreamSplitter sp(JsonSplitterLimits{.max_value_bytes = 100, .max_depth = 10});
  std::vector<std::string> out;
  std::string big = "{\"a\":\"" + std::string(200, 'x') + "\"}";
  EXPECT_TRUE(sp.Feed(R"({"ok":1})", &out).ok());
  absl::Status s = sp.Feed(big, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out.size(), 1u);
  // Also when the oversize value arrives in small pieces.
  JsonStreamSplitter sp2(JsonSplitterLimits{.max_value_bytes = 100, .max_depth = 10});
  absl::Status s2;
  for (size_t i = 0; i < big.size() && s2.ok(); i += 7) s2 = sp2.Feed(big.substr(i, 7), &out);
  EXPECT_EQ(s2.code(), absl::StatusCode::kResourceExhausted);
}

TEST(JsonStreamSplitter, RejectsDeepNesting) {
  JsonStreamSplitter sp(JsonSplitterLimits{.max_value_bytes = 1000, .max_depth = 8});
  std::vector<std::string> out;
  EXPECT_TRUE(sp.Feed("[[[[[[[[]]]]]]]]", &out).ok());
  EXPECT_EQ(sp.Feed("[[[[[[[[[", &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DecodeJsonRpc, ClassifiesRequestNotificationResponse) {
  auto req = DecodeJsonRpc(kRecorded[1]);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->kind, JsonRpcMessage::Kind::kRequest);
  EXPECT_EQ(req->method, "echo");
  EXPECT_EQ(req->id, "echo");

  auto note = DecodeJsonRpc(kRecorded[3]);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->kind, JsonRpcMessage::Kind::kNotification);
  EXPECT_EQ(note->method, "update");
  EXPECT_EQ(note->params.size(), 2u);

  auto resp = DecodeJsonRpc(kRecorded[0]);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->kind, JsonRpcMessage::Kind::kResponse);
  EXPECT_EQ(resp->id, 1);
  EXPECT_FALSE(resp->IsError());
  EXPECT_EQ(resp->result[0], "Open_vSwitch");

  auto err = DecodeJsonRpc(R"({"id":9,"result":null,"error":"unknown database"})");
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE(err->IsError());
}

TEST(DecodeJsonRpc, RejectsMalformedMessagesWithReason) {
  struct Case { const char* text; const char* reason; };
  for (const Case& c : std::vector<Case>{
           {"[1,2]", "not an object"},
           {"{\"method\":5,\"params\":[],\"id\":1}", "'method' must be a string"},
           {"{\"method\":\"echo\",\"params\":{},\"id\":1}", "'params' must be an array"},
           {"{\"method\":\"echo\",\"id\":1}", "'params' must be an array"},
           {"{\"result\":[]}", "missing 'id'"},
           {"{\"foo\":1}", "neither 'method'"},
           {"{\"a\":tru}", "not valid JSON"},
       }) {
    auto m = DecodeJsonRpc(c.text);
    ASSERT_FALSE(m.ok()) << c.text;
    EXPECT_NE(m.status().message().find(c.reason), std::string::npos) << c.text << " -> " << m.status();
  }
}

TEST(DecodeJsonRpc, EncodersProduceRfc7047Shapes) {
  EXPECT_EQ(MakeRequest("list_dbs", Json::array(), 1),
            Json::parse(R"({"method":"list_dbs","params":[],"id":1})"));
  EXPECT_EQ(MakeResponse(Json::array(), "echo"),
            Json::parse(R"({"result":[],"error":null,"id":"echo"})"));
  EXPECT_EQ(MakeNotification("update", Json::array({1})),
            Json::parse(R"({"method":"update","params":[1],"id":null})"));
}

TEST(JsonRpcConnection, RoundTripOverSocketpairAndEof) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  JsonRpcConnection a(FdTransport(fds[0]));
  auto b = std::make_unique<JsonRpcConnection>(FdTransport(fds[1]));
  ASSERT_TRUE(a.Send(MakeRequest("echo", Json::array({"x"}), 7)).ok());
  ASSERT_TRUE(a.Send(MakeRequest("echo", Json::array({"y"}), 8)).ok());
  auto m1 = b->Receive(absl::Seconds(5));
  auto m2 = b->Receive(absl::Seconds(5));
  ASSERT_TRUE(m1.ok() && m1->has_value());
  ASSERT_TRUE(m2.ok() && m2->has_value());
  EXPECT_EQ((*m1)->id, 7);
  EXPECT_EQ((*m2)->params[0], "y");
  // Nothing more: timeout is not an error.
  auto none = b->Receive(absl::Milliseconds(20));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  b.reset();  // peer closes
  auto eof = a.Receive(absl::Seconds(5));
  EXPECT_EQ(eof.status().code(), absl::StatusCode::kUnavailable);
}

TEST(JsonRpcConnection, GarbageFromPeerIsAnError) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  JsonRpcConnection a(FdTransport(fds[0]));
  ASSERT_EQ(write(fds[1], "HTTP/1.1 200 OK\r\n", 17), 17);
  auto m = a.Receive(absl::Seconds(5));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  close(fds[1]);
}

TEST(ConnectUnix, ErrorsNameThePath) {
  auto t = ConnectUnix("unix:/nonexistent/rampart/db.sock");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("/nonexistent/rampart/db.sock"), std::string::npos);
  EXPECT_EQ(ConnectUnix(std::string(200, 'x')).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rampart::ovs
