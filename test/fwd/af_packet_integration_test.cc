// AF_PACKET I/O against a real veth pair. The test moves itself into a fresh network namespace
// (unshare), so the veths vanish with the process whatever happens. Needs root (CAP_NET_ADMIN).
#include "fwd/af_packet.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

namespace rampart::fwd {
namespace {

class AfPacketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root: " << std::strerror(errno);
    ASSERT_EQ(std::system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
                          " && ip link add fwa type veth peer name fwb && ip link set fwa up && ip link set fwb up"
                          " && ip link set lo up"), 0);
  }

  // A plain raw socket on `ifname` for the far side.
  static int RawSocket(const char* ifname) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll));
    return fd;
  }

  // An Ethernet frame with an experimental ethertype (0x88b5) so the stack ignores it.
  static std::vector<uint8_t> Frame(uint8_t seq, int vlan = -1, size_t payload = 60) {
    std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa};
    if (vlan >= 0) {
      f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(vlan >> 8), static_cast<uint8_t>(vlan)});
    }
    f.insert(f.end(), {0x88, 0xb5});
    for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(seq + i));
    return f;
  }

  static std::vector<std::vector<uint8_t>> ReceiveAll(AfPacketPort& port, size_t want) {
    std::vector<std::vector<uint8_t>> got;
    RxFrame frames[64];
    for (int tries = 0; tries < 200 && got.size() < want; ++tries) {
      size_t n = port.Receive(frames, 64, 20);
      for (size_t i = 0; i < n; ++i) {
        uint8_t buf[4096];
        size_t len = WithVlan(frames[i], buf, sizeof(buf));
        if (len >= 14 && ((buf[12] == 0x88 && buf[13] == 0xb5) || (buf[12] == 0x81 && buf[16] == 0x88))) {
          got.emplace_back(buf, buf + len);
        }
      }
    }
    return got;
  }
};

TEST_F(AfPacketTest, ReceivesFramesAndRestoresStrippedVlanTag) {
  auto port = AfPacketPort::Open({.ifname = "fwa"});
  ASSERT_TRUE(port.ok()) << port.status();
  int tx = RawSocket("fwb");
  std::vector<std::vector<uint8_t>> sent = {Frame(1), Frame(2, 100), Frame(3, 4094, 1400), Frame(4)};
  for (auto& f : sent) ASSERT_EQ(send(tx, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  auto got = ReceiveAll(**port, sent.size());
  close(tx);
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(got[i], sent[i]) << "frame " << i;
  EXPECT_GE((*port)->Stats().rx_frames, sent.size());
}

TEST_F(AfPacketTest, SendsTaggedFramesAsGivenAndDoesNotReceiveThemBack) {
  auto port = AfPacketPort::Open({.ifname = "fwa"});
  ASSERT_TRUE(port.ok()) << port.status();
  auto peer = AfPacketPort::Open({.ifname = "fwb"});
  ASSERT_TRUE(peer.ok()) << peer.status();
  std::vector<std::vector<uint8_t>> frames;
  for (int i = 0; i < 100; ++i) frames.push_back(Frame(static_cast<uint8_t>(i), i % 2 ? 7 : -1));
  std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
  EXPECT_EQ((*port)->Send(spans.data(), spans.size()), frames.size());
  auto got = ReceiveAll(**peer, frames.size());
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(got[i], frames[i]);
  // The sender's own ring must not see what it sent (the namespace's own IPv6 neighbour
  // discovery may arrive meanwhile: only our test frames count).
  EXPECT_TRUE(ReceiveAll(**port, 1).empty());
}

TEST_F(AfPacketTest, FanoutGroupSplitsFlowsAcrossSocketsWithoutLoss) {
  auto w0 = AfPacketPort::Open({.ifname = "fwa", .fanout_group = 77, .fanout_mode = PACKET_FANOUT_LB});
  ASSERT_TRUE(w0.ok()) << w0.status();
  auto w1 = AfPacketPort::Open({.ifname = "fwa", .fanout_group = 77, .fanout_mode = PACKET_FANOUT_LB});
  ASSERT_TRUE(w1.ok()) << w1.status();
  int tx = RawSocket("fwb");
  constexpr int kFrames = 200;
  for (int i = 0; i < kFrames; ++i) {
    auto f = Frame(static_cast<uint8_t>(i));
    f[20] = static_cast<uint8_t>(i >> 8);  // make every frame distinct
    f[21] = static_cast<uint8_t>(i);
    ASSERT_GT(send(tx, f.data(), f.size(), 0), 0);
  }
  close(tx);
  std::set<std::vector<uint8_t>> all;
  size_t n0 = 0, n1 = 0;
  for (int round = 0; round < 50 && all.size() < kFrames; ++round) {
    for (auto& f : ReceiveAll(**w0, 1)) { all.insert(f); ++n0; }
    for (auto& f : ReceiveAll(**w1, 1)) { all.insert(f); ++n1; }
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kFrames));
  EXPECT_EQ(n0 + n1, static_cast<size_t>(kFrames));
  EXPECT_GT(n0, 0u);
  EXPECT_GT(n1, 0u);
}

TEST(AfPacketOpen, RejectsBadGeometryAndUnknownInterface) {
  EXPECT_EQ(AfPacketPort::Open({.ifname = "lo", .block_size = 1000}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AfPacketPort::Open({.ifname = "no-such-if0"}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rampart::fwd
