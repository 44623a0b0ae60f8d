#include "rollout_planner_component.hpp"

#include <cctype>
#include <sluice/core/logging.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/pg/timers.hpp>
#include <sluice/service/settings.hpp>
#include <sluice/spec/convert.hpp>
#include <stdexcept>

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;
using PC = events::v1::Envelope::PayloadCase;

constexpr std::string_view kTimerKindPause = "pause";

std::shared_ptr<spdlog::logger> Log() {
  static const auto log = core::Logger("planner");
  return log;
}

json TimeOrNull(const std::optional<core::SystemTime>& t) {
  return t ? json(core::FormatRfc3339(*t)) : json(nullptr);
}

json Summary(const DeploymentRow& row) {
  const auto& d = row.state;
  return {{"id", row.ctx.deployment_id},
          {"release_id", row.ctx.release_id},
          {"app", row.ctx.app},
          {"env", row.ctx.env},
          {"version", row.ctx.version},
          {"strategy", ToString(row.ctx.strategy)},
          {"status", ToString(d.status)},
          {"phase", ToString(d.phase)},
          {"generation", d.generation.Value()},
          {"current_batch", d.current_batch},
          {"batch_count", d.batches.size()},
          {"requested_by", row.requested_by},
          {"queued", row.queued},
          {"spec_version", row.ctx.spec_version},
          {"on_canary_failure", row.ctx.on_canary_failure},
          {"created_at", core::FormatRfc3339(row.created_at)},
          {"started_at", TimeOrNull(d.started_at)},
          {"finished_at", TimeOrNull(d.finished_at)},
          {"stable_release_id_before", row.ctx.stable_release_id},
          {"stable_version_before", row.ctx.stable_version},
          {"failure_reason", d.failure_reason             ? json(ToString(*d.failure_reason))
                             : row.failure_reason.empty() ? json(nullptr)
                                                          : json(row.failure_reason)},
          {"failure_detail", row.failure_detail.empty() ? json(nullptr) : json(row.failure_detail)},
          {"pause_reason", d.pause_reason ? json(ToString(*d.pause_reason)) : json(nullptr)}};
}

int LimitParam(const httplib::Request& req) {
  if (!req.has_param("limit")) return 50;
  int limit = 0;
  try {
    limit = std::stoi(req.get_param_value("limit"));
  } catch (const std::exception&) {
    limit = 0;
  }
  if (limit < 1 || limit > 500) throw http::BadRequest("limit", "limit must be 1 to 500");
  return limit;
}

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

Planner::Planner(PlannerDeps deps, PlannerOptions options)
    : deps_(deps), options_(std::move(options)), owner_(service::OwnerId(kServiceName)) {
  if (deps_.registry != nullptr) {
    inputs_ = &prometheus::BuildCounter()
                   .Name("sluice_planner_inputs_total")
                   .Help("Inputs to the deployment state machine by kind and outcome")
                   .Register(*deps_.registry);
  }
}

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
  const auto now = deps_.clock.Now();
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
  row.created_at = now;
  row.state = NewDeployment(core::DeploymentId(r.deployment_id), {});

  std::string failure;
  std::string_view reason;
  auto parsed = TypedSpec(r.spec);
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    reason = kReasonInvalidSpec;
    failure = *err;
  } else {
    const auto& spec = std::get<DeliverySpec>(parsed);
    const Environment* env = spec.FindEnvironment(r.env);
    if (spec.app != r.app) {
      reason = kReasonInvalidSpec;
      failure = "the spec is for app '" + spec.app + "', not '" + r.app + "'";
    } else if (env == nullptr) {
      reason = kReasonUnknownEnvironment;
      failure = "the spec of " + r.app + " (version " + std::to_string(r.spec_version) +
                ") has no environment '" + r.env + "'";
    } else {
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
        reason = kReasonInvalidPlan;
        failure = e.what();
      }
    }
  }
  row.queued = failure.empty();
  if (!PlannerRepository::InsertDeployment(s.tx, row, now)) return;
  Record(s, r.deployment_id,
         {now, "requested",
          "release " + r.release_id + " version " + c.version + ", spec version " +
              std::to_string(r.spec_version),
          r.requested_by, true, ""},
         event_id);
  Log()->info("deployment {} of {} {} to {} requested by {} ({} batch(es))", r.deployment_id, r.app,
              c.version, r.env, r.requested_by, row.state.batches.size());
  if (!failure.empty()) {
    FailNeverStarted(s, row, reason, failure, event_id);
    return;
  }
  if (row.concurrency == ConcurrencyPolicy::kReject) {
    if (const auto active = PlannerRepository::ActiveDeployment(s.tx, r.app, r.env)) {
      FailNeverStarted(s, row, kReasonConcurrentDeployment,
                       "deployment " + *active + " of " + r.app + " to " + r.env +
                           " is active and the environment's concurrency policy is reject",
                       event_id);
      return;
    }
  }
  TryStartNext(s, r.app, r.env);
}

void Planner::FailNeverStarted(Scope& s, DeploymentRow& row, std::string_view reason,
                               const std::string& detail, const std::string& event_id) {
  const auto now = deps_.clock.Now();
  row.queued = false;
  row.state.status = Status::kFailed;
  row.state.phase = Phase::kDone;
  row.state.finished_at = now;
  row.failure_reason = std::string(reason);
  row.failure_detail = detail;
  PlannerRepository::SaveDeployment(s.tx, row, now);
  Record(s, row.ctx.deployment_id, {now, "failed", detail, "", true, std::string(reason)},
         event_id);
  eventbus::Publish(s.tx, NeverStartedFailure(row.ctx, reason, detail, deps_.clock));
  Log()->warn("deployment {} failed before starting: {}: {}", row.ctx.deployment_id, reason,
              detail);
}

void Planner::TryStartNext(Scope& s, const std::string& app, const std::string& env) {
  if (const auto active = PlannerRepository::ActiveDeployment(s.tx, app, env)) return;
  // The lease only keeps replicas from doing the same start twice; the unique index on the
  // active deployment of app+env is the authority.
  std::optional<lock::Lease> lease;
  if (deps_.lease != nullptr) {
    try {
      lease = deps_.lease->TryAcquire(app + ":" + env, owner_, options_.lease_ttl);
      if (!lease) {
        Log()->debug("{}/{}: another replica holds the slot lease; the sweep retries", app, env);
        return;
      }
    } catch (const std::exception& e) {
      Log()->warn("{}/{}: slot lease unavailable ({}); Postgres alone decides", app, env, e.what());
    }
  }
  const auto next_id = PlannerRepository::OldestQueued(s.tx, app, env);
  if (next_id) {
    if (auto row = PlannerRepository::LoadDeployment(s.tx, *next_id, true)) {
      row->queued = false;
      if (lease) row->slot_token = lease->token.Value();
      // The baseline is what runs when the deployment starts, not when it was requested.
      if (const auto stable = PlannerRepository::LoadStable(s.tx, app, env)) {
        row->ctx.stable_release_id = stable->release_id;
        row->ctx.stable_version = stable->version;
      }
      row->state.await_rollback = AwaitRollbackFor(row->ctx, options_.rollback_wait);
      Apply(s, *row, Start{}, "", "");
    }
  }
  if (lease) {
    try {
      deps_.lease->Release(*lease);
    } catch (const std::exception&) {
      // It expires on its own.
    }
  }
}

void Planner::FillFreedSlots(Scope& s) {
  while (!s.freed.empty()) {
    const auto [app, env] = s.freed.back();
    s.freed.pop_back();
    TryStartNext(s, app, env);
  }
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
    if (!why.empty()) {
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
    return;
  }
  if (const auto* rs = std::get_if<RollbackStarted>(&mapped->input)) {
    // A rollback of a finished deployment (bake watch, operator) makes it active again; when a
    // newer deployment of its app+env holds the slot, it must not (the unique index would refuse
    // it on every retry). The executor refuses the revert on hosts that newer one deployed.
    if (IsFinal(row->state.status) && rs->generation > row->state.generation) {
      const auto active = PlannerRepository::ActiveDeployment(s.tx, row->ctx.app, row->ctx.env);
      if (active && *active != id) {
        Record(s, id,
               {deps_.clock.Now(), "rollback_started",
                "rollback " + e.rollback_started().rollback_id() + ": deployment " + *active +
                    " of " + row->ctx.app + " to " + row->ctx.env + " is active",
                e.source(), false, std::string(kIgnoredNewerDeploymentActive)},
               e.event_id());
        Log()->warn("deployment {}: rollback {} not applied: deployment {} of {} {} holds the slot",
                    id, e.rollback_started().rollback_id(), *active, row->ctx.app, row->ctx.env);
        return;
      }
    }
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

void Planner::Apply(Scope& s, DeploymentRow& row, const Input& in, const std::string& actor,
                    const std::string& event_id) {
  const auto now = deps_.clock.Now();
  const Status before = row.state.status;
  Transition t = Next(row.state, in, now);
  const auto kind = InputKind(in);
  if (t.ignored) {
    Record(s, row.ctx.deployment_id,
           {now, kind, InputDetail(in), actor, false, std::string(ToString(*t.ignored))}, event_id);
    Log()->info("deployment {}: {} ignored ({})", row.ctx.deployment_id, kind,
                ToString(*t.ignored));
    if (inputs_ != nullptr) inputs_->Add({{"kind", kind}, {"outcome", "ignored"}}).Increment();
    return;
  }
  for (const auto& c : t.commands) CarryOut(s, row, t.next, c);
  row.state = std::move(t.next);
  PlannerRepository::SaveDeployment(s.tx, row, now);
  Record(s, row.ctx.deployment_id, {now, kind, InputDetail(in), actor, true, ""}, event_id);
  Log()->info("deployment {}: {} -> {} / {}", row.ctx.deployment_id, kind,
              ToString(row.state.status), ToString(row.state.phase));
  if (inputs_ != nullptr) inputs_->Add({{"kind", kind}, {"outcome", "applied"}}).Increment();
  if (!IsFinal(before) && IsFinal(row.state.status)) {
    s.freed.emplace_back(row.ctx.app, row.ctx.env);
  }
}

void Planner::CarryOut(Scope& s, const DeploymentRow& row, const Deployment& next,
                       const Command& c) {
  const auto& id = row.ctx.deployment_id;
  if (const auto* st = std::get_if<ScheduleTimer>(&c)) {
    const json payload = {{"deployment_id", id}, {"key", st->key}};
    pg::ScheduleTimer(s.tx, TimerRowKey(id, st->key), kTimerKindPause, st->due_at, payload.dump());
    return;
  }
  if (const auto* ct = std::get_if<CancelTimer>(&c)) {
    pg::CancelTimer(s.tx, TimerRowKey(id, ct->key));
    return;
  }
  if (const auto* sw = std::get_if<SwitchTraffic>(&c)) {
    PlannerRepository::InsertTrafficSwitch(s.tx, id, sw->generation.Value(), sw->url,
                                           deps_.clock.Now());
    return;
  }
  if (std::holds_alternative<MarkStable>(c)) {
    // Blue-green: the group just deployed and switched to is the live one from now on.
    std::string live_group;
    if (row.ctx.strategy == StrategyType::kBlueGreen && !next.batches.empty() &&
        !next.batches.back().hosts.empty()) {
      live_group = next.batches.back().hosts.front().group;
    }
    PlannerRepository::UpsertStable(s.tx, row.ctx, deps_.clock.Now(), live_group);
    return;
  }
  if (std::holds_alternative<RevokeStable>(c)) {
    const auto now = deps_.clock.Now();
    const auto revoked = PlannerRepository::RevokeStable(s.tx, row.ctx, now);
    using Kind = StableRevocation::Kind;
    if (revoked.kind == Kind::kNotStable) return;
    const std::string detail =
        revoked.kind == Kind::kRestored
            ? "release " + revoked.restored->release_id + " (" + revoked.restored->version +
                  ") is the stable release of " + row.ctx.app + " in " + row.ctx.env + " again"
            : "no release of " + row.ctx.app + " in " + row.ctx.env + " is stable any more";
    Record(s, id, {now, "stable_restored", detail, std::string(kServiceName), true, ""}, "");
    Log()->info("deployment {} rolled back: {}", id, detail);
    return;
  }
  if (auto e = EventFor(c, row.ctx, next, deps_.clock)) eventbus::Publish(s.tx, std::move(*e));
}

void Planner::Record(Scope& s, const std::string& deployment_id, TimelineEntry entry,
                     const std::string& event_id) {
  PlannerRepository::AddTimeline(s.tx, deployment_id, entry, event_id);
}

int Planner::FireDueTimers() {
  int fired = 0;
  while (fired < options_.timer_batch) {
    const bool any = deps_.db.WithTransaction([&](pqxx::work& tx) {
      const auto timers = pg::ClaimDueTimers(tx, deps_.clock.Now(), 1);
      if (timers.empty()) return false;
      const auto& timer = timers.front();
      pg::CompleteTimer(tx, timer.id);
      if (timer.kind != kTimerKindPause || timer.payload_json.empty()) return true;
      const auto payload = json::parse(timer.payload_json);
      const auto id = payload.at("deployment_id").get<std::string>();
      Scope s{tx, {}};
      if (auto row = PlannerRepository::LoadDeployment(tx, id, true)) {
        Apply(s, *row, TimerFired{payload.at("key").get<std::string>()}, "timer", "");
      }
      FillFreedSlots(s);
      return true;
    });
    if (!any) break;
    ++fired;
  }
  return fired;
}

int Planner::StartStalledQueues() {
  const auto stalled = deps_.db.WithTransaction(
      [&](pqxx::work& tx) { return PlannerRepository::StalledQueues(tx, 20); });
  int started = 0;
  for (const auto& queue : stalled) {
    const std::string& app = queue.first;  // not a structured binding: the lambda captures it
    const std::string& env = queue.second;
    deps_.db.WithTransaction([&](pqxx::work& tx) {
      Scope s{tx, {}};
      TryStartNext(s, app, env);
      FillFreedSlots(s);
    });
    ++started;
  }
  return started;
}

int Planner::SwitchTrafficOnce() {
  const auto claimed = deps_.db.WithTransaction([&](pqxx::work& tx) {
    return PlannerRepository::ClaimTrafficSwitches(tx, deps_.clock.Now(),
                                                   options_.traffic_switch_timeout * 3, 10);
  });
  for (const auto& sw : claimed) {
    bool success = false;
    std::string error;
    std::string app, env, version;
    deps_.db.WithTransaction([&](pqxx::work& tx) {
      if (auto row = PlannerRepository::LoadDeployment(tx, sw.deployment_id, false)) {
        app = row->ctx.app;
        env = row->ctx.env;
        version = row->ctx.version;
      }
    });
    try {
      http::ClientRequest req;
      req.method = "POST";
      req.url = sw.url;
      req.headers = {{"Content-Type", "application/json"}};
      req.body = json{
          {"deployment_id", sw.deployment_id},
          {"generation", sw.generation},
          {"app", app},
          {"env", env},
          {"version",
           version}}.dump();
      req.timeout = options_.traffic_switch_timeout;
      const auto res = http::Send(req);
      success = res.status >= 200 && res.status < 300;
      if (!success) error = "HTTP " + std::to_string(res.status);
    } catch (const http::HttpError& e) {
      error = e.what();
    }
    const bool give_up = success || sw.attempts + 1 >= options_.traffic_switch_attempts;
    deps_.db.WithTransaction([&](pqxx::work& tx) {
      if (!give_up) {
        PlannerRepository::RetryTrafficSwitch(
            tx, sw, deps_.clock.Now() + options_.traffic_switch_retry, error);
        return;
      }
      PlannerRepository::DeleteTrafficSwitch(tx, sw);
      Scope s{tx, {}};
      if (auto row = PlannerRepository::LoadDeployment(tx, sw.deployment_id, true)) {
        Apply(s, *row, TrafficSwitched{core::Generation(sw.generation), success}, "traffic-switch",
              "");
      }
      FillFreedSlots(s);
    });
    Log()->info("traffic switch of deployment {} ({}): {}", sw.deployment_id,
                http::RedactUrl(sw.url), success ? "ok" : error);
  }
  return static_cast<int>(claimed.size());
}

void Planner::MountApi(http::Server& server) {
  auto& db = deps_.db;
  server.Get("/v1/deployments", [&db](const httplib::Request& req, httplib::Response& res) {
    DeploymentFilter f;
    if (req.has_param("app")) f.app = req.get_param_value("app");
    if (req.has_param("env")) f.env = req.get_param_value("env");
    if (req.has_param("status")) {
      f.status = req.get_param_value("status");
      if (!ParseStatus(*f.status)) {
        throw http::BadRequest("status",
                               "status must be pending, running, paused, succeeded, failed, "
                               "rolling_back, rolled_back or aborted");
      }
    }
    f.limit = LimitParam(req);
    const auto rows =
        db.WithTransaction([&](pqxx::work& tx) { return PlannerRepository::List(tx, f); });
    json items = json::array();
    for (const auto& r : rows) items.push_back(Summary(r));
    http::WriteJson(res, 200, {{"deployments", items}});
  });
  server.Get(R"(/v1/deployments/([A-Za-z0-9-]+))",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const std::string id = req.matches[1];
               auto found = db.WithTransaction([&](pqxx::work& tx) {
                 std::optional<std::pair<DeploymentRow, std::vector<TimelineEntry>>> out;
                 if (auto row = PlannerRepository::LoadDeployment(tx, id, false)) {
                   out.emplace(std::move(*row), PlannerRepository::Timeline(tx, id));
                 }
                 return out;
               });
               if (!found) throw http::NotFound("no deployment with id " + id);
               json body = Summary(found->first);
               body["batches"] = BatchesView(found->first.state);
               json timeline = json::array();
               for (const auto& t : found->second) {
                 json item = {{"at", core::FormatRfc3339(t.at)},
                              {"kind", t.kind},
                              {"detail", t.detail},
                              {"actor", t.actor},
                              {"applied", t.applied}};
                 if (!t.applied) item["ignored_reason"] = t.ignored_reason;
                 timeline.push_back(std::move(item));
               }
               body["timeline"] = timeline;
               http::WriteJson(res, 200, body);
             });
  server.Get(R"(/v1/apps/([a-z0-9-]+)/environments/([a-z0-9-]+)/stable)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const std::string app = req.matches[1];
               const std::string env = req.matches[2];
               const auto stable = db.WithTransaction(
                   [&](pqxx::work& tx) { return PlannerRepository::LoadStable(tx, app, env); });
               if (!stable) {
                 throw http::NotFound("no stable release of " + app + " in " + env + " yet");
               }
               http::WriteJson(res, 200,
                               {{"app", stable->app},
                                {"env", stable->env},
                                {"release_id", stable->release_id},
                                {"version", stable->version},
                                {"artifact", stable->artifact},
                                {"deployment_id", stable->deployment_id},
                                {"updated_at", core::FormatRfc3339(stable->updated_at)}});
             });
}

// --- the service -----------------------------------------------------------------------------

}  // namespace sluice::rollout_planner
