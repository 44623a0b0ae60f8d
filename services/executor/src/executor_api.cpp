#include "executor_api.hpp"

#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/http/errors.hpp>

#include "command_repository.hpp"
#include "instance_record_repository.hpp"

namespace sluice::executor {
namespace {

using json = nlohmann::json;

std::optional<std::string> Rfc3339(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return core::FormatRfc3339(core::FromUnixMillis(*ms));
}

json OrNull(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

json RecordJson(const InstanceRecord& r) {
  return {{"host", r.host},
          {"ip", r.ip},
          {"batch_index", r.batch_index.Value()},
          {"generation", r.generation.Value()},
          {"status", events::Name(r.status)},
          {"version", r.version},
          {"health_status", ToString(r.health)},
          {"deployed_at", OrNull(Rfc3339(r.deployed_at_ms))},
          {"error_message", r.error_message},
          {"attempts", r.attempts},
          {"updated_at", core::FormatRfc3339(core::FromUnixMillis(r.updated_at_ms))}};
}

json CommandJson(const CommandRow& row) {
  const Command& c = row.command;
  json hosts = json::array();
  for (const auto& t : c.targets) hosts.push_back(t.host);
  return {{"id", c.id},
          {"operation", ToString(c.operation)},
          {"batch_index", c.batch_index.Value()},
          {"generation", c.generation.Value()},
          {"rollback_id", c.rollback_id},
          {"event_id", c.event_id},
          {"version", c.artifact.version},
          {"hosts", hosts},
          {"unresolved", UnresolvedToJson(c.unresolved)},
          {"status", row.status},
          {"result", row.result},
          {"reason", row.reason},
          {"claims", row.claim},
          {"accepted_at", core::FormatRfc3339(core::FromUnixMillis(row.accepted_at_ms))},
          {"started_at", OrNull(Rfc3339(row.started_at_ms))},
          {"finished_at", OrNull(Rfc3339(row.finished_at_ms))}};
}

}  // namespace

void MountExecutorApi(http::Server& server, pg::Database& db) {
  server.Get(R"(/v1/deployments/([^/]+)/instances)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const core::DeploymentId id(req.matches[1]);
               const auto [records, known] = db.WithTransaction([&](pqxx::work& tx) {
                 auto r = InstanceRecordRepository::ListDeployment(tx, id);
                 const bool k = !r.empty() || !CommandRepository::ListRows(tx, id).empty();
                 return std::make_pair(std::move(r), k);
               });
               if (!known) {
                 throw http::NotFound("deployment " + id.Value() + " is unknown to the executor");
               }
               json items = json::array();
               for (const auto& r : records) items.push_back(RecordJson(r));
               http::WriteJson(res, 200, {{"instances", items}});
             });
  server.Get(R"(/v1/deployments/([^/]+)/commands)", [&db](const httplib::Request& req,
                                                          httplib::Response& res) {
    const core::DeploymentId id(req.matches[1]);
    const auto rows =
        db.WithTransaction([&](pqxx::work& tx) { return CommandRepository::ListRows(tx, id); });
    if (rows.empty()) {
      throw http::NotFound("deployment " + id.Value() + " is unknown to the executor");
    }
    json items = json::array();
    for (const auto& r : rows) items.push_back(CommandJson(r));
    http::WriteJson(res, 200, {{"commands", items}});
  });
}

}  // namespace sluice::executor
