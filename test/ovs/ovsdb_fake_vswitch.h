// In-memory Vswitch for tests of components that configure OVS ports (the agent). It follows the
// Vswitch contract (test/ovs/ovsdb_vswitch_conformance.h runs the same checks against it and
// against a real ovsdb-server + ovs-vswitchd). A kSystem interface gets an ofport only when its
// device exists (AddDevice), like ovs-vswitchd; otherwise its ofport is -1 with an error.
#ifndef RAMPART_TEST_OVS_OVSDB_FAKE_VSWITCH_H_
#define RAMPART_TEST_OVS_OVSDB_FAKE_VSWITCH_H_

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "ovs/ovsdb_vswitch.h"

namespace rampart::ovs::testing {

class FakeVswitch final : public Vswitch {
 public:
  void AddDevice(const std::string& name) { devices_.insert(name); }

  absl::Status EnsureBridge(const BridgeSpec& spec) override {
    if (bridges_.count(spec.name)) return absl::OkStatus();
    bridges_[spec.name].external_ids = spec.external_ids;
    PortSpec internal{.bridge = spec.name, .name = spec.name, .type = InterfaceType::kInternal};
    return EnsurePort(internal).status();
  }
  absl::Status DeleteBridge(std::string_view name) override {
    std::string n(name);
    std::erase_if(ports_, [&](const auto& p) { return p.second.bridge == n; });
    bridges_.erase(n);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> EnsurePort(const PortSpec& spec) override {
    if (!bridges_.count(spec.bridge)) {
      return absl::NotFoundError("bridge " + spec.bridge + " does not exist (port " + spec.name + ")");
    }
    auto it = ports_.find(spec.name);
    if (it != ports_.end()) {
      if (it->second.bridge != spec.bridge) {
        return absl::FailedPreconditionError("port " + spec.name + " exists on bridge '" +
                                             it->second.bridge + "', not on " + spec.bridge);
      }
      it->second.type = spec.type;
      for (const auto& [k, v] : spec.interface_external_ids) it->second.iface_ids[k] = v;
      for (const auto& [k, v] : spec.port_external_ids) it->second.port_ids[k] = v;
      return it->second.uuid;
    }
    Port p{spec.bridge, spec.type, spec.interface_external_ids, spec.port_external_ids, NewUuid(), 0};
    p.ofport = (spec.type == InterfaceType::kInternal || devices_.count(spec.name)) ? next_ofport_++ : -1;
    ports_[spec.name] = p;
    return p.uuid;
  }
  absl::Status DeletePort(std::string_view bridge, std::string_view port) override {
    auto it = ports_.find(std::string(port));
    if (it == ports_.end()) return absl::OkStatus();
    if (it->second.bridge != bridge) {
      return absl::FailedPreconditionError("port " + std::string(port) + " is not on bridge " +
                                           std::string(bridge));
    }
    ports_.erase(it);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> ListPorts(std::string_view bridge) override {
    if (!bridges_.count(std::string(bridge))) return absl::NotFoundError("bridge does not exist");
    std::vector<std::string> names;
    for (const auto& [name, p] : ports_) {
      if (p.bridge == bridge) names.push_back(name);
    }
    return names;  // std::map: sorted
  }
  absl::Status SetExternalIds(std::string_view table, std::string_view name, const StringMap& ids) override {
    StringMap* m = Ids(table, name);
    if (!m) return absl::NotFoundError(std::string(table) + " " + std::string(name) + " does not exist");
    for (const auto& [k, v] : ids) (*m)[k] = v;
    return absl::OkStatus();
  }
  absl::Status RemoveExternalIds(std::string_view table, std::string_view name,
                                 const std::vector<std::string>& keys) override {
    StringMap* m = Ids(table, name);
    if (!m) return absl::NotFoundError(std::string(table) + " " + std::string(name) + " does not exist");
    for (const auto& k : keys) m->erase(k);
    return absl::OkStatus();
  }
  absl::StatusOr<StringMap> GetExternalIds(std::string_view table, std::string_view name) override {
    StringMap* m = Ids(table, name);
    if (!m) return absl::NotFoundError(std::string(table) + " " + std::string(name) + " does not exist");
    return *m;
  }
  absl::StatusOr<int64_t> WaitForOfport(std::string_view interface, absl::Duration) override {
    auto it = ports_.find(std::string(interface));
    if (it == ports_.end()) return absl::NotFoundError("interface " + std::string(interface) + " does not exist");
    if (it->second.ofport < 0) {
      return absl::FailedPreconditionError("interface " + std::string(interface) +
                                           ": ovs-vswitchd could not open it: no such device");
    }
    return it->second.ofport;
  }

 private:
  struct Bridge {
    StringMap external_ids;
  };
  struct Port {
    std::string bridge;
    InterfaceType type;
    StringMap iface_ids;
    StringMap port_ids;
    std::string uuid;
    int64_t ofport;
  };

  StringMap* Ids(std::string_view table, std::string_view name) {
    std::string n(name);
    if (table == "Bridge") return bridges_.count(n) ? &bridges_[n].external_ids : nullptr;
    auto it = ports_.find(n);
    if (it == ports_.end()) return nullptr;
    if (table == "Interface") return &it->second.iface_ids;
    if (table == "Port") return &it->second.port_ids;
    return nullptr;
  }
  std::string NewUuid() {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012llx",
                  static_cast<unsigned long long>(++uuids_));
    return buf;
  }

  std::map<std::string, Bridge> bridges_;
  std::map<std::string, Port> ports_;
  std::set<std::string> devices_;
  int64_t next_ofport_ = 1;
  uint64_t uuids_ = 0;
};

}  // namespace rampart::ovs::testing

#endif  // RAMPART_TEST_OVS_OVSDB_FAKE_VSWITCH_H_
