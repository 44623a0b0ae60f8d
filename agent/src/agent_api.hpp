#pragma once

// sluice-agent's HTTP API: POST /v1/deploy, POST /v1/revert, GET /v1/status, all behind a
// bearer token. Plumbing only: authenticate, parse, call HostAgent, map errors.

#include <sluice/http/server.hpp>
#include <string>

#include "host_agent.hpp"

namespace sluice::agent {

inline constexpr std::string_view kServiceName = "sluice-agent";

struct AgentApiDeps {
  HostAgent& agent;
  http::Server& server;
};

class AgentApi {
 public:
  AgentApi(AgentApiDeps deps, std::string token);
  void Register();  // adds the routes to the server

 private:
  void Authenticate(const httplib::Request& req) const;

  AgentApiDeps deps_;
  std::string token_digest_;  // sha256 of the token: compared in constant time
};

}  // namespace sluice::agent
