#include "planner_repository.hpp"

#include <google/protobuf/util/json_util.h>

#include <sluice/pg/sql_time.hpp>

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;

// Times travel as milliseconds since the epoch (the precision of the state's times).
#define SLUICE_TS(n) "to_timestamp($" #n "::bigint / 1000.0)"
#define SLUICE_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

#define SLUICE_DEPLOYMENT_COLUMNS(spec_yaml, env_spec)                                      \
  "id, release_id, app, env, version, artifact::text, spec_version, strategy, "             \
  "coalesce(service::text, ''), concurrency, state::text, requested_by, queued, "           \
  "stable_release_id, stable_version_before, failure_reason, failure_detail, rollback_id, " \
  "slot_token, " SLUICE_MS("created_at") ", on_canary_failure, " spec_yaml ", " env_spec
// A single deployment carries its spec text and resolved environment (AnalysisRequested sends
// them on); lists do not.
constexpr const char* kDeploymentColumns = SLUICE_DEPLOYMENT_COLUMNS("spec_yaml", "env_spec");
// GET /v1/deployments: newest first, the id breaking ties, so the order is total and a page
// starts after the (created_at, id) of the previous one's last row (keyset paging over the
// deployments_listing index, no OFFSET); each row's position, created_at in microseconds, after
// the deployment's columns. since ($7, inclusive) and until ($8, exclusive) bound created_at on
// every page: the cursor only moves within the range.
constexpr int kListPositionColumn = 23;
constexpr const char* kListSql =
    "SELECT " SLUICE_DEPLOYMENT_COLUMNS("''::text", "''::text") ", "
    "(extract(epoch FROM created_at) * 1000000)::bigint FROM deployments "
    "WHERE ($1::text IS NULL OR app = $1) AND ($2::text IS NULL OR env = $2) "
    "AND ($3::text IS NULL OR status = $3) AND ($5::bigint IS NULL OR (created_at, id) < "
    "(" SLUICE_PG_US_TIMESTAMPTZ(5) ", $6::text)) "
    "AND " SLUICE_PG_IN_US_RANGE("created_at", 7, 8) " "
    "ORDER BY created_at DESC, id DESC LIMIT $4";

constexpr const char* kInsertDeploymentSql =
    "INSERT INTO deployments (id, release_id, app, env, version, artifact, spec_version, "
    "spec_yaml, strategy, service, concurrency, status, phase, state, batches, generation, "
    "current_batch, requested_by, queued, stable_release_id, stable_version_before, "
    "failure_reason, failure_detail, created_at, updated_at, on_canary_failure, env_spec) "
    "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::jsonb, $11, $12, $13, $14::jsonb, "
    "$15::jsonb, $16, $17, $18, $19, $20, $21, $22, $23, " SLUICE_TS(24) ", " SLUICE_TS(24) ", "
    "$25, $26) ON CONFLICT (id) DO NOTHING";

constexpr const char* kSaveDeploymentSql =
    "UPDATE deployments SET status = $2, phase = $3, state = $4::jsonb, batches = $5::jsonb, "
    "generation = $6, current_batch = $7, queued = $8, failure_reason = $9, "
    "failure_detail = $10, pause_reason = $11, rollback_id = $12, slot_token = $13::bigint, "
    "stable_release_id = $17, stable_version_before = $18, "
    "started_at = " SLUICE_TS(14) ", finished_at = " SLUICE_TS(15) ", updated_at = " SLUICE_TS(
        16) " WHERE id = $1";

constexpr const char* kActiveSql =
    "SELECT id FROM deployments WHERE app = $1 AND env = $2 "
    "AND status IN ('running', 'paused', 'rolling_back') LIMIT 1";
constexpr const char* kOldestQueuedSql =
    "SELECT id FROM deployments WHERE app = $1 AND env = $2 AND status = 'pending' AND queued "
    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED";
constexpr const char* kStalledQueuesSql =
    "SELECT DISTINCT q.app, q.env FROM deployments q WHERE q.status = 'pending' AND q.queued "
    "AND NOT EXISTS (SELECT 1 FROM deployments a WHERE a.app = q.app AND a.env = q.env "
    "AND a.status IN ('running', 'paused', 'rolling_back')) LIMIT $1";

constexpr const char* kUpsertAppSpecSql =
    "INSERT INTO app_specs (app, spec_version, spec_yaml, sha256, applied_by, updated_at, spec) "
    "VALUES ($1, $2, $3, $4, $5, " SLUICE_TS(6) ", $7) "
    "ON CONFLICT (app) DO UPDATE SET spec_version = excluded.spec_version, "
    "spec = excluded.spec, spec_yaml = excluded.spec_yaml, sha256 = excluded.sha256, applied_by = excluded.applied_by, "
    "updated_at = excluded.updated_at WHERE app_specs.spec_version < excluded.spec_version";
constexpr const char* kLoadAppSpecSql =
    "SELECT app, spec_version, spec_yaml, spec FROM app_specs WHERE app = $1";

constexpr const char* kUpsertStableSql =
    "INSERT INTO stable_releases (app, env, release_id, version, artifact, deployment_id, "
    "updated_at, live_group) VALUES ($1, $2, $3, $4, $5::jsonb, $6, " SLUICE_TS(7) ", $8) "
    "ON CONFLICT (app, env) DO UPDATE SET release_id = excluded.release_id, "
    "version = excluded.version, artifact = excluded.artifact, "
    "deployment_id = excluded.deployment_id, updated_at = excluded.updated_at, "
    "live_group = CASE WHEN excluded.live_group <> '' THEN excluded.live_group "
    "ELSE stable_releases.live_group END";
constexpr const char* kInsertStableHistorySql =
    "INSERT INTO stable_release_history (app, env, release_id, version, artifact, deployment_id, "
    "live_group, became_stable_at) SELECT app, env, release_id, version, artifact, deployment_id, "
    "live_group, updated_at FROM stable_releases WHERE app = $1 AND env = $2";
constexpr const char* kRevokeHistorySql =
    "UPDATE stable_release_history SET revoked_at = " SLUICE_TS(
        2) " WHERE deployment_id = $1 AND revoked_at IS NULL";
constexpr const char* kStableDeploymentSql =
    "SELECT deployment_id FROM stable_releases WHERE app = $1 AND env = $2 FOR UPDATE";
constexpr const char* kRestoreStableSql =
    "UPDATE stable_releases s SET release_id = h.release_id, version = h.version, "
    "artifact = h.artifact, deployment_id = h.deployment_id, live_group = h.live_group, "
    "updated_at = " SLUICE_TS(3) " FROM (SELECT * FROM stable_release_history "
    "WHERE app = $1 AND env = $2 AND revoked_at IS NULL ORDER BY id DESC LIMIT 1) h "
    "WHERE s.app = $1 AND s.env = $2";
constexpr const char* kClearStableSql = "DELETE FROM stable_releases WHERE app = $1 AND env = $2";
constexpr const char* kLoadStableSql =
    "SELECT app, env, release_id, version, artifact::text, deployment_id, " SLUICE_MS(
        "updated_at") ", live_group FROM stable_releases WHERE app = $1 AND env = $2";

constexpr const char* kAddTimelineSql =
    "INSERT INTO deployment_events (deployment_id, at, kind, detail, actor, applied, "
    "ignored_reason, event_id) VALUES ($1, " SLUICE_TS(2) ", $3, $4, $5, $6, $7, $8)";
constexpr const char* kTimelineSql =
    "SELECT " SLUICE_MS("at") ", kind, detail, actor, applied, ignored_reason "
    "FROM deployment_events WHERE deployment_id = $1 ORDER BY id";

constexpr const char* kInsertSwitchSql =
    "INSERT INTO traffic_switches (deployment_id, generation, url, due_at) "
    "VALUES ($1, $2, $3, " SLUICE_TS(4) ") ON CONFLICT DO NOTHING";
constexpr const char* kClaimSwitchesSql =
    "SELECT deployment_id, generation, url, attempts FROM traffic_switches "
    "WHERE due_at <= " SLUICE_TS(1) " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* kLeaseSwitchSql = "UPDATE traffic_switches SET due_at = " SLUICE_TS(
    3) " WHERE deployment_id = $1 AND generation = $2";
constexpr const char* kRetrySwitchSql = "UPDATE traffic_switches SET due_at = " SLUICE_TS(
    3) ", attempts = attempts + 1, last_error = $4 WHERE deployment_id = $1 AND generation = $2";
constexpr const char* kDeleteSwitchSql =
    "DELETE FROM traffic_switches WHERE deployment_id = $1 AND generation = $2";

const char* OrNull(const std::optional<std::string>& s) { return s ? s->c_str() : nullptr; }

std::optional<std::string> MillisText(const std::optional<core::SystemTime>& t) {
  if (!t) return std::nullopt;
  return std::to_string(core::ToUnixMillis(*t));
}

std::string SpecToJson(const google::protobuf::Message& m) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(m, &text).ok()) {
    throw std::runtime_error("the resolved spec does not map to JSON");
  }
  return text;
}

// '' (a row stored before the column) reads as an empty environment: no templates.
events::v1::DeliverySpec::Environment EnvSpecFromJson(const std::string& text) {
  events::v1::DeliverySpec::Environment env;
  if (!text.empty() && !google::protobuf::util::JsonStringToMessage(text, &env).ok()) {
    throw std::runtime_error("stored deployment: unreadable env_spec");
  }
  return env;
}
std::string EnvSpecToJson(const events::v1::DeliverySpec::Environment& env) {
  return SpecToJson(env);
}

DeploymentRow RowFrom(const pqxx::row& r) {
  DeploymentRow row;
  auto& c = row.ctx;
  c.deployment_id = r[0].as<std::string>();
  c.release_id = r[1].as<std::string>();
  c.app = r[2].as<std::string>();
  c.env = r[3].as<std::string>();
  c.version = r[4].as<std::string>();
  c.artifact = ArtifactFromJson(json::parse(r[5].as<std::string>()));
  c.spec_version = r[6].as<std::uint64_t>();
  c.strategy = ParseStrategyType(r[7].as<std::string>()).value_or(StrategyType::kCanary);
  if (const auto service = r[8].as<std::string>(); !service.empty()) {
    c.service = ServiceFromJson(json::parse(service));
  }
  row.concurrency =
      r[9].as<std::string>() == "reject" ? ConcurrencyPolicy::kReject : ConcurrencyPolicy::kQueue;
  row.state = DeploymentFromJson(json::parse(r[10].as<std::string>()));
  row.requested_by = r[11].as<std::string>();
  row.queued = r[12].as<bool>();
  c.stable_release_id = r[13].as<std::string>();
  c.stable_version = r[14].as<std::string>();
  row.failure_reason = r[15].as<std::string>();
  row.failure_detail = r[16].as<std::string>();
  row.rollback_id = r[17].as<std::string>();
  if (!r[18].is_null()) row.slot_token = r[18].as<std::int64_t>();
  row.created_at = core::FromUnixMillis(r[19].as<std::int64_t>());
  c.on_canary_failure = r[20].as<std::string>();
  c.spec_yaml = r[21].as<std::string>();
  c.env_spec = EnvSpecFromJson(r[22].as<std::string>());
  return row;
}

std::string FailureReasonOf(const DeploymentRow& row) {
  if (row.state.failure_reason) return std::string(ToString(*row.state.failure_reason));
  return row.failure_reason;
}

}  // namespace

json ArtifactToJson(const events::v1::Artifact& a) {
  json j = {{"version", a.version()},
            {"url", a.url()},
            {"sha256", a.sha256()},
            {"kind", static_cast<int>(a.kind())}};
  // The image of a tarball release's Kubernetes targets (absent for VM-only releases).
  if (!a.image().empty()) j["image"] = a.image();
  if (!a.image_digest().empty()) j["image_digest"] = a.image_digest();
  return j;
}

events::v1::Artifact ArtifactFromJson(const json& j) {
  events::v1::Artifact a;
  a.set_version(j.value("version", ""));
  a.set_url(j.value("url", ""));
  a.set_sha256(j.value("sha256", ""));
  const int kind = j.value("kind", 0);
  if (events::v1::ArtifactKind_IsValid(kind))
    a.set_kind(static_cast<events::v1::ArtifactKind>(kind));
  a.set_image(j.value("image", ""));
  a.set_image_digest(j.value("image_digest", ""));
  return a;
}

bool PlannerRepository::InsertDeployment(pqxx::work& tx, const DeploymentRow& row,
                                         core::SystemTime now) {
  const auto& c = row.ctx;
  const auto state = DeploymentToJson(row.state);
  const std::optional<std::string> service =
      c.service ? std::optional<std::string>(ServiceToJson(*c.service).dump()) : std::nullopt;
  const auto r = tx.exec_params(
      kInsertDeploymentSql, c.deployment_id, c.release_id, c.app, c.env, c.version,
      ArtifactToJson(c.artifact).dump(), static_cast<std::int64_t>(c.spec_version), c.spec_yaml,
      std::string(ToString(c.strategy)), OrNull(service), std::string(ToString(row.concurrency)),
      std::string(ToString(row.state.status)), std::string(ToString(row.state.phase)), state.dump(),
      state.at("batches").dump(), static_cast<std::int64_t>(row.state.generation.Value()),
      static_cast<std::int64_t>(row.state.current_batch), row.requested_by, row.queued,
      c.stable_release_id, c.stable_version, FailureReasonOf(row), row.failure_detail,
      core::ToUnixMillis(now), c.on_canary_failure, EnvSpecToJson(c.env_spec));
  return r.affected_rows() == 1;
}

std::optional<DeploymentRow> PlannerRepository::LoadDeployment(pqxx::work& tx,
                                                               const std::string& id,
                                                               bool for_update) {
  const std::string sql = std::string("SELECT ") + kDeploymentColumns +
                          " FROM deployments WHERE id = $1" + (for_update ? " FOR UPDATE" : "");
  const auto r = tx.exec_params(sql, id);
  if (r.empty()) return std::nullopt;
  return RowFrom(r[0]);
}

void PlannerRepository::SaveDeployment(pqxx::work& tx, const DeploymentRow& row,
                                       core::SystemTime now) {
  const auto state = DeploymentToJson(row.state);
  const std::string pause =
      row.state.pause_reason ? std::string(ToString(*row.state.pause_reason)) : "";
  const auto started = MillisText(row.state.started_at);
  const auto finished = MillisText(row.state.finished_at);
  const std::optional<std::string> token =
      row.slot_token ? std::optional<std::string>(std::to_string(*row.slot_token)) : std::nullopt;
  tx.exec_params(kSaveDeploymentSql, row.ctx.deployment_id, std::string(ToString(row.state.status)),
                 std::string(ToString(row.state.phase)), state.dump(), state.at("batches").dump(),
                 static_cast<std::int64_t>(row.state.generation.Value()),
                 static_cast<std::int64_t>(row.state.current_batch), row.queued,
                 FailureReasonOf(row), row.failure_detail, pause, row.rollback_id, OrNull(token),
                 OrNull(started), OrNull(finished), core::ToUnixMillis(now),
                 row.ctx.stable_release_id, row.ctx.stable_version);
}

std::optional<std::string> PlannerRepository::ActiveDeployment(pqxx::work& tx,
                                                               const std::string& app,
                                                               const std::string& env) {
  const auto r = tx.exec_params(kActiveSql, app, env);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::optional<std::string> PlannerRepository::OldestQueued(pqxx::work& tx, const std::string& app,
                                                           const std::string& env) {
  const auto r = tx.exec_params(kOldestQueuedSql, app, env);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::string>();
}

std::vector<std::pair<std::string, std::string>> PlannerRepository::StalledQueues(pqxx::work& tx,
                                                                                  int limit) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : tx.exec_params(kStalledQueuesSql, limit)) {
    out.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
  }
  return out;
}

bool PlannerRepository::UpsertAppSpec(pqxx::work& tx, const std::string& app,
                                      std::uint64_t spec_version, const std::string& spec_yaml,
                                      const std::string& sha256,
                                      const events::v1::DeliverySpec& spec,
                                      const std::string& applied_by, core::SystemTime now) {
  return tx.exec_params(kUpsertAppSpecSql, app, static_cast<std::int64_t>(spec_version), spec_yaml,
                        sha256, applied_by, core::ToUnixMillis(now), SpecToJson(spec))
             .affected_rows() == 1;
}

std::optional<AppSpecRow> PlannerRepository::LoadAppSpec(pqxx::work& tx, const std::string& app) {
  const auto r = tx.exec_params(kLoadAppSpecSql, app);
  if (r.empty()) return std::nullopt;
  AppSpecRow row{r[0][0].as<std::string>(), r[0][1].as<std::uint64_t>(), r[0][2].as<std::string>(),
                 std::nullopt};
  if (const auto text = r[0][3].as<std::string>(); !text.empty()) {
    events::v1::DeliverySpec spec;
    if (google::protobuf::util::JsonStringToMessage(text, &spec).ok()) row.spec = std::move(spec);
  }
  return row;
}

void PlannerRepository::UpsertStable(pqxx::work& tx, const DeploymentContext& ctx,
                                     core::SystemTime now, const std::string& live_group) {
  tx.exec_params(kUpsertStableSql, ctx.app, ctx.env, ctx.release_id, ctx.version,
                 ArtifactToJson(ctx.artifact).dump(), ctx.deployment_id, core::ToUnixMillis(now),
                 live_group);
  tx.exec_params(kInsertStableHistorySql, ctx.app, ctx.env);
}

StableRevocation PlannerRepository::RevokeStable(pqxx::work& tx, const DeploymentContext& ctx,
                                                 core::SystemTime now) {
  tx.exec_params(kRevokeHistorySql, ctx.deployment_id, core::ToUnixMillis(now));
  const auto current = tx.exec_params(kStableDeploymentSql, ctx.app, ctx.env);
  if (current.empty() || current[0][0].as<std::string>() != ctx.deployment_id) return {};
  if (tx.exec_params(kRestoreStableSql, ctx.app, ctx.env, core::ToUnixMillis(now))
          .affected_rows() == 1) {
    return {StableRevocation::Kind::kRestored, LoadStable(tx, ctx.app, ctx.env)};
  }
  tx.exec_params(kClearStableSql, ctx.app, ctx.env);
  return {StableRevocation::Kind::kCleared, std::nullopt};
}

std::optional<StableRelease> PlannerRepository::LoadStable(pqxx::work& tx, const std::string& app,
                                                           const std::string& env) {
  const auto r = tx.exec_params(kLoadStableSql, app, env);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  return StableRelease{row[0].as<std::string>(),
                       row[1].as<std::string>(),
                       row[2].as<std::string>(),
                       row[3].as<std::string>(),
                       json::parse(row[4].as<std::string>()),
                       row[5].as<std::string>(),
                       core::FromUnixMillis(row[6].as<std::int64_t>()),
                       row[7].as<std::string>()};
}

void PlannerRepository::AddTimeline(pqxx::work& tx, const std::string& deployment_id,
                                    const TimelineEntry& e, const std::string& event_id) {
  tx.exec_params(kAddTimelineSql, deployment_id, core::ToUnixMillis(e.at), e.kind, e.detail,
                 e.actor, e.applied, e.ignored_reason, event_id);
}

std::vector<TimelineEntry> PlannerRepository::Timeline(pqxx::work& tx,
                                                       const std::string& deployment_id) {
  std::vector<TimelineEntry> out;
  for (const auto& r : tx.exec_params(kTimelineSql, deployment_id)) {
    out.push_back({core::FromUnixMillis(r[0].as<std::int64_t>()), r[1].as<std::string>(),
                   r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<bool>(),
                   r[5].as<std::string>()});
  }
  return out;
}

DeploymentPage PlannerRepository::List(pqxx::work& tx, const DeploymentFilter& f) {
  // One row more than the page tells whether a further page exists.
  std::optional<std::int64_t> after_us;
  std::optional<std::string> after_id;
  if (f.after) {
    after_us = f.after->created_at_us;
    after_id = f.after->id;
  }
  DeploymentPage page;
  std::optional<ListCursor> last;
  for (const auto& r :
       tx.exec_params(kListSql, OrNull(f.app), OrNull(f.env), OrNull(f.status), f.limit + 1,
                      after_us, after_id, f.created.since_us, f.created.until_us)) {
    if (static_cast<int>(page.rows.size()) == f.limit) {
      page.next = last;
      break;
    }
    page.rows.push_back(RowFrom(r));
    last =
        ListCursor{r[kListPositionColumn].as<std::int64_t>(), page.rows.back().ctx.deployment_id};
  }
  return page;
}

void PlannerRepository::InsertTrafficSwitch(pqxx::work& tx, const std::string& deployment_id,
                                            std::uint64_t generation, const std::string& url,
                                            core::SystemTime now) {
  tx.exec_params(kInsertSwitchSql, deployment_id, static_cast<std::int64_t>(generation), url,
                 core::ToUnixMillis(now));
}

std::vector<TrafficSwitchRow> PlannerRepository::ClaimTrafficSwitches(
    pqxx::work& tx, core::SystemTime now, std::chrono::milliseconds lease, int limit) {
  std::vector<TrafficSwitchRow> out;
  for (const auto& r : tx.exec_params(kClaimSwitchesSql, core::ToUnixMillis(now), limit)) {
    out.push_back(
        {r[0].as<std::string>(), r[1].as<std::uint64_t>(), r[2].as<std::string>(), r[3].as<int>()});
  }
  for (const auto& s : out) {
    tx.exec_params(kLeaseSwitchSql, s.deployment_id, static_cast<std::int64_t>(s.generation),
                   core::ToUnixMillis(now + lease));
  }
  return out;
}

void PlannerRepository::RetryTrafficSwitch(pqxx::work& tx, const TrafficSwitchRow& row,
                                           core::SystemTime due_at, const std::string& error) {
  tx.exec_params(kRetrySwitchSql, row.deployment_id, static_cast<std::int64_t>(row.generation),
                 core::ToUnixMillis(due_at), error);
}

void PlannerRepository::DeleteTrafficSwitch(pqxx::work& tx, const TrafficSwitchRow& row) {
  tx.exec_params(kDeleteSwitchSql, row.deployment_id, static_cast<std::int64_t>(row.generation));
}

}  // namespace sluice::rollout_planner
