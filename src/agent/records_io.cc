#include "agent/records_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace rampart::agent {

namespace {

using nlohmann::json;

std::string S(std::string_view s) { return std::string(s); }

absl::StatusOr<records::Record> RowFromJson(const json& j, const std::string& where) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": a row must be an object {\"table\", \"values\"}"));
  auto t = j.find("table");
  auto v = j.find("values");
  if (t == j.end() || !t->is_string() || t->get<std::string>().empty())
    return absl::InvalidArgumentError(absl::StrCat(where, ": field 'table' must be a non-empty string"));
  if (v == j.end() || !v->is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": field 'values' must be an array of strings"));
  records::Record r;
  r.table = t->get<std::string>();
  for (size_t i = 0; i < v->size(); ++i) {
    const json& x = (*v)[i];
    if (x.is_string()) r.values.push_back(x.get<std::string>());
    else if (x.is_number_integer()) r.values.push_back(x.dump());
    else return absl::InvalidArgumentError(absl::StrCat(where, ": values[", i, "] must be a string"));
  }
  return r;
}

absl::StatusOr<records::RecordSet> FromArray(const json& a, uint64_t revision, const std::string& file) {
  records::Delta d;
  d.snapshot = true;
  d.revision = revision;
  for (size_t i = 0; i < a.size(); ++i) {
    auto r = RowFromJson(a[i], absl::StrCat(file, ": records[", i, "]"));
    if (!r.ok()) return r.status();
    d.inserts.push_back(std::move(*r));
  }
  records::RecordSet rs;
  rs.Apply(d);
  if (rs.inconsistencies()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", rs.inconsistencies(), " duplicate row(s)"));
  return rs;
}

}  // namespace

absl::StatusOr<records::RecordSet> ParseRecords(std::string_view text, std::string_view file_sv, std::string_view host) {
  std::string file = S(file_sv);
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '[' || text[first] == '{')) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (text[first] == '[' && j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON"));
    if (j.is_array()) return FromArray(j, 0, file);
    if (j.is_object() && j.contains("hosts")) {
      if (!j["hosts"].is_array()) return absl::InvalidArgumentError(absl::StrCat(file, ": field 'hosts' must be an array"));
      for (const auto& h : j["hosts"]) {
        if (h.is_object() && h.value("host", "") == host && h.contains("records") && h["records"].is_array()) {
          return FromArray(h["records"], 0, file);
        }
      }
      return absl::NotFoundError(absl::StrCat(file, ": no records for host '", S(host), "' (hosts[].host)"));
    }
    if (j.is_object() && j.contains("records")) {
      if (!j["records"].is_array()) return absl::InvalidArgumentError(absl::StrCat(file, ": field 'records' must be an array"));
      uint64_t rev = 0;
      if (j.contains("revision")) {
        if (!j["revision"].is_number_unsigned()) return absl::InvalidArgumentError(absl::StrCat(file, ": field 'revision' must be a non-negative integer"));
        rev = j["revision"].get<uint64_t>();
      }
      return FromArray(j["records"], rev, file);
    }
    // Otherwise: JSON lines (a single-row file parses as one object too).
  }
  records::Delta d;
  d.snapshot = true;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string_view::npos || line[b] == '#') continue;
    json j = json::parse(line.begin(), line.end(), nullptr, false);
    std::string where = absl::StrCat(file, ":", line_no);
    if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON"));
    auto r = RowFromJson(j, where);
    if (!r.ok()) return r.status();
    d.inserts.push_back(std::move(*r));
  }
  records::RecordSet rs;
  rs.Apply(d);
  if (rs.inconsistencies()) return absl::InvalidArgumentError(absl::StrCat(file, ": ", rs.inconsistencies(), " duplicate row(s)"));
  return rs;
}

absl::StatusOr<records::RecordSet> LoadRecordsFile(const std::string& path, std::string_view host) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseRecords(ss.str(), path, host);
}

std::string RecordsToJson(const records::RecordSet& rs) {
  json a = json::array();
  for (const auto& r : rs.rows()) a.push_back(json{{"table", r.table}, {"values", r.values}});
  return json{{"revision", rs.revision()}, {"records", a}}.dump();
}

absl::Status SaveState(const std::string& path, const records::RecordSet& rs) {
  std::string tmp = path + ".tmp";
  std::error_code ec;
  if (auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) std::filesystem::create_directories(dir, ec);
  std::string body = RecordsToJson(rs) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("state file ", tmp, ": ", std::strerror(errno)));
  size_t off = 0;
  while (off < body.size()) {
    ssize_t n = ::write(fd, body.data() + off, body.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("state file ", tmp, ": write: ", std::strerror(e)));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return absl::UnavailableError(absl::StrCat("state file ", tmp, ": fsync: ", std::strerror(errno)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return absl::UnavailableError(absl::StrCat("state file ", path, ": rename: ", std::strerror(errno)));
  return absl::OkStatus();
}

absl::StatusOr<records::RecordSet> LoadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("state file ", path, " does not exist"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("records"))
    return absl::DataLossError(absl::StrCat("state file ", path, ": not a state document (delete it to start from a full snapshot)"));
  return ParseRecords(text, path);
}

}  // namespace rampart::agent
