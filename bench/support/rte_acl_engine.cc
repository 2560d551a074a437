#include "bench/support/rte_acl_engine.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

#ifdef RAMPART_HAVE_DPDK
#include <rte_acl.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#endif

namespace rampart::bench {

#ifdef RAMPART_HAVE_DPDK

namespace {

RTE_ACL_RULE_DEF(AclRule, 5);

const rte_acl_field_def kFieldDefs[5] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), 0, 0, offsetof(AclKey, proto)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), 1, 1, offsetof(AclKey, src)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), 2, 2, offsetof(AclKey, dst)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), 3, 3, offsetof(AclKey, sport)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), 4, 3, offsetof(AclKey, dport)},
};

size_t HeapAllocated() {
  size_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); ++i) {
    rte_malloc_socket_stats st;
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0) total += st.heap_allocsz_bytes;
  }
  return total;
}

}  // namespace

bool AclAvailable() { return true; }

absl::Status InitEal(int mem_mb) {
  static std::once_flag once;
  static absl::Status status;
  std::call_once(once, [mem_mb] {
    std::string prefix = absl::StrCat("--file-prefix=rampart-bench-", getpid());
    std::string mem = std::to_string(mem_mb);
    std::vector<std::string> args = {"rampart-bench", "--no-huge", "--no-pci", "-m", mem,
                                     "--no-shconf", "-l", "0", "--log-level=error", prefix};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      status = absl::InternalError(absl::StrCat("rte_eal_init failed: ", rte_strerror(rte_errno)));
    }
  });
  return status;
}

AclEngine::~AclEngine() {
  if (ctx_) rte_acl_free(ctx_);
}

absl::StatusOr<std::unique_ptr<AclEngine>> AclEngine::Build(const std::vector<ClassRule>& rules) {
  static std::atomic<int> counter{0};
  std::string name = absl::StrCat("rampart-acl-", counter++);
  rte_acl_param param{};
  param.name = name.c_str();
  param.socket_id = SOCKET_ID_ANY;
  param.rule_size = RTE_ACL_RULE_SZ(5);
  param.max_rule_num = static_cast<uint32_t>(rules.size());
  auto engine = std::unique_ptr<AclEngine>(new AclEngine());
  size_t before = HeapAllocated();
  engine->ctx_ = rte_acl_create(&param);
  if (!engine->ctx_) return absl::InternalError(absl::StrCat("rte_acl_create: ", rte_strerror(rte_errno)));
  std::vector<AclRule> acl(rules.size());
  for (size_t i = 0; i < rules.size(); ++i) {
    const RuleMatch& m = rules[i].match;
    if (m.family != 4) return absl::InvalidArgumentError("rte_acl engine: IPv4 rules only");
    AclRule& a = acl[i];
    a.data.category_mask = 1;
    a.data.priority = RTE_ACL_MAX_PRIORITY - static_cast<int32_t>(i);
    a.data.userdata = static_cast<uint32_t>(i + 1);
    a.field[0].value.u8 = m.proto;
    a.field[0].mask_range.u8 = m.proto_mask;
    a.field[1].value.u32 = m.src.len == 0 ? 0 : m.src.addr.V4Addr();
    a.field[1].mask_range.u32 = m.src.len == 0 ? 0 : m.src.len - 96u;
    a.field[2].value.u32 = m.dst.len == 0 ? 0 : m.dst.addr.V4Addr();
    a.field[2].mask_range.u32 = m.dst.len == 0 ? 0 : m.dst.len - 96u;
    a.field[3].value.u16 = m.sport.lo;
    a.field[3].mask_range.u16 = m.sport.hi;
    a.field[4].value.u16 = m.dport.lo;
    a.field[4].mask_range.u16 = m.dport.hi;
  }
  int rc = rte_acl_add_rules(engine->ctx_, reinterpret_cast<const rte_acl_rule*>(acl.data()),
                             static_cast<uint32_t>(acl.size()));
  if (rc != 0) return absl::InternalError(absl::StrCat("rte_acl_add_rules: ", rc));
  rte_acl_config cfg{};
  cfg.num_categories = 1;
  cfg.num_fields = 5;
  std::memcpy(cfg.defs, kFieldDefs, sizeof(kFieldDefs));
  rc = rte_acl_build(engine->ctx_, &cfg);
  if (rc != 0) return absl::InternalError(absl::StrCat("rte_acl_build: ", rc, " (", rte_strerror(-rc), ")"));
  engine->memory_bytes_ = HeapAllocated() - before;
  return engine;
}

void AclEngine::Classify(const uint8_t** data, uint32_t* out, size_t n) const {
  rte_acl_classify(ctx_, data, out, static_cast<uint32_t>(n), 1);
}

AclKey AclEngine::MakeKey(const ClassKey& k) {
  AclKey a{};
  a.proto = k.proto;
  a.src = htonl(k.src.V4Addr());
  a.dst = htonl(k.dst.V4Addr());
  a.sport = htons(k.sport);
  a.dport = htons(k.dport);
  return a;
}

std::string AclEngine::AlgorithmName() const {
  // rte_acl keeps the chosen algorithm private; rte_acl_dump prints it ("alg=N") to stdout.
  std::fflush(stdout);
  FILE* tmp = std::tmpfile();
  if (!tmp) return "unknown";
  int saved = dup(STDOUT_FILENO);
  dup2(fileno(tmp), STDOUT_FILENO);
  rte_acl_dump(ctx_);
  std::fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  std::rewind(tmp);
  char buf[4096];
  size_t len = std::fread(buf, 1, sizeof(buf) - 1, tmp);
  std::fclose(tmp);
  buf[len] = '\0';
  const char* p = std::strstr(buf, "alg=");
  if (!p) return "unknown";
  switch (std::atoi(p + 4)) {
    case RTE_ACL_CLASSIFY_SCALAR: return "scalar";
    case RTE_ACL_CLASSIFY_SSE: return "sse";
    case RTE_ACL_CLASSIFY_AVX2: return "avx2";
    case RTE_ACL_CLASSIFY_AVX512X16: return "avx512x16";
    case RTE_ACL_CLASSIFY_AVX512X32: return "avx512x32";
    default: return absl::StrCat("alg-", std::atoi(p + 4));
  }
}

#else  // !RAMPART_HAVE_DPDK

bool AclAvailable() { return false; }
absl::Status InitEal(int) { return absl::UnavailableError("built without DPDK (libdpdk-dev)"); }
AclEngine::~AclEngine() = default;
absl::StatusOr<std::unique_ptr<AclEngine>> AclEngine::Build(const std::vector<ClassRule>&) {
  return absl::UnavailableError("built without DPDK (libdpdk-dev)");
}
void AclEngine::Classify(const uint8_t**, uint32_t* out, size_t n) const {
  for (size_t i = 0; i < n; ++i) out[i] = 0;
}
AclKey AclEngine::MakeKey(const ClassKey& k) { return AclKey{}; }
std::string AclEngine::AlgorithmName() const { return "none"; }

#endif

}  // namespace rampart::bench
