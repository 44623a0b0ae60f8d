#include "promotion_consumer.hpp"

#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>

#include "delivery.hpp"
#include "delivery_repository.hpp"
#include "environment_repository.hpp"
#include "intake_actions.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

// The delivery spec a deployment ran with: its request's version, else the app's latest
// (deployments made by auto-deploy have no request row).
std::optional<spec::DeliverySpec> SpecOf(pqxx::work& tx, const std::string& app,
                                         const std::string& deployment_id) {
  std::optional<AppSpecVersion> stored;
  if (auto request = DeliveryRepository::FindDeploymentRequest(tx, deployment_id)) {
    stored = DeliveryRepository::Spec(tx, app, request->spec_version);
  }
  if (!stored) stored = DeliveryRepository::LatestSpec(tx, app);
  if (!stored) return std::nullopt;
  auto parsed = spec::ParseDeliverySpec(stored->yaml, SpecOrigin(app));
  if (auto* s = std::get_if<spec::DeliverySpec>(&parsed)) return std::move(*s);
  return std::nullopt;
}

// Whether the environment of a succeeded deployment watches a bake period after it.
bool HasBakeWatch(pqxx::work& tx, const std::string& app, const std::string& env,
                  const std::string& deployment_id) {
  const auto spec = SpecOf(tx, app, deployment_id);
  if (!spec) return false;
  const auto* e = spec->FindEnvironment(env);
  return e != nullptr && e->analysis && e->analysis->bake_watch;
}

// The release passed `d.env`: a deployment into every `promotion: auto` environment after it
// (the app's latest spec), each through the same path as a person's request, so the gate, the
// freeze and the audit apply; a refusal is audited and leaves the release where it is.
void Promote(pqxx::work& tx, const EnvDeployment& d, const core::Clock& clock) {
  const auto stored = DeliveryRepository::LatestSpec(tx, d.app);
  if (!stored) return;
  auto parsed = spec::ParseDeliverySpec(stored->yaml, SpecOrigin(d.app));
  const auto* spec = std::get_if<spec::DeliverySpec>(&parsed);
  if (spec == nullptr) return;
  const auto now_ms = core::ToUnixMillis(clock.Now());
  for (const auto& env : AutoPromotionsFrom(*spec, d.env)) {
    // release-intake itself, bound by the gate but by no token's role.
    const Caller caller{std::string(kPromotionActor), "promotion", Role::kAdmin, {}};
    const DeploymentRequest request{d.release_id, env, stored->version};
    json detail = {{"release_id", d.release_id},
                   {"from", d.env},
                   {"passed_deployment_id", d.deployment_id},
                   {"spec_version", stored->version}};
    std::string outcome;
    tx.exec("SAVEPOINT promotion");
    try {
      const Answer answer = RequestDeployment(tx, request, AutoPromotionKey(d.release_id, env),
                                              /*dry_run=*/false, caller, clock);
      tx.exec("RELEASE SAVEPOINT promotion");
      outcome = answer.status == 202 ? "requested" : "refused";
      if (answer.body.contains("deployment_id")) {
        detail["deployment_id"] = answer.body["deployment_id"];
      }
      if (answer.body.contains("error")) detail["error"] = answer.body["error"];
    } catch (const http::ApiException& e) {
      if (e.Error().status >= 500) throw;
      tx.exec("ROLLBACK TO SAVEPOINT promotion");
      outcome = "refused";
      detail["error"] = {{"code", e.Error().code}, {"message", e.Error().message}};
    }
    ReleaseRepository::Audit(tx,
                             {std::string(kPromotionActor), "promotion.auto", d.app + "/" + env,
                              outcome, core::TraceScope::Current(), detail},
                             now_ms, {d.app, env});
    core::Logger("promotion")
        ->info("release {} passed {}/{}: promotion into {} {}", d.release_id, d.app, d.env, env,
               outcome);
  }
}

EnvDeploymentUpdate Ids(const std::string& deployment_id, const std::string& app,
                        const std::string& env, const std::string& release_id) {
  EnvDeploymentUpdate u;
  u.deployment_id = deployment_id;
  u.app = app;
  u.env = env;
  u.release_id = release_id;
  return u;
}

}  // namespace

bool IsPromotionEvent(const events::v1::Envelope& e) {
  switch (e.payload_case()) {
    case events::v1::Envelope::kDeploymentPlanned:
    case events::v1::Envelope::kDeploymentSucceeded:
    case events::v1::Envelope::kDeploymentFailed:
    case events::v1::Envelope::kRollbackStarted:
      return true;
    case events::v1::Envelope::kAnalysisPassed:
      return e.analysis_passed().bake_watch();
    case events::v1::Envelope::kAnalysisFailed:
      return e.analysis_failed().bake_watch();
    default:
      return false;
  }
}

void HandlePromotionEvent(pqxx::work& tx, const events::v1::Envelope& e, const core::Clock& clock) {
  EnvDeploymentUpdate u;
  switch (e.payload_case()) {
    case events::v1::Envelope::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      u = Ids(p.deployment_id(), p.app(), p.env(), p.release_id());
      break;
    }
    case events::v1::Envelope::kDeploymentSucceeded: {
      const auto& p = e.deployment_succeeded();
      u = Ids(p.deployment_id(), p.app(), p.env(), e.release_id());
      u.succeeded = true;
      u.bake_expected = HasBakeWatch(tx, p.app(), p.env(), p.deployment_id());
      break;
    }
    case events::v1::Envelope::kDeploymentFailed: {
      const auto& p = e.deployment_failed();
      u = Ids(p.deployment_id(), p.app(), p.env(), e.release_id());
      u.failed = true;
      break;
    }
    case events::v1::Envelope::kRollbackStarted:
      u.deployment_id = e.rollback_started().deployment_id();
      u.failed = true;
      break;
    case events::v1::Envelope::kAnalysisPassed:
      if (!e.analysis_passed().bake_watch()) return;
      u.deployment_id = e.analysis_passed().deployment_id();
      u.bake_passed = true;
      break;
    case events::v1::Envelope::kAnalysisFailed:
      if (!e.analysis_failed().bake_watch()) return;
      u.deployment_id = e.analysis_failed().deployment_id();
      u.failed = true;
      break;
    default:
      return;
  }
  if (u.deployment_id.empty()) return;
  const auto row = EnvironmentRepository::Apply(tx, u, core::ToUnixMillis(clock.Now()));
  if (!row || !row->Passed()) return;
  if (!EnvironmentRepository::MarkPromoted(tx, row->deployment_id)) return;
  Promote(tx, *row, clock);
}

}  // namespace sluice::release_intake
