#include "agent/records_io.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace rampart::agent {
namespace {

TEST(RecordsIo, ReadsJsonLinesArraysAndCompileOutput) {
  auto a = ParseRecords("# a comment\n{\"table\": \"Host\", \"values\": [\"h1\", \"198.19.255.1\"]}\n\n"
                        "{\"table\": \"Datapath\", \"values\": [\"A\", \"ls1\", \"switch\", \"1\"]}\n",
                        "r.jsonl");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->rows().size(), 2u);
  auto b = ParseRecords("[{\"table\": \"Host\", \"values\": [\"h1\", \"198.19.255.1\"]}]", "r.json");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->rows().size(), 1u);
  auto c = ParseRecords(R"({"hosts": [{"host": "h1", "records": [{"table": "Host", "values": ["h1", "x"]}]},
                                      {"host": "h2", "records": []}]})",
                        "c.json", "h1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rows().size(), 1u);
  auto missing = ParseRecords(R"({"hosts": [{"host": "h2", "records": []}]})", "c.json", "h1");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no records for host 'h1'"), std::string::npos);
}

TEST(RecordsIo, ErrorsNameFileLineAndField) {
  auto bad = ParseRecords("{\"table\": \"Host\", \"values\": [\"h1\"]}\n{\"table\": \"\", \"values\": []}\n", "r.jsonl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("r.jsonl:2: field 'table'"), std::string::npos) << bad.status();
  auto notjson = ParseRecords("{\"table\": \"Host\"\n", "r.jsonl");
  ASSERT_FALSE(notjson.ok());
  EXPECT_NE(notjson.status().message().find("r.jsonl:1: not valid JSON"), std::string::npos) << notjson.status();
  auto vals = ParseRecords("[{\"table\": \"Host\", \"values\": [true]}]", "r.json");
  ASSERT_FALSE(vals.ok());
  EXPECT_NE(vals.status().message().find("records[0]: values[0] must be a string"), std::string::npos) << vals.status();
  auto dup = ParseRecords("{\"table\": \"H\", \"values\": []}\n{\"table\": \"H\", \"values\": []}\n", "r.jsonl");
  EXPECT_FALSE(dup.ok());
}

TEST(RecordsIo, StateFileKeepsRevisionAndRows) {
  char dir[] = "/tmp/rampart-agent-state-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/sub/state.json";  // the directory is created
  EXPECT_TRUE(absl::IsNotFound(LoadState(path).status()));
  records::RecordSet rs;
  records::Delta d;
  d.revision = 42;
  d.snapshot = true;
  d.inserts = {{"Host", {"h1", "198.19.255.1"}}, {"Flow", {"A", "ls1", "ls_in_l2", "0", "1", "drop"}}};
  rs.Apply(d);
  ASSERT_TRUE(SaveState(path, rs).ok());
  auto back = LoadState(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->revision(), 42u);
  EXPECT_EQ(back->rows(), rs.rows());
  { std::ofstream(path) << "{\"revision\": 1, \"rec"; }
  auto torn = LoadState(path);
  ASSERT_FALSE(torn.ok());
  EXPECT_EQ(torn.status().code(), absl::StatusCode::kDataLoss);
  std::remove(path.c_str());
  rmdir((std::string(dir) + "/sub").c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace rampart::agent
