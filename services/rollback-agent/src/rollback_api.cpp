#include "rollback_api.hpp"

#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/http/errors.hpp>

#include "incident.hpp"
#include "rollback_repository.hpp"

namespace sluice::rollback {
namespace {

using json = nlohmann::json;

std::string RequireDeploymentQuery(const httplib::Request& req) {
  const std::string id = req.get_param_value("deployment_id");
  if (id.empty()) throw http::BadRequest("deployment_id", "give ?deployment_id=<id>");
  return id;
}

std::string Rfc3339(std::int64_t ms) { return core::FormatRfc3339(core::FromUnixMillis(ms)); }

json OptTime(const std::optional<std::int64_t>& ms) {
  return ms ? json(Rfc3339(*ms)) : json(nullptr);
}

json RollbackJson(const RollbackRow& r) {
  return {{"rollback_id", r.rollback_id},
          {"deployment_id", r.deployment_id},
          {"from_generation", r.plan.from_generation},
          {"generation", r.plan.new_generation},
          {"scope", ToString(r.plan.scope)},
          {"batches", r.plan.batches},
          {"hosts", r.plan.hosts},
          {"target_version", r.plan.target_version},
          {"target_release_id", r.plan.target_release_id},
          {"final_status", ToString(r.plan.final_status)},
          {"trigger", r.trigger_kind},
          {"trigger_event_id", r.trigger_event_id},
          {"trigger_actor", r.trigger_actor},
          {"why", r.plan.why},
          {"evidence", r.evidence},
          {"status", r.status},
          {"attempt", r.progress.attempt},
          {"attempt_generation", r.progress.attempt_generation},
          {"pending_hosts", r.progress.pending},
          {"reverted_hosts", r.progress.reverted},
          {"failed_hosts", r.progress.failed},
          {"retry_at", OptTime(r.retry_at_ms)},
          {"timeout_at", OptTime(r.timeout_at_ms)},
          {"started_at", Rfc3339(r.started_at_ms)},
          {"finished_at", OptTime(r.finished_at_ms)}};
}

json TriggerJson(const TriggerRow& t) {
  return {{"id", t.id},
          {"event_id", t.event_id},
          {"kind", t.kind},
          {"actor", t.actor},
          {"decision", t.decision},
          {"reason", t.reason},
          {"detail", t.detail},
          {"rollback_id", t.rollback_id},
          {"received_at", Rfc3339(t.received_at_ms)}};
}

json IncidentListJson(const IncidentRow& r) {
  json j = {{"incident_id", r.incident_id},
            {"rollback_id", r.rollback_id},
            {"deployment_id", r.deployment_id},
            {"status", r.status},
            {"summary", r.summary},
            {"created_at", Rfc3339(r.created_at_ms)}};
  if (r.report) {
    j["report_url"] = r.report->value("report_url", "");
    j["chart_url"] = r.report->value("chart_url", "");
  }
  return j;
}

// The written report of an incident; 404 when unknown, 503 while it is being written.
Incident WrittenIncident(pg::Database& db, const std::string& id) {
  const auto row =
      db.WithTransaction([&](pqxx::work& tx) { return RollbackRepository::GetIncident(tx, id); });
  if (!row) throw http::NotFound("incident " + id + " is unknown");
  if (!row->report) throw http::Unavailable("incident " + id + " is being written", 2);
  return IncidentFromJson(*row->report);
}

}  // namespace

void MountRollbackApi(http::Server& server, pg::Database& db) {
  server.Get("/v1/incidents", [&db](const httplib::Request& req, httplib::Response& res) {
    const auto deployment_id = RequireDeploymentQuery(req);
    const auto rows = db.WithTransaction(
        [&](pqxx::work& tx) { return RollbackRepository::ListIncidents(tx, deployment_id); });
    json items = json::array();
    for (const auto& r : rows) items.push_back(IncidentListJson(r));
    http::WriteJson(res, 200, {{"incidents", items}});
  });
  server.Get(R"(/v1/incidents/([^/]+)/chart\.svg)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const auto incident = WrittenIncident(db, req.matches[1]);
               res.status = 200;
               res.set_content(RenderChartSvg(incident), "image/svg+xml");
             });
  server.Get(R"(/v1/incidents/([^/]+))", [&db](const httplib::Request& req,
                                               httplib::Response& res) {
    const auto incident = WrittenIncident(db, req.matches[1]);
    const bool markdown = req.get_param_value("format") == "markdown" ||
                          req.get_header_value("Accept").find("text/markdown") != std::string::npos;
    if (markdown) {
      res.status = 200;
      res.set_content(RenderMarkdown(incident), "text/markdown; charset=utf-8");
      return;
    }
    http::WriteJson(res, 200, IncidentToJson(incident));
  });
  server.Get("/v1/rollbacks", [&db](const httplib::Request& req, httplib::Response& res) {
    const auto deployment_id = RequireDeploymentQuery(req);
    const auto [rollbacks, triggers] = db.WithTransaction([&](pqxx::work& tx) {
      return std::make_pair(RollbackRepository::ListRollbacks(tx, deployment_id),
                            RollbackRepository::ListTriggers(tx, deployment_id));
    });
    json rb = json::array();
    for (const auto& r : rollbacks) rb.push_back(RollbackJson(r));
    json tr = json::array();
    for (const auto& t : triggers) tr.push_back(TriggerJson(t));
    http::WriteJson(res, 200,
                    {{"deployment_id", deployment_id}, {"rollbacks", rb}, {"triggers", tr}});
  });
}

}  // namespace sluice::rollback
