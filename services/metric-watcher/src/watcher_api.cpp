#include "watcher_api.hpp"

#include <sluice/http/errors.hpp>

#include "retrospective.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;

json OptTime(const std::optional<core::SystemTime>& t) {
  return t ? json(core::FormatRfc3339(*t)) : json(nullptr);
}

json AnalysisJson(const AnalysisRow& a) {
  return {{"id", a.id},
          {"deployment_id", a.deployment_id},
          {"batch_index", a.batch_index},
          {"generation", a.generation},
          {"app", a.app},
          {"env", a.env},
          {"version", a.version},
          {"baseline_version", a.baseline_version},
          {"release_id", a.release_id},
          {"template", a.template_name},
          {"bake_watch", a.bake_watch},
          {"instances", a.instances},
          {"baseline_instances", a.baseline_instances},
          {"status", a.status},
          {"reason", a.reason},
          {"started_at", core::FormatRfc3339(a.started_at)},
          {"switched_at", OptTime(a.switched_at)},
          {"ends_at", OptTime(a.ends_at)},
          {"next_due_at", OptTime(a.next_due_at)},
          {"finished_at", OptTime(a.finished_at)},
          {"evidence", a.evidence}};
}

json MeasurementJson(const MeasurementRow& m) {
  return {{"rule", m.rule},
          {"taken_at", core::FormatRfc3339(m.taken_at)},
          {"verdict", m.verdict},
          {"metric", m.metric},
          {"observed", m.observed ? Finite(*m.observed) : json(nullptr)},
          {"threshold", m.threshold ? Finite(*m.threshold) : json(nullptr)},
          {"comparator", m.comparator},
          {"affected_instances", m.affected},
          {"message", m.message},
          {"queries", m.queries},
          {"values", m.values}};
}

json ListedAlertJson(const ListedAlert& l) {
  const auto& a = l.alert;
  return {{"fingerprint", a.fingerprint},
          {"name", a.alert_name},
          {"status", a.status},
          {"starts_at", core::FormatRfc3339(a.starts_at)},
          {"deployment_id", a.deployment_id},
          {"raised", a.raised},
          {"alert_id", a.alert_id},
          {"reason", a.reason},
          {"labels", a.labels},
          {"annotations", a.annotations},
          {"received_at", core::FormatRfc3339(l.received_at)},
          {"updated_at", core::FormatRfc3339(l.updated_at)}};
}

// GET /v1/analyses/{id}: the run, its rules and its measurements; null when unknown.
json AnalysisDetail(pqxx::work& tx, const std::string& id) {
  const auto a = GetAnalysis(tx, id);
  if (!a) return nullptr;
  json j = AnalysisJson(*a);
  json rules = json::array();
  for (const auto& r : LoadRules(tx, id)) {
    rules.push_back({{"name", r.rule},
                     {"kind", r.kind},
                     {"outcome", r.outcome},
                     {"progress", r.progress},
                     {"next_due_at", OptTime(r.next_due_at)}});
  }
  j["rules"] = rules;
  json measurements = json::array();
  for (const auto& m : ListMeasurements(tx, id, "", 1000)) {
    measurements.push_back(MeasurementJson(m));
  }
  j["measurements"] = measurements;
  return j;
}

}  // namespace

void MountWatcherApi(http::Server& server, ApiDeps deps) {
  MountAlertmanagerReceiver(server, {deps.db, deps.clock, deps.metrics, deps.alert_token});

  server.Get("/v1/alerts", [deps](const httplib::Request& req, httplib::Response& res) {
    const std::string app = req.get_param_value("app");
    const std::string deployment_id = req.get_param_value("deployment_id");
    const int limit = http::LimitParam(req, 100);
    const auto rows = deps.db.WithTransaction(
        [&](pqxx::work& tx) { return ListAlerts(tx, app, deployment_id, limit); });
    json items = json::array();
    for (const auto& l : rows) items.push_back(ListedAlertJson(l));
    http::WriteJson(res, 200, {{"alerts", items}});
  });

  server.Post("/v1/analyses", [deps](const httplib::Request& req, httplib::Response& res) {
    const auto request = ParseRetrospectiveRequest(http::ParseJsonBody(req));
    http::WriteJson(res, 200, RunRetrospective(deps.provider, request));
  });

  server.Get("/v1/analyses", [deps](const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> deployment_id;
    if (req.has_param("deployment_id")) deployment_id = req.get_param_value("deployment_id");
    const int limit = http::LimitParam(req, 100);
    const auto rows = deps.db.WithTransaction(
        [&](pqxx::work& tx) { return ListAnalyses(tx, deployment_id, limit); });
    json items = json::array();
    for (const auto& a : rows) items.push_back(AnalysisJson(a));
    http::WriteJson(res, 200, {{"analyses", items}});
  });

  server.Get(R"(/v1/analyses/([^/]+))",
             [deps](const httplib::Request& req, httplib::Response& res) {
               const std::string id = req.matches[1];
               const json out =
                   deps.db.WithTransaction([&](pqxx::work& tx) { return AnalysisDetail(tx, id); });
               if (out.is_null()) throw http::NotFound("analysis " + id + " not found");
               http::WriteJson(res, 200, out);
             });
}

}  // namespace sluice::watcher
