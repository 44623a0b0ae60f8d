// The planner's events in, inside the consumer's transaction (the inbox already recorded the
// event id): a DeploymentRequested (or the auto-deploy ones a ReleaseCreated stands for) becomes
// a queued deployment, an AppSpecApplied the app's latest spec, and every other event it handles
// an input of the deployment's state machine.
#include <cctype>
#include <sluice/core/logging.hpp>
#include <sluice/spec/convert.hpp>
#include <stdexcept>

#include "rollout_planner_component.hpp"

namespace sluice::rollout_planner {
namespace {

using PC = events::v1::Envelope::PayloadCase;

}  // namespace

// The facts of a DeploymentRequested (or of the auto-deploy one a ReleaseCreated stands for).
struct Planner::Request {
  std::string deployment_id;
  std::string release_id;
  std::string app;
  std::string env;
  std::string requested_by;
  std::uint64_t spec_version = 0;
  std::string spec_yaml;  // passed on (deprecated in events), never parsed here
  // As release-intake parsed and validated it; nullopt when the request carries none.
  std::optional<events::v1::DeliverySpec> spec;
  std::string version;
  events::v1::Artifact artifact;
};

namespace {

// The typed spec of a request, or why there is none.
std::variant<DeliverySpec, std::string> TypedSpec(
    const std::optional<events::v1::DeliverySpec>& p) {
  if (!p) {
    return std::string(
        "the request carries no resolved delivery spec (sent by an older release-intake); "
        "request the deployment again");
  }
  try {
    return spec::FromProto(*p);
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
}

}  // namespace

bool Planner::Handles(const events::v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kDeploymentRequested:
    case PC::kReleaseCreated:
    case PC::kAppSpecApplied:
    case PC::kOperatorCommand:
    case PC::kBatchSucceeded:
    case PC::kBatchFailed:
    case PC::kAnalysisPassed:
    case PC::kAnalysisFailed:
    case PC::kRollbackStarted:
    case PC::kRollbackCompleted:
      return true;
    default:
      return false;
  }
}

void Planner::Handle(pqxx::work& tx, const events::v1::Envelope& e) {
  if (!Handles(e)) return;  // other events of the consumed topics are not the planner's
  Scope s{tx, {}};
  switch (e.payload_case()) {
    case PC::kDeploymentRequested: {
      const auto& p = e.deployment_requested();
      Request r{p.deployment_id().empty() ? e.deployment_id() : p.deployment_id(),
                p.release_id(),
                p.app(),
                p.env(),
                p.requested_by(),
                p.spec_version(),
                p.spec_yaml(),
                p.has_spec() ? std::optional(p.spec()) : std::nullopt,
                p.version(),
                p.artifact()};
      OnDeploymentRequested(s, r, e.event_id());
      break;
    }
    case PC::kReleaseCreated:
      OnReleaseCreated(s, e);
      break;
    case PC::kAppSpecApplied:
      OnAppSpecApplied(s, e);
      break;
    default:  // the state machine's inputs: the rest of what Handles accepts
      OnInput(s, e);
      break;
  }
  FillFreedSlots(s);
}

void Planner::OnAppSpecApplied(Scope& s, const events::v1::Envelope& e) {
  const auto& p = e.app_spec_applied();
  if (!Mine(p.app())) return;
  const bool stored =
      PlannerRepository::UpsertAppSpec(s.tx, p.app(), p.spec_version(), p.spec_yaml(), p.sha256(),
                                       p.spec(), p.applied_by(), deps_.clock.Now());
  Log()->info("spec version {} of {} {}", p.spec_version(), p.app(),
              stored ? "stored as the latest" : "ignored: a newer version is stored");
}

void Planner::OnReleaseCreated(Scope& s, const events::v1::Envelope& e) {
  const auto& p = e.release_created();
  if (!Mine(p.app())) return;
  const auto spec_row = PlannerRepository::LoadAppSpec(s.tx, p.app());
  if (!spec_row) {
    Log()->info("release {} of {}: no delivery spec applied, no auto-deploy", p.release_id(),
                p.app());
    return;
  }
  auto parsed = TypedSpec(spec_row->spec);
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    Log()->warn(
        "release {} of {}: stored spec version {} has no usable resolved form ({}), "
        "no auto-deploy",
        p.release_id(), p.app(), spec_row->spec_version, *err);
    return;
  }
  const auto& spec = std::get<DeliverySpec>(parsed);
  for (const auto& env : spec.environments) {
    if (!env.policy.auto_deploy) continue;
    Request r{AutoDeployDeploymentId(p.release_id(), env.name),
              p.release_id(),
              p.app(),
              env.name,
              "auto-deploy",
              spec_row->spec_version,
              spec_row->spec_yaml,
              spec_row->spec,
              p.version(),
              p.artifact()};
    OnDeploymentRequested(s, r, e.event_id());
  }
}

void Planner::OnDeploymentRequested(Scope& s, const Request& r, const std::string& event_id) {
  if (!Mine(r.app)) return;
  if (r.deployment_id.empty() || r.app.empty() || r.env.empty()) {
    Log()->warn("DeploymentRequested without deployment id, app or env (event {}): ignored",
                event_id);
    return;
  }
  if (PlannerRepository::LoadDeployment(s.tx, r.deployment_id, false)) {
    Log()->info("deployment {} exists already: request ignored", r.deployment_id);
    return;
  }
  DeploymentRow row = NewDeploymentRow(s, r);
  const auto never_started = PlanFromSpec(s, r, row);
  row.queued = !never_started;
  if (!PlannerRepository::InsertDeployment(s.tx, row, row.created_at)) return;
  RecordRequested(s, r, row, event_id);
  if (never_started) {
    FailNeverStarted(s, row, never_started->reason, never_started->detail, event_id);
    return;
  }
  if (const auto rejected = RejectedByConcurrency(s, row)) {
    FailNeverStarted(s, row, rejected->reason, rejected->detail, event_id);
    return;
  }
  TryStartNext(s, r.app, r.env);
}

// The row of a requested deployment before its spec is read: the release, the stable release it
// replaces, no batches yet.
DeploymentRow Planner::NewDeploymentRow(Scope& s, const Request& r) const {
  DeploymentRow row;
  auto& c = row.ctx;
  c.deployment_id = r.deployment_id;
  c.release_id = r.release_id;
  c.app = r.app;
  c.env = r.env;
  c.version = r.version.empty() ? r.artifact.version() : r.version;
  c.artifact = r.artifact;
  if (const auto stable = PlannerRepository::LoadStable(s.tx, r.app, r.env)) {
    c.stable_release_id = stable->release_id;
    c.stable_version = stable->version;
  }
  c.spec_version = r.spec_version;
  c.spec_yaml = r.spec_yaml;
  row.requested_by = r.requested_by;
  row.created_at = deps_.clock.Now();
  row.state = NewDeployment(core::DeploymentId(r.deployment_id), {});
  return row;
}

// The environment's part of the resolved spec into the row, and its batches planned; or why the
// deployment cannot start (the row then keeps no batches).
std::optional<Planner::NeverStarted> Planner::PlanFromSpec(Scope& s, const Request& r,
                                                           DeploymentRow& row) const {
  auto parsed = TypedSpec(r.spec);
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    return NeverStarted{kReasonInvalidSpec, *err};
  }
  const auto& spec = std::get<DeliverySpec>(parsed);
  const Environment* env = spec.FindEnvironment(r.env);
  if (spec.app != r.app) {
    return NeverStarted{kReasonInvalidSpec,
                        "the spec is for app '" + spec.app + "', not '" + r.app + "'"};
  }
  if (env == nullptr) {
    return NeverStarted{kReasonUnknownEnvironment, "the spec of " + r.app + " (version " +
                                                       std::to_string(r.spec_version) +
                                                       ") has no environment '" + r.env + "'"};
  }
  auto& c = row.ctx;
  c.env_spec = spec::ToProto(*env);
  c.strategy = env->strategy.type;
  c.service = env->service;
  c.on_canary_failure = OnCanaryFailureOf(*env);
  row.concurrency = env->policy.concurrency;
  try {
    // Blue-green goes to the group that is not serving traffic now.
    PlanOptions plan_options;
    if (env->strategy.type == StrategyType::kBlueGreen) {
      const auto stable = PlannerRepository::LoadStable(s.tx, r.app, r.env);
      if (stable && !stable->live_group.empty()) plan_options.live_group = stable->live_group;
    }
    row.state = NewDeployment(core::DeploymentId(r.deployment_id),
                              PlanRollout(*env, env->AllHosts(), plan_options));
    row.state.bake_watch = BakeWatchOf(*env);
  } catch (const PlanError& e) {
    return NeverStarted{kReasonInvalidPlan, e.what()};
  }
  return std::nullopt;
}

void Planner::RecordRequested(Scope& s, const Request& r, const DeploymentRow& row,
                              const std::string& event_id) {
  const auto& c = row.ctx;
  Record(s, r.deployment_id,
         {row.created_at, "requested",
          "release " + r.release_id + " version " + c.version + ", spec version " +
              std::to_string(r.spec_version),
          r.requested_by, true, ""},
         event_id);
  Log()->info("deployment {} of {} {} to {} requested by {} ({} batch(es))", r.deployment_id, r.app,
              c.version, r.env, r.requested_by, row.state.batches.size());
}

// The environment's concurrency policy `reject` refuses a deployment while another is active.
std::optional<Planner::NeverStarted> Planner::RejectedByConcurrency(
    Scope& s, const DeploymentRow& row) const {
  if (row.concurrency != ConcurrencyPolicy::kReject) return std::nullopt;
  const auto& c = row.ctx;
  const auto active = PlannerRepository::ActiveDeployment(s.tx, c.app, c.env);
  if (!active) return std::nullopt;
  return NeverStarted{kReasonConcurrentDeployment,
                      "deployment " + *active + " of " + c.app + " to " + c.env +
                          " is active and the environment's concurrency policy is reject"};
}

void Planner::OnInput(Scope& s, const events::v1::Envelope& e) {
  std::string id = e.deployment_id();
  if (id.empty() && e.has_operator_command()) id = e.operator_command().deployment_id();
  auto row = id.empty() ? std::nullopt : PlannerRepository::LoadDeployment(s.tx, id, true);
  if (!row) {
    Log()->debug("{} for unknown deployment '{}': not the planner's", e.type(), id);
    return;
  }
  std::string why;
  auto mapped = InputFor(e, row->state.generation, &why);
  if (!mapped) {
    if (!why.empty()) RecordUnmapped(s, id, e, why);
    return;
  }
  if (const auto* rs = std::get_if<RollbackStarted>(&mapped->input)) {
    if (RollbackRefused(s, *row, e, *rs)) return;
    if (rs->generation > row->state.generation)
      row->rollback_id = e.rollback_started().rollback_id();
  }
  if (e.has_rollback_completed() && !row->rollback_id.empty() &&
      e.rollback_completed().rollback_id() != row->rollback_id) {
    Record(
        s, id,
        {deps_.clock.Now(), "rollback_completed",
         "rollback " + e.rollback_completed().rollback_id(), e.source(), false, "unknown_rollback"},
        e.event_id());
    return;
  }
  Apply(s, *row, mapped->input, mapped->actor, e.event_id());
}

// An event the state machine cannot take (why says so) is kept in the timeline, an operator's
// command under its verb ("operator_pause").
void Planner::RecordUnmapped(Scope& s, const std::string& id, const events::v1::Envelope& e,
                             const std::string& why) {
  std::string kind = e.type();
  std::string actor = e.source();
  if (e.has_operator_command()) {
    std::string verb = events::v1::OperatorCommand::Verb_Name(e.operator_command().verb());
    if (verb.rfind("VERB_", 0) == 0) verb = verb.substr(5);
    for (auto& ch : verb) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    kind = "operator_" + verb;
    actor = e.operator_command().actor();
  }
  Record(s, id, {deps_.clock.Now(), kind, "", actor, false, why}, e.event_id());
}

// A rollback of a finished deployment (bake watch, operator) makes it active again; when a newer
// deployment of its app+env holds the slot, it must not (the unique index would refuse it on
// every retry). The executor refuses the revert on hosts that newer one deployed.
bool Planner::RollbackRefused(Scope& s, DeploymentRow& row, const events::v1::Envelope& e,
                              const RollbackStarted& rs) {
  if (!IsFinal(row.state.status) || rs.generation <= row.state.generation) return false;
  const auto& id = row.ctx.deployment_id;
  const auto active = PlannerRepository::ActiveDeployment(s.tx, row.ctx.app, row.ctx.env);
  if (!active || *active == id) return false;
  Record(s, id,
         {deps_.clock.Now(), "rollback_started",
          "rollback " + e.rollback_started().rollback_id() + ": deployment " + *active + " of " +
              row.ctx.app + " to " + row.ctx.env + " is active",
          e.source(), false, std::string(kIgnoredNewerDeploymentActive)},
         e.event_id());
  Log()->warn("deployment {}: rollback {} not applied: deployment {} of {} {} holds the slot", id,
              e.rollback_started().rollback_id(), *active, row.ctx.app, row.ctx.env);
  return true;
}

}  // namespace sluice::rollout_planner
