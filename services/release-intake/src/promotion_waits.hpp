#pragma once

// Deployments waiting for a deployment window (promotion.hpp, WaitsForWindow): requested
// outside every window of their environment, accepted with their id and stored in
// deployment_waits with the DeploymentRequested they publish later, and a durable timer
// (sluice.pg timers, kind kWindowTimerKind) due at the next opening. When it fires, the whole
// gate (freeze, promotion, windows) is checked again at that moment: the deployment starts (its
// DeploymentRequested goes to the planner through the outbox) or waits on with the new reason.
// Each step is one transaction, so a restart resumes where it stopped. An operator aborts a
// waiting deployment with POST /v1/deployments/{id}:abort.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/spec/delivery_spec.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "promotion.hpp"
#include "release.hpp"

namespace sluice::release_intake {

inline constexpr std::string_view kWindowTimerKind = "deployment_window";
// The actor of the audit rows a wake-up writes.
inline constexpr std::string_view kWindowActor = "sluice:window";

struct DeploymentWait {
  std::string deployment_id;
  std::string app;
  std::string env;
  std::string state;  // waiting, started, aborted
  nlohmann::json reason;
  std::string requested;  // sluice.v1.DeploymentRequested, serialised
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

class WaitRepository {
 public:
  static void Insert(pqxx::work& tx, const DeploymentWait& w);
  static std::optional<DeploymentWait> Find(pqxx::work& tx, const std::string& deployment_id,
                                            bool for_update);
  static void Update(pqxx::work& tx, const std::string& deployment_id, const std::string& state,
                     const nlohmann::json& reason, std::int64_t now_ms);
  // The deployments in `state` (of `app`, `env` when given, created in `created`), newest
  // first, at most `limit`.
  static std::vector<DeploymentWait> List(pqxx::work& tx, const std::string& state,
                                          const std::optional<std::string>& app,
                                          const std::optional<std::string>& env,
                                          const core::TimeRange& created, int limit);
};

// Whether the release may go into the environment now: its freeze, its newest deployment in the
// environment it is promoted from and the environment's windows at now_ms (delivery_api.cpp).
std::optional<GateRefusal> PromotionGate(pqxx::work& tx, const Release& release,
                                         const std::string& env_name, const spec::Environment& env,
                                         std::int64_t now_ms);

// Stores a deployment that waits for its window, with the DeploymentRequested to publish when it
// starts and its timer at the next opening (in the request's transaction).
void HoldForWindow(pqxx::work& tx, const std::string& deployment_id, const std::string& app,
                   const std::string& env, const events::v1::DeploymentRequested& requested,
                   const GateRefusal& refusal, std::int64_t now_ms);

// Fires the due window timers, one transaction each (up to `limit`); how many fired.
int WakeWaitingDeployments(pg::Database& db, const core::Clock& clock, int limit = 20);

// One due timer's deployment at now (in `tx`): started, or waiting on with its reason and a new
// timer; a finished or missing one is left alone.
void WakeWaitingDeployment(pqxx::work& tx, const std::string& deployment_id,
                           const core::Clock& clock);

// GET /v1/deployments/{id} of a deployment still held here (waiting or aborted before it
// started): {id, deployment_id, app, env, release_id, version, spec_version, status, requested_by,
// requested_at_ms, created_at (the same as RFC 3339, as the planner's deployments have it),
// updated_at_ms, waiting}. nullopt once it started (the planner has it) or when unknown.
std::optional<nlohmann::json> HeldDeploymentJson(pqxx::work& tx, const std::string& deployment_id);

// GET /v1/deployments' held deployments (ListWithHeld, promotion.hpp, chooses which state and
// orders them): the newest `limit` in `state` of `app`, `env` when given, requested within
// `created` (the list's since/until), as HeldDeploymentJson.
std::vector<nlohmann::json> ListHeldDeployments(pqxx::work& tx, const std::string& state,
                                                const std::optional<std::string>& app,
                                                const std::optional<std::string>& env,
                                                const core::TimeRange& created, int limit);

// Aborts a waiting deployment (its timer cancelled, an audit row); false when it is not waiting.
bool AbortWaiting(pqxx::work& tx, const std::string& deployment_id, const std::string& actor,
                  const std::string& reason, const std::string& transport, std::int64_t now_ms);

}  // namespace sluice::release_intake
