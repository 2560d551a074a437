#include "packet/describe.h"

#include "gtest/gtest.h"
#include "packet/frame_builder.h"
#include "packet/parser.h"

namespace rampart {
namespace {

std::string Describe(const std::vector<uint8_t>& f) {
  ParsedPacket p;
  ParsePacket(f.data(), f.size(), &p);
  return DescribePacket(p);
}

TEST(Describe, TcpUdpIcmpAndErrors) {
  auto syn = FrameBuilder().Vlan(100).Ipv4("198.18.1.2", "198.18.2.3")
                 .Tcp(40000, 80, kTcpSyn, 1000, 0, 64240).Mss(1460).Build();
  EXPECT_EQ(Describe(syn),
            "vlan 100 198.18.1.2:40000 > 198.18.2.3:80 tcp [S] seq 1000 ack 0 win 64240 mss 1460 len 0");
  EXPECT_EQ(Describe(FrameBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(53, 5353).Payload(3).Build()),
            "[2001:db8::1]:53 > [2001:db8::2]:5353 udp len 3");
  EXPECT_EQ(Describe(FrameBuilder().Ipv4("198.18.2.3", "198.18.1.2").IcmpErrorAbout(syn, 3, 13).Build()),
            "198.18.2.3 > 198.18.1.2 icmp 3/13 about tcp 198.18.1.2:40000 > 198.18.2.3:80 len 44");
  EXPECT_EQ(Describe(FrameBuilder().Ipv4("198.18.1.2", "198.18.2.3").Fragment(3, true, 9)
                         .Proto(kProtoUdp).Payload(8).Build()),
            "198.18.1.2 > 198.18.2.3 udp frag id 9 off 24 +");
  EXPECT_EQ(Describe(FrameBuilder().EtherType(0x0806).Payload(28).Build()),
            "ethertype 0x0806 error not-ip");
  EXPECT_EQ(Describe(std::vector<uint8_t>(5, 0)), "ethertype 0x0000 error truncated-ethernet");
}

}  // namespace
}  // namespace rampart
