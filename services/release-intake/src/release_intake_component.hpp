#pragma once

// release-intake's public HTTP API: releases, the GitHub webhook, API tokens, the audit log,
// delivery specs, deployment requests, operator commands, and proxies to the rollout-planner,
// the executor, the metric-watcher (analyses) and the rollback-agent (incidents, rollbacks).
// Plumbing only: it authenticates, parses, calls the pure functions of release.hpp / delivery.hpp,
// and writes state + outbox events in one transaction through the repositories. The delivery half
// lives in delivery_api.cpp.

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/core/signed_link.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>

#include "console_session.hpp"
#include "console_session_repository.hpp"
#include "delivery_repository.hpp"
#include "intake_actions.hpp"
#include "inventory.hpp"
#include "release.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {

inline constexpr std::string_view kServiceName = "release-intake";

struct ApiOptions {
  std::optional<std::string> github_secret;  // POST /v1/hooks/github is refused without one
  int retry_after_seconds = 2;               // on 503 when PostgreSQL or an upstream is down
  std::string planner_url = "http://127.0.0.1:8082";         // rollout-planner's internal API
  std::string executor_url = "http://127.0.0.1:8084";        // executor's internal API
  std::chrono::milliseconds upstream_timeout{3000};          // per proxied / checking call
  std::string watcher_url = "http://127.0.0.1:8081";         // metric-watcher's API
  std::string rollback_agent_url = "http://127.0.0.1:8085";  // rollback-agent's API
  // Sent as "Authorization: Bearer" on every call to an internal API (SLUICE_SERVICE_TOKEN).
  std::string service_token;
  // POST /v1/analyses: a retrospective analysis is answered when it is done.
  std::chrono::milliseconds analysis_timeout{60000};
  // Signed links (SLUICE_LINK_KEYS): the first key signs, every key verifies. None: signed
  // links are refused and POST /v1/links answers 422 links_disabled.
  std::vector<core::LinkKey> link_keys;
  std::chrono::seconds link_max_lifetime{std::chrono::hours(24 * 30)};  // SLUICE_LINK_MAX_TTL
  SessionOptions sessions;  // console sessions (console_session.hpp)
  struct Events {
    int max_streams = 8;                                     // SLUICE_EVENTS_MAX_STREAMS
    std::chrono::milliseconds poll{1000};                    // SLUICE_EVENTS_POLL
    std::chrono::seconds max_age{std::chrono::minutes(10)};  // SLUICE_EVENTS_MAX_AGE
  } events;                                                  // GET /v1/events (events_api.cpp)
  // Inventory host groups (SLUICE_INVENTORY_DIR, _TIMEOUT, _MAX_BYTES, _MAX_HOSTS).
  InventoryLimits inventory;
};

// One call to an upstream service.
struct UpstreamCall {
  std::string method = "GET";
  std::string path;  // with its query string
  std::string body;  // sent as application/json when not empty
  std::string accept = "application/json";
  std::chrono::milliseconds timeout{0};  // 0: ApiOptions::upstream_timeout

  static UpstreamCall Get(std::string path) {
    UpstreamCall c;
    c.path = std::move(path);
    return c;
  }
  static UpstreamCall Post(std::string path, std::string body) {
    UpstreamCall c;
    c.method = "POST";
    c.path = std::move(path);
    c.body = std::move(body);
    return c;
  }
};

struct ApiDeps {
  pg::Database& db;
  const core::Clock& clock;
  http::Server& server;
};

class ReleaseIntakeApi {
 public:
  ReleaseIntakeApi(ApiDeps deps, ApiOptions options);
  void Register();  // adds the routes to the server
  // What the rollout-planner answers for GET /v1/deployments/{id} (an operator command's check,
  // for both transports); no status when it cannot be reached.
  PlannerCheck CheckAtPlanner(const std::string& deployment_id);

 private:
  // The caller: by "Authorization: Bearer <token>", or without that header by the console's
  // session cookie (and, for a mutation, its X-CSRF-Token). 401 / 403 with the reason.
  // `any_environment`: a call into an environment it does not know yet (Authorize).
  TokenRecord Authenticate(const httplib::Request& req, Role needed, bool any_environment = false);
  // The checked session (its token, CSRF token and times), for the cookie path and the
  // /v1/sessions/current routes.
  SessionWithToken AuthenticateSession(const httplib::Request& req, const std::string& session_id,
                                       Role needed);
  // A read a viewer may make, or a signed link may open without a token: with an
  // Authorization header, Authenticate(viewer); without one, a signed link whose path is one
  // of `link_paths`, carried in the request's own query (exp, kid, sig: the chart and report
  // URLs of the notices), in the X-Sluice-Link header ("<path>?exp=&kid=&sig=": the console
  // opened from a signed link) or, in the same form, in the query parameter `link` (the
  // console's EventSource, which cannot set headers). 401 naming why a link is refused (expired,
  // wrong page, ...).
  void AuthorizeRead(const httplib::Request& req, const std::vector<std::string>& link_paths);
  void RegisterConsole();  // /console, /v1/openapi.json, /v1/whoami, /v1/links
  void CreateLink(const httplib::Request& req, httplib::Response& res);
  // POST /v1/sessions, GET and DELETE /v1/sessions/current (console_session.hpp).
  void CreateSession(const httplib::Request& req, httplib::Response& res);
  void GetSession(const httplib::Request& req, httplib::Response& res);
  void DeleteSession(const httplib::Request& req, httplib::Response& res);
  // GET /v1/events?deployment= (server-sent events, events_api.cpp).
  void RegisterEvents();
  void StreamEvents(const httplib::Request& req, httplib::Response& res);
  // The planner's view of a deployment. strict: 404 / 502 / 503 as ApiException; else nullopt.
  std::optional<nlohmann::json> ReadDeployment(const std::string& id, bool strict);
  template <typename F>
  auto Db(F&& f);

  void CreateRelease(const httplib::Request& req, httplib::Response& res);
  void GetRelease(const httplib::Request& req, httplib::Response& res);
  void ListReleases(const httplib::Request& req, httplib::Response& res);
  void GithubHook(const httplib::Request& req, httplib::Response& res);
  void CreateToken(const httplib::Request& req, httplib::Response& res);
  void ListTokens(const httplib::Request& req, httplib::Response& res);
  void RevokeToken(const httplib::Request& req, httplib::Response& res);
  // PUT (grant: true) / DELETE /v1/tokens/{id}/environments/{env}: a token's role in one
  // environment, set or removed (admin; audited as token.grant / token.ungrant).
  void GrantRole(const httplib::Request& req, httplib::Response& res, bool grant);
  void ListAudit(const httplib::Request& req, httplib::Response& res);

  // Delivery specs, deployments, operator commands, proxies (delivery_api.cpp).
  void RegisterDelivery();
  void ApplySpec(const httplib::Request& req, httplib::Response& res);
  void GetApp(const httplib::Request& req, httplib::Response& res);
  void ListAppVersions(const httplib::Request& req, httplib::Response& res);
  void ListApps(const httplib::Request& req, httplib::Response& res);
  void CreateDeployment(const httplib::Request& req, httplib::Response& res);
  // POST /v1/deployments: the inventory groups read before its transaction (delivery_api.cpp).
  std::optional<RequestInventories> ReadRequestInventories(const DeploymentRequest& request,
                                                           const std::optional<std::string>& key);
  void DeploymentCommand(const httplib::Request& req, httplib::Response& res);
  void ProxyDeployments(const httplib::Request& req, httplib::Response& res);
  void ProxyDeployment(const httplib::Request& req, httplib::Response& res);
  void ProxyInstances(const httplib::Request& req, httplib::Response& res);
  // Environments: the promotion chain and the freeze switch (environments_api.cpp).
  void RegisterEnvironments();
  void ListEnvironments(const httplib::Request& req, httplib::Response& res);
  void FreezeEnvironment(const httplib::Request& req, httplib::Response& res, bool freeze);
  // Analyses (metric-watcher), incidents and rollbacks (rollback-agent).
  void RegisterAnalysesAndIncidents();
  // Enrolled host agents: enrolment tokens, enrolment, heartbeat, list, revoke (agents_api.cpp).
  void RegisterAgents();
  void CreateEnrollmentToken(const httplib::Request& req, httplib::Response& res);
  void EnrollAgent(const httplib::Request& req, httplib::Response& res);
  void AgentHeartbeat(const httplib::Request& req, httplib::Response& res);
  void ListAgents(const httplib::Request& req, httplib::Response& res);
  void RevokeAgent(const httplib::Request& req, httplib::Response& res);
  // base_url + call.path; nullopt when the upstream cannot be reached (logged).
  std::optional<http::ClientResponse> Upstream(const std::string& base_url,
                                               const UpstreamCall& call);
  // Upstream, with an unreachable upstream as 503 `unavailable_code` with Retry-After.
  http::ClientResponse Reach(const std::string& base_url, const UpstreamCall& call,
                             const std::string& upstream_name, const std::string& unavailable_code);
  // Answers with the upstream's status and body: JSON is passed on as JSON (anything else is
  // 502), unless `any_media`: then the body goes through with the upstream's Content-Type.
  // An unreachable upstream is 503 `unavailable_code` with Retry-After.
  void Proxy(httplib::Response& res, const std::string& base_url, const UpstreamCall& call,
             const std::string& upstream_name, const std::string& unavailable_code,
             bool any_media = false);

  ApiDeps deps_;
  ApiOptions options_;
  std::shared_ptr<std::atomic<int>> streams_open_ = std::make_shared<std::atomic<int>>(0);
};

v1::ArtifactKind ToProto(ArtifactKind kind);

// 403 naming the token, its role and the role the call needs, unless `has` allows `needed`.
void RequireRole(const std::string& token_name, Role has, Role needed);

// Runs f in a transaction; PostgreSQL being unreachable becomes 503 with Retry-After.
template <typename F>
auto ReleaseIntakeApi::Db(F&& f) {
  try {
    return deps_.db.WithTransaction(std::forward<F>(f));
  } catch (const pg::PgUnavailable& e) {
    core::Logger("api")->error("PostgreSQL unavailable: {}", e.what());
    throw http::Unavailable("the release database is unreachable; retry shortly",
                            options_.retry_after_seconds);
  }
}

// Makes sure the bootstrap admin token (from SLUICE_ADMIN_TOKEN[_FILE]) exists.
void EnsureAdminToken(pg::Database& db, const core::Clock& clock, const std::string& token);

}  // namespace sluice::release_intake
