// The controller's logical stage: the northbound spec's rows flow through the nlog program
// src/controller/programs/logical.nlog (embedded at build time) into firewall records with their
// host span, logical flows (LFP) and physical flows with abstract ports (UPCP).
// docs/logical-stage.md describes the tables; `rampartctl compile` prints a host's view.
//
// Thread-safety: a LogicalStage is used by one thread at a time.
#ifndef RAMPART_CONTROLLER_LOGICAL_STAGE_H_
#define RAMPART_CONTROLLER_LOGICAL_STAGE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/nb_spec.h"
#include "nlog/engine.h"

namespace rampart::controller {

// The program's text (logical.nlog) and its compiled form.
const std::string& LogicalProgramText();
absl::StatusOr<nlog::Program> CompileLogicalProgram();

// The transaction that turns input rows `from` into `to` (both as SpecToRows returns them).
nlog::Transaction DiffRows(const std::vector<InputRow>& from, const std::vector<InputRow>& to);

class LogicalStage {
 public:
  static absl::StatusOr<std::unique_ptr<LogicalStage>> Create();

  // Makes `spec` the current spec: applies the difference to the previous one as one
  // incremental transaction and returns the output changes. On error nothing changes.
  absl::StatusOr<nlog::Delta> SetSpec(const NbSpec& spec);

  const nlog::Engine& engine() const { return *engine_; }
  // The current input rows, sorted as SpecToRows returns them: read from the engine's input
  // tables (the stage keeps no copy of its own; that copy was 30% of its memory).
  std::vector<InputRow> rows() const;

 private:
  explicit LogicalStage(std::unique_ptr<nlog::Engine> e) : engine_(std::move(e)) {}
  std::unique_ptr<nlog::Engine> engine_;
};

// What one host receives, from the engine's current output tables.
struct HostView {
  std::string host;
  struct Instance {
    std::string tenant, name, kind, default_action;
    std::vector<std::string> slices;                                 // sides / ports
    std::vector<std::string> ports;                                  // protected VM ports here
    std::vector<std::pair<std::pair<int64_t, int64_t>, std::string>> rules;  // ((priority, id), text)
    std::vector<std::pair<std::string, std::string>> group_addrs;    // (group, prefix)
  };
  std::vector<Instance> instances;
  // The service VMs this host's instances redirect to (ServiceHost; the `Service` record).
  struct Service {
    std::string tenant, name, on_failure, check;
    int64_t nth = 0;
    std::string relay, same_host, migration;
  };
  std::vector<Service> services;  // sorted by (tenant, name)
  struct Flow {
    std::string tenant, dp, stage;
    int64_t priority;
    std::string match, actions;
  };
  std::vector<Flow> flows;
};

// Every host that appears in any output span, plus every declared Host, sorted.
std::vector<std::string> KnownHosts(const nlog::Engine& engine);
HostView BuildHostView(const nlog::Engine& engine, const std::string& host);
// Deterministic renderings (two runs on the same spec print the same bytes). A host without
// services prints no services section (text) and no "services" key (JSON).
std::string RenderText(const std::vector<HostView>& views);
std::string RenderJson(const std::vector<HostView>& views);

}  // namespace rampart::controller

#endif  // RAMPART_CONTROLLER_LOGICAL_STAGE_H_
