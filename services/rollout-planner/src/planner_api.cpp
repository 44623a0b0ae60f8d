#include "planner_api.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/http/errors.hpp>
#include <string>
#include <utility>
#include <vector>

#include "list_cursor.hpp"
#include "planner_model.hpp"
#include "planner_repository.hpp"

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;

json TimeOrNull(const std::optional<core::SystemTime>& t) {
  return t ? json(core::FormatRfc3339(*t)) : json(nullptr);
}

json Summary(const DeploymentRow& row) {
  const auto& d = row.state;
  return {{"id", row.ctx.deployment_id},
          {"release_id", row.ctx.release_id},
          {"app", row.ctx.app},
          {"env", row.ctx.env},
          {"version", row.ctx.version},
          {"strategy", ToString(row.ctx.strategy)},
          {"status", ToString(d.status)},
          {"phase", ToString(d.phase)},
          {"generation", d.generation.Value()},
          {"current_batch", d.current_batch},
          {"batch_count", d.batches.size()},
          {"requested_by", row.requested_by},
          {"queued", row.queued},
          {"spec_version", row.ctx.spec_version},
          {"on_canary_failure", row.ctx.on_canary_failure},
          {"created_at", core::FormatRfc3339(row.created_at)},
          {"started_at", TimeOrNull(d.started_at)},
          {"finished_at", TimeOrNull(d.finished_at)},
          {"stable_release_id_before", row.ctx.stable_release_id},
          {"stable_version_before", row.ctx.stable_version},
          {"failure_reason", d.failure_reason             ? json(ToString(*d.failure_reason))
                             : row.failure_reason.empty() ? json(nullptr)
                                                          : json(row.failure_reason)},
          {"failure_detail", row.failure_detail.empty() ? json(nullptr) : json(row.failure_detail)},
          {"pause_reason", d.pause_reason ? json(ToString(*d.pause_reason)) : json(nullptr)},
          {"resumes_at", TimeOrNull(PauseEndsAt(d))}};
}

}  // namespace

void MountPlannerApi(http::Server& server, pg::Database& db, const core::Clock& clock) {
  server.Get("/v1/deployments", [&db, &clock](const httplib::Request& req, httplib::Response& res) {
    DeploymentFilter f;
    if (req.has_param("app")) f.app = req.get_param_value("app");
    if (req.has_param("env")) f.env = req.get_param_value("env");
    if (req.has_param("status")) {
      f.status = req.get_param_value("status");
      if (!ParseStatus(*f.status)) {
        throw http::BadRequest("status",
                               "status must be pending, running, paused, succeeded, failed, "
                               "rolling_back, rolled_back or aborted");
      }
    }
    f.limit = http::LimitParam(req, 50);
    f.created = http::TimeRangeParams(req, clock.Now());
    if (req.has_param("cursor")) {
      f.after = ParseListCursor(req.get_param_value("cursor"));
      if (!f.after) {
        throw http::BadRequest("cursor", "cursor must be the next_cursor value of a previous page");
      }
    }
    const auto page =
        db.WithTransaction([&](pqxx::work& tx) { return PlannerRepository::List(tx, f); });
    json items = json::array();
    for (const auto& r : page.rows) items.push_back(Summary(r));
    // null on the last page; the filters apply to every page, so a client sends them again.
    http::WriteJson(
        res, 200,
        {{"deployments", items},
         {"next_cursor", page.next ? json(FormatListCursor(*page.next)) : json(nullptr)}});
  });
  server.Get(R"(/v1/deployments/([A-Za-z0-9-]+))",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const std::string id = req.matches[1];
               auto found = db.WithTransaction([&](pqxx::work& tx) {
                 std::optional<std::pair<DeploymentRow, std::vector<TimelineEntry>>> out;
                 if (auto row = PlannerRepository::LoadDeployment(tx, id, false)) {
                   out.emplace(std::move(*row), PlannerRepository::Timeline(tx, id));
                 }
                 return out;
               });
               if (!found) throw http::NotFound("no deployment with id " + id);
               json body = Summary(found->first);
               body["batches"] = BatchesView(found->first.state);
               json timeline = json::array();
               for (const auto& t : found->second) {
                 json item = {{"at", core::FormatRfc3339(t.at)},
                              {"kind", t.kind},
                              {"detail", t.detail},
                              {"actor", t.actor},
                              {"applied", t.applied}};
                 if (!t.applied) item["ignored_reason"] = t.ignored_reason;
                 timeline.push_back(std::move(item));
               }
               body["timeline"] = timeline;
               http::WriteJson(res, 200, body);
             });
  server.Get(R"(/v1/apps/([a-z0-9-]+)/environments/([a-z0-9-]+)/stable)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const std::string app = req.matches[1];
               const std::string env = req.matches[2];
               const auto stable = db.WithTransaction(
                   [&](pqxx::work& tx) { return PlannerRepository::LoadStable(tx, app, env); });
               if (!stable) {
                 throw http::NotFound("no stable release of " + app + " in " + env + " yet");
               }
               http::WriteJson(res, 200,
                               {{"app", stable->app},
                                {"env", stable->env},
                                {"release_id", stable->release_id},
                                {"version", stable->version},
                                {"artifact", stable->artifact},
                                {"deployment_id", stable->deployment_id},
                                {"updated_at", core::FormatRfc3339(stable->updated_at)}});
             });
}

}  // namespace sluice::rollout_planner
