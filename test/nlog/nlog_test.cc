// Unit tests of the nlog language and engine: one per feature and per compile/transaction error.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "nlog/engine.h"
#include "nlog/json_io.h"

namespace rampart::nlog {
namespace {

Value S(const char* s) { return Value::String(s); }
Value I(int64_t v) { return Value::Int(v); }
Value IP(const char* s) { return *Value::Parse(Type::kIp, s); }
Value PFX(const char* s) { return *Value::Parse(Type::kPrefix, s); }

std::string CompileError(const std::string& text) {
  auto p = Program::Compile(text, "t.nlog");
  return p.ok() ? "OK" : std::string(p.status().message());
}

Engine Make(const std::string& text) {
  auto p = Program::Compile(text, "t.nlog");
  EXPECT_TRUE(p.ok()) << p.status();
  return Engine(*std::move(p));
}

std::vector<Row> Rows(const Engine& e, const char* table) { return *e.Scan(table); }

// ---- values ----

// StableHash is the `hash` builtin: its results are part of programs' outputs. These were
// printed by the 24-byte Value (a, b, len, type) before the 12-byte encoding and must not change.
TEST(NlogValue, StableHashIsUnchangedByTheEncoding) {
  struct Case {
    Type type;
    const char* text;
    uint64_t h0, h1;
  };
  const Case cases[] = {
  {Type::kIp, "198.18.0.1", 0xf1ddab66c6f32dd0ull, 0x37b7755ba4394c02ull},
  {Type::kIp, "0.0.0.0", 0xe982c8dd2eeefc63ull, 0x455a9e6a1ab98d2bull},
  {Type::kIp, "255.255.255.255", 0xbe60286c3a34b098ull, 0x2ccac0666c79ae04ull},
  {Type::kIp, "2001:db8::1", 0x7da2acd3b048efe9ull, 0x88d1c183a1a5268full},
  {Type::kIp, "::", 0x04c8e6b4dd8dae82ull, 0x68f8888d431659b7ull},
  {Type::kIp, "::1", 0xeddedaff78a054eaull, 0x39493f17034eb151ull},
  {Type::kIp, "fe80::1:2", 0x15b2f5fb5ba49982ull, 0xf1c2e082e2eadb13ull},
  {Type::kIp, "::ffff:0:0", 0xe982c8dd2eeefc63ull, 0x455a9e6a1ab98d2bull},
  {Type::kPrefix, "198.18.0.0/15", 0x6d3f7fd7bc3dee93ull, 0xa27c4010eceda15cull},
  {Type::kPrefix, "0.0.0.0/0", 0xa2093f84aebe0a44ull, 0x81035309cc50c1eeull},
  {Type::kPrefix, "198.18.0.1/32", 0x5b61c9f4f09ff0b8ull, 0x08386030a8520450ull},
  {Type::kPrefix, "2001:db8::/32", 0x2a0e6e00c14dbcadull, 0xe701783171e175aaull},
  {Type::kPrefix, "::/0", 0xf3de26e0ef07b10cull, 0x9fddf4b45ea55947ull},
  {Type::kPrefix, "fe80::/10", 0xa1b3bb052ba881a2ull, 0x6e33ab36beb06832ull},
  {Type::kInt, "0", 0x8044259ac302db3eull, 0xb72086e85f020c55ull},
  {Type::kInt, "-5", 0x94d4a4fa433ead01ull, 0x22d46a05cd57fe48ull},
  {Type::kInt, "1099511627776", 0x1fbd2e13e5d92c7dull, 0xefd77349b14324a3ull},
  {Type::kInt, "-9223372036854775808", 0xb6aafb2e85f91c96ull, 0xb493775b13ef9705ull},
  {Type::kBool, "true", 0x6db8785da7926a81ull, 0xa37947008542d8c4ull},
  {Type::kBool, "false", 0x78f15cce67a250adull, 0xe2a875571a0510d0ull},
  {Type::kMac, "02:00:00:00:00:01", 0x54907d067a25d84dull, 0x6df9727e82b1a218ull},
  {Type::kMac, "ff:ff:ff:ff:ff:ff", 0x26f9d47267d23aecull, 0xd96f7e5ddfa41fe6ull},
  {Type::kString, "", 0xf05d14062027ba61ull, 0xd004a0eb839b7de0ull},
  {Type::kString, "web", 0xf4d8997e6350c2f1ull, 0x3d9a93a6edb9faedull},
  {Type::kString, "a longer string beyond sso", 0x73f78363020b53c1ull, 0x56ec895bc9ce8e93ull},
  };
  for (const Case& c : cases) {
    std::optional<Value> v = Value::Parse(c.type, c.text);
    ASSERT_TRUE(v.has_value()) << c.text;
    EXPECT_EQ(v->StableHash(0), c.h0) << c.text;
    EXPECT_EQ(v->StableHash(0x1234567), c.h1) << c.text;
  }
}

// Addresses: inline IPv4-mapped or interned IPv6, one encoding per content. Equality, the order
// (by the 128-bit address, then the length) and the accessors agree with Ip/Prefix on random
// addresses of both kinds, some of them close to the IPv4-mapped range.
TEST(NlogValue, AddressEncodingMatchesIpAndPrefix) {
  std::mt19937_64 rng(42);
  auto random_ip = [&]() {
    switch (rng() % 4) {
      case 0: return Ip::V4(static_cast<uint32_t>(rng() % 8));  // few: many equal pairs
      case 1: return Ip::V4(static_cast<uint32_t>(rng()));
      case 2: return Ip{0, (rng() % 3 == 0 ? 0x0000fffe00000000ull : 0x0000ffff00000000ull) | (rng() % 4)};
      default: return Ip{rng() % 3 == 0 ? 0 : 0x20010db800000000ull | (rng() % 4), rng() % 4};
    }
  };
  std::vector<Ip> ips;
  std::vector<Prefix> prefixes;
  for (int i = 0; i < 300; ++i) {
    ips.push_back(random_ip());
    const int len = static_cast<int>(rng() % 129);
    prefixes.push_back(Prefix::Make(random_ip(), len));
  }
  for (size_t i = 0; i < ips.size(); ++i) {
    const Value a = Value::FromIp(ips[i]);
    ASSERT_EQ(a.type(), Type::kIp);
    ASSERT_EQ(a.AsIp(), ips[i]);
    ASSERT_EQ(*Value::Parse(Type::kIp, ips[i].ToString()), a) << ips[i].ToString();
    const Value p = Value::FromPrefix(prefixes[i]);
    ASSERT_EQ(p.AsPrefix(), prefixes[i]);
    ASSERT_EQ(*Value::Parse(Type::kPrefix, prefixes[i].ToString()), p) << prefixes[i].ToString();
    for (size_t j = 0; j < ips.size(); ++j) {
      const Value b = Value::FromIp(ips[j]);
      ASSERT_EQ(a == b, ips[i] == ips[j]);
      if (a == b) {
        ASSERT_EQ(a.FastHash(), b.FastHash());
      }
      const int want = ips[i] < ips[j] ? -1 : ips[j] < ips[i] ? 1 : 0;
      ASSERT_EQ(Compare(a, b), want) << ips[i].ToString() << " vs " << ips[j].ToString();
      const Value q = Value::FromPrefix(prefixes[j]);
      ASSERT_EQ(p == q, prefixes[i] == prefixes[j]);
      const int pwant = prefixes[i] < prefixes[j] ? -1 : prefixes[j] < prefixes[i] ? 1 : 0;
      ASSERT_EQ(Compare(p, q), pwant) << prefixes[i].ToString() << " vs " << prefixes[j].ToString();
      if (p == q) {
        ASSERT_EQ(p.FastHash(), q.FastHash());
      }
    }
  }
  // Types order first; a zero int is the default value; ints order signed, MACs unsigned.
  EXPECT_EQ(Value(), Value::Int(0));
  EXPECT_LT(Compare(Value::Int(5), Value::String("a")), 0);
  EXPECT_LT(Compare(Value::Int(-1), Value::Int(1)), 0);
  EXPECT_LT(Compare(Value::Mac(1), Value::Mac(0xff0000000000ull)), 0);
  EXPECT_EQ(Value::Mac(0xff0000000001ull).ToString(), "ff:00:00:00:00:01");
  EXPECT_EQ(Value::Int(-9000000000).AsInt(), -9000000000);
  EXPECT_NE(Value::Int(1), Value::Bool(true));
}

// Interned strings: one id per text (empty, short, block-sized and longer than a block's
// quarter), the text back unchanged, order by text.
TEST(NlogValue, InternedStringsKeepTheirText) {
  std::vector<std::string> texts = {"", "a", "web", std::string(15, 'x'), std::string(16, 'y'),
                                    std::string(20000, 'z'), std::string(70000, 'w')};
  for (int i = 0; i < 5000; ++i) texts.push_back("str-" + std::to_string(i * 7919 % 5003));
  std::vector<Value> values;
  for (const std::string& t : texts) values.push_back(Value::String(t));
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(values[i].AsString(), texts[i]);
    ASSERT_EQ(Value::String(texts[i]), values[i]);
    ASSERT_EQ(Value::String(texts[i]).StringId(), values[i].StringId());
    const size_t j = (i * 31 + 7) % texts.size();
    ASSERT_EQ(values[i] == values[j], texts[i] == texts[j]);
    const int want = texts[i] < texts[j] ? -1 : texts[j] < texts[i] ? 1 : 0;
    ASSERT_EQ(Compare(values[i], values[j]), want);
  }
  EXPECT_GE(GetStringPoolStats().strings, 5000u);
}

// Several threads intern overlapping strings and IPv6 addresses at once: one id per content,
// every text and address read back unchanged (also by the other threads).
TEST(NlogValue, InterningFromSeveralThreadsAgrees) {
  constexpr int kThreads = 4, kPer = 3000;
  std::vector<std::vector<Value>> strs(kThreads), ips(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &strs, &ips] {
      for (int i = 0; i < kPer; ++i) {
        const int k = (i * (t + 1)) % kPer;
        strs[t].push_back(Value::String("mt-" + std::to_string(k)));
        uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        b[14] = static_cast<uint8_t>(k >> 8);
        b[15] = static_cast<uint8_t>(k);
        ips[t].push_back(Value::FromIp(Ip::V6(b)));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPer; ++i) {
      const int k = (i * (t + 1)) % kPer;
      ASSERT_EQ(strs[t][i].AsString(), "mt-" + std::to_string(k));
      ASSERT_EQ(strs[t][i], Value::String("mt-" + std::to_string(k)));
      ASSERT_EQ(ips[t][i].AsIp().lo, static_cast<uint64_t>(k));
      ASSERT_EQ(ips[t][i], ips[0][static_cast<size_t>(k)]);  // thread 0 interned k at index k
    }
  }
}

// ---- compile errors ----

TEST(NlogCompile, UnboundHeadVariableIsReportedWithPosition) {
  EXPECT_EQ(CompileError("input table A(x: int).\noutput table B(x: int, y: int).\nB(x, y) :- A(x)."),
            "t.nlog:3:6: unbound variable 'y' in the head of B: every head variable must appear in a positive "
            "table of the body or be assigned");
}

TEST(NlogCompile, UnboundVariableInNegation) {
  std::string e = CompileError("input table A(x: int).\ninput table C(x: int).\noutput table B(x: int).\n"
                               "B(x) :- A(x), not C(y).");
  EXPECT_NE(e.find("t.nlog:4:21: unbound variable 'y' in negation 'not C(...)'"), std::string::npos) << e;
}

TEST(NlogCompile, TypeMismatchInJoin) {
  std::string e = CompileError("input table A(x: int).\ninput table C(x: string).\noutput table B(x: int).\n"
                               "B(x) :- A(x), C(x).");
  EXPECT_EQ(e, "t.nlog:4:17: type mismatch: variable 'x' is int but column 'x' of C is string");
}

TEST(NlogCompile, ArityMismatch) {
  EXPECT_EQ(CompileError("input table A(x: int).\noutput table B(x: int).\nB(x) :- A(x, y)."),
            "t.nlog:3:9: table 'A' has 1 columns, got 2 arguments");
}

TEST(NlogCompile, UnknownTableAndFunction) {
  EXPECT_EQ(CompileError("output table B(x: int).\nB(x) :- A(x)."), "t.nlog:2:9: unknown table 'A'");
  EXPECT_EQ(CompileError("input table A(x: int).\noutput table B(x: int).\nB(y) :- A(x), y = frob(x)."),
            "t.nlog:3:19: unknown function 'frob'");
}

TEST(NlogCompile, NegationCycleIsNotStratifiable) {
  std::string e = CompileError(
      "input table I(x: int).\ninternal table A(x: int).\ninternal table C(x: int).\n"
      "A(x) :- I(x), not C(x).\nC(x) :- A(x).");
  EXPECT_NE(e.find("program is not stratifiable"), std::string::npos) << e;
  EXPECT_NE(e.find("t.nlog:4:19"), std::string::npos) << e;
}

TEST(NlogCompile, RecursionIsRejectedInV1) {
  std::string e = CompileError(
      "input table E(a: int, b: int).\ninternal table P(a: int, b: int).\n"
      "P(a, b) :- E(a, b).\nP(a, c) :- P(a, b), E(b, c).");
  EXPECT_NE(e.find("recursion is not supported in nlog v1: dependency cycle P -> P"), std::string::npos) << e;
}

TEST(NlogCompile, OtherErrors) {
  EXPECT_EQ(CompileError("output table B(x: int) key(x)."),
            "t.nlog:1:14: key(...) is only supported on input tables (table 'B')");
  EXPECT_EQ(CompileError("input table A(x: ip).\noutput table B(x: ip).\nB(x) :- A(x), x != \"198.18.0.300\"."),
            "t.nlog:3:20: \"198.18.0.300\" is not a valid ip literal (the expected value)");
  EXPECT_EQ(CompileError("input table A(x: int)"), "t.nlog:1:22: expected '.' at the end of the table declaration, found end of input");
  EXPECT_EQ(CompileError("input table A(x: float)."), "t.nlog:1:18: unknown type 'float' (types: int, string, bool, ip, prefix, mac)");
  EXPECT_EQ(CompileError("input table A(x: int).\nA(1)."), "t.nlog:2:1: rule derives input table 'A'; only internal and output tables have rules");
  EXPECT_EQ(CompileError("input table A(x: int).\noutput table B(x: int).\nB(x) :- A(x), x + 1."),
            "t.nlog:3:15: a condition must be bool, this expression is int");
  EXPECT_EQ(CompileError("input table A(x: int).\ninput table A(y: int)."), "t.nlog:2:13: table 'A' is declared twice");
  EXPECT_EQ(CompileError("input table A(x: int).\noutput table B(x: string).\nB(count(x)) :- A(x)."),
            "t.nlog:3:3: type mismatch: column 'x' of B is string but count(x) is int");
  EXPECT_EQ(CompileError("input table A(x: int) $"), "t.nlog:1:23: unexpected character '$'");
}

// ---- engine features ----

TEST(NlogEngine, ThreeWayJoinAndRetraction) {
  Engine e = Make(R"(
    input table Rule(t: string, r: int, g: string).
    input table Member(t: string, g: string, p: string).
    input table PortHost(t: string, p: string, h: string).
    output table Span(t: string, r: int, h: string).
    Span(t, r, h) :- Rule(t, r, g), Member(t, g, p), PortHost(t, p, h).
  )");
  Transaction tx;
  tx.Insert("Rule", {S("t1"), I(1), S("web")});
  tx.Insert("Member", {S("t1"), S("web"), S("p1")});
  tx.Insert("Member", {S("t1"), S("web"), S("p2")});
  tx.Insert("PortHost", {S("t1"), S("p1"), S("h1")});
  tx.Insert("PortHost", {S("t1"), S("p2"), S("h1")});
  tx.Insert("PortHost", {S("t2"), S("p1"), S("h9")});  // foreign tenant: must not join
  auto d = e.Apply(tx);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tables["Span"].inserted, (std::vector<Row>{{S("t1"), I(1), S("h1")}}));
  // h1 is supported twice (p1 and p2): removing one port keeps the row.
  Transaction del1;
  del1.Delete("Member", {S("t1"), S("web"), S("p1")});
  d = e.Apply(del1);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
  Transaction del2;
  del2.Delete("Member", {S("t1"), S("web"), S("p2")});
  d = e.Apply(del2);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tables["Span"].deleted, (std::vector<Row>{{S("t1"), I(1), S("h1")}}));
  EXPECT_TRUE(Rows(e, "Span").empty());
}

// MemoryByTable: one entry per table in declaration order with its rows, arity and indexes
// (only the ones the plans probe, plus an input key), its parts adding up, all within
// MemoryBytes; indexes keep working after rows come and go (heads are row ids).
TEST(NlogEngine, MemoryByTableDescribesEveryTable) {
  Engine e = Make(R"(
    input table Rule(t: string, r: int, g: string) key(t, r).
    input table Member(t: string, g: string, p: ip).
    output table Span(t: string, r: int, p: ip).
    Span(t, r, p) :- Rule(t, r, g), Member(t, g, p).
  )");
  auto member = [](int p) {
    uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    v6[15] = static_cast<uint8_t>(p);
    const Ip ip = p % 3 ? Ip::V4(0xc6120000u + p) : Ip::V6(v6);
    return Row{S("t1"), S(p % 2 ? "web" : "db"), Value::FromIp(ip)};
  };
  Transaction tx;
  for (int r = 0; r < 300; ++r) tx.Insert("Rule", {S("t1"), I(r), S(r % 2 ? "web" : "db")});
  for (int p = 0; p < 40; ++p) tx.Insert("Member", member(p));
  ASSERT_TRUE(e.Apply(tx).ok());
  ASSERT_EQ(e.TableSize("Span"), 300u * 20);
  // Half the members leave: every Span row of theirs goes, the indexes stay consistent.
  Transaction del;
  for (int p = 0; p < 40; p += 2) del.Delete("Member", member(p));
  auto d = e.Apply(del);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tables["Span"].deleted.size(), 150u * 20);
  EXPECT_EQ(e.TableSize("Span"), 150u * 20);
  EXPECT_FALSE(e.Apply(tx).ok());  // the remaining rows are present: "already present", no change
  std::vector<TableMemory> m = e.MemoryByTable();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "Rule");
  EXPECT_EQ(m[0].rows, 300u);
  EXPECT_EQ(m[0].arity, 3);
  EXPECT_EQ(m[0].indexes, 2);  // the key (t, r) and (t, g) probed from Member's delta
  EXPECT_EQ(m[1].name, "Member");
  EXPECT_EQ(m[1].rows, 20u);
  EXPECT_EQ(m[1].indexes, 1);  // (t, g) probed from Rule's delta
  EXPECT_EQ(m[2].name, "Span");
  EXPECT_EQ(m[2].kind, TableKind::kOutput);
  EXPECT_EQ(m[2].indexes, 0);  // never probed
  size_t sum = 0;
  for (const TableMemory& t : m) {
    EXPECT_GE(t.values, t.rows * t.arity * sizeof(Value)) << t.name;
    EXPECT_EQ(t.indexes == 0, t.index_heads + t.index_links == 0) << t.name;
    EXPECT_GT(t.total, t.values + t.counts + t.row_set) << t.name;
    sum += t.total;
  }
  EXPECT_LE(sum, e.MemoryBytes());
}

TEST(NlogEngine, UnchangedInputProducesEmptyDelta) {
  Engine e = Make("input table A(x: int).\noutput table B(x: int).\nB(x) :- A(x).");
  Transaction tx;
  tx.Insert("A", {I(1)});
  ASSERT_TRUE(e.Apply(tx).ok());
  auto d = e.Apply(Transaction());
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
  Transaction same;  // delete and re-insert the same row: no net change
  same.Delete("A", {I(1)});
  same.Insert("A", {I(1)});
  d = e.Apply(same);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->empty());
}

TEST(NlogEngine, NegationWithWildcard) {
  Engine e = Make(R"(
    input table Port(p: string).
    input table Acl(p: string, rule: int).
    output table Open(p: string).
    Open(p) :- Port(p), not Acl(p, _).
  )");
  Transaction tx;
  tx.Insert("Port", {S("a")});
  tx.Insert("Port", {S("b")});
  tx.Insert("Acl", {S("a"), I(1)});
  tx.Insert("Acl", {S("a"), I(2)});
  auto d = e.Apply(tx);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tables["Open"].inserted, (std::vector<Row>{{S("b")}}));
  Transaction t2;
  t2.Delete("Acl", {S("a"), I(1)});
  d = e.Apply(t2);
  EXPECT_TRUE(d->empty());  // a still has rule 2
  Transaction t3;
  t3.Delete("Acl", {S("a"), I(2)});
  d = e.Apply(t3);
  EXPECT_EQ(d->tables["Open"].inserted, (std::vector<Row>{{S("a")}}));
}

TEST(NlogEngine, AggregatesCountMinMaxAreIncremental) {
  Engine e = Make(R"(
    input table M(g: string, p: int).
    output table Size(g: string, n: int).
    output table Lo(g: string, n: int).
    output table Hi(g: string, n: int).
    Size(g, count(p)) :- M(g, p).
    Lo(g, min(p)) :- M(g, p).
    Hi(g, max(p)) :- M(g, p).
  )");
  Transaction tx;
  tx.Insert("M", {S("g"), I(5)});
  tx.Insert("M", {S("g"), I(3)});
  tx.Insert("M", {S("g"), I(9)});
  ASSERT_TRUE(e.Apply(tx).ok());
  EXPECT_EQ(Rows(e, "Size"), (std::vector<Row>{{S("g"), I(3)}}));
  EXPECT_EQ(Rows(e, "Lo"), (std::vector<Row>{{S("g"), I(3)}}));
  EXPECT_EQ(Rows(e, "Hi"), (std::vector<Row>{{S("g"), I(9)}}));
  Transaction t2;
  t2.Delete("M", {S("g"), I(3)});
  auto d = e.Apply(t2);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tables["Size"].deleted, (std::vector<Row>{{S("g"), I(3)}}));
  EXPECT_EQ(d->tables["Size"].inserted, (std::vector<Row>{{S("g"), I(2)}}));
  EXPECT_EQ(d->tables["Lo"].inserted, (std::vector<Row>{{S("g"), I(5)}}));
  EXPECT_EQ(d->tables.count("Hi"), 0u);
  Transaction t3;
  t3.Delete("M", {S("g"), I(5)});
  t3.Delete("M", {S("g"), I(9)});
  ASSERT_TRUE(e.Apply(t3).ok());
  EXPECT_TRUE(Rows(e, "Size").empty());
}

TEST(NlogEngine, AddressBuiltins) {
  Engine e = Make(R"(
    input table Net(name: string, p: prefix).
    input table Vm(ip: ip).
    output table Info(name: string, net: ip, bcast: ip, len: int, gw: ip, sub: prefix).
    output table In(name: string, ip: ip).
    Info(n, a, b, l, g, s) :- Net(n, p), a = network(p), b = broadcast(p), l = length(p),
                              g = ip_add(a, 1), s = prefix(g, 30).
    In(n, i) :- Net(n, p), Vm(i), prefix_contains(p, i), is_v4(i).
  )");
  Transaction tx;
  tx.Insert("Net", {S("n1"), PFX("198.18.4.0/22")});
  tx.Insert("Vm", {IP("198.18.5.7")});
  tx.Insert("Vm", {IP("198.19.0.1")});
  ASSERT_TRUE(e.Apply(tx).ok());
  EXPECT_EQ(Rows(e, "Info"), (std::vector<Row>{{S("n1"), IP("198.18.4.0"), IP("198.18.7.255"), I(22),
                                                IP("198.18.4.1"), PFX("198.18.4.0/30")}}));
  EXPECT_EQ(Rows(e, "In"), (std::vector<Row>{{S("n1"), IP("198.18.5.7")}}));
}

TEST(NlogEngine, StringAndHashBuiltinsAreStable) {
  Engine e = Make(R"(
    input table A(x: string, n: int).
    output table B(s: string, h: int, t: string).
    B(s, h, t) :- A(x, n), s = concat(x, "-", n, "-", true), h = hash(x, n), t = to_string(n + 1).
  )");
  Transaction tx;
  tx.Insert("A", {S("ab"), I(7)});
  ASSERT_TRUE(e.Apply(tx).ok());
  auto rows = Rows(e, "B");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], S("ab-7-true"));
  EXPECT_EQ(rows[0][2], S("8"));
  // The hash is of content, not of interned ids: interning other strings first changes nothing.
  Value::String("zzz-unrelated");
  Engine e2 = Make("input table A(x: string, n: int).\noutput table H(h: int).\nH(h) :- A(x, n), h = hash(x, n).");
  ASSERT_TRUE(e2.Apply(tx).ok());
  EXPECT_EQ(Rows(e2, "H")[0][0], rows[0][1]);
  EXPECT_GE(rows[0][1].AsInt(), 0);
}

TEST(NlogEngine, FactsAndNegationOnlyRulesHoldInitially) {
  Engine e = Make(R"(
    input table Down(h: string).
    output table Const(x: int, s: string).
    output table Up(h: string).
    Const(1, "one").
    Up("h1") :- not Down("h1").
  )");
  const auto& init = e.initial_delta().tables;
  ASSERT_EQ(init.size(), 2u);
  EXPECT_EQ(init.at("Const").inserted, (std::vector<Row>{{I(1), S("one")}}));
  Transaction tx;
  tx.Insert("Down", {S("h1")});
  auto d = e.Apply(tx);
  EXPECT_EQ(d->tables["Up"].deleted, (std::vector<Row>{{S("h1")}}));
}

TEST(NlogEngine, SelfJoinIsCountedOnce) {
  Engine e = Make(R"(
    input table Link(a: int, b: int).
    output table Path2(a: int, c: int).
    Path2(a, c) :- Link(a, b), Link(b, c).
  )");
  Transaction tx;
  tx.Insert("Link", {I(1), I(1)});
  tx.Insert("Link", {I(1), I(2)});
  auto d = e.Apply(tx);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->tables["Path2"].inserted, (std::vector<Row>{{I(1), I(1)}, {I(1), I(2)}}));
  Transaction t2;
  t2.Delete("Link", {I(1), I(1)});
  d = e.Apply(t2);
  EXPECT_EQ(d->tables["Path2"].deleted, (std::vector<Row>{{I(1), I(1)}, {I(1), I(2)}}));
}

// ---- transaction errors: the transaction changes nothing ----

TEST(NlogTransaction, KeyViolationRejectsWholeTransaction) {
  Engine e = Make(R"(
    input table Port(t: string, p: string, host: string) key(t, p).
    output table H(h: string).
    H(h) :- Port(_, _, h).
  )");
  Transaction tx;
  tx.Insert("Port", {S("t"), S("p1"), S("h1")});
  ASSERT_TRUE(e.Apply(tx).ok());
  Transaction bad;
  bad.Insert("Port", {S("t"), S("p2"), S("h2")});
  bad.Insert("Port", {S("t"), S("p1"), S("h3")});
  auto d = e.Apply(bad);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(),
            "transaction: table 'Port': key (t=\"t\", p=\"p1\") would have 2 rows; delete the old row in the same "
            "transaction");
  EXPECT_EQ(Rows(e, "H"), (std::vector<Row>{{S("h1")}}));
  Transaction move;  // an update: delete the old row, insert the new one
  move.Delete("Port", {S("t"), S("p1"), S("h1")});
  move.Insert("Port", {S("t"), S("p1"), S("h3")});
  d = e.Apply(move);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->tables["H"].inserted, (std::vector<Row>{{S("h3")}}));
  EXPECT_EQ(d->tables["H"].deleted, (std::vector<Row>{{S("h1")}}));
}

TEST(NlogTransaction, ErrorsNameTableAndReason) {
  Engine e = Make("input table A(x: int, y: string).\noutput table B(x: int).\nB(x) :- A(x, _).");
  auto err = [&](Transaction tx) {
    auto d = e.Apply(tx);
    return d.ok() ? std::string("OK") : std::string(d.status().message());
  };
  Transaction t1;
  t1.Insert("Nope", {I(1)});
  EXPECT_EQ(err(t1), "transaction: insert into unknown table 'Nope'");
  Transaction t2;
  t2.Insert("A", {I(1)});
  EXPECT_EQ(err(t2), "transaction: insert into table 'A': row has 1 values, the table has 2 columns");
  Transaction t3;
  t3.Insert("A", {I(1), I(2)});
  EXPECT_EQ(err(t3), "transaction: insert into table 'A': column 'y' is string, got int");
  Transaction t4;
  t4.Delete("A", {I(1), S("a")});
  EXPECT_EQ(err(t4), "transaction: delete from table 'A': row (1, \"a\") is not present");
  Transaction t5;
  t5.Insert("B", {I(1)});
  EXPECT_EQ(err(t5), "transaction: insert into table 'B': only input tables can be changed");
  Transaction ok;
  ok.Insert("A", {I(1), S("a")});
  ASSERT_EQ(err(ok), "OK");
  Transaction t6;
  t6.Insert("A", {I(2), S("a")});
  t6.Insert("A", {I(1), S("a")});
  EXPECT_EQ(err(t6), "transaction: insert into table 'A': row (1, \"a\") is already present");
  EXPECT_EQ(e.TableSize("A"), 1u);  // t6's first insert was not applied
}

// ---- JSON transactions ----

TEST(NlogJson, ParsesTypedValuesAndPrintsSortedDelta) {
  auto prog = Program::Compile(R"(
    input table A(t: string, n: int, b: bool, ip: ip, p: prefix, m: mac).
    output table B(t: string, n: int, m: mac).
    B(t, n, m) :- A(t, n, true, ip, p, m), prefix_contains(p, ip).
  )", "t.nlog");
  ASSERT_TRUE(prog.ok()) << prog.status();
  Engine e(*prog);
  auto tx = ParseTransactionJson(
      R"({"insert": {"A": [["z", 2, true, "198.18.0.9", "198.18.0.0/24", "02:00:00:00:00:0A"],
                           ["a", -1, true, "198.18.0.9", "198.18.0.0/24", "02:00:00:00:00:01"],
                           ["x", 5, false, "198.18.0.9", "198.18.0.0/24", "02:00:00:00:00:01"]]}})",
      *prog);
  ASSERT_TRUE(tx.ok()) << tx.status();
  auto d = e.Apply(*tx);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(DeltaToJson(3, *d),
            R"({"tx":3,"insert":{"B":[["a",-1,"02:00:00:00:00:01"],["z",2,"02:00:00:00:00:0a"]]},"delete":{}})");
}

TEST(NlogJson, ErrorsNameTableRowAndColumn) {
  auto prog = Program::Compile("input table A(t: string, ip: ip).\noutput table B(t: string).\nB(t) :- A(t, _).",
                               "t.nlog");
  ASSERT_TRUE(prog.ok());
  auto err = [&](const char* json) {
    auto tx = ParseTransactionJson(json, *prog);
    return tx.ok() ? std::string("OK") : std::string(tx.status().message());
  };
  EXPECT_EQ(err(R"({"insert": {"A": [["a", "198.18.0.1"], ["b", 7]]}})"),
            "table 'A', insert row 2, column 'ip': expected a string holding ip, got 7");
  EXPECT_EQ(err(R"({"delete": {"A": [["a", "198.18.0.256"]]}})"),
            "table 'A', delete row 1, column 'ip': \"198.18.0.256\" is not a valid ip");
  EXPECT_EQ(err(R"({"insert": {"A": [["a"]]}})"), "table 'A', insert row 1: 1 values, the table has 2 columns");
  EXPECT_EQ(err(R"({"insert": {"B": [["a"]]}})"), "table 'B' is not an input table");
  EXPECT_EQ(err(R"({"insert": {"C": []}})"), "unknown table 'C'");
  EXPECT_EQ(err(R"({"upsert": {}})"), "unknown key \"upsert\" (expected \"insert\" or \"delete\")");
  EXPECT_EQ(err("[1, 2"), "not valid JSON");
  EXPECT_EQ(err("{}"), "OK");
}

}  // namespace
}  // namespace rampart::nlog
