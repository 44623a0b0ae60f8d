// The delivery half of release-intake's API: delivery specs (PUT/GET /v1/apps/...), deployment
// requests (POST /v1/deployments), operator commands (POST /v1/deployments/{id}:<verb>) and the
// read-only proxies to the rollout-planner and the executor.
#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/core/time_range.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/spec/convert.hpp>

#include "agent_repository.hpp"
#include "delivery.hpp"
#include "delivery_repository.hpp"
#include "environment_repository.hpp"
#include "grant_repository.hpp"
#include "intake_actions.hpp"
#include "inventory_reader.hpp"
#include "inventory_repository.hpp"
#include "promotion_waits.hpp"
#include "release_intake_component.hpp"
#include "time_zone.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

http::ApiException Unprocessable(std::string field, std::string message) {
  return http::ApiException({422, "unprocessable", std::move(message), std::move(field)});
}

json SpecVersionJson(const AppSpecVersion& s, bool with_yaml) {
  json j = {{"app", s.app},
            {"version", s.version},
            {"sha256", s.sha256},
            {"applied_by", s.applied_by},
            {"applied_at_ms", s.applied_at_ms}};
  if (with_yaml) {
    j["yaml"] = s.yaml;
    auto parsed = spec::ParseDeliverySpec(s.yaml, SpecOrigin(s.app));
    if (const auto* spec = std::get_if<spec::DeliverySpec>(&parsed)) {
      j["environments"] = EnvironmentNames(*spec);
    }
  }
  return j;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The trace id of a W3C traceparent header, or a new one.
std::string TraceIdOf(const httplib::Request& req) {
  const std::string tp = req.get_header_value("traceparent");
  if (tp.size() >= 55 && tp[2] == '-' && tp[35] == '-') {
    const std::string id = tp.substr(3, 32);
    const bool hex = std::all_of(id.begin(), id.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (hex && id != std::string(32, '0')) return id;
  }
  return core::NewTraceId();
}

// Routes whose bodies are not JSON are registered on the raw httplib server, outside the JSON
// wrapper of http::Server; this gives them the same trace id and error handling.
void RunRaw(const httplib::Request& req, httplib::Response& res,
            const std::function<void()>& handler) {
  const std::string trace_id = TraceIdOf(req);
  core::TraceScope scope(trace_id);
  try {
    handler();
  } catch (const http::ApiException& e) {
    http::WriteError(res, e.Error());
  } catch (const std::exception& e) {
    core::Logger("api")->error("{} {} failed: {}", req.method, req.path, e.what());
    http::WriteError(res, {500, "internal", "internal error (trace id " + trace_id + ")", ""});
  }
  res.set_header("X-Trace-Id", trace_id);
}

std::optional<std::int64_t> ParseVersionParam(const httplib::Request& req) {
  if (!req.has_param("version")) return std::nullopt;
  const std::string v = req.get_param_value("version");
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 1) {
    throw http::BadRequest("version", "version must be a whole number from 1");
  }
  return n;
}

// A deployment window's `timeZone` the system tz database does not have: the 422 body naming it
// (the spec parser checks only its shape, having no files to read).
std::optional<json> UnknownTimeZone(const spec::DeliverySpec& spec) {
  for (const auto& env : spec.environments) {
    for (std::size_t i = 0; i < env.windows.size(); ++i) {
      const auto& zone = env.windows[i].time_zone;
      if (TimeZone::Cached(zone)) continue;
      const std::string path =
          "environments." + env.name + ".windows[" + std::to_string(i) + "].timeZone";
      return json{{"error",
                   {{"code", "invalid_spec"},
                    {"message", SpecOrigin(spec.app) + ": " + path + ": '" + zone +
                                    "' is not a time zone of the system tz database "
                                    "(/usr/share/zoneinfo); use a name such as Europe/Berlin"},
                    {"field", path}}}};
    }
  }
  return std::nullopt;
}

}  // namespace

void ReleaseIntakeApi::RegisterDelivery() {
  auto& s = deps_.server;
  constexpr const char* kApp = R"(/v1/apps/([a-z][a-z0-9-]{0,62}))";
  // A spec is YAML, which http::Server's JSON-only body check would refuse.
  s.Raw().Put(kApp, [this](const httplib::Request& req, httplib::Response& res) {
    RunRaw(req, res, [&] { ApplySpec(req, res); });
  });
  s.Get("/v1/apps", [this](const auto& req, auto& res) { ListApps(req, res); });
  s.Get(kApp, [this](const auto& req, auto& res) { GetApp(req, res); });
  s.Get(std::string(kApp) + "/versions",
        [this](const auto& req, auto& res) { ListAppVersions(req, res); });
  s.Post("/v1/deployments", [this](const auto& req, auto& res) { CreateDeployment(req, res); });
  s.Get("/v1/deployments", [this](const auto& req, auto& res) { ProxyDeployments(req, res); });
  s.Get(R"(/v1/deployments/([A-Za-z0-9-]{1,64}))",
        [this](const auto& req, auto& res) { ProxyDeployment(req, res); });
  s.Get(R"(/v1/deployments/([A-Za-z0-9-]{1,64})/instances)",
        [this](const auto& req, auto& res) { ProxyInstances(req, res); });
  s.Post(R"(/v1/deployments/([A-Za-z0-9-]{1,64}):([A-Za-z0-9_-]{1,32}))",
         [this](const auto& req, auto& res) { DeploymentCommand(req, res); });
  RegisterAnalysesAndIncidents();
  RegisterEnvironments();
}

void ReleaseIntakeApi::RegisterAnalysesAndIncidents() {
  auto& s = deps_.server;
  constexpr const char* kId = "([A-Za-z0-9-]{1,64})";
  const std::vector<std::string> list_params = {"deployment_id", "limit", "cursor"};
  const std::string watcher = "metric-watcher";
  const std::string agent = "rollback-agent";
  const std::string watcher_down = "watcher_unavailable";
  const std::string agent_down = "rollback_agent_unavailable";

  // A retrospective analysis: the watcher measures a past range and answers with the verdicts.
  s.Post("/v1/analyses", [=, this](const httplib::Request& req, httplib::Response& res) {
    // It makes the watcher run queries against Prometheus: deployers, not viewers.
    Authenticate(req, Role::kDeployer);
    http::ParseJsonBody(req);  // a malformed body is refused here, not by the watcher
    auto call = UpstreamCall::Post("/v1/analyses", req.body);
    call.timeout = options_.analysis_timeout;
    Proxy(res, options_.watcher_url, call, watcher, watcher_down);
  });
  // A signed console link of one deployment opens its lists (deployment_id given).
  const auto deployment_link = [](const httplib::Request& req) {
    std::vector<std::string> paths;
    if (req.has_param("deployment_id")) {
      paths.push_back("/console/deployments/" + req.get_param_value("deployment_id"));
    }
    return paths;
  };
  s.Get("/v1/analyses", [=, this](const httplib::Request& req, httplib::Response& res) {
    AuthorizeRead(req, deployment_link(req));
    Proxy(res, options_.watcher_url,
          UpstreamCall::Get("/v1/analyses" + ForwardQuery(req.params, list_params)), watcher,
          watcher_down);
  });
  s.Get(std::string("/v1/analyses/") + kId, [=, this](const httplib::Request& req,
                                                      httplib::Response& res) {
    Authenticate(req, Role::kViewer);
    Proxy(res, options_.watcher_url,
          UpstreamCall::Get("/v1/analyses/" + std::string(req.matches[1])), watcher, watcher_down);
  });

  s.Get("/v1/incidents", [=, this](const httplib::Request& req, httplib::Response& res) {
    AuthorizeRead(req, deployment_link(req));
    Proxy(res, options_.rollback_agent_url,
          UpstreamCall::Get("/v1/incidents" + ForwardQuery(req.params, list_params)), agent,
          agent_down);
  });
  // JSON by default; Markdown with `Accept: text/markdown` or ?format=markdown.
  s.Get(std::string("/v1/incidents/") + kId,
        [=, this](const httplib::Request& req, httplib::Response& res) {
          AuthorizeRead(req, {"/v1/incidents/" + std::string(req.matches[1])});
          auto call = UpstreamCall::Get("/v1/incidents/" + std::string(req.matches[1]) +
                                        ForwardQuery(req.params, {"format"}));
          if (req.has_header("Accept")) call.accept = req.get_header_value("Accept");
          Proxy(res, options_.rollback_agent_url, call, agent, agent_down, /*any_media=*/true);
        });
  s.Get(std::string("/v1/incidents/") + kId + "/chart\\.svg", [=, this](const httplib::Request& req,
                                                                        httplib::Response& res) {
    AuthorizeRead(req, {"/v1/incidents/" + std::string(req.matches[1]) + "/chart.svg"});
    auto call = UpstreamCall::Get("/v1/incidents/" + std::string(req.matches[1]) + "/chart.svg");
    call.accept = "image/svg+xml";
    Proxy(res, options_.rollback_agent_url, call, agent, agent_down, /*any_media=*/true);
  });
  s.Get("/v1/rollbacks", [=, this](const httplib::Request& req, httplib::Response& res) {
    AuthorizeRead(req, deployment_link(req));
    Proxy(res, options_.rollback_agent_url,
          UpstreamCall::Get("/v1/rollbacks" + ForwardQuery(req.params, list_params)), agent,
          agent_down);
  });
}

// --- Delivery specs ---------------------------------------------------------------------------

void ReleaseIntakeApi::ApplySpec(const httplib::Request& req, httplib::Response& res) {
  const auto token = Authenticate(req, Role::kApprover);
  const std::string app = req.matches[1];
  if (!IsValidAppName(app)) throw http::BadRequest("app", "'" + app + "' is not a valid app name");
  auto body = SpecTextFromBody(req.get_header_value("Content-Type"), req.body);
  if (auto* e = std::get_if<SpecBodyError>(&body)) {
    if (e->kind == SpecBodyError::Kind::kUnsupportedMediaType) {
      throw http::ApiException({415, "unsupported_media_type", e->error.message, e->error.field});
    }
    if (e->kind == SpecBodyError::Kind::kTooLarge) {
      throw http::ApiException({413, "spec_too_large", e->error.message, e->error.field});
    }
    throw http::BadRequest(e->error.field, e->error.message);
  }
  const std::string& text = std::get<std::string>(body);
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  auto audit = [&](pqxx::work& tx, const std::string& outcome, json detail) {
    ReleaseRepository::Audit(
        tx, {token.name, "app_spec.apply", app, outcome, core::TraceScope::Current(), detail},
        now_ms, {app, std::nullopt});
  };

  auto parsed = spec::ParseDeliverySpec(text, SpecOrigin(app));
  std::optional<json> refusal;
  if (const auto* e = std::get_if<spec::SpecError>(&parsed)) {
    refusal = SpecErrorBody(*e);
  } else if (std::get<spec::DeliverySpec>(parsed).app != app) {
    const std::string spec_app = std::get<spec::DeliverySpec>(parsed).app;
    refusal = json{{"error",
                    {{"code", "invalid_spec"},
                     {"message", SpecOrigin(app) + ": app: the spec is for app '" + spec_app +
                                     "' but was applied to /v1/apps/" + app},
                     {"field", "app"},
                     {"line", nullptr},
                     {"column", nullptr}}}};
  }
  if (!refusal) refusal = UnknownTimeZone(std::get<spec::DeliverySpec>(parsed));
  if (refusal) {
    Db([&](pqxx::work& tx) { audit(tx, "invalid", {{"error", (*refusal)["error"]["message"]}}); });
    http::WriteJson(res, 422, *refusal);
    return;
  }
  const auto& spec = std::get<spec::DeliverySpec>(parsed);
  const std::string sha = Sha256Hex(text);
  struct Outcome {
    std::int64_t version = 0;
    bool unchanged = false;
  };
  const auto outcome = Db([&](pqxx::work& tx) {
    DeliveryRepository::LockApp(tx, app);
    const auto latest = DeliveryRepository::LatestSpec(tx, app);
    if (latest && latest->sha256 == sha) {
      audit(tx, "unchanged", {{"version", latest->version}, {"sha256", sha}});
      return Outcome{latest->version, true};
    }
    const std::int64_t version = latest ? latest->version + 1 : 1;
    DeliveryRepository::InsertSpec(tx, {app, version, sha, text, token.name, now_ms});
    auto e = events::NewEnvelope(kServiceName, deps_.clock);
    auto* applied = e.mutable_app_spec_applied();
    applied->set_app(app);
    applied->set_spec_version(static_cast<std::uint64_t>(version));
    applied->set_spec_yaml(text);  // deprecated: for one release, beside the resolved form
    *applied->mutable_spec() = spec::ToProto(spec);
    applied->set_sha256(sha);
    applied->set_applied_by(token.name);
    eventbus::Publish(tx, std::move(e));
    audit(tx, "created", {{"version", version}, {"sha256", sha}});
    return Outcome{version, false};
  });
  json out = {{"app", app},
              {"version", outcome.version},
              {"sha256", sha},
              {"unchanged", outcome.unchanged},
              {"environments", EnvironmentNames(spec)}};
  if (!outcome.unchanged) {
    res.set_header("Location", "/v1/apps/" + app + "?version=" + std::to_string(outcome.version));
  }
  http::WriteJson(res, outcome.unchanged ? 200 : 201, out);
}

void ReleaseIntakeApi::GetApp(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  const std::string app = req.matches[1];
  const auto version = ParseVersionParam(req);
  auto spec = Db([&](pqxx::work& tx) {
    return version ? DeliveryRepository::Spec(tx, app, *version)
                   : DeliveryRepository::LatestSpec(tx, app);
  });
  if (!spec) {
    throw http::NotFound(version ? "app '" + app + "' has no delivery spec version " +
                                       std::to_string(*version)
                                 : "app '" + app +
                                       "' has no delivery spec; apply one with "
                                       "'sluice apply -f " +
                                       app + ".yaml'");
  }
  http::WriteJson(res, 200, SpecVersionJson(*spec, true));
}

void ReleaseIntakeApi::ListAppVersions(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  const std::string app = req.matches[1];
  auto versions = Db([&](pqxx::work& tx) { return DeliveryRepository::SpecVersions(tx, app); });
  if (versions.empty()) throw http::NotFound("app '" + app + "' has no delivery spec");
  json items = json::array();
  for (const auto& v : versions) items.push_back(SpecVersionJson(v, false));
  http::WriteJson(res, 200, {{"app", app}, {"items", std::move(items)}});
}

void ReleaseIntakeApi::ListApps(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  auto apps = Db([&](pqxx::work& tx) { return DeliveryRepository::Apps(tx); });
  json items = json::array();
  for (const auto& a : apps) items.push_back(SpecVersionJson(a, false));
  http::WriteJson(res, 200, {{"items", std::move(items)}});
}

// --- Deployment requests ----------------------------------------------------------------------

namespace {

// ?dry_run=true|false|1|0 (default false).
bool DryRunParam(const httplib::Request& req) {
  if (!req.has_param("dry_run")) return false;
  const std::string v = req.get_param_value("dry_run");
  if (v != "true" && v != "false" && v != "1" && v != "0") {
    throw http::BadRequest("dry_run", "dry_run must be true or false");
  }
  return v == "true" || v == "1";
}

// The request's Idempotency-Key (none for a dry run, which stores nothing).
std::optional<std::string> IdempotencyKeyOf(const httplib::Request& req, bool dry_run) {
  if (!req.has_header("Idempotency-Key") || dry_run) return std::nullopt;
  std::string key = req.get_header_value("Idempotency-Key");
  if (!IsValidIdempotencyKey(key)) {
    throw http::BadRequest("Idempotency-Key",
                           "Idempotency-Key must be 1-200 printable characters without spaces");
  }
  return key;
}

// The answer to POST /v1/deployments.
struct DeploymentOutcome {
  int status = 202;
  json body;
};

// Who asks, when, and how the request is recognised again.
struct DeploymentAsk {
  const DeploymentRequest& request;
  const std::string& actor;
  const std::string& transport;  // "api", "kafka"
  const std::optional<std::string>& key;
  const std::string& fingerprint;
  std::int64_t now_ms;
  const Caller& caller;  // its roles
};

// An override of the gate by a caller who is not an admin of the environment: 403
// override_not_allowed, audited (outside a dry run) as deployment.request refused_override.
std::optional<DeploymentOutcome> OverrideRefusal(pqxx::work& tx, const DeploymentAsk& ask,
                                                 const std::string& app, bool dry_run) {
  const auto& request = ask.request;
  if (!request.override_reason) return std::nullopt;
  auto refusal = CheckRoleIn(ask.caller.name, ask.caller.role, ask.caller.environments, request.env,
                             Role::kAdmin, "override the promotion gate");
  if (!refusal) return std::nullopt;
  if (!dry_run) {
    json detail = refusal->detail;
    detail["override_reason"] = *request.override_reason;
    detail["release_id"] = request.release_id;
    detail["transport"] = ask.transport;
    ReleaseRepository::Audit(tx,
                             {ask.actor, "deployment.request", app + "/" + request.env,
                              "refused_override", core::TraceScope::Current(), detail},
                             ask.now_ms, {app, request.env});
  }
  return DeploymentOutcome{
      403,
      {{"error",
        {{"code", "override_not_allowed"},
         {"message", "only an admin of '" + request.env +
                         "' overrides the promotion gate: " + refusal->message},
         {"field", "override"},
         {"detail", refusal->detail}}}}};
}

// An override as answers, audit rows and the proxied deployment show it: {reason, overridden
// (the refusal's code, null when the gate let the release go anyway), refusal (its error)}.
json OverrideJson(const GateOverride& o) {
  return {{"reason", o.reason},
          {"overridden", o.overridden.empty() ? json(nullptr) : json(o.overridden)},
          {"refusal", o.detail}};
}

// The answer to a request whose Idempotency-Key was used before: the stored deployment again
// for the same request, 409 for another.
DeploymentOutcome Replay(pqxx::work& tx, const DeploymentAsk& ask,
                         const StoredDeploymentRequest& stored) {
  const bool same = stored.request_sha256 == ask.fingerprint;
  const std::string& key = *ask.key;
  ReleaseRepository::Audit(tx,
                           {ask.actor,
                            "deployment.request",
                            stored.app + "/" + stored.env,
                            same ? "replayed" : "key_conflict",
                            core::TraceScope::Current(),
                            {{"deployment_id", stored.deployment_id},
                             {"idempotency_key", key},
                             {"transport", ask.transport}}},
                           ask.now_ms, {stored.app, stored.env});
  if (!same) {
    return DeploymentOutcome{
        409,
        {{"error",
          {{"code", "idempotency_key_reused"},
           {"message", "Idempotency-Key '" + key + "' was used for another request (deployment " +
                           stored.deployment_id + "); use a new key"},
           {"field", "Idempotency-Key"}}}}};
  }
  json body = {{"deployment_id", stored.deployment_id},
               {"status", "requested"},
               {"app", stored.app},
               {"env", stored.env},
               {"release_id", stored.release_id},
               {"spec_version", stored.spec_version},
               {"replayed", true}};
  // Still waiting for its window (or aborted while it waited): as GET shows it.
  if (const auto held = HeldDeploymentJson(tx, stored.deployment_id)) {
    body["status"] = (*held)["status"];
    body["waiting"] = (*held)["waiting"];
  }
  return DeploymentOutcome{202, std::move(body)};
}

// The spec version the request names, or the app's latest; 422 when there is none.
AppSpecVersion RequestedSpec(pqxx::work& tx, const std::string& app,
                             const std::optional<std::int64_t>& version) {
  const std::string apply_hint = "apply a delivery spec first: sluice apply -f " + app + ".yaml";
  if (!version) {
    auto latest = DeliveryRepository::LatestSpec(tx, app);
    if (!latest) {
      throw Unprocessable("app", "app '" + app + "' has no delivery spec; " + apply_hint);
    }
    return std::move(*latest);
  }
  auto spec = DeliveryRepository::Spec(tx, app, *version);
  if (spec) return std::move(*spec);
  const auto latest = DeliveryRepository::LatestSpec(tx, app);
  if (!latest) {
    throw Unprocessable("spec_version", "app '" + app + "' has no delivery spec; " + apply_hint);
  }
  throw Unprocessable("spec_version", "app '" + app + "' has no delivery spec version " +
                                          std::to_string(*version) + " (versions 1.." +
                                          std::to_string(latest->version) + ")");
}

// The stored spec parsed again (validation may have grown stricter since it was applied).
spec::DeliverySpec ParseStoredSpec(const AppSpecVersion& spec, const std::string& app) {
  auto parsed = spec::ParseDeliverySpec(spec.yaml, SpecOrigin(app));
  if (const auto* e = std::get_if<spec::SpecError>(&parsed)) {
    throw http::ApiException({422, "invalid_spec",
                              "delivery spec version " + std::to_string(spec.version) +
                                  " no longer passes validation (" + e->ToString() +
                                  "); apply a corrected spec",
                              "spec_version"});
  }
  return std::get<spec::DeliverySpec>(std::move(parsed));
}

// ?dry_run: the batches the deployment would have, nothing stored.
DeploymentOutcome DryRun(const Release& release, const std::string& env_name,
                         std::int64_t spec_version, const spec::Environment& env) {
  DryRunInput in{release.input.app, env_name, release.id, release.input.version,
                 spec_version,      &env,     {}};
  try {
    in.batches = spec::PlanRollout(env, env.AllHosts());
  } catch (const spec::PlanError& e) {
    throw Unprocessable("env",
                        std::string("cannot plan environment '") + env_name + "': " + e.what());
  }
  auto body = DryRunJson(in);
  if (spec::HasInventory(env)) body["inventories"] = InventoriesJson(env);
  return DeploymentOutcome{200, std::move(body)};
}

// The environment to deploy: as the spec lists it, or with its inventory groups' hosts as read
// before this transaction for this spec version.
const spec::Environment& EnvironmentToDeploy(const spec::Environment& env,
                                             std::int64_t spec_version,
                                             const RequestInventories* inventories) {
  if (!spec::HasInventory(env)) return env;
  if (inventories == nullptr) {
    throw http::ApiException(
        {422, "inventory_not_read",
         "environment '" + env.name +
             "' reads host groups from an inventory, which is read for requests over the HTTP "
             "API only; request it with POST /v1/deployments",
         "env"});
  }
  if (inventories->spec_version != spec_version || inventories->environment.name != env.name) {
    throw http::ApiException({409, "spec_changed",
                              "the delivery spec changed while its inventory was read; retry",
                              "spec_version"});
  }
  return inventories->environment;
}

// The DeploymentRequested the planner acts on: the release, its artifact and the resolved spec.
events::v1::Envelope DeploymentRequestedEvent(const StoredDeploymentRequest& stored,
                                              const Release& release, const AppSpecVersion& spec,
                                              const spec::DeliverySpec& delivery_spec,
                                              const core::Clock& clock) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(stored.deployment_id);
  e.set_release_id(release.id);
  auto* dr = e.mutable_deployment_requested();
  dr->set_deployment_id(stored.deployment_id);
  dr->set_release_id(release.id);
  dr->set_app(stored.app);
  dr->set_env(stored.env);
  dr->set_requested_by(stored.requested_by);
  dr->set_spec_version(static_cast<std::uint64_t>(spec.version));
  dr->set_spec_yaml(spec.yaml);  // deprecated: for one release, beside the resolved form
  *dr->mutable_spec() = spec::ToProto(delivery_spec);
  dr->set_version(release.input.version);
  auto* artifact = dr->mutable_artifact();
  artifact->set_version(release.input.version);
  artifact->set_url(release.input.artifact_url);
  artifact->set_sha256(release.input.sha256);
  artifact->set_kind(ToProto(release.input.artifact_kind));
  if (release.input.image) artifact->set_image(*release.input.image);
  if (release.input.image_digest) artifact->set_image_digest(*release.input.image_digest);
  return e;
}

}  // namespace

// Whether the release may go into the environment now (promotion.hpp): its freeze, its newest
// deployment in the environment it is promoted from, and its windows (promotion_waits.hpp).
std::optional<GateRefusal> PromotionGate(pqxx::work& tx, const Release& release,
                                         const std::string& env_name, const spec::Environment& env,
                                         std::int64_t now_ms) {
  GateInput gate{release.input.app,
                 env_name,
                 release.id,
                 release.input.version,
                 &env,
                 {},
                 EnvironmentRepository::Freeze(tx, release.input.app, env_name)};
  if (env.promotion) {
    gate.previous =
        EnvironmentRepository::ReleaseIn(tx, release.input.app, env.promotion->from, release.id);
  }
  const auto zones = ZonesOf(env.windows);
  gate.zones = &zones;
  gate.now_ms = now_ms;
  return CheckGate(gate);
}

namespace {

// POST /v1/deployments inside its transaction: a replay for a known Idempotency-Key; else the
// release, its app's spec and the environment checked, then a dry run's plan, or the stored
// request with its DeploymentRequested (outbox) and audit row.
DeploymentOutcome RequestDeploymentIn(pqxx::work& tx, const DeploymentAsk& ask, bool dry_run,
                                      const core::Clock& clock,
                                      const RequestInventories* inventories) {
  const auto& request = ask.request;
  RequireRoleIn(ask.caller, request.env, Role::kDeployer, "deploy");
  if (ask.key) {
    if (auto stored = DeliveryRepository::FindByIdempotencyKey(tx, *ask.key)) {
      return Replay(tx, ask, *stored);
    }
  }
  const auto release = ReleaseRepository::Get(tx, request.release_id);
  if (!release) {
    throw Unprocessable("release_id", "no release with id '" + request.release_id +
                                          "'; list releases with 'sluice release list'");
  }
  const std::string& app = release->input.app;
  const AppSpecVersion spec = RequestedSpec(tx, app, request.spec_version);
  const spec::DeliverySpec delivery_spec = ParseStoredSpec(spec, app);
  const auto* env = delivery_spec.FindEnvironment(request.env);
  if (env == nullptr) {
    throw Unprocessable(
        "env", "environment '" + request.env + "' is not in the delivery spec of app '" + app +
                   "' (version " + std::to_string(spec.version) +
                   "); known environments: " + JoinNames(EnvironmentNames(delivery_spec)));
  }
  const spec::Environment& deployed = EnvironmentToDeploy(*env, spec.version, inventories);
  if (auto refused = OverrideRefusal(tx, ask, app, dry_run)) return *refused;
  const auto refusal = PromotionGate(tx, *release, request.env, *env, ask.now_ms);
  // An admin of the environment deploys past the gate with an override and its reason.
  std::optional<GateOverride> override;
  if (request.override_reason) {
    override = GateOverride{*request.override_reason, refusal ? refusal->code : "",
                            refusal ? GateRefusalBody(*refusal)["error"] : json(nullptr)};
  }
  if (dry_run) {
    auto plan = DryRun(*release, request.env, spec.version, deployed);
    // The plan says why the release may not go yet (nothing is stored or audited).
    if (refusal) plan.body["blocked"] = GateRefusalBody(*refusal)["error"];
    if (override) plan.body["override"] = OverrideJson(*override);
    return plan;
  }
  // Outside its windows it waits for the next opening (promotion_waits.hpp); any other refusal
  // is the answer.
  const bool waits = refusal && !override && WaitsForWindow(*refusal);
  if (refusal && !override && !waits) {
    json detail = refusal->detail;
    detail["release_id"] = release->id;
    detail["transport"] = ask.transport;
    ReleaseRepository::Audit(tx,
                             {ask.actor, "deployment.request", app + "/" + request.env,
                              "refused_" + refusal->code, core::TraceScope::Current(), detail},
                             ask.now_ms, {app, request.env});
    return DeploymentOutcome{409, GateRefusalBody(*refusal)};
  }

  StoredDeploymentRequest stored{core::NewUuid(), release->id, app,        request.env,
                                 spec.version,    ask.actor,   ask.now_ms, ask.fingerprint};
  if (!DeliveryRepository::InsertDeploymentRequest(tx, stored, ask.key)) {
    // The same key was committed by a concurrent request meanwhile.
    auto other = DeliveryRepository::FindByIdempotencyKey(tx, *ask.key);
    if (!other) throw std::runtime_error("idempotency key conflict without a stored request");
    return Replay(tx, ask, *other);
  }
  const bool has_inventory = spec::HasInventory(deployed);
  spec::DeliverySpec resolved = delivery_spec;
  if (has_inventory) {
    for (auto& e : resolved.environments) {
      if (e.name == deployed.name) e = deployed;
    }
    InventoryRepository::Record(tx, stored.deployment_id, app, deployed, ask.now_ms);
  }
  auto requested = DeploymentRequestedEvent(stored, *release, spec, resolved, clock);
  if (waits) {
    HoldForWindow(tx, stored.deployment_id, app, request.env, requested.deployment_requested(),
                  *refusal, ask.now_ms);
  } else {
    eventbus::Publish(tx, std::move(requested));
  }
  json detail = {{"deployment_id", stored.deployment_id},
                 {"release_id", release->id},
                 {"version", release->input.version},
                 {"spec_version", spec.version},
                 {"transport", ask.transport}};
  if (ask.key) detail["idempotency_key"] = *ask.key;
  if (override) {
    // On the deployment's record, and as an audit row of its own beside deployment.request.
    GrantRepository::RecordOverride(tx, stored.deployment_id, *override);
    detail["override"] = OverrideJson(*override);
    json why = {{"deployment_id", stored.deployment_id}, {"release_id", release->id},
                {"version", release->input.version},     {"reason", override->reason},
                {"refusal", override->detail},           {"transport", ask.transport}};
    ReleaseRepository::Audit(
        tx,
        {ask.actor, "deployment.override", app + "/" + request.env,
         override->overridden.empty() ? "not_needed" : "overrode_" + override->overridden,
         core::TraceScope::Current(), why},
        ask.now_ms, {app, request.env});
  }
  const json inventories_json = has_inventory ? InventoriesJson(deployed) : json();
  if (has_inventory) {
    json changes = json::array();
    for (const auto& i : inventories_json) {
      changes.push_back({{"group", i["group"]},
                         {"source", i["source"]},
                         {"sha256", i["sha256"]},
                         {"hosts", i["hosts"].size()},
                         {"removed_hosts", i["removed_hosts"]},
                         {"added_hosts", i["added_hosts"]}});
      if (!i["removed_hosts"].empty()) {
        core::Logger("api")->warn("deployment {} of {}/{}: hosts gone from inventory group {}: {}",
                                  stored.deployment_id, app, request.env,
                                  i["group"].get<std::string>(), i["removed_hosts"].dump());
      }
    }
    detail["inventories"] = std::move(changes);
  }
  if (waits) detail["waiting"] = WaitingJson(GateRefusalBody(*refusal)["error"]);
  ReleaseRepository::Audit(
      tx,
      {ask.actor, "deployment.request", app + "/" + request.env,
       waits ? "waiting_" + refusal->code : "requested", core::TraceScope::Current(), detail},
      ask.now_ms, {app, request.env});
  json body = {{"deployment_id", stored.deployment_id},
               {"status", waits ? "waiting" : "requested"},
               {"app", app},
               {"env", request.env},
               {"release_id", release->id},
               {"version", release->input.version},
               {"spec_version", spec.version}};
  if (has_inventory) body["inventories"] = inventories_json;
  if (override) body["override"] = OverrideJson(*override);
  if (waits) body["waiting"] = detail["waiting"];
  return DeploymentOutcome{202, std::move(body)};
}

}  // namespace

DeploymentRequest ValidatedDeployment(const json& body) {
  auto validated = ValidateDeploymentRequest(body);
  if (const auto* e = std::get_if<FieldError>(&validated)) {
    throw http::BadRequest(e->field, e->message);
  }
  return std::get<DeploymentRequest>(std::move(validated));
}

Answer RequestDeployment(pqxx::work& tx, const DeploymentRequest& request,
                         const std::optional<std::string>& idempotency_key, bool dry_run,
                         const Caller& caller, const core::Clock& clock,
                         const RequestInventories* inventories) {
  const std::string fingerprint = RequestFingerprint(request);
  const DeploymentAsk ask{request,         caller.name, caller.transport,
                          idempotency_key, fingerprint, core::ToUnixMillis(clock.Now()),
                          caller};
  auto outcome = RequestDeploymentIn(tx, ask, dry_run, clock, inventories);
  Answer answer{outcome.status, std::move(outcome.body), ""};
  if (answer.status == 202 && answer.body.contains("deployment_id")) {
    answer.location = "/v1/deployments/" + answer.body["deployment_id"].get<std::string>();
  }
  return answer;
}

void ReleaseIntakeApi::CreateDeployment(const httplib::Request& req, httplib::Response& res) {
  // A deployer of any environment gets this far; the one it asks for decides.
  const auto token = Authenticate(req, Role::kDeployer, /*any_environment=*/true);
  const bool dry_run = DryRunParam(req);
  const json body = http::ParseJsonBody(req);
  const DeploymentRequest request = ValidatedDeployment(body);
  const std::optional<std::string> key = IdempotencyKeyOf(req, dry_run);
  const Caller caller = CallerOf(token, "api");
  RequireRoleIn(caller, request.env, Role::kDeployer, "deploy");  // before reading inventories
  const auto inventories = ReadRequestInventories(request, key);
  const auto answer = Db([&](pqxx::work& tx) {
    return RequestDeployment(tx, request, key, dry_run, caller, deps_.clock,
                             inventories ? &*inventories : nullptr);
  });
  if (!answer.location.empty()) res.set_header("Location", answer.location);
  http::WriteJson(res, answer.status, answer.body);
}

// The request's environment with its inventory groups read, when it has any (nullopt else, or
// when the Idempotency-Key replays a stored request, or the release, spec or environment is
// missing: RequestDeployment answers those). The spec is looked up in one transaction, the
// inventories read with none open (file and network I/O), their hosts compared with those of
// the previous request of the app and environment.
std::optional<RequestInventories> ReleaseIntakeApi::ReadRequestInventories(
    const DeploymentRequest& request, const std::optional<std::string>& key) {
  struct Wanted {
    std::int64_t spec_version = 0;
    spec::Environment env;
    PreviousInventoryHosts previous;
    std::vector<EnrolledAgent> agents;  // when a host group selects enrolled agents
  };
  const auto wanted = Db([&](pqxx::work& tx) -> std::optional<Wanted> {
    if (key && DeliveryRepository::FindByIdempotencyKey(tx, *key)) return std::nullopt;
    const auto release = ReleaseRepository::Get(tx, request.release_id);
    if (!release) return std::nullopt;
    const std::string& app = release->input.app;
    const AppSpecVersion spec = RequestedSpec(tx, app, request.spec_version);
    auto parsed = spec::ParseDeliverySpec(spec.yaml, SpecOrigin(app));
    const auto* delivery_spec = std::get_if<spec::DeliverySpec>(&parsed);
    if (delivery_spec == nullptr) return std::nullopt;
    const auto* env = delivery_spec->FindEnvironment(request.env);
    if (env == nullptr || !spec::HasInventory(*env)) return std::nullopt;
    return Wanted{spec.version, *env, InventoryRepository::Previous(tx, app, request.env),
                  HasSelector(*env) ? AgentRepository::Enrolled(tx) : std::vector<EnrolledAgent>{}};
  });
  if (!wanted) return std::nullopt;
  auto resolved =
      ResolveInventories(wanted->env, ReadInventoryText, options_.inventory, wanted->previous);
  if (const auto* env = std::get_if<spec::Environment>(&resolved); env && HasSelector(*env)) {
    resolved = ResolveSelectors(*env, wanted->agents, options_.inventory, wanted->previous);
  }
  if (auto* e = std::get_if<InventoryGroupError>(&resolved)) {
    throw http::ApiException(
        {422, "inventory_" + std::string(ToString(e->error.problem)),
         "host group '" + e->group + "' of environment '" + request.env + "': " + e->error.message,
         "env"});
  }
  return RequestInventories{wanted->spec_version, std::get<spec::Environment>(std::move(resolved))};
}

// --- Operator commands ------------------------------------------------------------------------

Verb CommandVerb(const std::string& name) {
  const auto verb = ParseVerb(name);
  if (!verb) {
    throw http::ApiException({404, "unknown_verb",
                              "unknown deployment command '" + name +
                                  "'; use promote, pause, resume, abort, approve or rollback",
                              "verb"});
  }
  return *verb;
}

CommandInput ValidatedCommand(Verb verb, const json& body) {
  auto validated = ValidateCommand(verb, body);
  if (const auto* e = std::get_if<FieldError>(&validated)) {
    throw http::BadRequest(e->field, e->message);
  }
  return std::get<CommandInput>(std::move(validated));
}

PlannerCheck ReleaseIntakeApi::CheckAtPlanner(const std::string& deployment_id) {
  const auto planner =
      Upstream(options_.planner_url, UpstreamCall::Get("/v1/deployments/" + deployment_id));
  if (!planner) return PlannerCheck{};
  PlannerCheck check{static_cast<int>(planner->status), std::nullopt};
  if (planner->status == 200) {
    const json body = json::parse(planner->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_object() && body.contains("env") && body["env"].is_string()) {
      check.env = body["env"].get<std::string>();
    }
  }
  return check;
}

namespace {

// Whoever requested a deployment does not approve it too, unless the environment's policy says
// `allowSelfApproval: true`. Checked here because this is where both facts are: the request row
// (requested_by, and the spec version the deployment runs) and the approving token. Deployments
// made by auto-deploy have no request row and no person who requested them. The refusal is
// audited (and the audit row kept: it is an answer, not an exception).
std::optional<Answer> SelfApprovalRefusal(pqxx::work& tx, const StoredDeploymentRequest& request,
                                          const Caller& approver, std::int64_t now_ms) {
  if (request.requested_by != approver.name) return std::nullopt;
  const auto spec = DeliveryRepository::Spec(tx, request.app, request.spec_version);
  if (spec) {
    auto parsed = spec::ParseDeliverySpec(spec->yaml, SpecOrigin(request.app));
    if (const auto* s = std::get_if<spec::DeliverySpec>(&parsed)) {
      const auto* env = s->FindEnvironment(request.env);
      if (env != nullptr && env->policy.allow_self_approval) return std::nullopt;
    }
  }
  ReleaseRepository::Audit(
      tx,
      {approver.name,
       "deployment.approve",
       request.deployment_id,
       "refused_self_approval",
       core::TraceScope::Current(),
       {{"requested_by", request.requested_by}, {"transport", approver.transport}}},
      now_ms, {request.app, request.env});
  const std::string message =
      "token '" + approver.name + "' requested deployment " + request.deployment_id +
      " and cannot approve it too: another approver must (or set environments." + request.env +
      ".policy.allowSelfApproval: true in the delivery spec of " + request.app + ")";
  return Answer{
      403, {{"error", {{"code", "self_approval"}, {"message", message}, {"field", "verb"}}}}, ""};
}

}  // namespace

Answer IssueCommand(pqxx::work& tx, const std::string& deployment_id, Verb verb,
                    const CommandInput& command, const PlannerCheck& planner, const Caller& caller,
                    const core::Clock& clock) {
  const auto now_ms = core::ToUnixMillis(clock.Now());
  // The planner owns deployments; a request made here moments ago may not have reached it yet.
  const auto request = DeliveryRepository::FindDeploymentRequest(tx, deployment_id);
  // The caller's role where the deployment runs decides.
  std::optional<std::string> env = request ? std::optional(request->env) : std::nullopt;
  std::optional<std::string> app = request ? std::optional(request->app) : std::nullopt;
  if (!env) {
    if (const auto seen = EnvironmentRepository::Find(tx, deployment_id)) {
      env = seen->env;
      app = seen->app;
    }
  }
  if (!env) env = planner.env;
  const std::string what = std::string(events::Name(verb)) + " deployments";
  if (env) {
    RequireRoleIn(caller, *env, RequiredRole(verb), what);
  } else {
    RequireRole(caller.name, caller.role, RequiredRole(verb));
  }
  if (verb == OperatorCommand::VERB_APPROVE && request) {
    if (auto refusal = SelfApprovalRefusal(tx, *request, caller, now_ms)) return *refusal;
  }
  // A deployment waiting for its window is release-intake's until it starts: abort ends it
  // here; the other verbs have nothing to act on yet.
  if (request) {
    if (const auto held = HeldDeploymentJson(tx, deployment_id)) {
      if (verb == OperatorCommand::VERB_ABORT &&
          AbortWaiting(tx, deployment_id, caller.name, command.reason, caller.transport, now_ms)) {
        return {
            202, {{"deployment_id", deployment_id}, {"verb", "abort"}, {"status", "aborted"}}, ""};
      }
      throw http::ApiException(
          {409, (*held)["status"] == "waiting" ? "deployment_waiting" : "deployment_finished",
           "deployment " + deployment_id + " is " + (*held)["status"].get<std::string>() +
               ((*held)["status"] == "waiting"
                    ? " and has not started (" +
                          (*held)["waiting"].value("message", std::string()) +
                          "); only abort acts on it now"
                    : "; nothing acts on it any more"),
           "verb"});
    }
  }
  std::string warning;
  if (!planner.status) {
    warning =
        "the rollout-planner could not be reached, so the command was accepted without "
        "checking that deployment " +
        deployment_id + " exists";
  } else if (*planner.status == 404 && !request) {
    throw http::NotFound("no deployment with id " + deployment_id);
  } else if (*planner.status != 200 && *planner.status != 404) {
    warning = "the rollout-planner answered " + std::to_string(*planner.status) +
              ", so the command was accepted without checking that deployment " + deployment_id +
              " exists";
  }
  if (command.target_release_id && !ReleaseRepository::Get(tx, *command.target_release_id)) {
    throw Unprocessable("target_release_id",
                        "no release with id '" + *command.target_release_id + "'");
  }
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(deployment_id);
  auto* oc = e.mutable_operator_command();
  oc->set_deployment_id(deployment_id);
  oc->set_verb(verb);
  oc->set_actor(caller.name);
  oc->set_reason(command.reason);
  oc->set_generation(command.generation);
  if (command.target_release_id) oc->set_target_release_id(*command.target_release_id);
  const std::string command_id = e.event_id();
  eventbus::Publish(tx, std::move(e));
  json detail = {{"command_id", command_id},
                 {"reason", command.reason},
                 {"generation", command.generation},
                 {"transport", caller.transport}};
  if (command.target_release_id) detail["target_release_id"] = *command.target_release_id;
  if (!warning.empty()) detail["warning"] = warning;
  ReleaseRepository::Audit(tx,
                           {caller.name, "deployment." + std::string(events::Name(verb)),
                            deployment_id, "accepted", core::TraceScope::Current(), detail},
                           now_ms, {app, env});
  json out = {{"command_id", command_id},
              {"deployment_id", deployment_id},
              {"verb", std::string(events::Name(verb))}};
  if (!warning.empty()) out["warning"] = warning;
  return {202, std::move(out), ""};
}

void ReleaseIntakeApi::DeploymentCommand(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const Verb verb = CommandVerb(req.matches[2]);
  // The role in the deployment's environment decides (IssueCommand).
  const auto token = Authenticate(req, RequiredRole(verb), /*any_environment=*/true);
  const json body = req.body.empty() ? json() : http::ParseJsonBody(req);
  const CommandInput command = ValidatedCommand(verb, body);
  const PlannerCheck planner = CheckAtPlanner(id);  // no network I/O inside a transaction
  const Caller caller = CallerOf(token, "api");
  const auto answer = Db([&](pqxx::work& tx) {
    return IssueCommand(tx, id, verb, command, planner, caller, deps_.clock);
  });
  http::WriteJson(res, answer.status, answer.body);
}

// --- Proxies ----------------------------------------------------------------------------------

std::optional<http::ClientResponse> ReleaseIntakeApi::Upstream(const std::string& base_url,
                                                               const UpstreamCall& upstream) {
  http::ClientRequest call;
  call.method = upstream.method;
  call.url = base_url + upstream.path;
  call.timeout = upstream.timeout.count() > 0 ? upstream.timeout : options_.upstream_timeout;
  call.headers.emplace_back("Accept", upstream.accept);
  // Every internal API requires the shared service token (http::RequireServiceToken).
  if (!options_.service_token.empty()) {
    call.headers.emplace_back("Authorization", "Bearer " + options_.service_token);
  }
  if (!upstream.body.empty()) {
    call.headers.emplace_back("Content-Type", "application/json");
    call.body = upstream.body;
  }
  const auto& trace = core::TraceScope::Current();
  if (trace.size() == 32) {
    call.headers.emplace_back("traceparent",
                              "00-" + trace + "-" + core::NewTraceId().substr(0, 16) + "-01");
  }
  try {
    return http::Send(call);
  } catch (const http::HttpError& e) {
    core::Logger("api")->warn("{} {} failed: {}", upstream.method, http::RedactUrl(base_url),
                              e.what());
    return std::nullopt;
  }
}

namespace {

json UpstreamBody(const http::ClientResponse& answer, const std::string& upstream_name) {
  json parsed = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    throw http::ApiException({502, "bad_gateway",
                              "the " + upstream_name + " answered " +
                                  std::to_string(answer.status) + " without a JSON body",
                              ""});
  }
  return parsed;
}

}  // namespace

http::ClientResponse ReleaseIntakeApi::Reach(const std::string& base_url, const UpstreamCall& call,
                                             const std::string& upstream_name,
                                             const std::string& unavailable_code) {
  auto answer = Upstream(base_url, call);
  if (!answer) {
    throw http::ApiException({503, unavailable_code,
                              "the " + upstream_name + " at " + http::RedactUrl(base_url) +
                                  " cannot be reached; retry shortly",
                              "", options_.retry_after_seconds});
  }
  return std::move(*answer);
}

void ReleaseIntakeApi::Proxy(httplib::Response& res, const std::string& base_url,
                             const UpstreamCall& call, const std::string& upstream_name,
                             const std::string& unavailable_code, bool any_media) {
  const auto answer = Reach(base_url, call, upstream_name, unavailable_code);
  const std::string content_type = answer.Header("Content-Type").value_or("");
  if (any_media && !IsJsonMediaType(content_type)) {
    res.status = static_cast<int>(answer.status);
    res.set_content(answer.body,
                    content_type.empty() ? std::string("application/octet-stream") : content_type);
    return;
  }
  http::WriteJson(res, static_cast<int>(answer.status), UpstreamBody(answer, upstream_name));
}

// The planner's list with, on its first page, the deployments still held here (waiting for
// their window, or aborted while they waited): ListWithHeld (promotion.hpp) decides which.
void ReleaseIntakeApi::ProxyDeployments(const httplib::Request& req, httplib::Response& res) {
  Authenticate(req, Role::kViewer);
  DeploymentListQuery q;
  if (req.has_param("app")) q.app = req.get_param_value("app");
  if (req.has_param("env")) q.env = req.get_param_value("env");
  if (req.has_param("status")) {
    q.status = req.get_param_value("status");
    if (!IsDeploymentListStatus(*q.status)) {
      throw http::BadRequest("status",
                             "status must be waiting, pending, running, paused, succeeded, "
                             "failed, rolling_back, rolled_back or aborted");
    }
  }
  q.limit = http::LimitParam(req, kDeploymentListLimit);
  q.created = http::TimeRangeParams(req, deps_.clock.Now());
  q.first_page = !req.has_param("cursor");
  // The held ones first, then the planner (no network I/O inside a transaction): one that
  // starts between the two reads may be listed by both, and ListWithHeld keeps the planner's.
  std::vector<json> held;
  if (const auto state = HeldStateListed(q)) {
    held = Db([&](pqxx::work& tx) {
      return ListHeldDeployments(tx, *state, q.app, q.env, q.created, q.limit);
    });
  }
  json planner = {{"deployments", json::array()}};
  if (PlannerListsStatus(q)) {
    // The bounds as read here, to the microsecond: a duration ("24h") counts back from this
    // service's now, so held and planned deployments are filtered on the same instants.
    auto params = req.params;
    params.erase("since");
    params.erase("until");
    if (q.created.since_us)
      params.emplace("since", core::FormatTimeRangeBound(*q.created.since_us));
    if (q.created.until_us)
      params.emplace("until", core::FormatTimeRangeBound(*q.created.until_us));
    const auto answer = Reach(
        options_.planner_url,
        UpstreamCall::Get("/v1/deployments" + ForwardQuery(params, {"app", "env", "status", "since",
                                                                    "until", "limit", "cursor"})),
        "rollout-planner", "planner_unavailable");
    planner = UpstreamBody(answer, "rollout-planner");
    if (answer.status != 200) {
      http::WriteJson(res, static_cast<int>(answer.status), planner);
      return;
    }
  }
  http::WriteJson(res, 200, ListWithHeld(q, std::move(held), std::move(planner)));
}

void ReleaseIntakeApi::ProxyDeployment(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  AuthorizeRead(req, {"/console/deployments/" + id});
  // Waiting for its window (or aborted while it waited): the planner has not heard of it yet.
  if (const auto held = Db([&](pqxx::work& tx) { return HeldDeploymentJson(tx, id); })) {
    http::WriteJson(res, 200, *held);
    return;
  }
  Proxy(res, options_.planner_url, UpstreamCall::Get("/v1/deployments/" + id), "rollout-planner",
        "planner_unavailable");
  // An admin's override of the promotion gate is part of the deployment's record.
  if (res.status != 200) return;
  const auto override = Db([&](pqxx::work& tx) { return GrantRepository::OverrideOf(tx, id); });
  if (!override) return;
  json body = json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return;
  body["gate_override"] = OverrideJson(*override);
  http::WriteJson(res, 200, body);
}

void ReleaseIntakeApi::ProxyInstances(const httplib::Request& req, httplib::Response& res) {
  AuthorizeRead(req, {"/console/deployments/" + std::string(req.matches[1])});
  Proxy(res, options_.executor_url,
        UpstreamCall::Get("/v1/deployments/" + std::string(req.matches[1]) + "/instances"),
        "executor", "executor_unavailable");
}

AlertInput ValidatedAlert(const json& body) {
  auto validated = ValidateAlert(body);
  if (const auto* e = std::get_if<FieldError>(&validated)) {
    throw http::BadRequest(e->field, e->message);
  }
  return std::get<AlertInput>(std::move(validated));
}

Answer SubmitAlert(pqxx::work& tx, const AlertInput& alert, const std::string& submission_id,
                   const Caller& caller, const core::Clock& clock) {
  RequireRoleIn(caller, alert.env, RequiredRole(OperatorCommand::VERB_ROLLBACK),
                "send alerts (a firing one rolls back a deployment)");
  const auto now = clock.Now();
  auto e = events::NewEnvelope(kServiceName, clock);
  auto* p = e.mutable_external_alert_received();
  p->set_submission_id(submission_id);
  p->set_app(alert.app);
  p->set_env(alert.env);
  p->set_alert_name(alert.alert_name);
  p->set_severity(alert.severity);
  p->set_summary(alert.summary);
  p->set_resolved(alert.resolved);
  p->set_actor(caller.name);
  *p->mutable_received_at() =
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(core::ToUnixMillis(now));
  const std::string event_id = e.event_id();
  eventbus::Publish(tx, std::move(e));
  const std::string status = alert.resolved ? "resolved" : "firing";
  ReleaseRepository::Audit(tx,
                           {caller.name, "alert.submit", alert.app + "/" + alert.env, "accepted",
                            core::TraceScope::Current(),
                            json{{"alertname", alert.alert_name},
                                 {"status", status},
                                 {"severity", alert.severity},
                                 {"event_id", event_id},
                                 {"transport", caller.transport}}},
                           core::ToUnixMillis(now), {alert.app, alert.env});
  json out = {{"event_id", event_id},
              {"app", alert.app},
              {"env", alert.env},
              {"alertname", alert.alert_name},
              {"status", status},
              {"result", "forwarded"},
              {"message", "metric-watcher matches the alert against the active deployment of " +
                              alert.app + " in " + alert.env +
                              (alert.resolved ? ", recording it as resolved"
                                              : "; a match raises AlertRaised, which rolls the "
                                                "deployment back")}};
  return {202, std::move(out), ""};
}

}  // namespace sluice::release_intake
