// Reading a host's records from a file (rampart-agent --records) and persisting what the agent
// applied (its state file: revision + rows), so a restarted agent resumes the stream from the
// revision it holds and, while the controller is unreachable, keeps what it applied.
//
// Records file: JSON lines, one row per line: {"table": "Flow", "values": ["A", "ls1", ...]}
// (blank lines and lines starting with '#' are skipped); or one JSON array of such objects;
// or an object {"records": [...]} (optionally with "revision"); or the output of
// `rampartctl compile --records -o json` ({"hosts": [{"host": H, "records": [...]}, ...]}), of
// which the rows of `host` are taken.
//
// Thread-safety: plain functions.
#ifndef RAMPART_AGENT_RECORDS_IO_H_
#define RAMPART_AGENT_RECORDS_IO_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "records/records.h"

namespace rampart::agent {

// Errors name the file, the line (JSON lines) or the row index, and the reason.
absl::StatusOr<records::RecordSet> ParseRecords(std::string_view text, std::string_view file, std::string_view host = "");
absl::StatusOr<records::RecordSet> LoadRecordsFile(const std::string& path, std::string_view host = "");

// {"revision": N, "records": [...]} — written to PATH.tmp, fsynced, renamed over PATH.
std::string RecordsToJson(const records::RecordSet& rs);
absl::Status SaveState(const std::string& path, const records::RecordSet& rs);
// NotFound when there is no state file yet.
absl::StatusOr<records::RecordSet> LoadState(const std::string& path);

}  // namespace rampart::agent

#endif  // RAMPART_AGENT_RECORDS_IO_H_
