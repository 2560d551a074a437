#include "nlog/json_io.h"

#include <cstdint>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace rampart::nlog {
namespace {

nlohmann::ordered_json ToJson(const Value& v) {
  switch (v.type()) {
    case Type::kInt: return v.AsInt();
    case Type::kBool: return v.AsBool();
    default: return v.ToString();
  }
}

nlohmann::ordered_json RowsJson(const std::vector<Row>& rows) {
  auto arr = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    auto jr = nlohmann::ordered_json::array();
    for (const Value& v : r) jr.push_back(ToJson(v));
    arr.push_back(std::move(jr));
  }
  return arr;
}

// Never throws: bytes that are not UTF-8 print as U+FFFD.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Converts a JSON value to the column's type; empty string on success, else the reason.
std::string ConvertValue(const nlohmann::json& j, Type t, Value* out) {
  switch (t) {
    case Type::kInt:
      if (!j.is_number_integer()) return "expected an integer, got " + Dump(j);
      if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return "integer " + Dump(j) + " does not fit in 64 bits";
      }
      *out = Value::Int(j.get<int64_t>());
      return "";
    case Type::kBool:
      if (!j.is_boolean()) return "expected true or false, got " + Dump(j);
      *out = Value::Bool(j.get<bool>());
      return "";
    case Type::kString:
      if (!j.is_string()) return "expected a string, got " + Dump(j);
      *out = Value::String(j.get<std::string>());
      return "";
    default: {
      if (!j.is_string()) return std::string("expected a string holding ") + TypeName(t) + ", got " + Dump(j);
      auto v = Value::Parse(t, j.get<std::string>());
      if (!v) return Dump(j) + " is not a valid " + TypeName(t);
      *out = *v;
      return "";
    }
  }
}

}  // namespace

absl::StatusOr<Transaction> ParseTransactionJson(std::string_view json, const Program& prog) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError(m); };
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("expected a JSON object with \"insert\" and/or \"delete\"");
  Transaction tx;
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool insert = it.key() == "insert";
    if (!insert && it.key() != "delete") return bad("unknown key \"" + it.key() + "\" (expected \"insert\" or \"delete\")");
    if (!it->is_object()) return bad("\"" + it.key() + "\" must be an object of table name -> list of rows");
    for (auto t = it->begin(); t != it->end(); ++t) {
      int id = prog.TableIndex(t.key());
      if (id < 0) return bad("unknown table '" + t.key() + "'");
      const TableDecl& decl = prog.tables()[id];
      if (decl.kind != TableKind::kInput) return bad("table '" + t.key() + "' is not an input table");
      if (!t->is_array()) return bad("table '" + t.key() + "': expected a list of rows");
      int n = 0;
      for (const auto& jr : *t) {
        ++n;
        std::string where = "table '" + t.key() + "', " + it.key() + " row " + std::to_string(n);
        if (!jr.is_array()) return bad(where + ": expected a row as a list of values");
        if (jr.size() != decl.columns.size()) {
          return bad(where + ": " + std::to_string(jr.size()) + " values, the table has " +
                     std::to_string(decl.columns.size()) + " columns");
        }
        Row row(jr.size());
        for (size_t c = 0; c < jr.size(); ++c) {
          std::string err = ConvertValue(jr[c], decl.columns[c].type, &row[c]);
          if (!err.empty()) return bad(where + ", column '" + decl.columns[c].name + "': " + err);
        }
        if (insert) tx.Insert(t.key(), std::move(row));
        else tx.Delete(t.key(), std::move(row));
      }
    }
  }
  return tx;
}

std::string DeltaToJson(int tx, const Delta& d) {
  nlohmann::ordered_json out;
  out["tx"] = tx;
  out["insert"] = nlohmann::ordered_json::object();
  out["delete"] = nlohmann::ordered_json::object();
  for (const auto& [name, td] : d.tables) {  // std::map: sorted by table name
    if (!td.inserted.empty()) out["insert"][name] = RowsJson(td.inserted);
    if (!td.deleted.empty()) out["delete"][name] = RowsJson(td.deleted);
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace rampart::nlog
