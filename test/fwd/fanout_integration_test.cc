// The symmetric fanout program in the kernel: both directions of a conversation, its later
// fragments and ICMP errors quoting it must reach the same socket of a fanout group.
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
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fwd/af_packet.h"
#include "packet/frame_builder.h"

namespace rampart::fwd {
namespace {

TEST(SymmetricFanout, ConversationsStayOnOneSocketInBothDirections) {
  ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "needs root: " << std::strerror(errno);
  ASSERT_EQ(std::system("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && ip link add fwa type veth peer name fwb && ip link set fwa up && ip link set fwb up"), 0);
  constexpr int kWorkers = 4;
  std::vector<std::unique_ptr<AfPacketPort>> ports;
  for (int i = 0; i < kWorkers; ++i) {
    auto p = AfPacketPort::Open({.ifname = "fwa", .fanout_group = 4242, .symmetric_fanout = true});
    ASSERT_TRUE(p.ok()) << p.status();
    ports.push_back(std::move(*p));
  }
  int tx = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(if_nametoindex("fwb"));
  ASSERT_EQ(bind(tx, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)), 0);

  // Conversation id is carried in the payload's first byte... simpler: remember which frame
  // belongs to which conversation by its exact bytes.
  std::map<std::vector<uint8_t>, int> conv_of;
  auto send_frame = [&](const std::vector<uint8_t>& f, int conv) {
    conv_of[f] = conv;
    ASSERT_EQ(send(tx, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  };
  for (int c = 0; c < 48; ++c) {
    std::string a = "198.18." + std::to_string(c / 200) + "." + std::to_string(c % 200 + 1);
    std::string b = "198.19." + std::to_string(c % 7) + "." + std::to_string(c * 3 % 250 + 1);
    auto out = FrameBuilder().Ipv4(a, b).Tcp(40000 + c, 80, kTcpSyn, 1000).Build();
    send_frame(out, c);
    send_frame(FrameBuilder().Ipv4(b, a).Tcp(80, 40000 + c, kTcpSyn | kTcpAck, 5000, 1001).Build(), c);
    // An ICMP error from a router about the outgoing packet.
    send_frame(FrameBuilder().Ipv4("198.19.255.254", a).IcmpErrorAbout(out, 3, 4).Build(), c);
    // A later fragment of a datagram between the two.
    send_frame(FrameBuilder().Ipv4(a, b).Fragment(185, false, 77 + c).Proto(17).Payload(40).Build(), c);
    // IPv6 both ways plus an ICMPv6 error.
    std::string a6 = "2001:db8:1::" + std::to_string(c + 1), b6 = "2001:db8:2::" + std::to_string(c * 5 + 7);
    auto out6 = FrameBuilder().Ipv6(a6, b6).Udp(5000 + c, 53).Payload(20).Build();
    send_frame(out6, 1000 + c);
    send_frame(FrameBuilder().Ipv6(b6, a6).Udp(53, 5000 + c).Payload(30).Build(), 1000 + c);
    send_frame(FrameBuilder().Ipv6("2001:db8:ff::1", a6).IcmpErrorAbout(out6, 1, 4).Build(), 1000 + c);
  }
  close(tx);

  std::map<int, std::set<int>> sockets_of_conv;
  std::set<int> used;
  size_t received = 0;
  for (int round = 0; round < 100 && received < conv_of.size(); ++round) {
    for (int w = 0; w < kWorkers; ++w) {
      RxFrame rx[64];
      size_t n = ports[w]->Receive(rx, 64, 5);
      for (size_t i = 0; i < n; ++i) {
        std::vector<uint8_t> f(rx[i].data, rx[i].data + rx[i].len);
        auto it = conv_of.find(f);
        if (it == conv_of.end()) continue;  // e.g. IPv6 neighbour traffic of the namespace
        sockets_of_conv[it->second].insert(w);
        used.insert(w);
        ++received;
      }
    }
  }
  EXPECT_EQ(received, conv_of.size());
  for (const auto& [conv, sockets] : sockets_of_conv) {
    EXPECT_EQ(sockets.size(), 1u) << "conversation " << conv << " was spread over sockets";
  }
  EXPECT_GE(used.size(), 3u) << "the hash should spread 96 conversations over the 4 workers";
}

}  // namespace
}  // namespace rampart::fwd
