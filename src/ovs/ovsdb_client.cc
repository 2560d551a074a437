#include "ovs/ovsdb_client.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ovs/ovsdb_util.h"

namespace rampart::ovs {
namespace {

std::string Short(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

}  // namespace

absl::Status OvsdbErrorToStatus(const Json& error, std::string_view context) {
  std::string kind = "unknown error";
  std::string details;
  if (error.is_string()) {
    kind = error.get<std::string>();
  } else if (error.is_object()) {
    if (auto e = error.find("error"); e != error.end() && e->is_string()) kind = e->get<std::string>();
    if (auto d = error.find("details"); d != error.end() && d->is_string()) details = d->get<std::string>();
  } else {
    kind = Short(error);
  }
  std::string msg = internal::Cat(context, ": ovsdb error \"", kind, "\"");
  if (!details.empty()) msg += internal::Cat(": ", details);
  if (kind == "timed out") return absl::AbortedError(msg);
  if (kind == "constraint violation" || kind == "referential integrity violation") {
    return absl::FailedPreconditionError(msg);
  }
  if (kind == "resources exhausted") return absl::ResourceExhaustedError(msg);
  if (kind == "not owner") return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::vector<RowUpdate>> ParseTableUpdates(const Json& table_updates) {
  if (!table_updates.is_object()) {
    return absl::InvalidArgumentError(
        internal::Cat("ovsdb table-updates: expected an object, got ", Short(table_updates)));
  }
  std::vector<RowUpdate> rows;
  for (const auto& [table, row_updates] : table_updates.items()) {
    if (!row_updates.is_object()) {
      return absl::InvalidArgumentError(
          internal::Cat("ovsdb table-updates: table ", table, ": expected an object of rows"));
    }
    for (const auto& [uuid, change] : row_updates.items()) {
      if (!ovsdb::IsUuid(uuid) || !change.is_object()) {
        return absl::InvalidArgumentError(internal::Cat(
            "ovsdb table-updates: table ", table, ": bad row update for '", uuid, "'"));
      }
      RowUpdate r{table, uuid, nullptr, nullptr};
      if (auto o = change.find("old"); o != change.end()) r.old_row = *o;
      if (auto n = change.find("new"); n != change.end()) r.new_row = *n;
      if ((!r.old_row.is_null() && !r.old_row.is_object()) ||
          (!r.new_row.is_null() && !r.new_row.is_object()) ||
          (r.old_row.is_null() && r.new_row.is_null())) {
        return absl::InvalidArgumentError(internal::Cat(
            "ovsdb table-updates: table ", table, " row ", uuid, ": 'old'/'new' must be rows"));
      }
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

absl::StatusOr<std::unique_ptr<OvsdbClient>> OvsdbClient::Connect(OvsdbClientOptions options) {
  if (!options.connector) {
    if (options.socket_path.empty()) {
      return absl::InvalidArgumentError("OvsdbClient: neither socket_path nor connector given");
    }
    std::string path = options.socket_path;
    options.connector = [path]() { return ConnectUnix(path); };
  }
  std::unique_ptr<OvsdbClient> c(new OvsdbClient(std::move(options)));
  if (absl::Status s = c->ConnectOnce(); !s.ok()) return s;
  return c;
}

absl::Status OvsdbClient::ConnectOnce() {
  absl::StatusOr<std::unique_ptr<Transport>> t = options_.connector();
  if (!t.ok()) return t.status();
  conn_ = std::make_unique<JsonRpcConnection>(*std::move(t), options_.limits);
  return absl::OkStatus();
}

absl::Status OvsdbClient::Reconnect() {
  Disconnect();
  absl::Duration delay = options_.reconnect_backoff;
  absl::Status last = absl::UnavailableError("no reconnect attempt made");
  for (int attempt = 0; attempt < std::max(1, options_.reconnect_attempts); ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(delay));
      delay = std::min(delay * 2, absl::Seconds(2));
    }
    last = ConnectOnce();
    if (!last.ok()) continue;
    // Re-issue every monitor; their fresh contents replace whatever the caller had.
    std::vector<MonitorUpdate> initial;
    for (const auto& [id, m] : monitors_) {
      absl::StatusOr<MonitorUpdate> u = StartMonitor(m.db, id, m.requests);
      if (!u.ok()) {
        last = u.status();
        break;
      }
      initial.push_back(*std::move(u));
    }
    if (!last.ok()) {
      Disconnect();
      continue;
    }
    ++reconnects_;
    for (auto& u : initial) queued_.push_back(std::move(u));
    return absl::OkStatus();
  }
  return absl::UnavailableError(internal::Cat("ovsdb reconnect failed after ",
                                             options_.reconnect_attempts,
                                             " attempts: ", last.message()));
}

absl::Status OvsdbClient::EnsureConnected() {
  if (conn_) return absl::OkStatus();
  return Reconnect();
}

absl::Status OvsdbClient::HandleUnsolicited(const JsonRpcMessage& m) {
  switch (m.kind) {
    case JsonRpcMessage::Kind::kRequest:
      if (m.method == "echo") {
        ++echoes_answered_;
        return conn_->Send(MakeResponse(m.params, m.id));
      }
      return conn_->Send(MakeErrorResponse(internal::Cat("unknown method ", m.method), m.id));
    case JsonRpcMessage::Kind::kNotification: {
      if (m.method != "update") return absl::OkStatus();  // locked/stolen: no locks used
      if (m.params.size() != 2 || !m.params[0].is_string()) {
        return absl::DataLossError(internal::Cat("ovsdb update notification: bad params ", Short(m.params)));
      }
      absl::StatusOr<std::vector<RowUpdate>> rows = ParseTableUpdates(m.params[1]);
      if (!rows.ok()) return absl::DataLossError(rows.status().message());
      std::string id = m.params[0].get<std::string>();
      if (monitors_.count(id)) queued_.push_back(MonitorUpdate{id, false, *std::move(rows)});
      return absl::OkStatus();
    }
    case JsonRpcMessage::Kind::kResponse:
      return absl::OkStatus();  // a late reply to a call that timed out
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> OvsdbClient::CallConnected(std::string_view method, const Json& params) {
  uint64_t id = next_id_++;
  if (absl::Status s = conn_->Send(MakeRequest(method, params, id)); !s.ok()) {
    Disconnect();
    return s;
  }
  absl::Time deadline = absl::Now() + options_.call_timeout;
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(internal::Cat("ovsdb ", method, ": no reply within ",
                                                      absl::FormatDuration(options_.call_timeout)));
    }
    absl::StatusOr<std::optional<JsonRpcMessage>> m = conn_->Receive(left);
    if (!m.ok()) {
      Disconnect();
      return absl::Status(m.status().code(), internal::Cat("ovsdb ", method, ": ", m.status().message()));
    }
    if (!m->has_value()) continue;
    JsonRpcMessage& msg = **m;
    if (msg.kind == JsonRpcMessage::Kind::kResponse && msg.id.is_number_unsigned() &&
        msg.id.get<uint64_t>() == id) {
      if (!msg.error.is_null()) return OvsdbErrorToStatus(msg.error, internal::Cat("ovsdb ", method));
      return std::move(msg.result);
    }
    if (absl::Status s = HandleUnsolicited(msg); !s.ok()) {
      Disconnect();  // a resync through reconnect is the only safe answer to lost updates
      return s;
    }
  }
}

absl::StatusOr<Json> OvsdbClient::Call(std::string_view method, Json params) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  return CallConnected(method, params);
}

absl::StatusOr<std::vector<std::string>> OvsdbClient::ListDbs() {
  absl::StatusOr<Json> r = Call("list_dbs", Json::array());
  if (!r.ok()) return r.status();
  if (!r->is_array()) return absl::InvalidArgumentError("ovsdb list_dbs: result is not an array");
  std::vector<std::string> dbs;
  for (const Json& d : *r) {
    if (!d.is_string()) return absl::InvalidArgumentError("ovsdb list_dbs: a name is not a string");
    dbs.push_back(d.get<std::string>());
  }
  return dbs;
}

absl::StatusOr<Json> OvsdbClient::GetSchema(std::string_view db) {
  absl::StatusOr<Json> r = Call("get_schema", Json::array({std::string(db)}));
  if (!r.ok()) return r.status();
  if (!r->is_object() || !r->contains("tables")) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb get_schema ", db, ": no 'tables' in reply"));
  }
  return r;
}

absl::StatusOr<std::vector<Json>> OvsdbClient::Transact(std::string_view db, std::vector<Json> ops) {
  Json params = Json::array({std::string(db)});
  for (const Json& op : ops) params.push_back(op);
  absl::StatusOr<Json> r = Call("transact", std::move(params));
  if (!r.ok()) return r.status();
  if (!r->is_array() || r->size() < ops.size()) {
    return absl::InvalidArgumentError(internal::Cat("ovsdb transact: expected ", ops.size(),
                                                   " results, got ", Short(*r)));
  }
  for (size_t i = 0; i < r->size(); ++i) {
    const Json& res = (*r)[i];
    if (res.is_object() && res.contains("error")) {
      std::string ctx =
          i < ops.size()
              ? internal::Cat("ovsdb transact op ", i, " (", ops[i].value("op", "?"), " ",
                             ops[i].value("table", ""), ")")
              : std::string("ovsdb transact commit");
      return OvsdbErrorToStatus(res, ctx);
    }
  }
  std::vector<Json> results(r->begin(), r->begin() + static_cast<std::ptrdiff_t>(ops.size()));
  return results;
}

absl::StatusOr<MonitorUpdate> OvsdbClient::StartMonitor(const std::string& db, const std::string& id,
                                                        const MonitorRequests& requests) {
  Json reqs = Json::object();
  for (const auto& [table, columns] : requests) {
    Json r = Json::object();
    if (!columns.empty()) r["columns"] = columns;
    reqs[table] = r;
  }
  absl::StatusOr<Json> r = CallConnected("monitor", Json::array({db, id, reqs}));
  if (!r.ok()) return r.status();
  absl::StatusOr<std::vector<RowUpdate>> rows = ParseTableUpdates(*r);
  if (!rows.ok()) return rows.status();
  return MonitorUpdate{id, true, *std::move(rows)};
}

absl::StatusOr<MonitorUpdate> OvsdbClient::Monitor(std::string_view db, std::string_view monitor_id,
                                                   const MonitorRequests& requests) {
  std::string id(monitor_id);
  if (monitors_.count(id)) {
    return absl::AlreadyExistsError(internal::Cat("ovsdb monitor '", id, "' is already active"));
  }
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  absl::StatusOr<MonitorUpdate> u = StartMonitor(std::string(db), id, requests);
  if (!u.ok()) return u.status();
  monitors_[id] = ActiveMonitor{std::string(db), requests};
  return u;
}

absl::Status OvsdbClient::MonitorCancel(std::string_view monitor_id) {
  std::string id(monitor_id);
  if (!monitors_.erase(id)) {
    return absl::NotFoundError(internal::Cat("ovsdb monitor '", id, "' is not active"));
  }
  std::erase_if(queued_, [&](const MonitorUpdate& u) { return u.monitor_id == id; });
  absl::StatusOr<Json> r = Call("monitor_cancel", Json::array({id}));
  return r.status();
}

absl::StatusOr<std::vector<MonitorUpdate>> OvsdbClient::PollUpdates(absl::Duration timeout) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  absl::Time deadline = absl::Now() + timeout;
  while (queued_.empty()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    absl::StatusOr<std::optional<JsonRpcMessage>> m = conn_->Receive(left);
    if (!m.ok()) {
      Disconnect();
      return absl::Status(m.status().code(), internal::Cat("ovsdb: ", m.status().message()));
    }
    if (!m->has_value()) break;
    if (absl::Status s = HandleUnsolicited(**m); !s.ok()) {
      Disconnect();
      return s;
    }
  }
  std::vector<MonitorUpdate> out = std::move(queued_);
  queued_.clear();
  return out;
}

absl::Status OvsdbClient::Echo() {
  Json payload = Json::array({"rampart", next_id_});
  absl::StatusOr<Json> r = Call("echo", payload);
  if (!r.ok()) return r.status();
  if (*r != payload) return absl::DataLossError(internal::Cat("ovsdb echo: reply ", Short(*r), " differs"));
  return absl::OkStatus();
}

}  // namespace rampart::ovs
