// The embedded store's record codec (src/store/log_format.h).
#include "store/log_format.h"

#include <fstream>
#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace rampart::store::logfmt {
namespace {

Record Txn(int64_t rev) {
  Record r;
  r.type = RecordType::kTxn;
  r.revision = rev;
  r.ops.push_back({LogOp::Kind::kPut, "k", std::string("v\0v", 3), -5});
  r.ops.push_back({LogOp::Kind::kDelete, "gone", "", 0});
  r.revoked_leases = {7, 1LL << 62};
  return r;
}

TEST(LogFormat, RecordsRoundTrip) {
  std::string data;
  AppendRecord(Txn(1), &data);
  AppendRecord(Txn(-3), &data);
  ScanResult s = ScanRecords(data);
  ASSERT_EQ(s.tail, ScanResult::Tail::kClean);
  ASSERT_EQ(s.records.size(), 2u);
  EXPECT_EQ(s.records[1].record.revision, -3);
  EXPECT_EQ(s.records[0].record.ops[0].value, std::string("v\0v", 3));
  EXPECT_EQ(s.records[0].record.ops[0].lease, -5);
  EXPECT_EQ(s.records[0].record.revoked_leases[1], 1LL << 62);
  EXPECT_EQ(s.valid_end, data.size());
}

TEST(LogFormat, EveryTruncationIsATornTail) {
  std::string data;
  AppendRecord(Txn(1), &data);
  size_t first = data.size();
  AppendRecord(Txn(2), &data);
  for (size_t cut = first + 1; cut < data.size(); ++cut) {
    ScanResult s = ScanRecords(std::string_view(data).substr(0, cut));
    ASSERT_EQ(s.tail, ScanResult::Tail::kTorn) << cut;
    EXPECT_EQ(s.records.size(), 1u);
    EXPECT_EQ(s.bad_offset, first);
  }
}

TEST(LogFormat, EveryFlippedByteBeforeTheLastRecordIsCorruption) {
  std::string data;
  for (int i = 1; i <= 3; ++i) AppendRecord(Txn(i), &data);
  std::string one;
  AppendRecord(Txn(1), &one);
  for (size_t i = 0; i < 2 * one.size(); ++i) {
    std::string bad = data;
    bad[i] ^= 0x01;
    ScanResult s = ScanRecords(bad);
    EXPECT_EQ(s.tail, ScanResult::Tail::kCorrupt) << "byte " << i;
  }
}

// Fuzzer find: a count read after a failed field was trusted for a reserve().
TEST(LogFormat, CountsAfterABadFieldAreNotTrusted) {
  std::ifstream f(std::string(RAMPART_SOURCE_DIR) + "/fuzz/corpus/store_log/regression_count_after_error",
                  std::ios::binary);
  std::string payload((std::istreambuf_iterator<char>(f)), {});
  ASSERT_FALSE(payload.empty());
  EXPECT_FALSE(DecodePayload(payload).ok());
}

}  // namespace
}  // namespace rampart::store::logfmt
