// Environments of an app: their promotion chain and freeze switch.
//   GET    /v1/apps/{app}/environments               viewer: each environment in file order,
//                                                    its promotion (from, mode) and freeze
//   PUT    /v1/apps/{app}/environments/{env}/freeze  admin: {"reason"}; deployments into the
//                                                    environment are refused (409) until lifted
//   DELETE /v1/apps/{app}/environments/{env}/freeze  admin: lifts it
// Every freeze and lift is in the audit log (action environment.freeze / environment.unfreeze).
#include <sluice/http/errors.hpp>

#include "delivery.hpp"
#include "environment_repository.hpp"
#include "promotion.hpp"
#include "release_intake_component.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

json FreezeJson(const EnvFreeze& f) {
  return {{"reason", f.reason}, {"frozen_by", f.frozen_by}, {"frozen_at_ms", f.frozen_at_ms}};
}

// The app's latest spec, parsed; 404 naming what to do when there is none.
spec::DeliverySpec LatestSpecOf(pqxx::work& tx, const std::string& app) {
  const auto stored = DeliveryRepository::LatestSpec(tx, app);
  if (!stored) {
    throw http::NotFound("app '" + app +
                         "' has no delivery spec; apply one with 'sluice apply -f " + app +
                         ".yaml'");
  }
  auto parsed = spec::ParseDeliverySpec(stored->yaml, SpecOrigin(app));
  if (const auto* e = std::get_if<spec::SpecError>(&parsed)) {
    throw http::ApiException({422, "invalid_spec",
                              "the latest delivery spec of '" + app +
                                  "' no longer passes validation (" + e->ToString() + ")",
                              "app"});
  }
  return std::get<spec::DeliverySpec>(std::move(parsed));
}

}  // namespace

void ReleaseIntakeApi::RegisterEnvironments() {
  auto& s = deps_.server;
  s.Get(R"(/v1/apps/([a-z][a-z0-9-]{0,62})/environments)",
        [this](const auto& req, auto& res) { ListEnvironments(req, res); });
  s.Put(R"(/v1/apps/([a-z][a-z0-9-]{0,62})/environments/([a-z][a-z0-9-]{0,62})/freeze)",
        [this](const auto& req, auto& res) { FreezeEnvironment(req, res, true); });
  s.Delete(R"(/v1/apps/([a-z][a-z0-9-]{0,62})/environments/([a-z][a-z0-9-]{0,62})/freeze)",
           [this](const auto& req, auto& res) { FreezeEnvironment(req, res, false); });
}

void ReleaseIntakeApi::ListEnvironments(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  const std::string app = req.matches[1];
  const json out = Db([&](pqxx::work& tx) {
    const auto spec = LatestSpecOf(tx, app);
    std::map<std::string, EnvFreeze> frozen;
    for (auto& f : EnvironmentRepository::Freezes(tx, app)) frozen.emplace(f.env, std::move(f));
    json items = json::array();
    for (const auto& e : spec.environments) {
      json item = {{"name", e.name}, {"promotion", nullptr}, {"frozen", nullptr}};
      if (e.promotion) {
        item["promotion"] = {{"from", e.promotion->from},
                             {"mode", std::string(spec::ToString(e.promotion->mode))}};
      }
      if (auto it = frozen.find(e.name); it != frozen.end())
        item["frozen"] = FreezeJson(it->second);
      items.push_back(std::move(item));
    }
    return json{{"app", app}, {"items", std::move(items)}};
  });
  http::WriteJson(res, 200, out);
}

void ReleaseIntakeApi::FreezeEnvironment(const httplib::Request& req, httplib::Response& res,
                                         bool freeze) {
  // An admin of the environment (globally, or by a grant there).
  const auto token = Authenticate(req, Role::kAdmin, /*any_environment=*/true);
  const std::string app = req.matches[1];
  const std::string env = req.matches[2];
  RequireRoleIn(CallerOf(token, "api"), env, Role::kAdmin, freeze ? "freeze" : "unfreeze");
  std::optional<FreezeInput> input;
  if (freeze) {
    std::string error;
    input = ValidateFreeze(http::ParseJsonBody(req), error);
    if (!input) throw http::BadRequest("reason", error);
  }
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  const auto out = Db([&](pqxx::work& tx) {
    const auto spec = LatestSpecOf(tx, app);
    if (spec.FindEnvironment(env) == nullptr) {
      throw http::NotFound("environment '" + env + "' is not in the delivery spec of app '" + app +
                           "'; known environments: " + [&] {
                             std::string names;
                             for (const auto& n : EnvironmentNames(spec)) {
                               names += (names.empty() ? "" : ", ") + n;
                             }
                             return names;
                           }());
    }
    json detail = json::object();
    bool changed = true;
    if (freeze) {
      const EnvFreeze f{app, env, input->reason, token.name, now_ms};
      EnvironmentRepository::SetFreeze(tx, f);
      detail = FreezeJson(f);
    } else {
      changed = EnvironmentRepository::ClearFreeze(tx, app, env);
    }
    ReleaseRepository::Audit(
        tx,
        {token.name, freeze ? "environment.freeze" : "environment.unfreeze", app + "/" + env,
         changed ? (freeze ? "frozen" : "lifted") : "unchanged", core::TraceScope::Current(),
         detail},
        now_ms, {app, env});
    json body = {{"app", app}, {"env", env}, {"frozen", freeze ? json(detail) : json(nullptr)}};
    return body;
  });
  http::WriteJson(res, 200, out);
}

}  // namespace sluice::release_intake
