#pragma once

// sluice-agent's HTTP API: POST /v1/deploy, POST /v1/revert, GET /v1/status, all behind a
// bearer token. Plumbing only: authenticate, parse, call HostAgent, map errors.

#include <functional>
#include <optional>
#include <sluice/http/server.hpp>
#include <string>

#include "host_agent.hpp"

namespace sluice::agent {

inline constexpr std::string_view kServiceName = "sluice-agent";

struct AgentApiDeps {
  HostAgent& agent;
  http::Server& server;
  // Why deploys and reverts are refused (403 agent_revoked), if they are: an enrolled agent
  // whose credential release-intake refused (heartbeat.hpp). Empty: never.
  std::function<std::optional<std::string>()> refusal = {};
};

class AgentApi {
 public:
  AgentApi(AgentApiDeps deps, std::string token);
  void Register();  // adds the routes to the server

 private:
  void Authenticate(const httplib::Request& req) const;
  void CheckNotRevoked() const;

  AgentApiDeps deps_;
  std::string token_digest_;  // sha256 of the token: compared in constant time
};

}  // namespace sluice::agent
