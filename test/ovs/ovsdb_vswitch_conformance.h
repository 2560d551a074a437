// The Vswitch contract as one test body, run against FakeVswitch (ovsdb_vswitch_test, unit) and
// against VswitchDb on a real ovsdb-server + ovs-vswitchd (ovsdb_integration_test), so the fake
// other components test with behaves like the real thing.
#ifndef RAMPART_TEST_OVS_OVSDB_VSWITCH_CONFORMANCE_H_
#define RAMPART_TEST_OVS_OVSDB_VSWITCH_CONFORMANCE_H_

#include <algorithm>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "ovs/ovsdb_vswitch.h"

namespace rampart::ovs::testing {

// `add_device(name)` creates a network device ovs-vswitchd can open as a system interface.
inline void RunVswitchConformance(Vswitch& v, const std::function<void(const std::string&)>& add_device) {
  ASSERT_TRUE(v.EnsureBridge(BridgeSpec{.name = "brc1"}).ok());
  ASSERT_TRUE(v.EnsureBridge(BridgeSpec{.name = "brc1"}).ok());  // idempotent
  auto ports = v.ListPorts("brc1");
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_EQ(*ports, std::vector<std::string>{"brc1"});  // the bridge's own internal port
  EXPECT_EQ(v.ListPorts("brc-missing").status().code(), absl::StatusCode::kNotFound);

  // Internal port: created once, same uuid the second time, ids merged.
  PortSpec internal{.bridge = "brc1", .name = "pc-int", .type = InterfaceType::kInternal,
                    .interface_external_ids = {{"a", "1"}}};
  auto uuid = v.EnsurePort(internal);
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  internal.interface_external_ids = {{"b", "2"}};
  auto again = v.EnsurePort(internal);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *uuid);
  EXPECT_EQ(*v.GetExternalIds("Interface", "pc-int"), (StringMap{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(*v.ListPorts("brc1"), (std::vector<std::string>{"brc1", "pc-int"}));
  auto ofport = v.WaitForOfport("pc-int", absl::Seconds(10));
  ASSERT_TRUE(ofport.ok()) << ofport.status();
  EXPECT_GT(*ofport, 0);

  // external_ids on the three tables.
  ASSERT_TRUE(v.SetExternalIds("Port", "pc-int", {{"k", "v"}}).ok());
  ASSERT_TRUE(v.SetExternalIds("Bridge", "brc1", {{"owner", "rampart"}}).ok());
  ASSERT_TRUE(v.SetExternalIds("Interface", "pc-int", {{"a", "10"}}).ok());
  ASSERT_TRUE(v.RemoveExternalIds("Interface", "pc-int", {"b", "absent"}).ok());
  EXPECT_EQ(*v.GetExternalIds("Interface", "pc-int"), (StringMap{{"a", "10"}}));
  EXPECT_EQ(*v.GetExternalIds("Port", "pc-int"), (StringMap{{"k", "v"}}));
  EXPECT_EQ(v.GetExternalIds("Bridge", "brc1")->at("owner"), "rampart");
  EXPECT_EQ(v.SetExternalIds("Interface", "nope", {{"x", "y"}}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.GetExternalIds("Port", "nope").status().code(), absl::StatusCode::kNotFound);

  // System ports: with a device an ofport, without one an error naming the interface.
  add_device("pc-sys");
  ASSERT_TRUE(v.EnsurePort(PortSpec{.bridge = "brc1", .name = "pc-sys"}).ok());
  auto sys = v.WaitForOfport("pc-sys", absl::Seconds(10));
  ASSERT_TRUE(sys.ok()) << sys.status();
  EXPECT_GT(*sys, 0);
  EXPECT_NE(*sys, *ofport);
  ASSERT_TRUE(v.EnsurePort(PortSpec{.bridge = "brc1", .name = "pc-nodev"}).ok());
  auto nodev = v.WaitForOfport("pc-nodev", absl::Seconds(10));
  EXPECT_EQ(nodev.status().code(), absl::StatusCode::kFailedPrecondition) << nodev.status();
  EXPECT_NE(nodev.status().message().find("pc-nodev"), std::string::npos);
  EXPECT_EQ(v.WaitForOfport("pc-none", absl::Seconds(1)).status().code(), absl::StatusCode::kNotFound);

  // Wrong or missing bridge.
  EXPECT_EQ(v.EnsurePort(PortSpec{.bridge = "brc-missing", .name = "px"}).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(v.EnsureBridge(BridgeSpec{.name = "brc2"}).ok());
  ASSERT_TRUE(v.EnsurePort(PortSpec{.bridge = "brc2", .name = "pc-two", .type = InterfaceType::kInternal}).ok());
  EXPECT_EQ(v.EnsurePort(PortSpec{.bridge = "brc1", .name = "pc-two"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(v.DeletePort("brc1", "pc-two").code(), absl::StatusCode::kFailedPrecondition);

  // Delete: gone, and deleting again is fine.
  ASSERT_TRUE(v.DeletePort("brc1", "pc-int").ok());
  ASSERT_TRUE(v.DeletePort("brc1", "pc-int").ok());
  ASSERT_TRUE(v.DeletePort("brc1", "pc-nodev").ok());
  EXPECT_EQ(*v.ListPorts("brc1"), (std::vector<std::string>{"brc1", "pc-sys"}));
  EXPECT_EQ(v.GetExternalIds("Interface", "pc-int").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(v.DeleteBridge("brc2").ok());
  ASSERT_TRUE(v.DeleteBridge("brc1").ok());
  ASSERT_TRUE(v.DeleteBridge("brc1").ok());
  EXPECT_EQ(v.ListPorts("brc1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(v.GetExternalIds("Interface", "pc-two").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace rampart::ovs::testing

#endif  // RAMPART_TEST_OVS_OVSDB_VSWITCH_CONFORMANCE_H_
