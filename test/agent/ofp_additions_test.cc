// The OpenFlow codec additions the agent needs (src/ovs): dec_ttl, and reg_move with the NXM
// field headers OVS writes back in flow-stats replies. Plus: every flow the translator emits for
// the seed survives encode -> decode unchanged (what FlowTableSync relies on to send nothing on
// an agent restart).
#include <gtest/gtest.h>

#include "agent/translator.h"
#include "ovs/ofp_codec.h"
#include "spec_records.h"

namespace rampart::agent {
namespace {

using ofp::Action;
using ofp::Field;

TEST(OfpAdditions, DecTtlRoundTrips) {
  ofp::Instructions ins;
  ins.apply = {Action::DecNwTtl(), Action::Output(3)};
  std::vector<uint8_t> bytes;
  ofp::EncodeInstructions(ins, bytes);
  auto back = ofp::DecodeInstructions(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, ins);
  EXPECT_EQ(back->ToString(), "dec_ttl,output:3");
}

TEST(OfpAdditions, RegMoveWithNxmHeadersDecodes) {
  // apply-actions { NXAST_REG_MOVE NXM_OF_ETH_SRC[0..47] -> NXM_OF_ETH_DST[0..47] }, as OVS
  // encodes it in an OpenFlow 1.3 flow-stats reply.
  std::vector<uint8_t> b = {0, 4, 0, 32, 0, 0, 0, 0,                  // apply-actions, len 32
                            0xff, 0xff, 0, 24, 0, 0, 0x23, 0x20,      // experimenter action, Nicira
                            0, 6, 0, 48, 0, 0, 0, 0,                  // REG_MOVE, 48 bits, ofs 0/0
                            0, 0, 0x04, 0x06, 0, 0, 0x02, 0x06};      // NXM_OF_ETH_SRC, NXM_OF_ETH_DST
  auto ins = ofp::DecodeInstructions(b);
  ASSERT_TRUE(ins.ok()) << ins.status();
  ASSERT_EQ(ins->apply.size(), 1u);
  EXPECT_EQ(ins->apply[0], Action::Move({Field::kEthSrc, Field::kEthDst, 48, 0, 0}));
  // NXM_NX_ARP_SHA (class 1, field 17) and NXM_OF_IP_DST -> reg0.
  EXPECT_EQ(ofp::FieldFromNxm(0x0001, 17), Field::kArpSha);
  EXPECT_EQ(ofp::FieldFromNxm(0x0000, 8), Field::kIpv4Dst);
  EXPECT_FALSE(ofp::FieldFromNxm(0x0000, 99).has_value());
}

TEST(OfpAdditions, EveryTranslatedFlowSurvivesTheCodec) {
  for (const char* spec : {"seed-attached", "seed-inline"}) {
    auto sr = testing::RecordsForSpec(std::string(RAMPART_SOURCE_DIR) + "/examples/specs/" + spec + ".yaml");
    for (auto& [host, rs] : sr.hosts) {
      LocalFacts facts{host, 9, 1, {}};
      uint32_t next = 10;
      for (const auto* r : rs.Table("VmPort")) facts.vms[r->values[4]] = next++;
      Translation t = TranslateRecords(rs, facts);
      for (const auto& f : t.flows) {
        std::vector<uint8_t> m, i;
        ofp::EncodeMatch(f.match, m);
        ofp::EncodeInstructions(f.instructions, i);
        size_t used = 0;
        auto match = ofp::DecodeMatch(m, &used);
        auto ins = ofp::DecodeInstructions(i);
        ASSERT_TRUE(match.ok() && ins.ok()) << f.ToString();
        EXPECT_EQ(*match, f.match) << f.ToString();
        EXPECT_EQ(*ins, f.instructions) << f.ToString();
      }
    }
  }
}

}  // namespace
}  // namespace rampart::agent
