// The physical stage's allocations on the real embedded store (store::OpenStore("file:DIR")):
// a controller that goes away and comes back on the same directory numbers everything the same.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "controller/logical_stage.h"
#include "controller/nb_spec.h"
#include "controller/physical/physical_stage.h"
#include "store/store.h"

namespace rampart::controller {
namespace {

std::map<std::string, std::set<records::Record>> RunOnce(store::Store* store, const NbSpec& spec) {
  PhysicalStage physical(store);
  EXPECT_TRUE(physical.Load().ok());
  auto logical = LogicalStage::Create();
  EXPECT_TRUE(logical.ok());
  auto d = (*logical)->SetSpec(spec);
  EXPECT_TRUE(d.ok());
  auto out = physical.Apply((*logical)->engine(), *d);
  EXPECT_TRUE(out.ok()) << out.status();
  std::map<std::string, std::set<records::Record>> snaps;
  for (const auto& h : physical.Hosts()) snaps[h] = physical.Snapshot(h).rows();
  return snaps;
}

TEST(PhysicalStageOnEmbeddedStore, RestartOnTheSameDirectoryKeepsEveryNumber) {
  std::string dir = ::testing::TempDir() + "physical_store_test_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto spec = ParseNbSpecFile(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/seed-inline.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::map<std::string, std::set<records::Record>> first;
  int64_t rev_after_first = 0;
  {
    auto store = store::OpenStore("file:" + dir);
    ASSERT_TRUE(store.ok()) << store.status();
    first = RunOnce(store->get(), *spec);
    auto keys = (*store)->Range(kAllocPrefix);
    ASSERT_TRUE(keys.ok());
    EXPECT_FALSE(keys->kvs.empty());
    rev_after_first = *(*store)->CurrentRevision();
  }
  {
    auto store = store::OpenStore("file:" + dir);
    ASSERT_TRUE(store.ok()) << store.status();
    auto second = RunOnce(store->get(), *spec);
    EXPECT_EQ(first, second);
    EXPECT_EQ(*(*store)->CurrentRevision(), rev_after_first) << "nothing changed, nothing written";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rampart::controller
