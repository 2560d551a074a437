// Private: records <-> protobuf conversion and stream limits shared by client and server.
#ifndef RAMPART_STREAM_CONVERT_H_
#define RAMPART_STREAM_CONVERT_H_

#include "rampart/agent.pb.h"
#include "records/records.h"
#include "stream/stream_server.h"

namespace rampart::stream {

// Largest message either side accepts (a big delta is one message; snapshots are chunked).
inline constexpr int kMaxMessageBytes = 1 << 30;
// Rows per snapshot message: kSnapshotChunkRows (stream_server.h).

inline records::Record FromProto(const ::rampart::agent::v1::Record& r) {
  records::Record out;
  out.table = r.table();
  out.values.assign(r.values().begin(), r.values().end());
  return out;
}

// The same, taking the strings out of `r` (no copy; `r` is left with empty strings).
inline records::Record FromProto(::rampart::agent::v1::Record&& r) {
  records::Record out;
  out.table = std::move(*r.mutable_table());
  out.values.reserve(r.values_size());
  for (std::string& v : *r.mutable_values()) out.values.push_back(std::move(v));
  return out;
}

inline void ToProto(const records::Record& r, ::rampart::agent::v1::Record* out) {
  out->set_table(r.table);
  for (const std::string& v : r.values) out->add_values(v);
}

}  // namespace rampart::stream

#endif  // RAMPART_STREAM_CONVERT_H_
