// Fuzz target: ConnTable::Import of arbitrary bytes. Import must either fail and leave the
// table exactly as it was, or succeed; a successful import exports to a blob that imports
// again to the same entries.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <xxhash.h>

#include "conntrack/conntrack.h"

using namespace rampart;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Random bytes rarely carry a valid checksum, so the first input byte picks whether the
  // blob (the rest of the input) gets its last 8 bytes replaced by a correct XXH64: that lets
  // the fuzzer reach the header and record validation.
  if (size == 0) return 0;
  std::vector<uint8_t> blob(data + 1, data + size);
  if ((data[0] & 1) && blob.size() >= 8) {
    const size_t body = blob.size() - 8;
    const uint64_t h = XXH64(blob.data(), body, 0);
    for (int i = 0; i < 8; ++i) blob[body + i] = static_cast<uint8_t>(h >> (56 - 8 * i));
  }
  ConnTableOptions o;
  o.max_connections = 256;
  o.initial_capacity = 16;
  auto t = ConnTable::Create(o);
  if (!t.ok()) std::abort();
  ConnTable& table = **t;
  const uint64_t now = 1000000000000ull;
  auto st = table.Import(blob, now);
  if (!st.ok()) {
    if (table.Size() != 0) std::abort();  // a failed import imports nothing
    return 0;
  }
  if (table.Size() != st->imported) std::abort();
  std::vector<uint8_t> again = table.Export(now);
  auto t2 = ConnTable::Create(o);
  auto st2 = (*t2)->Import(again, now);
  if (!st2.ok() || (*t2)->Size() != table.Size()) std::abort();
  return 0;
}
