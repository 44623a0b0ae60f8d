#pragma once

// The shared service token of Sluice's internal APIs (rollout-planner, executor, metric-watcher,
// rollback-agent, notifier). release-intake, the only caller, sends it as
// "Authorization: Bearer <token>"; every internal API refuses a request without it before any
// handler runs. One shared secret for the suite (SLUICE_SERVICE_TOKEN[_FILE]), rather than mTLS:
// it needs no certificate authority in the local stack, the tests or the charts, and the
// services listen on a private network (127.0.0.1, or in-cluster Services).

#include <sluice/core/config.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {

class Server;

inline constexpr std::size_t kMinServiceTokenLength = 24;

// SLUICE_SERVICE_TOKEN or SLUICE_SERVICE_TOKEN_FILE: required. ConfigError naming the key when
// neither is set or the token is shorter than kMinServiceTokenLength.
std::string ServiceTokenFromEnv(core::EnvConfig& env);

// Whether `authorization` is exactly "Bearer <token>". The tokens are compared through their
// SHA-256 digests with CRYPTO_memcmp, so the time taken says nothing about the expected token
// (its content or its length).
bool BearerMatches(std::string_view authorization, std::string_view token);

// Paths open without the service token: the probes and the scrape endpoint.
const std::vector<std::string>& OpsPaths();  // /healthz, /readyz, /metrics

// From now on every request to `server` must carry "Authorization: Bearer <token>", except to
// OpsPaths() and `open_paths` (routes with an authentication of their own, such as the
// metric-watcher's Alertmanager receiver). Others are answered 401 unauthorized (with
// WWW-Authenticate: Bearer and X-Trace-Id) before routing, so before any handler runs or a
// body is read; unknown paths too, which therefore reveal nothing. Installs the server's
// pre-routing handler; call before Start.
void RequireServiceToken(Server& server, std::string token,
                         std::vector<std::string> open_paths = {});

}  // namespace sluice::http
