// OVSDB wire encodings (RFC 7047 §5.1) and transaction operation builders (§5.2).
//
// Atoms are plain JSON (string, integer, real, boolean) or ["uuid", "<uuid>"] /
// ["named-uuid", "<name>"]; a set is ["set", [atoms]] (a 1-element set may be sent as the bare
// atom); a map is ["map", [[key, value], ...]]. The builders return the JSON objects that go into
// the "transact" params; decoders validate what a server sent and say what was wrong.
//
// Thread-safety: plain functions on values.
#ifndef RAMPART_OVS_OVSDB_DATUM_H_
#define RAMPART_OVS_OVSDB_DATUM_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ovs/json_rpc.h"

namespace rampart::ovs::ovsdb {

// ---- encoders ----
Json Uuid(std::string_view uuid);             // ["uuid", uuid]
Json NamedUuid(std::string_view name);        // ["named-uuid", name]
Json Set(std::vector<Json> atoms);            // ["set", atoms]
Json Map(const std::map<std::string, std::string>& m);  // ["map", [[k, v], ...]]
Json StringSet(const std::vector<std::string>& items);        // ["set", [...]]

// ---- decoders ----
// A set column: ["set", [...]] -> its atoms; a bare atom -> {atom}.
absl::StatusOr<std::vector<Json>> DecodeSet(const Json& datum);
// A map column with string keys and values.
absl::StatusOr<std::map<std::string, std::string>> DecodeStringMap(const Json& datum);
// ["uuid", "..."] -> the uuid string.
absl::StatusOr<std::string> DecodeUuid(const Json& atom);
// An optional integer column (set of 0 or 1 integer, e.g. Interface.ofport): nullopt if empty.
absl::StatusOr<std::optional<int64_t>> DecodeOptionalInt(const Json& datum);
// Whether `text` looks like a UUID (8-4-4-4-12 hex digits).
bool IsUuid(std::string_view text);

// ---- conditions and mutations ----
Json Condition(std::string_view column, std::string_view function, Json value);  // [c, f, v]
Json Mutation(std::string_view column, std::string_view mutator, Json value);    // [c, m, v]

// ---- operations (one element of the transact params after the db name) ----
// `uuid_name` (optional) lets later operations refer to the new row as NamedUuid(uuid_name).
Json InsertOp(std::string_view table, Json row, std::string_view uuid_name = {});
Json SelectOp(std::string_view table, Json where, std::vector<std::string> columns = {});
Json UpdateOp(std::string_view table, Json where, Json row);
Json MutateOp(std::string_view table, Json where, Json mutations);
Json DeleteOp(std::string_view table, Json where);
// Blocks the transaction until `rows` (projected on `columns`) are (until "==") or are not
// (until "!=") what `where` selects, failing after timeout_ms (0 = check once).
Json WaitOp(std::string_view table, Json where, std::vector<std::string> columns,
            std::string_view until, Json rows, int timeout_ms = 0);
Json CommentOp(std::string_view comment);

}  // namespace rampart::ovs::ovsdb

#endif  // RAMPART_OVS_OVSDB_DATUM_H_
