#pragma once

// What a request does, whichever transport carried it: the HTTP API (release_intake_component,
// delivery_api) and the Kafka inbound topic (intake_consumer) call these same functions for the
// token check, the validation and the effect, so both answer a request the same way.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <string>
#include <string_view>

#include "delivery.hpp"
#include "release.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {

// An answer as the HTTP API gives it: the status, the JSON body (an error body
// {"error": {code, message, field}} from 400 on) and, for a created resource, its Location.
struct Answer {
  int status = 200;
  nlohmann::json body;
  std::string location;
};

// Who asks (the token's name) and over which transport ("api", "kafka"): the audit log's actor
// and its "transport"; and the token's roles, global and per environment, which every call into
// an environment checks (RequireRoleIn). release-intake's own requests (promotion: auto) are
// made as admin.
struct Caller {
  std::string name;
  std::string transport;
  Role role = Role::kViewer;
  EnvGrants environments = {};
};
Caller CallerOf(const TokenRecord& token, std::string transport);

// 403 forbidden_in_environment (field "env", detail {env, role, needed, token, granted}) unless
// the caller holds `needed` or higher in `env` (CheckRoleIn); `what` names the call ("deploy").
void RequireRoleIn(const Caller& caller, std::string_view env, Role needed, std::string_view what);

// The token an "Authorization: Bearer <token>" value names, looked up in `tx` (and marked as
// used when it may be used).
struct BearerLookup {
  bool present = false;  // the value has the Bearer form
  std::optional<StoredToken> token;
};
BearerLookup LookupBearer(pqxx::work& tx, std::string_view authorization, std::int64_t now_ms);
// The caller of a looked-up token, or the http::ApiException the HTTP API answers: 401 (no,
// unknown, expired or revoked token), 403 (a role below `needed`). A call into an environment
// not known yet (`any_environment`) passes with `needed` in any environment (HighestRole), and
// checks the one it targets with RequireRoleIn once it knows it.
TokenRecord Authorize(const BearerLookup& lookup, Role needed, std::int64_t now_ms,
                      bool any_environment = false);

// POST /v1/releases: the validated release (400 naming the field otherwise), then stored with
// its ReleaseCreated event and audit row (source: the transport); 201 created, 200 the same
// release again, 409 release_exists.
ReleaseInput ValidatedRelease(const nlohmann::json& body, const TokenRecord& token);
InsertResult StoreRelease(pqxx::work& tx, const ReleaseInput& input, const std::string& source,
                          const std::string& actor, const core::Clock& clock);
Answer ReleaseAnswer(const InsertResult& result);

// POST /v1/deployments: the validated request (400 naming the field otherwise), then, inside
// `tx`, the replay of a known idempotency key, or the release, spec and environment checked
// (422) and the request stored with its DeploymentRequested event and audit row (202).
DeploymentRequest ValidatedDeployment(const nlohmann::json& body);
// The environment of a request with its inventory groups' hosts read (ReadRequestInventories),
// for the spec version it was read from. An environment with an inventory group is refused
// (422 inventory_not_read) without one: the Kafka path reads no inventory.
struct RequestInventories {
  std::int64_t spec_version = 0;
  spec::Environment environment;
};
Answer RequestDeployment(pqxx::work& tx, const DeploymentRequest& request,
                         const std::optional<std::string>& idempotency_key, bool dry_run,
                         const Caller& caller, const core::Clock& clock,
                         const RequestInventories* inventories = nullptr);

// POST /v1/deployments/{id}:{verb}: the verb (404 unknown_verb), the role it needs
// (RequiredRole), the validated body (400 naming the field); what the planner answered for the
// deployment, asked before the transaction (no network I/O inside one); then, inside `tx`: 403
// forbidden_in_environment when the caller's role in the deployment's environment (the request
// made here, else what the planner's and watcher's events said, else the planner's answer; the
// global role when none knows) is below the verb's, 403 self_approval (audited), 404 when neither
// the planner nor this service knows the deployment, 422 for an unknown target release, else the
// OperatorCommand event and audit row (202, with a warning when the planner could not tell).
Verb CommandVerb(const std::string& name);
CommandInput ValidatedCommand(Verb verb, const nlohmann::json& body);
struct PlannerCheck {
  std::optional<int>
      status;  // the planner's status for GET /v1/deployments/{id}; none: unreachable
  std::optional<std::string> env = {};  // the deployment's environment, when the planner said
};
Answer IssueCommand(pqxx::work& tx, const std::string& deployment_id, Verb verb,
                    const CommandInput& command, const PlannerCheck& planner, const Caller& caller,
                    const core::Clock& clock);

// An external alert (an `alert` on the inbound topic): the validated alert (400 naming the
// field otherwise), then, when the caller may roll back in its environment (the role of a
// rollback: a firing alert about an active deployment starts one; 403 otherwise), its
// ExternalAlertReceived event (for metric-watcher, which matches it as it matches an
// Alertmanager alert) and audit row, in `tx`; 202 with the event id.
AlertInput ValidatedAlert(const nlohmann::json& body);
Answer SubmitAlert(pqxx::work& tx, const AlertInput& alert, const std::string& submission_id,
                   const Caller& caller, const core::Clock& clock);

}  // namespace sluice::release_intake
