// Northbound objects in the store: one key per object,
//   /rampart/nb/<Kind>/<tenant>/<name>      ("-" as tenant for Tenant and Host)
// whose value is the object's canonical JSON (ParseNbDocuments' NbDocument::json: the document as
// the user wrote it, keys sorted, comments and `revision` dropped).
//
// The REST API (api_server.h) writes these keys; the controller reads them back with
// ParseStoredObjects (the whole spec, references validated) and, per changed key, ObjectRows
// (the nlog input rows that one object contributes; the union over all objects equals
// SpecToRows of the whole spec).
//
// Thread-safety: pure functions.
#ifndef RAMPART_CONTROLLER_API_NB_OBJECTS_H_
#define RAMPART_CONTROLLER_API_NB_OBJECTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/nb_spec.h"
#include "store/store.h"

namespace rampart::controller {

inline constexpr std::string_view kNbPrefix = "/rampart/nb/";

// Kind, tenant ("" for Tenant/Host) and name of one object.
struct NbObjectId {
  std::string kind, tenant, name;
  bool operator==(const NbObjectId&) const = default;
  auto operator<=>(const NbObjectId&) const = default;
};

// "/rampart/nb/Port/A/vm1"; tenant "" becomes "-".
std::string NbObjectKey(const NbObjectId& id);
// The inverse; InvalidArgument for a key that is not an NB object key (unknown kind, wrong shape).
absl::StatusOr<NbObjectId> ParseNbObjectKey(std::string_view key);
// "Port A/vm1", "Host h1".
std::string NbObjectName(const NbObjectId& id);

// The whole spec from the stored objects (keys outside kNbPrefix are ignored). Errors name the
// key: "/rampart/nb/Port/A/vm1 (Port vm1): switch: unknown LogicalSwitch 'ls9' in tenant 'A'";
// a value whose kind/tenant/name does not match its key is an error.
absl::StatusOr<NbSpec> ParseStoredObjects(const std::vector<store::KeyValue>& kvs);

// The nlog input rows ONE stored object contributes (sorted, no duplicates; references are not
// checked). Concatenating ObjectRows over every object and sorting equals SpecToRows of
// ParseStoredObjects.
absl::StatusOr<std::vector<InputRow>> ObjectRows(std::string_view key, std::string_view json);

// One reference from an object to another, e.g. Port A/vm1 --switch--> LogicalSwitch A/ls1.
struct NbReference {
  NbObjectId from;
  std::string field;  // "switch", "ports[0].switch", "rules", "tenant", ...
  NbObjectId to;
};

// Every reference `json` (the object `id`) makes to other objects (also to its Tenant); a
// Firewall's or VnicPolicy's redirect rule refers to its ServiceVM (field "rules[3].redirect_to").
// A ServiceVM refers only to its Tenant and claims nothing (its key makes its name unique).
absl::StatusOr<std::vector<NbReference>> ObjectReferences(const NbObjectId& id, std::string_view json);

// What the validity of a set of objects can depend on, for one object: the references it makes
// (as ObjectReferences) and the values it claims that must be unique within its tenant:
//   "datapath/<tenant>/<name>"  a LogicalSwitch's or LogicalRouter's name (one namespace)
//   "policy/<tenant>/<name>"    a Firewall's or VnicPolicy's name (one namespace)
//   "mac/<tenant>/<48-bit value>", "ip/<tenant>/<address>"  a Port's MAC and each of its IPs
//   "inline/<tenant>/<switch>/<router>"  the wire an inline Firewall sits on
// Every cross-object check ParseNbSources makes is a reference check or one of these claims
// (NbCatalog::Scope relies on it; nb_catalog_test checks it against whole-set validation).
struct NbObjectDeps {
  std::vector<NbReference> refs;
  std::vector<std::string> unique;
};
absl::StatusOr<NbObjectDeps> ObjectDeps(const NbObjectId& id, std::string_view json);

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_API_NB_OBJECTS_H_
