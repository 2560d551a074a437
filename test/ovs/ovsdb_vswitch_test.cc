// The in-memory FakeVswitch honours the Vswitch contract (the same checks run against the real
// OVSDB in ovsdb_integration_test).
#include <gtest/gtest.h>

#include "test/ovs/ovsdb_fake_vswitch.h"
#include "test/ovs/ovsdb_vswitch_conformance.h"

namespace rampart::ovs {
namespace {

TEST(FakeVswitch, HonoursTheVswitchContract) {
  testing::FakeVswitch fake;
  testing::RunVswitchConformance(fake, [&](const std::string& name) { fake.AddDevice(name); });
}

}  // namespace
}  // namespace rampart::ovs
