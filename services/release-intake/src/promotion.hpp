#pragma once

// Environments and promotion: whether a release may go into an environment now. Pure: the
// caller reads what is needed (the release's deployments in the environment it is promoted
// from, the environment's freeze) inside its transaction and passes it in; nothing here does
// I/O or reads a clock.
//
// A release goes into an environment with `promotion:` (delivery_spec.hpp) only once it passed
// `promotion.from`: a deployment of it there succeeded and, when that deployment had a bake
// watch, the bake passed too; and never while the environment is frozen (an admin's switch,
// PUT /v1/apps/{app}/environments/{env}/freeze). Every refusal names what to do next.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/time_range.hpp>
#include <sluice/spec/delivery_spec.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "time_zone.hpp"

namespace sluice::release_intake {

// One deployment of a release into an environment, as release-intake learns of it from the
// rollout-planner's and the metric-watcher's events (the env_deployments table).
struct EnvDeployment {
  std::string deployment_id;
  std::string app;
  std::string env;
  std::string release_id;
  bool succeeded = false;      // DeploymentSucceeded
  bool failed = false;         // DeploymentFailed, a failed bake watch, a rollback
  bool bake_expected = false;  // the environment had a bake watch when it succeeded
  bool bake_passed = false;    // AnalysisPassed of the bake watch

  // Succeeded, not failed since, and past its bake watch when it had one.
  bool Passed() const { return succeeded && !failed && (!bake_expected || bake_passed); }
  bool operator==(const EnvDeployment&) const = default;
};

// The freeze switch of one environment.
struct EnvFreeze {
  std::string app;
  std::string env;
  std::string reason;
  std::string frozen_by;
  std::int64_t frozen_at_ms = 0;
};

struct GateInput {
  std::string app;
  std::string env;
  std::string release_id;
  std::string version;
  const spec::Environment* environment = nullptr;  // the target environment (required)
  // The release's deployments in environment->promotion->from, newest first (empty: none).
  std::vector<EnvDeployment> previous;
  std::optional<EnvFreeze> freeze;  // the target environment's freeze, when it is frozen
  // The environment's `windows:`: judged at now_ms in these zones (by name; a zone missing from
  // the map never opens). Without zones the windows are not judged.
  std::int64_t now_ms = 0;
  const std::map<std::string, TimeZone>* zones = nullptr;
};

// Why a release may not go yet. `code`: environment_frozen, promotion_required (never deployed
// in the environment before), promotion_pending (deployed there, not passed yet),
// promotion_failed (its newest deployment there failed; the newest decides), outside_window
// (no deployment window of the environment is open now; detail.next_open_ms says when one
// opens; a request then waits for it, see WaitsForWindow). `detail` carries the
// facts (the environment to pass first, the deployment seen there, who froze, ...) for the audit
// log and the error body; `next` the command to run, when there is one.
struct GateRefusal {
  std::string code;
  std::string message;
  nlohmann::json detail;
  std::string next;
};

std::optional<GateRefusal> CheckGate(const GateInput& in);

// The error body of a refusal: {"error": {code, message, field: "env", detail, next}}.
nlohmann::json GateRefusalBody(const GateRefusal& refusal);

// A deployment requested outside every window of its environment is not refused: it is
// accepted and waits (deployment_waits, a durable timer) for the next opening, when the whole
// gate is checked again. Only an outside_window refusal with a next opening waits; every other
// refusal (and a window that opens in none of the coming 8 days) is answered 409 at once.
bool WaitsForWindow(const GateRefusal& refusal);

// How often a waiting deployment whose gate refuses for another reason than the window (the
// environment was frozen at the opening, its promotion is pending) is checked again.
inline constexpr std::int64_t kWaitRecheckMs = 30'000;
// How often one whose windows open in none of the coming 8 days is checked again.
inline constexpr std::int64_t kWaitNoOpeningRecheckMs = 3'600'000;

// What becomes of a waiting deployment when its timer fires at in.now_ms: it starts when the
// gate lets it go; else it keeps waiting with the gate's reason (the one shown on the
// deployment) until wake_at_ms: the next opening when outside the windows, kWaitRecheckMs later
// for any other reason (a freeze is lifted, a promotion passes at any time).
struct WaitStep {
  bool start = false;
  std::optional<GateRefusal> reason;  // set when it does not start
  std::int64_t wake_at_ms = 0;        // set when it does not start
};
WaitStep NextWaitStep(const GateInput& in);
// The same for a gate already checked at now_ms (CheckGate's answer).
WaitStep WaitStepFor(std::optional<GateRefusal> refusal, std::int64_t now_ms);

// The `waiting` object of a waiting deployment (answers and GET /v1/deployments/{id}): the
// gate's error {code, message, field, detail, next} with, when outside the windows, next_open
// (RFC 3339 UTC) and next_open_ms copied from its detail.
nlohmann::json WaitingJson(const nlohmann::json& refusal_error);

// GET /v1/deployments is the rollout-planner's list, to which release-intake adds the
// deployments it still holds (deployment_waits, promotion_waits.hpp: waiting for a window, or
// aborted while they waited), which the planner has not been sent. The request as both read it.
struct DeploymentListQuery {
  std::optional<std::string> app;
  std::optional<std::string> env;
  std::optional<std::string> status;
  int limit = 50;
  bool first_page = true;   // no cursor given
  core::TimeRange created;  // since/until: created_at (a held one's requested_at) in range
};
inline constexpr int kDeploymentListLimit = 50;  // the planner's default page size

// The statuses a list may be filtered by: the planner's and `waiting`.
bool IsDeploymentListStatus(std::string_view status);
// Whether the planner is asked at all: not for status=waiting (it has none and refuses the value).
bool PlannerListsStatus(const DeploymentListQuery& q);
// The held state the list shows: `waiting` without a status filter or with status=waiting,
// `aborted` with status=aborted (aborted ones otherwise stay out of the list, which would show
// them first for ever); none with any other status, and none past the first page.
std::optional<std::string> HeldStateListed(const DeploymentListQuery& q);
// The list's answer: `planner`, the planner's 200 body (its top-level keys kept; an empty list
// when it was not asked), with before its items the held deployments (HeldDeploymentJson's
// shape) that match q (app, env, the state HeldStateListed names, requested_at_ms within
// q.created; none past the first page),
// newest first (requested_at_ms, then id), at most q.limit of them: on the first page they come
// in addition to the planner's up to q.limit items. One the planner lists too is left out (it
// started between the two reads). next_cursor is the planner's (the page after its last item;
// the held ones are not paged), null when it has none or was not asked.
nlohmann::json ListWithHeld(const DeploymentListQuery& q, std::vector<nlohmann::json> held,
                            nlohmann::json planner);

// The environments a release that just passed `env` is deployed into by release-intake itself
// (`promotion: auto` from `env`), in file order.
std::vector<std::string> AutoPromotionsFrom(const spec::DeliverySpec& spec, std::string_view env);

// The Idempotency-Key of a deployment release-intake requests itself for a promotion: the same
// for every redelivery of the event that triggered it, so it is requested once.
std::string AutoPromotionKey(std::string_view release_id, std::string_view env);

// The actor of those requests in the audit log and DeploymentRequested.requested_by.
inline constexpr std::string_view kPromotionActor = "sluice:promotion";

// A freeze request body: {"reason": "<1-500 characters>"}; the error names the field.
struct FreezeInput {
  std::string reason;
};
std::optional<FreezeInput> ValidateFreeze(const nlohmann::json& body, std::string& error);

}  // namespace sluice::release_intake
