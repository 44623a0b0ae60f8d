#pragma once

// release-intake's public HTTP API: releases, the GitHub webhook, API tokens, the audit log.
// Plumbing only: it authenticates, parses, calls the pure functions of release.hpp, and writes
// state + outbox events in one transaction through the repository.

#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>

#include "release.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {

inline constexpr std::string_view kServiceName = "release-intake";

struct ApiOptions {
  std::optional<std::string> github_secret;  // POST /v1/hooks/github is refused without one
  int retry_after_seconds = 2;               // on 503 when PostgreSQL is unreachable
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

  // Stores the release and its ReleaseCreated event in one transaction.
  InsertResult StoreRelease(pqxx::work& tx, const ReleaseInput& input, const std::string& source,
                            const std::string& actor);

  ApiDeps deps_;
  ApiOptions options_;
};

// Makes sure the bootstrap admin token (from SLUICE_ADMIN_TOKEN[_FILE]) exists.
void EnsureAdminToken(pg::Database& db, const core::Clock& clock, const std::string& token);

}  // namespace sluice::release_intake
