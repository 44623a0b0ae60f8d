#pragma once

// release-intake's public HTTP API: releases, the GitHub webhook, API tokens, the audit log,
// delivery specs, deployment requests, operator commands, and read-only proxies to the
// rollout-planner and the executor. Plumbing only: it authenticates, parses, calls the pure
// functions of release.hpp / delivery.hpp, and writes state + outbox events in one transaction
// through the repositories. The delivery half lives in delivery_api.cpp.

#include <chrono>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>

#include "release.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {

inline constexpr std::string_view kServiceName = "release-intake";

struct ApiOptions {
  std::optional<std::string> github_secret;  // POST /v1/hooks/github is refused without one
  int retry_after_seconds = 2;               // on 503 when PostgreSQL or an upstream is down
  std::string planner_url = "http://127.0.0.1:8082";   // rollout-planner's internal API
  std::string executor_url = "http://127.0.0.1:8084";  // executor's internal API
  std::chrono::milliseconds upstream_timeout{3000};    // per proxied / checking call
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

 private:
  TokenRecord Authenticate(const httplib::Request& req, Role needed);
  template <typename F>
  auto Db(F&& f);

  void CreateRelease(const httplib::Request& req, httplib::Response& res);
  void GetRelease(const httplib::Request& req, httplib::Response& res);
  void ListReleases(const httplib::Request& req, httplib::Response& res);
  void GithubHook(const httplib::Request& req, httplib::Response& res);
  void CreateToken(const httplib::Request& req, httplib::Response& res);
  void ListAudit(const httplib::Request& req, httplib::Response& res);

  // Delivery specs, deployments, operator commands, proxies (delivery_api.cpp).
  void RegisterDelivery();
  void ApplySpec(const httplib::Request& req, httplib::Response& res);
  void GetApp(const httplib::Request& req, httplib::Response& res);
  void ListAppVersions(const httplib::Request& req, httplib::Response& res);
  void ListApps(const httplib::Request& req, httplib::Response& res);
  void CreateDeployment(const httplib::Request& req, httplib::Response& res);
  void DeploymentCommand(const httplib::Request& req, httplib::Response& res);
  void ProxyDeployments(const httplib::Request& req, httplib::Response& res);
  void ProxyDeployment(const httplib::Request& req, httplib::Response& res);
  void ProxyInstances(const httplib::Request& req, httplib::Response& res);
  // GET base_url + path; nullopt when the upstream cannot be reached (logged).
  std::optional<http::ClientResponse> Upstream(const std::string& base_url,
                                               const std::string& path);
  void Proxy(httplib::Response& res, const std::string& base_url, const std::string& path,
             const std::string& upstream_name, const std::string& unavailable_code);

  // Stores the release and its ReleaseCreated event in one transaction.
  InsertResult StoreRelease(pqxx::work& tx, const ReleaseInput& input, const std::string& source,
                            const std::string& actor);

  ApiDeps deps_;
  ApiOptions options_;
};

v1::ArtifactKind ToProto(ArtifactKind kind);

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
