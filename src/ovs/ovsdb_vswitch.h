// Typed helpers on the Open_vSwitch database for the agent: bridges, ports with an internal or
// system interface, external_ids, ofport. Each helper is one or two OVSDB transactions and is
// idempotent (running it again changes nothing). Table and column names are those of
// vswitch.ovsschema (Open vSwitch 2.x/3.x).
//
// Thread-safety: as the OvsdbClient it borrows (one thread).
#ifndef RAMPART_OVS_OVSDB_VSWITCH_H_
#define RAMPART_OVS_OVSDB_VSWITCH_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ovs/ovsdb_client.h"

namespace rampart::ovs {

using StringMap = std::map<std::string, std::string>;

enum class InterfaceType { kSystem, kInternal };

struct BridgeSpec {
  std::string name;
  std::string datapath_type = "netdev";  // "" = OVS default (kernel datapath)
  std::string fail_mode = "secure";      // "" = standalone
  StringMap other_config = {{"disable-in-band", "true"}};
  StringMap external_ids;
};

struct PortSpec {
  std::string bridge;
  std::string name;  // port and interface name (a veth name for kSystem)
  InterfaceType type = InterfaceType::kSystem;
  StringMap interface_external_ids;  // e.g. {{"iface-id", "vm1"}, {"attached-mac", "..."}}
  StringMap port_external_ids;
};

// What the agent needs from a host's switch configuration. VswitchDb implements it on OVSDB;
// tests of other components use an in-memory fake (test/ovs/ovsdb_fake_vswitch.h).
class Vswitch {
 public:
  virtual ~Vswitch() = default;

  // Creates the bridge (with its internal port) if no bridge of that name exists; an existing
  // bridge is left as it is. Creates the Open_vSwitch root row when the database is empty.
  virtual absl::Status EnsureBridge(const BridgeSpec& spec) = 0;
  virtual absl::Status DeleteBridge(std::string_view name) = 0;  // absent: OK

  // Creates the port if missing; otherwise sets its interface type and merges the external_ids.
  // Fails with NotFound when the bridge is missing and FailedPrecondition when the port exists
  // on another bridge. Returns the Port row's uuid.
  virtual absl::StatusOr<std::string> EnsurePort(const PortSpec& spec) = 0;
  // Removes the port from the bridge (OVSDB garbage-collects the Port and Interface rows).
  // Absent port: OK. FailedPrecondition when it is on another bridge.
  virtual absl::Status DeletePort(std::string_view bridge, std::string_view port) = 0;
  // Port names on a bridge, sorted (NotFound when the bridge is missing).
  virtual absl::StatusOr<std::vector<std::string>> ListPorts(std::string_view bridge) = 0;

  // external_ids of the row of `table` ("Bridge", "Port", "Interface") named `name`.
  // Set merges keys (other keys stay); Remove deletes keys (absent keys: OK). NotFound when
  // the row is missing.
  virtual absl::Status SetExternalIds(std::string_view table, std::string_view name,
                                      const StringMap& ids) = 0;
  virtual absl::Status RemoveExternalIds(std::string_view table, std::string_view name,
                                         const std::vector<std::string>& keys) = 0;
  virtual absl::StatusOr<StringMap> GetExternalIds(std::string_view table,
                                                   std::string_view name) = 0;

  // The interface's OpenFlow port number, waiting (bounded by `timeout`) until ovs-vswitchd has
  // assigned it. FailedPrecondition with the interface's `error` column when ovs-vswitchd could
  // not open it; DeadlineExceeded when none was assigned in time; NotFound without interface.
  virtual absl::StatusOr<int64_t> WaitForOfport(std::string_view interface,
                                                absl::Duration timeout = absl::Seconds(10)) = 0;
};

class VswitchDb final : public Vswitch {
 public:
  static constexpr std::string_view kDb = "Open_vSwitch";

  // `client` must outlive this object.
  explicit VswitchDb(OvsdbClient& client) : client_(client) {}

  absl::Status EnsureBridge(const BridgeSpec& spec) override;
  absl::Status DeleteBridge(std::string_view name) override;
  absl::StatusOr<std::string> EnsurePort(const PortSpec& spec) override;
  absl::Status DeletePort(std::string_view bridge, std::string_view port) override;
  absl::StatusOr<std::vector<std::string>> ListPorts(std::string_view bridge) override;
  absl::Status SetExternalIds(std::string_view table, std::string_view name,
                              const StringMap& ids) override;
  absl::Status RemoveExternalIds(std::string_view table, std::string_view name,
                                 const std::vector<std::string>& keys) override;
  absl::StatusOr<StringMap> GetExternalIds(std::string_view table, std::string_view name) override;
  // Polls (10 ms doubling to 200 ms).
  absl::StatusOr<int64_t> WaitForOfport(std::string_view interface,
                                        absl::Duration timeout = absl::Seconds(10)) override;

  // Columns of Bridge/Port/Interface the agent monitors.
  static MonitorRequests AgentMonitorRequests();

 private:
  // Row of `table` named `name` with `columns` (plus _uuid); nullopt when absent.
  absl::StatusOr<std::optional<Json>> SelectByName(std::string_view table, std::string_view name,
                                                   std::vector<std::string> columns);
  // Name of the bridge whose `ports` include the Port row `port_uuid` ("" when none).
  absl::StatusOr<std::string> OwnerBridge(std::string_view port_uuid);

  OvsdbClient& client_;
};

}  // namespace rampart::ovs

#endif  // RAMPART_OVS_OVSDB_VSWITCH_H_
