#include "ovs/ovsdb_datum.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "ovs/ovsdb_util.h"

namespace rampart::ovs::ovsdb {
namespace {

std::string Short(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

bool IsTagged(const Json& j, std::string_view tag) {
  return j.is_array() && j.size() == 2 && j[0].is_string() && j[0].get_ref<const std::string&>() == tag;
}

}  // namespace

Json Uuid(std::string_view uuid) { return Json::array({"uuid", std::string(uuid)}); }
Json NamedUuid(std::string_view name) { return Json::array({"named-uuid", std::string(name)}); }
Json Set(std::vector<Json> atoms) { return Json::array({"set", Json(std::move(atoms))}); }

Json Map(const std::map<std::string, std::string>& m) {
  Json pairs = Json::array();
  for (const auto& [k, v] : m) pairs.push_back(Json::array({k, v}));
  return Json::array({"map", std::move(pairs)});
}

Json StringSet(const std::vector<std::string>& items) {
  Json atoms = Json::array();
  for (const auto& s : items) atoms.push_back(s);
  return Json::array({"set", std::move(atoms)});
}

absl::StatusOr<std::vector<Json>> DecodeSet(const Json& datum) {
  if (IsTagged(datum, "set")) {
    if (!datum[1].is_array()) {
      return absl::InvalidArgumentError(internal::Cat("ovsdb set: elements are not an array: ", Short(datum)));
    }
    return datum[1].get<std::vector<Json>>();
  }
  if (datum.is_array() && !IsTagged(datum, "uuid") && !IsTagged(datum, "named-uuid")) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb set: unexpected array ", Short(datum)));
  }
  if (datum.is_object() || datum.is_null()) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb set: not an atom or set: ", Short(datum)));
  }
  return std::vector<Json>{datum};
}

absl::StatusOr<std::map<std::string, std::string>> DecodeStringMap(const Json& datum) {
  if (!IsTagged(datum, "map") || !datum[1].is_array()) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb map: expected [\"map\", [...]], got ", Short(datum)));
  }
  std::map<std::string, std::string> out;
  for (const Json& pair : datum[1]) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      return absl::InvalidArgumentError(internal::Cat("ovsdb map: pair is not [string, string]: ", Short(pair)));
    }
    out[pair[0].get<std::string>()] = pair[1].get<std::string>();
  }
  return out;
}

absl::StatusOr<std::string> DecodeUuid(const Json& atom) {
  if (!IsTagged(atom, "uuid") || !atom[1].is_string() ||
      !IsUuid(atom[1].get_ref<const std::string&>())) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb uuid: expected [\"uuid\", \"<uuid>\"], got ", Short(atom)));
  }
  return atom[1].get<std::string>();
}

absl::StatusOr<std::optional<int64_t>> DecodeOptionalInt(const Json& datum) {
  if (datum.is_number_integer()) return std::optional<int64_t>(datum.get<int64_t>());
  absl::StatusOr<std::vector<Json>> set = DecodeSet(datum);
  if (!set.ok()) return set.status();
  if (set->empty()) return std::optional<int64_t>();
  if (set->size() == 1 && (*set)[0].is_number_integer()) {
    return std::optional<int64_t>((*set)[0].get<int64_t>());
  }
  return absl::InvalidArgumentError(internal::Cat("ovsdb optional integer: got ", Short(datum)));
}

bool IsUuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (t[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(t[i]))) {
      return false;
    }
  }
  return true;
}

Json Condition(std::string_view column, std::string_view function, Json value) {
  return Json::array({std::string(column), std::string(function), std::move(value)});
}
Json Mutation(std::string_view column, std::string_view mutator, Json value) {
  return Json::array({std::string(column), std::string(mutator), std::move(value)});
}

Json InsertOp(std::string_view table, Json row, std::string_view uuid_name) {
  Json op{{"op", "insert"}, {"table", std::string(table)}, {"row", std::move(row)}};
  if (!uuid_name.empty()) op["uuid-name"] = std::string(uuid_name);
  return op;
}
Json SelectOp(std::string_view table, Json where, std::vector<std::string> columns) {
  Json op{{"op", "select"}, {"table", std::string(table)}, {"where", std::move(where)}};
  if (!columns.empty()) op["columns"] = columns;
  return op;
}
Json UpdateOp(std::string_view table, Json where, Json row) {
  return Json{{"op", "update"}, {"table", std::string(table)}, {"where", std::move(where)},
              {"row", std::move(row)}};
}
Json MutateOp(std::string_view table, Json where, Json mutations) {
  return Json{{"op", "mutate"}, {"table", std::string(table)}, {"where", std::move(where)},
              {"mutations", std::move(mutations)}};
}
Json DeleteOp(std::string_view table, Json where) {
  return Json{{"op", "delete"}, {"table", std::string(table)}, {"where", std::move(where)}};
}
Json WaitOp(std::string_view table, Json where, std::vector<std::string> columns,
            std::string_view until, Json rows, int timeout_ms) {
  return Json{{"op", "wait"},          {"table", std::string(table)}, {"where", std::move(where)},
              {"columns", columns},    {"until", std::string(until)}, {"rows", std::move(rows)},
              {"timeout", timeout_ms}};
}
Json CommentOp(std::string_view comment) {
  return Json{{"op", "comment"}, {"comment", std::string(comment)}};
}

}  // namespace rampart::ovs::ovsdb
