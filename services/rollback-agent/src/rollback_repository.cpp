#include "rollback_repository.hpp"

namespace sluice::rollback {
namespace {

using json = nlohmann::json;

constexpr const char* kLockDeployment = R"sql(
  SELECT view FROM rollback_deployments WHERE deployment_id = $1 FOR UPDATE)sql";
constexpr const char* kCreateDeployment = R"sql(
  INSERT INTO rollback_deployments (deployment_id, view, updated_at)
  VALUES ($1, $2::jsonb, to_timestamp($3::double precision / 1000))
  ON CONFLICT (deployment_id) DO NOTHING)sql";
constexpr const char* kSaveDeployment = R"sql(
  UPDATE rollback_deployments SET app = $2, env = $3, release_id = $4, version = $5,
    planned = $6,
    planned_at = CASE WHEN $7::bigint = 0 THEN NULL
                      ELSE to_timestamp($7::bigint::double precision / 1000) END,
    status = $8, view = $9::jsonb, updated_at = to_timestamp($10::double precision / 1000)
  WHERE deployment_id = $1)sql";
// The other deployments of the app and env planned before this one; a deployment counts as
// failed once it failed or was rolled back.
constexpr const char* kEarlierReleases = R"sql(
  SELECT release_id, version, status IN ('failed', 'rolled_back', 'rolling_back')
  FROM rollback_deployments
  WHERE app = $1 AND env = $2 AND deployment_id <> $3 AND planned
    AND planned_at < to_timestamp($4::double precision / 1000)
  ORDER BY planned_at DESC)sql";
constexpr const char* kSuperseded = R"sql(
  SELECT count(*) FROM rollback_deployments
  WHERE app = $1 AND env = $2 AND deployment_id <> $3 AND planned
    AND planned_at > to_timestamp($4::double precision / 1000))sql";

constexpr const char* kAppendTimeline = R"sql(
  INSERT INTO rollback_timeline (deployment_id, event_id, at, kind, actor, detail)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000), $4, $5, $6)
  ON CONFLICT (event_id) DO NOTHING)sql";
constexpr const char* kTimeline = R"sql(
  SELECT (extract(epoch from at) * 1000)::bigint, kind, actor, detail
  FROM rollback_timeline WHERE deployment_id = $1 ORDER BY at, id)sql";
constexpr const char* kAppendInstance = R"sql(
  INSERT INTO rollback_instance_log (deployment_id, at, host, batch_index, status, version, error)
  VALUES ($1, to_timestamp($2::double precision / 1000), $3, $4, $5, $6, $7))sql";
constexpr const char* kDeployLog = R"sql(
  SELECT (extract(epoch from at) * 1000)::bigint, host, batch_index, status, version, error
  FROM rollback_instance_log WHERE deployment_id = $1 ORDER BY at, id)sql";

constexpr const char* kAdvanceFence = R"sql(
  INSERT INTO rollback_fences (deployment_id, token, updated_at)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000))
  ON CONFLICT (deployment_id) DO UPDATE SET token = EXCLUDED.token, updated_at = EXCLUDED.updated_at
  WHERE rollback_fences.token <= EXCLUDED.token
  RETURNING token)sql";

constexpr const char* kRollbackColumns = R"sql(
  rollback_id, deployment_id, from_generation, new_generation, scope, batches::text, hosts::text,
  target_version, target_release_id, final_status, trigger_kind, trigger_event_id, trigger_actor,
  evidence::text, why, status, progress::text, (extract(epoch from retry_at) * 1000)::bigint,
  (extract(epoch from timeout_at) * 1000)::bigint, fence_token,
  (extract(epoch from started_at) * 1000)::bigint, (extract(epoch from finished_at) * 1000)::bigint)sql";
constexpr const char* kInsertRollback = R"sql(
  INSERT INTO rollbacks (rollback_id, deployment_id, from_generation, new_generation, scope,
    batches, hosts, target_version, target_release_id, final_status, trigger_kind,
    trigger_event_id, trigger_actor, evidence, why, status, progress, retry_at, timeout_at,
    fence_token, started_at)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13, $14::jsonb, $15,
    $16, $17::jsonb,
    CASE WHEN $18::bigint IS NULL THEN NULL ELSE to_timestamp($18::bigint::double precision / 1000) END,
    CASE WHEN $19::bigint IS NULL THEN NULL ELSE to_timestamp($19::bigint::double precision / 1000) END,
    $20, to_timestamp($21::double precision / 1000))
  ON CONFLICT (deployment_id, from_generation) DO NOTHING)sql";
constexpr const char* kUpdateRollback = R"sql(
  UPDATE rollbacks SET status = $2, progress = $3::jsonb,
    retry_at = CASE WHEN $4::bigint IS NULL THEN NULL ELSE to_timestamp($4::bigint::double precision / 1000) END,
    timeout_at = CASE WHEN $5::bigint IS NULL THEN NULL ELSE to_timestamp($5::bigint::double precision / 1000) END,
    finished_at = CASE WHEN $6::bigint IS NULL THEN NULL ELSE to_timestamp($6::bigint::double precision / 1000) END
  WHERE rollback_id = $1)sql";

constexpr const char* kInsertTrigger = R"sql(
  INSERT INTO rollback_triggers (deployment_id, event_id, kind, actor, decision, reason, detail,
    rollback_id, received_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9::double precision / 1000)))sql";
constexpr const char* kListTriggers = R"sql(
  SELECT id, deployment_id, event_id, kind, actor, decision, reason, detail, rollback_id,
    (extract(epoch from received_at) * 1000)::bigint
  FROM rollback_triggers WHERE deployment_id = $1 ORDER BY id)sql";

constexpr const char* kIncidentColumns = R"sql(
  incident_id, rollback_id, deployment_id, status, summary, report::text,
  (extract(epoch from created_at) * 1000)::bigint)sql";
constexpr const char* kInsertIncident = R"sql(
  INSERT INTO incidents (incident_id, rollback_id, deployment_id, status, created_at)
  VALUES ($1, $2, $3, 'pending', to_timestamp($4::double precision / 1000))
  ON CONFLICT (rollback_id) DO NOTHING)sql";
constexpr const char* kWriteIncident = R"sql(
  UPDATE incidents SET status = 'written', summary = $2, report = $3::jsonb,
    written_at = to_timestamp($4::double precision / 1000)
  WHERE incident_id = $1)sql";
constexpr const char* kCountIncidentAttempt = R"sql(
  UPDATE incidents SET attempts = attempts + 1 WHERE incident_id = $1)sql";

std::string With(const char* columns, const std::string& rest) {
  return "SELECT " + std::string(columns) + " " + rest;
}

// libpqxx 6.4 sends a null for a plain null pointer, not for an empty std::optional.
class NullableMs {
 public:
  explicit NullableMs(std::optional<std::int64_t> v)
      : null_(!v), text_(v ? std::to_string(*v) : "") {}
  const char* Get() const { return null_ ? nullptr : text_.c_str(); }

 private:
  bool null_;
  std::string text_;
};

template <typename T>
std::optional<T> Opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

RollbackRow RollbackFromRow(const pqxx::row& r) {
  RollbackRow row;
  row.rollback_id = r[0].as<std::string>();
  row.deployment_id = r[1].as<std::string>();
  row.plan.from_generation = r[2].as<std::uint64_t>();
  row.plan.new_generation = r[3].as<std::uint64_t>();
  row.plan.scope = r[4].as<std::string>() == "deployment" ? Scope::kDeployment : Scope::kBatches;
  row.plan.batches = json::parse(r[5].as<std::string>()).get<std::vector<std::uint32_t>>();
  row.plan.hosts = json::parse(r[6].as<std::string>()).get<std::vector<std::string>>();
  row.plan.target_version = r[7].as<std::string>();
  row.plan.target_release_id = r[8].as<std::string>();
  row.plan.final_status =
      r[9].as<std::string>() == "failed" ? FinalStatus::kFailed : FinalStatus::kRolledBack;
  row.trigger_kind = r[10].as<std::string>();
  row.trigger_event_id = r[11].as<std::string>();
  row.trigger_actor = r[12].as<std::string>();
  row.evidence = json::parse(r[13].as<std::string>());
  row.plan.why = r[14].as<std::string>();
  row.status = r[15].as<std::string>();
  row.progress = ProgressFromJson(json::parse(r[16].as<std::string>()));
  row.retry_at_ms = Opt<std::int64_t>(r[17]);
  row.timeout_at_ms = Opt<std::int64_t>(r[18]);
  row.fence_token = r[19].as<std::int64_t>();
  row.started_at_ms = r[20].as<std::int64_t>();
  row.finished_at_ms = Opt<std::int64_t>(r[21]);
  return row;
}

IncidentRow IncidentFromRow(const pqxx::row& r) {
  IncidentRow row;
  row.incident_id = r[0].as<std::string>();
  row.rollback_id = r[1].as<std::string>();
  row.deployment_id = r[2].as<std::string>();
  row.status = r[3].as<std::string>();
  row.summary = r[4].as<std::string>();
  if (!r[5].is_null()) row.report = json::parse(r[5].as<std::string>());
  row.created_at_ms = r[6].as<std::int64_t>();
  return row;
}

}  // namespace

json ProgressToJson(const RevertProgress& p) {
  return {{"attempt", p.attempt},   {"attempt_generation", p.attempt_generation},
          {"hosts", p.hosts},       {"pending", p.pending},
          {"reverted", p.reverted}, {"failed", p.failed}};
}

RevertProgress ProgressFromJson(const json& j) {
  RevertProgress p;
  p.attempt = j.value("attempt", 1);
  p.attempt_generation = j.value("attempt_generation", std::uint64_t{0});
  p.hosts = j.value("hosts", std::vector<std::string>{});
  p.pending = j.value("pending", std::vector<std::string>{});
  p.reverted = j.value("reverted", std::vector<std::string>{});
  p.failed = j.value("failed", std::vector<std::string>{});
  return p;
}

std::optional<DeploymentView> RollbackRepository::LockDeployment(pqxx::work& tx,
                                                                 const std::string& id) {
  const auto r = tx.exec_params(kLockDeployment, id);
  if (r.empty()) return std::nullopt;
  DeploymentView view;
  static_cast<projection::Deployment&>(view) =
      projection::FromJson(json::parse(r[0][0].as<std::string>()));
  view.id = id;
  return view;
}

DeploymentView RollbackRepository::LockOrCreateDeployment(pqxx::work& tx, const std::string& id,
                                                          std::int64_t now_ms) {
  DeploymentView empty;
  empty.id = id;
  tx.exec_params(kCreateDeployment, id, projection::ToJson(empty).dump(), now_ms);
  return *LockDeployment(tx, id);
}

void RollbackRepository::SaveDeployment(pqxx::work& tx, const DeploymentView& v,
                                        std::int64_t now_ms) {
  tx.exec_params(kSaveDeployment, v.id, v.app, v.env, v.release_id, v.version, v.planned,
                 v.planned_at_ms, std::string(ToString(v.status)), projection::ToJson(v).dump(),
                 now_ms);
}

std::vector<EarlierRelease> RollbackRepository::EarlierReleases(pqxx::work& tx,
                                                                const DeploymentView& v) {
  std::vector<EarlierRelease> out;
  for (const auto& r : tx.exec_params(kEarlierReleases, v.app, v.env, v.id, v.planned_at_ms)) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<bool>()});
  }
  return out;
}

bool RollbackRepository::Superseded(pqxx::work& tx, const DeploymentView& v) {
  return tx.exec_params1(kSuperseded, v.app, v.env, v.id, v.planned_at_ms)[0].as<std::int64_t>() >
         0;
}

bool RollbackRepository::AppendTimeline(pqxx::work& tx, const std::string& deployment_id,
                                        const std::string& event_id, const TimelineEntry& e) {
  return tx.exec_params(kAppendTimeline, deployment_id, event_id, e.at_ms, e.kind, e.actor,
                        e.detail)
             .affected_rows() > 0;
}

std::vector<TimelineEntry> RollbackRepository::Timeline(pqxx::work& tx,
                                                        const std::string& deployment_id) {
  std::vector<TimelineEntry> out;
  for (const auto& r : tx.exec_params(kTimeline, deployment_id)) {
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>()});
  }
  return out;
}

void RollbackRepository::AppendInstance(pqxx::work& tx, const std::string& deployment_id,
                                        const DeployLogEntry& e) {
  tx.exec_params(kAppendInstance, deployment_id, e.at_ms, e.host, static_cast<int>(e.batch),
                 e.status, e.version, e.error);
}

std::vector<DeployLogEntry> RollbackRepository::DeployLog(pqxx::work& tx,
                                                          const std::string& deployment_id) {
  std::vector<DeployLogEntry> out;
  for (const auto& r : tx.exec_params(kDeployLog, deployment_id)) {
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::uint32_t>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>()});
  }
  return out;
}

bool RollbackRepository::AdvanceFence(pqxx::work& tx, const std::string& deployment_id,
                                      std::int64_t token, std::int64_t now_ms) {
  return !tx.exec_params(kAdvanceFence, deployment_id, token, now_ms).empty();
}

bool RollbackRepository::InsertRollback(pqxx::work& tx, const RollbackRow& row) {
  const auto& p = row.plan;
  const NullableMs retry_at(row.retry_at_ms), timeout_at(row.timeout_at_ms);
  return tx.exec_params(kInsertRollback, row.rollback_id, row.deployment_id,
                        static_cast<std::int64_t>(p.from_generation),
                        static_cast<std::int64_t>(p.new_generation), std::string(ToString(p.scope)),
                        json(p.batches).dump(), json(p.hosts).dump(), p.target_version,
                        p.target_release_id, std::string(ToString(p.final_status)),
                        row.trigger_kind, row.trigger_event_id, row.trigger_actor,
                        row.evidence.dump(), p.why, row.status, ProgressToJson(row.progress).dump(),
                        retry_at.Get(), timeout_at.Get(), row.fence_token, row.started_at_ms)
             .affected_rows() > 0;
}

std::optional<RollbackRow> RollbackRepository::LockRollback(pqxx::work& tx,
                                                            const std::string& rollback_id) {
  const auto r = tx.exec_params(
      With(kRollbackColumns, "FROM rollbacks WHERE rollback_id = $1 FOR UPDATE"), rollback_id);
  if (r.empty()) return std::nullopt;
  return RollbackFromRow(r[0]);
}

std::optional<RollbackRow> RollbackRepository::GetRollback(pqxx::work& tx,
                                                           const std::string& rollback_id) {
  const auto r =
      tx.exec_params(With(kRollbackColumns, "FROM rollbacks WHERE rollback_id = $1"), rollback_id);
  if (r.empty()) return std::nullopt;
  return RollbackFromRow(r[0]);
}

void RollbackRepository::UpdateRollback(pqxx::work& tx, const RollbackRow& row) {
  const NullableMs retry_at(row.retry_at_ms), timeout_at(row.timeout_at_ms),
      finished_at(row.finished_at_ms);
  tx.exec_params(kUpdateRollback, row.rollback_id, row.status, ProgressToJson(row.progress).dump(),
                 retry_at.Get(), timeout_at.Get(), finished_at.Get());
}

std::vector<RollbackRow> RollbackRepository::LockDueRollbacks(pqxx::work& tx, std::int64_t now_ms,
                                                              int limit) {
  std::vector<RollbackRow> out;
  const auto r = tx.exec_params(
      With(kRollbackColumns,
           "FROM rollbacks WHERE (status = 'waiting_retry' AND retry_at <= "
           "to_timestamp($1::double precision / 1000)) OR (status = 'reverting' AND timeout_at <= "
           "to_timestamp($1::double precision / 1000)) ORDER BY started_at LIMIT $2 "
           "FOR UPDATE SKIP LOCKED"),
      now_ms, limit);
  for (const auto& row : r) out.push_back(RollbackFromRow(row));
  return out;
}

std::vector<RollbackRow> RollbackRepository::ListRollbacks(pqxx::work& tx,
                                                           const std::string& deployment_id) {
  std::vector<RollbackRow> out;
  const auto r = tx.exec_params(
      With(kRollbackColumns, "FROM rollbacks WHERE deployment_id = $1 ORDER BY started_at"),
      deployment_id);
  for (const auto& row : r) out.push_back(RollbackFromRow(row));
  return out;
}

void RollbackRepository::InsertTrigger(pqxx::work& tx, const TriggerRow& t) {
  tx.exec_params(kInsertTrigger, t.deployment_id, t.event_id, t.kind, t.actor, t.decision, t.reason,
                 t.detail, t.rollback_id, t.received_at_ms);
}

std::vector<TriggerRow> RollbackRepository::ListTriggers(pqxx::work& tx,
                                                         const std::string& deployment_id) {
  std::vector<TriggerRow> out;
  for (const auto& r : tx.exec_params(kListTriggers, deployment_id)) {
    out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                   r[6].as<std::string>(), r[7].as<std::string>(), r[8].as<std::string>(),
                   r[9].as<std::int64_t>()});
  }
  return out;
}

void RollbackRepository::InsertPendingIncident(pqxx::work& tx, const std::string& incident_id,
                                               const std::string& rollback_id,
                                               const std::string& deployment_id,
                                               std::int64_t now_ms) {
  tx.exec_params(kInsertIncident, incident_id, rollback_id, deployment_id, now_ms);
}

std::vector<IncidentRow> RollbackRepository::PendingIncidents(pqxx::work& tx, int limit) {
  std::vector<IncidentRow> out;
  const auto r = tx.exec_params(
      With(kIncidentColumns,
           "FROM incidents WHERE status = 'pending' ORDER BY attempts, created_at LIMIT $1"),
      limit);
  for (const auto& row : r) out.push_back(IncidentFromRow(row));
  return out;
}

std::optional<IncidentRow> RollbackRepository::LockPendingIncident(pqxx::work& tx,
                                                                   const std::string& id) {
  const auto r = tx.exec_params(
      With(kIncidentColumns,
           "FROM incidents WHERE incident_id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED"),
      id);
  if (r.empty()) return std::nullopt;
  return IncidentFromRow(r[0]);
}

void RollbackRepository::WriteIncident(pqxx::work& tx, const std::string& incident_id,
                                       const std::string& summary, const json& report,
                                       std::int64_t now_ms) {
  tx.exec_params(kWriteIncident, incident_id, summary, report.dump(), now_ms);
}

void RollbackRepository::CountIncidentAttempt(pqxx::work& tx, const std::string& incident_id) {
  tx.exec_params(kCountIncidentAttempt, incident_id);
}

std::optional<IncidentRow> RollbackRepository::GetIncident(pqxx::work& tx,
                                                           const std::string& incident_id) {
  const auto r =
      tx.exec_params(With(kIncidentColumns, "FROM incidents WHERE incident_id = $1"), incident_id);
  if (r.empty()) return std::nullopt;
  return IncidentFromRow(r[0]);
}

std::vector<IncidentRow> RollbackRepository::ListIncidents(pqxx::work& tx,
                                                           const std::string& deployment_id) {
  std::vector<IncidentRow> out;
  const auto r = tx.exec_params(
      With(kIncidentColumns, "FROM incidents WHERE deployment_id = $1 ORDER BY created_at"),
      deployment_id);
  for (const auto& row : r) out.push_back(IncidentFromRow(row));
  return out;
}

}  // namespace sluice::rollback
