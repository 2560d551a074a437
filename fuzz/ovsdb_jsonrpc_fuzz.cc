// Fuzzes the OVSDB JSON-RPC framing and message decoding: the stream splitter (fed whole and
// in chunks chosen by the input; both must yield the same values and the same verdict), the
// JSON-RPC classification, the table-updates parser and the datum decoders.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ovs/json_rpc.h"
#include "ovs/ovsdb_client.h"
#include "ovs/ovsdb_datum.h"

using namespace rampart::ovs;

namespace {

void DecodeEverything(const Json& j, int depth) {
  if (depth > 4) return;
  (void)ovsdb::DecodeSet(j);
  (void)ovsdb::DecodeStringMap(j);
  (void)ovsdb::DecodeUuid(j);
  (void)ovsdb::DecodeOptionalInt(j);
  (void)ParseTableUpdates(j);
  (void)OvsdbErrorToStatus(j, "fuzz");
  if (j.is_structured()) {
    for (const auto& child : j) DecodeEverything(child, depth + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 17;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const JsonSplitterLimits limits{.max_value_bytes = 4096, .max_depth = 32};

  JsonStreamSplitter whole(limits);
  std::vector<std::string> a;
  absl::Status sa = whole.Feed(in, &a);

  JsonStreamSplitter pieces(limits);
  std::vector<std::string> b;
  absl::Status sb;
  for (size_t i = 0; i < in.size() && sb.ok(); i += chunk) sb = pieces.Feed(in.substr(i, chunk), &b);

  // Oversize is detected per chunk, so a chunked feed may fail at a later point than a whole
  // feed only for ResourceExhausted; structure errors and values must agree exactly.
  if (sa.ok() != sb.ok() && !absl::IsResourceExhausted(sa) && !absl::IsResourceExhausted(sb)) abort();
  if (sa.ok() && sb.ok() && (a != b || whole.buffered() != pieces.buffered())) abort();

  for (const std::string& text : a) {
    if (text.size() > limits.max_value_bytes) abort();
    absl::StatusOr<JsonRpcMessage> m = DecodeJsonRpc(text);
    if (!m.ok()) continue;
    DecodeEverything(m->params, 0);
    DecodeEverything(m->result, 0);
    (void)m->IsError();
  }
  return 0;
}
