#include "agent/host_switch.h"

#include <net/if.h>
#include <spawn.h>
#include <sys/wait.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ovs/ovsdb_datum.h"
#include "ovs/ovsdb_vswitch.h"

extern char** environ;

namespace rampart::agent {

namespace {

using ovs::Json;
namespace od = ovs::ovsdb;

constexpr char kDb[] = "Open_vSwitch";

absl::Status Run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot run ", argv[0]));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("'", absl::StrJoin(argv, " "), "' failed"));
  }
  return absl::OkStatus();
}

Json NameIs(const std::string& name) { return Json::array({od::Condition("name", "==", name)}); }

}  // namespace

absl::Status EnsureFirewallVeth(ovs::OvsdbClient& db, const std::string& bridge, const std::string& ovs_end,
                                const std::string& fwd_end) {
  if (if_nametoindex(ovs_end.c_str()) == 0) {
    if (auto st = Run({"ip", "link", "add", ovs_end, "type", "veth", "peer", "name", fwd_end}); !st.ok()) return st;
  }
  for (const auto& dev : {ovs_end, fwd_end}) {
    if (auto st = Run({"ip", "link", "set", dev, "mtu", "9000", "up"}); !st.ok()) return st;
  }
  ovs::VswitchDb vs(db);
  ovs::PortSpec spec;
  spec.bridge = bridge;
  spec.name = ovs_end;
  spec.interface_external_ids = {{"rampart-role", "firewall"}};
  auto uuid = vs.EnsurePort(spec);
  return uuid.ok() ? absl::OkStatus() : uuid.status();
}

absl::StatusOr<bool> EnsureTunnelPort(ovs::OvsdbClient& db, const std::string& bridge, const std::string& name) {
  auto sel = db.Transact(kDb, {od::SelectOp("Interface", NameIs(name), {"type", "options"})});
  if (!sel.ok()) return sel.status();
  const Json& rows = (*sel)[0]["rows"];
  if (!rows.empty()) {
    auto opts = od::DecodeStringMap(rows[0]["options"]);
    if (!opts.ok()) return opts.status();
    bool ok = rows[0].value("type", "") == "geneve" && opts->count("remote_ip") && opts->at("remote_ip") == "flow" &&
              opts->count("key") && opts->at("key") == "flow";
    if (ok) return false;
    auto merged = *opts;
    merged["remote_ip"] = "flow";
    merged["key"] = "flow";
    auto r = db.Transact(kDb, {od::UpdateOp("Interface", NameIs(name), Json{{"type", "geneve"}, {"options", od::Map(merged)}})});
    if (!r.ok()) return r.status();
    return true;
  }
  auto br = db.Transact(kDb, {od::SelectOp("Bridge", NameIs(bridge), {"name"})});
  if (!br.ok()) return br.status();
  if ((*br)[0]["rows"].empty()) return absl::NotFoundError(absl::StrCat("bridge ", bridge, " does not exist (tunnel port ", name, ")"));
  auto r = db.Transact(
      kDb, {od::InsertOp("Interface", Json{{"name", name}, {"type", "geneve"}, {"options", od::Map({{"remote_ip", "flow"}, {"key", "flow"}})}}, "iface"),
            od::InsertOp("Port", Json{{"name", name}, {"interfaces", od::Set({od::NamedUuid("iface")})}}, "port"),
            od::MutateOp("Bridge", NameIs(bridge), Json::array({od::Mutation("ports", "insert", od::Set({od::NamedUuid("port")}))}))});
  if (!r.ok()) return r.status();
  return true;
}

absl::StatusOr<std::map<std::string, uint32_t>> ReadVmOfports(ovs::OvsdbClient& db) {
  auto sel = db.Transact(kDb, {od::SelectOp("Interface", Json::array(), {"name", "ofport", "external_ids"})});
  if (!sel.ok()) return sel.status();
  std::map<std::string, uint32_t> out;
  for (const auto& row : (*sel)[0]["rows"]) {
    auto ids = od::DecodeStringMap(row["external_ids"]);
    if (!ids.ok()) return ids.status();
    auto it = ids->find("iface-id");
    if (it == ids->end()) continue;
    auto of = od::DecodeOptionalInt(row["ofport"]);
    if (!of.ok()) return of.status();
    if (of->has_value() && **of > 0 && **of < 0xff00) out[it->second] = static_cast<uint32_t>(**of);
  }
  return out;
}

absl::StatusOr<uint32_t> ReadOfport(ovs::OvsdbClient& db, const std::string& name) {
  auto sel = db.Transact(kDb, {od::SelectOp("Interface", NameIs(name), {"ofport"})});
  if (!sel.ok()) return sel.status();
  const Json& rows = (*sel)[0]["rows"];
  if (rows.empty()) return 0u;
  auto of = od::DecodeOptionalInt(rows[0]["ofport"]);
  if (!of.ok()) return of.status();
  return of->has_value() && **of > 0 && **of < 0xff00 ? static_cast<uint32_t>(**of) : 0u;
}

}  // namespace rampart::agent
