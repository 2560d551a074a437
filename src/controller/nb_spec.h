// Northbound spec: the multi-document YAML a tenant administrator writes (kind: Tenant,
// LogicalSwitch, LogicalRouter, Port, AddressGroup, ServiceVM, Firewall, VnicPolicy, Host), parsed,
// validated, and turned into the input rows of the logical stage's nlog program
// (src/controller/programs/logical.nlog; docs/logical-stage.md).
//
// Errors are InvalidArgument and read
//   "<file>:<line>: document <n> (<Kind> <name>): <field path>: <reason>"
// e.g. "a.yaml:14: document 3 (Port vm1): switch: unknown LogicalSwitch 'ls9' in tenant 'A'".
// Unknown fields are errors; nothing is returned on error.
//
// Thread-safety: pure functions.
#ifndef RAMPART_CONTROLLER_NB_SPEC_H_
#define RAMPART_CONTROLLER_NB_SPEC_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ip.h"
#include "nlog/value.h"

namespace rampart::controller {

struct NbSwitch { std::string tenant, name; Prefix cidr; };
struct NbRouterPort { std::string sw; Ip ip; uint64_t mac = 0; };
struct NbStaticRoute { Prefix dst; Ip nexthop; };
struct NbPolicyRoute {
  int priority = 0;
  Prefix src, dst;           // omitted = 0.0.0.0/0
  std::string action;        // firewall | drop | allow
  std::string firewall;      // for action firewall
};
struct NbRouter {
  std::string tenant, name;
  std::vector<NbRouterPort> ports;
  std::vector<NbStaticRoute> static_routes;
  std::vector<NbPolicyRoute> policy_routes;
};
struct NbPort {
  std::string tenant, sw, name, host;  // host "" = not bound
  uint64_t mac = 0;
  std::vector<Ip> ips;
  std::map<std::string, std::string> labels;
};
struct NbSelectorSet {  // explicit ports and/or a label selector (all labels must match)
  std::vector<std::string> ports;
  std::map<std::string, std::string> selector;
};
struct NbAddressGroup {
  std::string tenant, name;
  std::vector<Prefix> prefixes;
  NbSelectorSet members;
};
struct NbRule {
  uint32_t id = 0;
  int32_t priority = 0;
  std::string text;                 // canonical one-line form
  std::vector<std::string> groups;  // group names used by the rule
  std::string service;              // action redirect: the ServiceVM named by redirect_to, else ""
};
struct NbFirewall {
  std::string tenant, name;
  std::string placement;  // attached | inline
  std::string router, sw;
  std::string default_action;
  std::vector<NbRule> rules;
};
struct NbVnicPolicy {
  std::string tenant, name, default_action;
  NbSelectorSet applied_to;
  std::vector<NbRule> rules;
};
struct NbHost { std::string name; Ip underlay; };
// A partner service VM's registration and behaviour (seed 001; the `Service` record of
// docs/records.md). Rules of the same tenant name it with `action: redirect, redirect_to: NAME`.
struct NbServiceVm {
  std::string tenant, name;
  std::string on_failure = "drop";  // drop | allow: Redirect verdicts while no partner is attached
  std::string check = "cached";     // cached | every-packet | every-nth
  int64_t nth = 0;                  // >= 2 for every-nth, else 0
  bool relay = false;               // tell the SVM about packets answered from the cache
  std::string same_host = "both";   // both | source | destination
  std::string migration = "engine";  // engine | svm-review | svm
};

struct NbSpec {
  std::vector<std::string> tenants;
  std::vector<NbHost> hosts;
  std::vector<NbSwitch> switches;
  std::vector<NbRouter> routers;
  std::vector<NbPort> ports;
  std::vector<NbAddressGroup> groups;
  std::vector<NbFirewall> firewalls;
  std::vector<NbVnicPolicy> vnic_policies;
  std::vector<NbServiceVm> services;
};

// Parses and validates every document of `text`; `file` names the input in errors.
absl::StatusOr<NbSpec> ParseNbSpec(std::string_view text, std::string_view file);
absl::StatusOr<NbSpec> ParseNbSpecFile(const std::string& path);

// ---- Documents one at a time (the controller's REST API stores one object per document) ----

// One document's text and where it came from. Errors about it read
//   "<file>:<line>: document <index> (<Kind> <name>): <field path>: <reason>"
// or, when index is 0 (e.g. an object read back from the store, file = its key),
//   "<file> (<Kind> <name>): <field path>: <reason>".
struct NbParsedDoc;
struct NbSource {
  std::string text;    // one YAML or JSON document
  std::string file;    // names the input in errors
  int index = 0;       // 1-based document number within `file`; 0 = none
  int first_line = 0;  // 0-based line of text's first line within `file`
  // Set by ParseNbDocuments(..., keep_parsed = true): the document's parse (YAML tree, rules),
  // which ParseNbSources then reuses instead of parsing `text` again. Shared by copies of the
  // source; read-only once set.
  std::shared_ptr<NbParsedDoc> parsed;
};

// One document checked alone: kind, names, field names and types, values (addresses, MACs,
// prefixes, rule syntax). References to other objects are NOT checked (see ParseNbSources).
struct NbDocument {
  std::string kind, tenant, name;  // tenant "" for Tenant and Host
  int64_t revision = -1;           // the optional `revision: N` field (stale-update check); -1 = absent
  std::string json;                // canonical JSON: keys sorted, comments and `revision` dropped,
                                   // unquoted integers and true/false as JSON numbers/booleans
  NbSource source;                 // the document's own text (for merged validation)
};

// Splits `text` into documents on "---" lines and checks each alone. On error returns the first
// error; `all_errors` (optional) receives one message per bad document. `keep_parsed`: each
// document's source carries its parse (NbSource::parsed) for a ParseNbSources of the same
// documents right after; that parse (a YAML tree) is several times the text's size, so callers
// that keep the documents leave it off.
absl::StatusOr<std::vector<NbDocument>> ParseNbDocuments(std::string_view text, std::string_view file,
                                                         std::vector<std::string>* all_errors = nullptr,
                                                         bool keep_parsed = false);

// The spec of ONE document checked alone (as in ParseNbDocuments; references unchecked).
absl::StatusOr<NbSpec> ParseNbDocumentAlone(const NbSource& doc);

// Remembers, per distinct document text, its YAML tree and its rules as parsed alone, so that
// validating the same stored objects again (every apply merges with all of them) does not parse
// them again. Entries not used by the latest ParseNbSources call are dropped.
// Thread-safety: none; one cache per caller, used by one thread at a time.
class NbParseCache {
 public:
  NbParseCache();
  ~NbParseCache();
  NbParseCache(const NbParseCache&) = delete;
  NbParseCache& operator=(const NbParseCache&) = delete;
  size_t size() const;
  struct Impl;

 private:
  friend absl::StatusOr<struct NbSpec> ParseNbSources(const std::vector<struct NbSource>& docs, NbParseCache* cache);
  std::unique_ptr<Impl> impl_;
};

// Parses and validates a set of documents together, references included (what ParseNbSpec
// does for one file). The documents need not come from one file. `cache` (optional) speeds up
// repeated calls over mostly the same documents.
absl::StatusOr<NbSpec> ParseNbSources(const std::vector<NbSource>& docs, NbParseCache* cache = nullptr);

// The kinds of the northbound model, in dependency order (a kind refers only to earlier ones,
// except LogicalRouter policy routes -> Firewall).
const std::vector<std::string>& NbKinds();

// One row of an nlog input table.
struct InputRow {
  std::string table;
  nlog::Row row;
};

// The spec as input rows of logical.nlog, sorted (table, then row) and without duplicates.
// Besides the documents' own facts it emits one derived row per Port: PortLinkLocal(t, port,
// fe80::EUI-64(mac)), the IPv6 link-local address the VM forms from its MAC (port security lets
// a port with IPv6 addresses send from it; nlog has no MAC -> address function).
std::vector<InputRow> SpecToRows(const NbSpec& spec);

// fe80::/64 with the modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A: the
// universal/local bit flipped, ff:fe in the middle), e.g. 02:00:00:00:01:01 -> fe80::ff:fe00:101.
Ip Eui64LinkLocal(uint64_t mac);

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_NB_SPEC_H_
