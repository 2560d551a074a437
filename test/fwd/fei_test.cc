#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "fwd/fei_codec.h"
#include "fwd/fei_server.h"

namespace rampart::fwd {
namespace {

using nlohmann::json;

TEST(FeiDecoder, ReassemblesMessagesSplitAtEveryByte) {
  std::vector<json> msgs = {{{"id", 1}, {"method", "a"}}, {{"id", 2}, {"result", {{"x", "é\"\\"}}}}, json::object()};
  std::string wire;
  for (auto& m : msgs) EncodeFeiMessage(m, &wire);
  for (size_t split = 0; split <= wire.size(); ++split) {
    FeiDecoder d;
    std::vector<json> got;
    for (std::string_view part : {std::string_view(wire).substr(0, split), std::string_view(wire).substr(split)}) {
      d.Feed(part);
      while (true) {
        auto m = d.Next();
        ASSERT_TRUE(m.ok()) << m.status();
        if (!m->has_value()) break;
        got.push_back(**m);
      }
    }
    EXPECT_EQ(got, msgs) << "split at " << split;
    EXPECT_EQ(d.buffered(), 0u);
  }
}

TEST(FeiDecoder, RefusesOversizeFramesAndNonObjects) {
  FeiDecoder big;
  big.Feed(std::string("\x7f\xff\xff\xff", 4));
  EXPECT_EQ(big.Next().status().code(), absl::StatusCode::kResourceExhausted);
  FeiDecoder arr;
  arr.Feed(std::string("\0\0\0\x02[]", 6));
  EXPECT_EQ(arr.Next().status().code(), absl::StatusCode::kInvalidArgument);
  FeiDecoder bad;
  bad.Feed(std::string("\0\0\0\x03{x}", 7));
  EXPECT_EQ(bad.Next().status().code(), absl::StatusCode::kInvalidArgument);
}

class FeiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("fei-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "fei.sock").string();
    auto s = FeiServer::Listen(path_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    server_->Handle("echo", [](const json& p) -> absl::StatusOr<json> { return p; });
    server_->Handle("fail", [](const json& p) -> absl::StatusOr<json> {
      return absl::NotFoundError("instance 7 does not exist");
    });
    server_->Handle("typed", [](const json& p) -> absl::StatusOr<json> {
      return json{{"twice", p.at("n").get<int>() * 2}};
    });
    thread_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    server_->Stop();
    thread_.join();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<FeiServer> server_;
  std::thread thread_;
};

TEST_F(FeiServerTest, CallsReturnResultsAndErrorsWithTheirCodes) {
  auto c = FeiClient::Connect(path_);
  ASSERT_TRUE(c.ok()) << c.status();
  auto r = (*c)->Call("echo", {{"k", "v"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["k"], "v");
  auto e = (*c)->Call("fail");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(e.status().message(), "instance 7 does not exist");
  EXPECT_EQ((*c)->Call("nope").status().code(), absl::StatusCode::kUnimplemented);
  // A field of the wrong type is the caller's error, not a crash.
  EXPECT_EQ((*c)->Call("typed", {{"n", "seven"}}).status().code(), absl::StatusCode::kInvalidArgument);
  auto t = (*c)->Call("typed", {{"n", 21}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)["twice"], 42);
}

TEST_F(FeiServerTest, GarbageFrameClosesOnlyThatConnection) {
  auto good = FeiClient::Connect(path_);
  ASSERT_TRUE(good.ok());
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path_.c_str());
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string garbage("\0\0\0\x05hello", 9);
  ASSERT_EQ(write(fd, garbage.data(), garbage.size()), 9);
  // The server answers with an error and closes: read until EOF.
  char buf[4096];
  ssize_t total = 0, n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) total += n;
  EXPECT_GT(total, 4);
  close(fd);
  auto r = (*good)->Call("echo", {{"still", true}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["still"], true);
}

TEST_F(FeiServerTest, LargeMessagesRoundTrip) {
  auto c = FeiClient::Connect(path_);
  ASSERT_TRUE(c.ok());
  std::string big(3 << 20, 'x');
  std::mt19937 rng(1);
  for (auto& ch : big) ch = static_cast<char>('a' + rng() % 26);
  auto r = (*c)->Call("echo", {{"blob", big}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)["blob"], big);
}

TEST(FeiClient, ConnectToMissingSocketIsUnavailable) {
  EXPECT_EQ(FeiClient::Connect("/nonexistent/fei.sock").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace rampart::fwd
