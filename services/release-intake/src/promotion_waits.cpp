#include "promotion_waits.hpp"

#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/pg/sql_time.hpp>
#include <sluice/pg/timers.hpp>

#include "delivery.hpp"
#include "delivery_repository.hpp"
#include "release_intake_component.hpp"
#include "release_repository.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

constexpr const char* kColumns = R"sql(
  deployment_id, app, env, state, reason::text, requested,
  (extract(epoch from created_at) * 1000)::bigint,
  (extract(epoch from updated_at) * 1000)::bigint)sql";
constexpr const char* kInsert = R"sql(
  INSERT INTO deployment_waits (deployment_id, app, env, state, reason, requested, created_at,
                                updated_at)
  VALUES ($1, $2, $3, $4, $5::jsonb, $6, to_timestamp($7::double precision / 1000),
          to_timestamp($7::double precision / 1000)))sql";
constexpr const char* kFind = "SELECT {} FROM deployment_waits WHERE deployment_id = $1";
// deployment_waits_waiting (app, env) WHERE state = 'waiting' serves the list of waiting ones.
// since ($5) and until ($6) are microseconds since the epoch.
constexpr const char* kList = R"sql(
  SELECT {} FROM deployment_waits
  WHERE state = $1 AND ($2::text IS NULL OR app = $2) AND ($3::text IS NULL OR env = $3)
    AND )sql" SLUICE_PG_IN_US_RANGE("created_at", 5, 6) R"sql(
  ORDER BY created_at DESC, deployment_id DESC LIMIT $4)sql";
constexpr const char* kUpdate = R"sql(
  UPDATE deployment_waits SET state = $2, reason = $3::jsonb,
         updated_at = to_timestamp($4::double precision / 1000)
  WHERE deployment_id = $1)sql";

std::string With(const char* statement, const char* columns) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, columns);
  return s;
}

std::string TimerKey(const std::string& deployment_id) {
  return "deployment-window:" + deployment_id;
}

core::SystemTime AtMillis(std::int64_t ms) {
  return core::SystemTime(std::chrono::milliseconds(ms));
}

void ScheduleWake(pqxx::work& tx, const std::string& deployment_id, std::int64_t due_ms) {
  pg::ScheduleTimer(tx, TimerKey(deployment_id), kWindowTimerKind, AtMillis(due_ms),
                    json{{"deployment_id", deployment_id}}.dump());
}

void AuditWait(pqxx::work& tx, const std::string& actor, const std::string& action,
               const DeploymentWait& w, const std::string& outcome, json detail,
               std::int64_t now_ms) {
  ReleaseRepository::Audit(
      tx, {actor, action, w.app + "/" + w.env, outcome, core::TraceScope::Current(), detail},
      now_ms, {w.app, w.env});
}

// Why a stored request can no longer be judged (its release or spec is gone or invalid): it
// waits with this reason until an operator aborts it.
GateRefusal Unjudgeable(const std::string& env, const std::string& message) {
  return GateRefusal{"invalid_spec", message, {{"env", env}}, ""};
}

}  // namespace

void WaitRepository::Insert(pqxx::work& tx, const DeploymentWait& w) {
  tx.exec_params(kInsert, w.deployment_id, w.app, w.env, w.state, w.reason.dump(),
                 pqxx::binarystring(w.requested.data(), w.requested.size()), w.created_at_ms);
}

namespace {

DeploymentWait WaitFrom(const pqxx::row& r) {
  return DeploymentWait{r[0].as<std::string>(),
                        r[1].as<std::string>(),
                        r[2].as<std::string>(),
                        r[3].as<std::string>(),
                        json::parse(r[4].as<std::string>()),
                        pqxx::binarystring(r[5]).str(),
                        r[6].as<std::int64_t>(),
                        r[7].as<std::int64_t>()};
}

const char* NullableText(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

}  // namespace

std::optional<DeploymentWait> WaitRepository::Find(pqxx::work& tx, const std::string& deployment_id,
                                                   bool for_update) {
  const auto rows =
      tx.exec_params(With(kFind, kColumns) + (for_update ? " FOR UPDATE" : ""), deployment_id);
  if (rows.empty()) return std::nullopt;
  return WaitFrom(rows[0]);
}

std::vector<DeploymentWait> WaitRepository::List(pqxx::work& tx, const std::string& state,
                                                 const std::optional<std::string>& app,
                                                 const std::optional<std::string>& env,
                                                 const core::TimeRange& created, int limit) {
  std::vector<DeploymentWait> out;
  for (const auto& r :
       tx.exec_params(With(kList, kColumns), state, NullableText(app), NullableText(env), limit,
                      created.since_us, created.until_us)) {
    out.push_back(WaitFrom(r));
  }
  return out;
}

void WaitRepository::Update(pqxx::work& tx, const std::string& deployment_id,
                            const std::string& state, const json& reason, std::int64_t now_ms) {
  tx.exec_params(kUpdate, deployment_id, state, reason.dump(), now_ms);
}

void HoldForWindow(pqxx::work& tx, const std::string& deployment_id, const std::string& app,
                   const std::string& env, const events::v1::DeploymentRequested& requested,
                   const GateRefusal& refusal, std::int64_t now_ms) {
  WaitRepository::Insert(tx, {deployment_id, app, env, "waiting", GateRefusalBody(refusal)["error"],
                              requested.SerializeAsString(), now_ms, now_ms});
  ScheduleWake(tx, deployment_id, refusal.detail["next_open_ms"].get<std::int64_t>());
}

int WakeWaitingDeployments(pg::Database& db, const core::Clock& clock, int limit) {
  int fired = 0;
  while (fired < limit) {
    const bool any = db.WithTransaction([&](pqxx::work& tx) {
      // release-intake has no timers of another kind; one would be left for its owner.
      for (const auto& timer : pg::ClaimDueTimers(tx, clock.Now(), 1)) {
        if (timer.kind != kWindowTimerKind) return false;
        pg::CompleteTimer(tx, timer.id);
        const auto payload = json::parse(timer.payload_json);
        WakeWaitingDeployment(tx, payload.at("deployment_id").get<std::string>(), clock);
        return true;
      }
      return false;
    });
    if (!any) break;
    ++fired;
  }
  return fired;
}

void WakeWaitingDeployment(pqxx::work& tx, const std::string& deployment_id,
                           const core::Clock& clock) {
  const auto wait = WaitRepository::Find(tx, deployment_id, /*for_update=*/true);
  if (!wait || wait->state != "waiting") return;
  const std::int64_t now_ms = core::ToUnixMillis(clock.Now());
  const auto request = DeliveryRepository::FindDeploymentRequest(tx, deployment_id);
  const auto release = request ? ReleaseRepository::Get(tx, request->release_id) : std::nullopt;
  const auto spec =
      request ? DeliveryRepository::Spec(tx, request->app, request->spec_version) : std::nullopt;
  std::optional<spec::DeliverySpec> delivery_spec;
  if (spec) {
    auto parsed = spec::ParseDeliverySpec(spec->yaml, SpecOrigin(spec->app));
    if (auto* s = std::get_if<spec::DeliverySpec>(&parsed)) delivery_spec = std::move(*s);
  }
  const auto* env = delivery_spec ? delivery_spec->FindEnvironment(wait->env) : nullptr;

  WaitStep step;
  if (!release || env == nullptr) {
    step = {false,
            Unjudgeable(wait->env, "the release, its delivery spec version or environment '" +
                                       wait->env +
                                       "' is gone or no longer valid; abort the deployment"),
            now_ms + kWaitNoOpeningRecheckMs};
  } else {
    // The gate as at the request (promotion.hpp), at this moment.
    step = WaitStepFor(PromotionGate(tx, *release, wait->env, *env, now_ms), now_ms);
  }

  if (step.start) {
    events::v1::DeploymentRequested requested;
    requested.ParseFromString(wait->requested);
    auto e = events::NewEnvelope(kServiceName, clock);
    e.set_deployment_id(deployment_id);
    e.set_release_id(requested.release_id());
    *e.mutable_deployment_requested() = requested;
    eventbus::Publish(tx, std::move(e));
    WaitRepository::Update(tx, deployment_id, "started", wait->reason, now_ms);
    AuditWait(tx, std::string(kWindowActor), "deployment.start", *wait, "started",
              {{"deployment_id", deployment_id},
               {"release_id", requested.release_id()},
               {"waited_ms", now_ms - wait->created_at_ms}},
              now_ms);
    core::Logger("windows")->info("deployment {} of {}/{} starts: its window opened", deployment_id,
                                  wait->app, wait->env);
    return;
  }
  const json reason = GateRefusalBody(*step.reason)["error"];
  WaitRepository::Update(tx, deployment_id, "waiting", reason, now_ms);
  ScheduleWake(tx, deployment_id, step.wake_at_ms);
  // One audit row per change of reason, not one per look.
  if (reason.value("code", "") != wait->reason.value("code", "")) {
    AuditWait(tx, std::string(kWindowActor), "deployment.start", *wait,
              "waiting_" + step.reason->code,
              {{"deployment_id", deployment_id}, {"reason", reason}}, now_ms);
  }
}

namespace {

json HeldJson(const DeploymentWait& wait) {
  events::v1::DeploymentRequested requested;
  requested.ParseFromString(wait.requested);
  return {{"id", wait.deployment_id},
          {"deployment_id", wait.deployment_id},
          {"app", wait.app},
          {"env", wait.env},
          {"release_id", requested.release_id()},
          {"version", requested.version()},
          {"spec_version", requested.spec_version()},
          {"requested_by", requested.requested_by()},
          {"requested_at_ms", wait.created_at_ms},
          {"created_at", core::FormatRfc3339(AtMillis(wait.created_at_ms))},
          {"updated_at_ms", wait.updated_at_ms},
          {"status", wait.state},
          {"waiting", WaitingJson(wait.reason)}};
}

}  // namespace

std::optional<json> HeldDeploymentJson(pqxx::work& tx, const std::string& deployment_id) {
  const auto wait = WaitRepository::Find(tx, deployment_id, false);
  if (!wait || wait->state == "started") return std::nullopt;
  return HeldJson(*wait);
}

std::vector<json> ListHeldDeployments(pqxx::work& tx, const std::string& state,
                                      const std::optional<std::string>& app,
                                      const std::optional<std::string>& env,
                                      const core::TimeRange& created, int limit) {
  std::vector<json> out;
  for (const auto& wait : WaitRepository::List(tx, state, app, env, created, limit)) {
    out.push_back(HeldJson(wait));
  }
  return out;
}

bool AbortWaiting(pqxx::work& tx, const std::string& deployment_id, const std::string& actor,
                  const std::string& reason, const std::string& transport, std::int64_t now_ms) {
  // The timer row first, then the wait row: the order a wake-up takes them in (no deadlock). A
  // timer a concurrent wake-up scheduled again meanwhile finds the deployment aborted.
  pg::CancelTimer(tx, TimerKey(deployment_id));
  const auto wait = WaitRepository::Find(tx, deployment_id, /*for_update=*/true);
  if (!wait || wait->state != "waiting") return false;
  WaitRepository::Update(tx, deployment_id, "aborted", wait->reason, now_ms);
  AuditWait(tx, actor, "deployment.abort", *wait, "aborted_waiting",
            {{"deployment_id", deployment_id},
             {"reason", reason},
             {"waiting", wait->reason},
             {"transport", transport}},
            now_ms);
  return true;
}

}  // namespace sluice::release_intake
