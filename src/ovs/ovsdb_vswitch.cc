#include "ovs/ovsdb_vswitch.h"

#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ovs/ovsdb_util.h"

namespace rampart::ovs {
namespace {

using namespace ovsdb;  // NOLINT: builders read better unqualified here

Json NameIs(std::string_view name) {
  return Json::array({Condition("name", "==", std::string(name))});
}
Json UuidIs(std::string_view uuid) { return Json::array({Condition("_uuid", "==", Uuid(uuid))}); }

std::vector<std::string> Keys(const StringMap& m) {
  std::vector<std::string> k;
  for (const auto& [key, v] : m) k.push_back(key);
  return k;
}

// Mutations that make `ids` present in external_ids, overwriting those keys ("insert" on a map
// never overwrites an existing key, so the keys are deleted first).
Json MergeExternalIds(const StringMap& ids) {
  return Json::array({Mutation("external_ids", "delete", StringSet(Keys(ids))),
                      Mutation("external_ids", "insert", Map(ids))});
}

std::string TypeName(InterfaceType t) { return t == InterfaceType::kInternal ? "internal" : ""; }

int64_t Count(const Json& result) { return result.value("count", int64_t{0}); }

}  // namespace

absl::StatusOr<std::optional<Json>> VswitchDb::SelectByName(std::string_view table,
                                                            std::string_view name,
                                                            std::vector<std::string> columns) {
  columns.push_back("_uuid");
  absl::StatusOr<std::vector<Json>> r =
      client_.Transact(kDb, {SelectOp(table, NameIs(name), std::move(columns))});
  if (!r.ok()) return r.status();
  const Json& rows = (*r)[0].value("rows", Json::array());
  if (!rows.is_array()) return absl::InternalError(internal::Cat("select ", table, ": no rows array"));
  if (rows.empty()) return std::optional<Json>();
  if (rows.size() > 1) {
    return absl::InternalError(internal::Cat(table, " '", name, "': ", rows.size(), " rows share the name"));
  }
  return std::optional<Json>(rows[0]);
}

absl::Status VswitchDb::EnsureBridge(const BridgeSpec& spec) {
  if (spec.name.empty()) return absl::InvalidArgumentError("EnsureBridge: empty bridge name");
  absl::StatusOr<std::optional<Json>> existing = SelectByName("Bridge", spec.name, {"name"});
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return absl::OkStatus();

  absl::StatusOr<std::vector<Json>> root =
      client_.Transact(kDb, {SelectOp("Open_vSwitch", Json::array(), {"_uuid"})});
  if (!root.ok()) return root.status();
  const Json& root_rows = (*root)[0]["rows"];

  Json bridge{{"name", spec.name},
              {"ports", Set({NamedUuid("port")})},
              {"other_config", Map(spec.other_config)},
              {"external_ids", Map(spec.external_ids)}};
  if (!spec.datapath_type.empty()) bridge["datapath_type"] = spec.datapath_type;
  if (!spec.fail_mode.empty()) bridge["fail_mode"] = spec.fail_mode;
  std::vector<Json> ops = {
      WaitOp("Bridge", NameIs(spec.name), {"name"}, "==", Json::array()),
      InsertOp("Interface", Json{{"name", spec.name}, {"type", "internal"}}, "iface"),
      InsertOp("Port", Json{{"name", spec.name}, {"interfaces", Set({NamedUuid("iface")})}}, "port"),
      InsertOp("Bridge", bridge, "br"),
  };
  if (root_rows.empty()) {
    ops.push_back(InsertOp("Open_vSwitch", Json{{"bridges", Set({NamedUuid("br")})}}));
  } else {
    absl::StatusOr<std::string> root_uuid = DecodeUuid(root_rows[0]["_uuid"]);
    if (!root_uuid.ok()) return root_uuid.status();
    ops.push_back(MutateOp("Open_vSwitch", UuidIs(*root_uuid),
                           Json::array({Mutation("bridges", "insert", Set({NamedUuid("br")}))})));
  }
  absl::StatusOr<std::vector<Json>> r = client_.Transact(kDb, std::move(ops));
  if (absl::IsAborted(r.status())) return absl::OkStatus();  // created meanwhile by someone else
  return r.status();
}

absl::Status VswitchDb::DeleteBridge(std::string_view name) {
  absl::StatusOr<std::optional<Json>> b = SelectByName("Bridge", name, {"name"});
  if (!b.ok()) return b.status();
  if (!b->has_value()) return absl::OkStatus();
  absl::StatusOr<std::string> uuid = DecodeUuid((**b)["_uuid"]);
  if (!uuid.ok()) return uuid.status();
  return client_
      .Transact(kDb, {MutateOp("Open_vSwitch", Json::array(),
                               Json::array({Mutation("bridges", "delete", Set({Uuid(*uuid)}))}))})
      .status();
}

absl::StatusOr<std::string> VswitchDb::EnsurePort(const PortSpec& spec) {
  if (spec.name.empty() || spec.bridge.empty()) {
    return absl::InvalidArgumentError("EnsurePort: bridge and port name are required");
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::optional<Json>> port = SelectByName("Port", spec.name, {"name"});
    if (!port.ok()) return port.status();
    if (port->has_value()) {
      absl::StatusOr<std::string> uuid = DecodeUuid((**port)["_uuid"]);
      if (!uuid.ok()) return uuid.status();
      absl::StatusOr<std::string> owner = OwnerBridge(*uuid);
      if (!owner.ok()) return owner.status();
      const std::string& owner_name = *owner;
      if (owner_name != spec.bridge) {
        return absl::FailedPreconditionError(internal::Cat(
            "port ", spec.name, " exists on bridge '", owner_name, "', not on ", spec.bridge,
            " (delete it there first)"));
      }
      std::vector<Json> ops = {
          UpdateOp("Interface", NameIs(spec.name), Json{{"type", TypeName(spec.type)}}),
          MutateOp("Interface", NameIs(spec.name), MergeExternalIds(spec.interface_external_ids)),
          MutateOp("Port", NameIs(spec.name), MergeExternalIds(spec.port_external_ids))};
      absl::StatusOr<std::vector<Json>> r = client_.Transact(kDb, std::move(ops));
      if (!r.ok()) return r.status();
      return *uuid;
    }

    absl::StatusOr<std::optional<Json>> bridge = SelectByName("Bridge", spec.bridge, {"name"});
    if (!bridge.ok()) return bridge.status();
    if (!bridge->has_value()) {
      return absl::NotFoundError(internal::Cat("bridge ", spec.bridge, " does not exist (port ", spec.name, ")"));
    }
    absl::StatusOr<std::string> bridge_uuid = DecodeUuid((**bridge)["_uuid"]);
    if (!bridge_uuid.ok()) return bridge_uuid.status();
    std::vector<Json> ops = {
        WaitOp("Port", NameIs(spec.name), {"name"}, "==", Json::array()),
        InsertOp("Interface",
                 Json{{"name", spec.name},
                      {"type", TypeName(spec.type)},
                      {"external_ids", Map(spec.interface_external_ids)}},
                 "iface"),
        InsertOp("Port",
                 Json{{"name", spec.name},
                      {"interfaces", Set({NamedUuid("iface")})},
                      {"external_ids", Map(spec.port_external_ids)}},
                 "port"),
        MutateOp("Bridge", UuidIs(*bridge_uuid),
                 Json::array({Mutation("ports", "insert", Set({NamedUuid("port")}))}))};
    absl::StatusOr<std::vector<Json>> r = client_.Transact(kDb, std::move(ops));
    if (absl::IsAborted(r.status())) continue;  // created concurrently: take the update path
    if (!r.ok()) return r.status();
    if (Count((*r)[3]) != 1) {
      return absl::NotFoundError(internal::Cat("bridge ", spec.bridge, " disappeared while adding port ", spec.name));
    }
    return DecodeUuid((*r)[2]["uuid"]);
  }
  return absl::AbortedError(internal::Cat("EnsurePort ", spec.name, ": port keeps changing concurrently"));
}

absl::Status VswitchDb::DeletePort(std::string_view bridge, std::string_view port) {
  absl::StatusOr<std::optional<Json>> p = SelectByName("Port", port, {"name"});
  if (!p.ok()) return p.status();
  if (!p->has_value()) return absl::OkStatus();
  absl::StatusOr<std::string> uuid = DecodeUuid((**p)["_uuid"]);
  if (!uuid.ok()) return uuid.status();
  absl::StatusOr<std::string> owner = OwnerBridge(*uuid);
  if (!owner.ok()) return owner.status();
  if (*owner != bridge) {
    return absl::FailedPreconditionError(internal::Cat("port ", port, " is not on bridge ", bridge,
                                                       " (it is on '", *owner, "')"));
  }
  // The Port and Interface rows are garbage-collected at commit once no bridge references them.
  absl::StatusOr<std::vector<Json>> r = client_.Transact(
      kDb, {MutateOp("Bridge", NameIs(bridge),
                     Json::array({Mutation("ports", "delete", Set({Uuid(*uuid)}))}))});
  if (!r.ok()) return r.status();
  if (Count((*r)[0]) != 1) return absl::NotFoundError(internal::Cat("bridge ", bridge, " does not exist"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> VswitchDb::OwnerBridge(std::string_view port_uuid) {
  absl::StatusOr<std::vector<Json>> owner = client_.Transact(
      kDb, {SelectOp("Bridge", Json::array({Condition("ports", "includes", Set({Uuid(port_uuid)}))}),
                     {"name"})});
  if (!owner.ok()) return owner.status();
  const Json& rows = (*owner)[0]["rows"];
  return rows.empty() ? std::string() : rows[0].value("name", "");
}

absl::StatusOr<std::vector<std::string>> VswitchDb::ListPorts(std::string_view bridge) {
  absl::StatusOr<std::optional<Json>> b = SelectByName("Bridge", bridge, {"ports"});
  if (!b.ok()) return b.status();
  if (!b->has_value()) return absl::NotFoundError(internal::Cat("bridge ", bridge, " does not exist"));
  absl::StatusOr<std::vector<Json>> ports = DecodeSet((**b)["ports"]);
  if (!ports.ok()) return ports.status();
  absl::StatusOr<std::vector<Json>> all =
      client_.Transact(kDb, {SelectOp("Port", Json::array(), {"_uuid", "name"})});
  if (!all.ok()) return all.status();
  std::vector<std::string> names;
  for (const Json& row : (*all)[0]["rows"]) {
    for (const Json& p : *ports) {
      if (p == row["_uuid"]) names.push_back(row.value("name", ""));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status VswitchDb::SetExternalIds(std::string_view table, std::string_view name,
                                       const StringMap& ids) {
  absl::StatusOr<std::vector<Json>> r =
      client_.Transact(kDb, {MutateOp(table, NameIs(name), MergeExternalIds(ids))});
  if (!r.ok()) return r.status();
  if (Count((*r)[0]) != 1) return absl::NotFoundError(internal::Cat(table, " ", name, " does not exist"));
  return absl::OkStatus();
}

absl::Status VswitchDb::RemoveExternalIds(std::string_view table, std::string_view name,
                                          const std::vector<std::string>& keys) {
  absl::StatusOr<std::vector<Json>> r = client_.Transact(
      kDb, {MutateOp(table, NameIs(name),
                     Json::array({Mutation("external_ids", "delete", StringSet(keys))}))});
  if (!r.ok()) return r.status();
  if (Count((*r)[0]) != 1) return absl::NotFoundError(internal::Cat(table, " ", name, " does not exist"));
  return absl::OkStatus();
}

absl::StatusOr<StringMap> VswitchDb::GetExternalIds(std::string_view table, std::string_view name) {
  absl::StatusOr<std::optional<Json>> row = SelectByName(table, name, {"external_ids"});
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(internal::Cat(table, " ", name, " does not exist"));
  return DecodeStringMap((**row)["external_ids"]);
}

absl::StatusOr<int64_t> VswitchDb::WaitForOfport(std::string_view interface, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration delay = absl::Milliseconds(10);
  while (true) {
    absl::StatusOr<std::optional<Json>> row = SelectByName("Interface", interface, {"ofport", "error"});
    if (!row.ok()) return row.status();
    if (!row->has_value()) return absl::NotFoundError(internal::Cat("interface ", interface, " does not exist"));
    absl::StatusOr<std::optional<int64_t>> ofport = DecodeOptionalInt((**row)["ofport"]);
    if (!ofport.ok()) return ofport.status();
    if (ofport->has_value() && **ofport > 0) return **ofport;
    if (ofport->has_value() && **ofport == -1) {
      std::string error = "unknown error";
      absl::StatusOr<std::vector<Json>> e = DecodeSet((**row)["error"]);
      if (e.ok() && !e->empty() && (*e)[0].is_string()) error = (*e)[0].get<std::string>();
      return absl::FailedPreconditionError(
          internal::Cat("interface ", interface, ": ovs-vswitchd could not open it: ", error));
    }
    if (absl::Now() + delay > deadline) {
      return absl::DeadlineExceededError(internal::Cat(
          "interface ", interface, ": no ofport assigned within ", absl::FormatDuration(timeout),
          " (is ovs-vswitchd running on this database?)"));
    }
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(delay));
    delay = std::min(delay * 2, absl::Milliseconds(200));
  }
}

MonitorRequests VswitchDb::AgentMonitorRequests() {
  return {
      {"Bridge", {"name", "ports", "datapath_type", "fail_mode", "external_ids"}},
      {"Port", {"name", "interfaces", "external_ids", "tag"}},
      {"Interface", {"name", "type", "ofport", "external_ids", "mac_in_use", "error", "link_state"}},
  };
}

}  // namespace rampart::ovs
