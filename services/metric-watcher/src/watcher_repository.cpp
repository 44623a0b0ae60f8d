#include "watcher_repository.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;

// Times travel as microseconds since the epoch ($n::double precision / 1e6 is exact for them).
#define SLUICE_TS(n) "to_timestamp(" n "::double precision / 1000000)"
#define SLUICE_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

constexpr const char* kAnalysisColumns =
    "id, deployment_id, batch_index, generation, app, env, version, baseline_version, "
    "release_id, template_name, bake_watch, instances::text, baseline_instances::text, "
    "spec_yaml, status, " SLUICE_US("started_at") ", " SLUICE_US("ends_at") ", " SLUICE_US(
        "next_due_at") ", " SLUICE_US("finished_at") ", reason, evidence::text, resolved_template, " SLUICE_US("switched_at");

constexpr const char* kInsertAnalysis =
    "INSERT INTO analyses (id, deployment_id, batch_index, generation, app, env, version, "
    "  baseline_version, release_id, template_name, bake_watch, instances, baseline_instances, "
    "  spec_yaml, status, started_at, ends_at, next_due_at, finished_at, reason, evidence, "
    "  resolved_template, switched_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb, $14, "
    "$15, " SLUICE_TS("$16") ", " SLUICE_TS("$17") ", " SLUICE_TS("$18") ", " SLUICE_TS(
        "$19") ", $20, $21::jsonb, $22, " SLUICE_TS("$23") ") ON CONFLICT (id) DO NOTHING RETURNING id";

constexpr const char* kInsertRule =
    "INSERT INTO analysis_rules (analysis_id, rule, kind, progress, outcome, next_due_at) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, " SLUICE_TS("$6") ")";

// The claim moves next_due_at to the lease's end (a claimer that dies leaves the analysis due
// again then) and raises the claim token the result's write is guarded by.
constexpr const char* kClaimDue =
    "UPDATE analyses SET next_due_at = " SLUICE_TS("$2") ", claim_token = claim_token + 1 "
    "WHERE id = (SELECT id FROM analyses WHERE status = 'Running' AND next_due_at <= " SLUICE_TS(
        "$1") " ORDER BY next_due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ";

constexpr const char* kLockClaimed =
    "SELECT 1 FROM analyses WHERE id = $1 AND claim_token = $2 AND status = 'Running' "
    "FOR UPDATE";

constexpr const char* kLoadRules =
    "SELECT analysis_id, rule, kind, progress::text, outcome, " SLUICE_US(
        "next_due_at") " FROM analysis_rules WHERE analysis_id = $1 ORDER BY rule";

constexpr const char* kUpdateRule =
    "UPDATE analysis_rules SET progress = $3::jsonb, outcome = $4, "
    "  next_due_at = " SLUICE_TS("$5") " WHERE analysis_id = $1 AND rule = $2";

constexpr const char* kSetNextDue =
    "UPDATE analyses SET next_due_at = " SLUICE_TS("$2") " WHERE id = $1";

constexpr const char* kFinish =
    "UPDATE analyses SET status = $2, reason = $3, evidence = $4::jsonb, next_due_at = NULL, "
    "  finished_at = " SLUICE_TS("$5") " WHERE id = $1";

constexpr const char* kCancel =
    "UPDATE analyses SET status = 'Cancelled', reason = $4, next_due_at = NULL, "
    "  finished_at = " SLUICE_TS("$3")
    " WHERE deployment_id = $1 AND status = 'Running' AND ($2::bigint = 0 OR generation < $2::bigint)";

constexpr const char* kCancelSuperseded =
    "UPDATE analyses SET status = 'Cancelled', reason = $5, next_due_at = NULL, "
    "  finished_at = " SLUICE_TS("$4")
    " WHERE app = $1 AND env = $2 AND deployment_id <> $3 AND bake_watch AND status = 'Running' "
    "RETURNING id";

constexpr const char* kCountRunning = "SELECT count(*) FROM analyses WHERE status = 'Running'";

constexpr const char* kInsertMeasurement =
    "INSERT INTO measurements (analysis_id, rule, taken_at, queries, \"values\", metric, "
    "  observed, threshold, comparator, affected, verdict, message) "
    "VALUES ($1, $2, " SLUICE_TS("$3") ", $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10::jsonb, $11, "
    "$12)";

constexpr const char* kListMeasurements =
    "SELECT * FROM (SELECT id, rule, " SLUICE_US("taken_at") ", queries::text, \"values\"::text, "
    "  metric, observed, threshold, comparator, affected::text, verdict, message "
    "  FROM measurements WHERE analysis_id = $1 AND ($2 = '' OR rule = $2) "
    "  ORDER BY id DESC LIMIT $3) m ORDER BY id";

constexpr const char* kInsertAlert =
    "INSERT INTO alerts (fingerprint, starts_at, alert_name, deployment_id, status, labels, "
    "  annotations, raised, alert_id, reason, received_at, updated_at) "
    "VALUES ($1, " SLUICE_TS("$2") ", $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, "
    SLUICE_TS("$11") ", " SLUICE_TS("$11") ") "
    "ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id";

constexpr const char* kLockAlert =
    "SELECT fingerprint, " SLUICE_US("starts_at") ", alert_name, deployment_id, status, "
    "  labels::text, annotations::text, raised, alert_id, reason FROM alerts "
    "WHERE fingerprint = $1 AND starts_at = " SLUICE_TS("$2") " FOR UPDATE";

constexpr const char* kUpdateAlert =
    "UPDATE alerts SET alert_name = $3, deployment_id = $4, status = $5, labels = $6::jsonb, "
    "  annotations = $7::jsonb, raised = $8, alert_id = $9, reason = $10, "
    "  updated_at = " SLUICE_TS("$11") " WHERE fingerprint = $1 AND starts_at = " SLUICE_TS("$2");

constexpr const char* kListAlerts =
    "SELECT fingerprint, " SLUICE_US("starts_at") ", alert_name, deployment_id, status, "
    "  labels::text, annotations::text, raised, alert_id, reason, " SLUICE_US("received_at") ", "
    "  " SLUICE_US("updated_at") " FROM alerts "
    "WHERE ($1 = '' OR labels->>'app' = $1) AND ($2 = '' OR deployment_id = $2) "
    "ORDER BY id DESC LIMIT $3";

#undef SLUICE_TS
#undef SLUICE_US

std::int64_t Micros(core::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::optional<std::string> MicrosOpt(const std::optional<core::SystemTime>& t) {
  if (!t) return std::nullopt;
  return std::to_string(Micros(*t));
}

const char* Nullable(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

std::optional<core::SystemTime> TimeAt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return core::SystemTime(std::chrono::duration_cast<core::SystemTime::duration>(
      std::chrono::microseconds(f.as<std::int64_t>())));
}

std::vector<std::string> StringList(const std::string& text) {
  std::vector<std::string> out;
  const auto j = json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

AnalysisRow ReadAnalysis(const pqxx::row& r) {
  AnalysisRow a;
  a.id = r[0].as<std::string>();
  a.deployment_id = r[1].as<std::string>();
  a.batch_index = r[2].as<std::uint32_t>();
  a.generation = r[3].as<std::uint64_t>();
  a.app = r[4].as<std::string>();
  a.env = r[5].as<std::string>();
  a.version = r[6].as<std::string>();
  a.baseline_version = r[7].as<std::string>();
  a.release_id = r[8].as<std::string>();
  a.template_name = r[9].as<std::string>();
  a.bake_watch = r[10].as<bool>();
  a.instances = StringList(r[11].as<std::string>());
  a.baseline_instances = StringList(r[12].as<std::string>());
  a.spec_yaml = r[13].as<std::string>();
  a.resolved_template = r[21].as<std::string>();
  a.status = r[14].as<std::string>();
  a.started_at = *TimeAt(r[15]);
  a.ends_at = TimeAt(r[16]);
  a.next_due_at = TimeAt(r[17]);
  a.finished_at = TimeAt(r[18]);
  a.reason = r[19].as<std::string>();
  a.evidence = json::parse(r[20].as<std::string>(), nullptr, false);
  a.switched_at = TimeAt(r[22]);
  return a;
}

}  // namespace

bool InsertAnalysis(pqxx::work& tx, const AnalysisRow& a) {
  const auto ends = MicrosOpt(a.ends_at);
  const auto due = MicrosOpt(a.next_due_at);
  const auto finished = MicrosOpt(a.finished_at);
  const auto switched = MicrosOpt(a.switched_at);
  const auto r = tx.exec_params(
      kInsertAnalysis, a.id, a.deployment_id, static_cast<std::int64_t>(a.batch_index),
      static_cast<std::int64_t>(a.generation), a.app, a.env, a.version, a.baseline_version,
      a.release_id, a.template_name, a.bake_watch, json(a.instances).dump(),
      json(a.baseline_instances).dump(), a.spec_yaml, a.status, Micros(a.started_at),
      Nullable(ends), Nullable(due), Nullable(finished), a.reason, a.evidence.dump(),
      a.resolved_template, Nullable(switched));
  return !r.empty();
}

void InsertRule(pqxx::work& tx, const RuleRow& r) {
  const auto due = MicrosOpt(r.next_due_at);
  tx.exec_params(kInsertRule, r.analysis_id, r.rule, r.kind, r.progress.dump(), r.outcome,
                 Nullable(due));
}

std::optional<AnalysisRow> ClaimDueAnalysis(pqxx::work& tx, core::SystemTime now,
                                            std::chrono::milliseconds lease) {
  const auto r = tx.exec_params(std::string(kClaimDue) + kAnalysisColumns + ", claim_token",
                                Micros(now), Micros(now + lease));
  if (r.empty()) return std::nullopt;
  auto a = ReadAnalysis(r[0]);
  a.claim_token = r[0][23].as<std::uint64_t>();  // after the 23 analysis columns
  return a;
}

bool LockClaimed(pqxx::work& tx, const std::string& analysis_id, std::uint64_t claim_token) {
  return !tx.exec_params(kLockClaimed, analysis_id, static_cast<std::int64_t>(claim_token)).empty();
}

std::optional<AnalysisRow> GetAnalysis(pqxx::work& tx, const std::string& id) {
  const auto r = tx.exec_params(
      std::string("SELECT ") + kAnalysisColumns + " FROM analyses WHERE id = $1", id);
  if (r.empty()) return std::nullopt;
  return ReadAnalysis(r[0]);
}

std::vector<AnalysisRow> ListAnalyses(pqxx::work& tx,
                                      const std::optional<std::string>& deployment_id, int limit) {
  std::vector<AnalysisRow> out;
  const auto r = tx.exec_params(std::string("SELECT ") + kAnalysisColumns +
                                    " FROM analyses WHERE ($1::text IS NULL OR deployment_id = "
                                    "$1) ORDER BY started_at DESC, id LIMIT $2",
                                Nullable(deployment_id), limit);
  for (const auto& row : r) out.push_back(ReadAnalysis(row));
  return out;
}

std::vector<RuleRow> LoadRules(pqxx::work& tx, const std::string& analysis_id) {
  std::vector<RuleRow> out;
  for (const auto& r : tx.exec_params(kLoadRules, analysis_id)) {
    RuleRow row;
    row.analysis_id = r[0].as<std::string>();
    row.rule = r[1].as<std::string>();
    row.kind = r[2].as<std::string>();
    row.progress = json::parse(r[3].as<std::string>(), nullptr, false);
    row.outcome = r[4].as<std::string>();
    row.next_due_at = TimeAt(r[5]);
    out.push_back(std::move(row));
  }
  return out;
}

void UpdateRule(pqxx::work& tx, const RuleRow& r) {
  const auto due = MicrosOpt(r.next_due_at);
  tx.exec_params(kUpdateRule, r.analysis_id, r.rule, r.progress.dump(), r.outcome, Nullable(due));
}

void SetNextDue(pqxx::work& tx, const std::string& analysis_id,
                std::optional<core::SystemTime> next_due_at) {
  const auto due = MicrosOpt(next_due_at);
  tx.exec_params(kSetNextDue, analysis_id, Nullable(due));
}

void FinishAnalysis(pqxx::work& tx, const std::string& analysis_id, const std::string& status,
                    const std::string& reason, const json& evidence, core::SystemTime now) {
  tx.exec_params(kFinish, analysis_id, status, reason, evidence.dump(), Micros(now));
}

int CancelAnalyses(pqxx::work& tx, const std::string& deployment_id, std::uint64_t generation,
                   const std::string& reason, core::SystemTime now) {
  const auto r = tx.exec_params(kCancel, deployment_id, static_cast<std::int64_t>(generation),
                                Micros(now), reason);
  return static_cast<int>(r.affected_rows());
}

std::vector<std::string> CancelSupersededBakeWatches(pqxx::work& tx, const std::string& app,
                                                     const std::string& env,
                                                     const std::string& newer_deployment_id,
                                                     const std::string& reason,
                                                     core::SystemTime now) {
  std::vector<std::string> ids;
  for (const auto& r :
       tx.exec_params(kCancelSuperseded, app, env, newer_deployment_id, Micros(now), reason)) {
    ids.push_back(r[0].as<std::string>());
  }
  return ids;
}

int CountRunning(pqxx::work& tx) { return tx.exec(kCountRunning)[0][0].as<int>(); }

void InsertMeasurement(pqxx::work& tx, const std::string& analysis_id, const MeasurementRow& m) {
  const auto observed =
      m.observed ? std::optional<std::string>(pqxx::to_string(*m.observed)) : std::nullopt;
  const auto threshold =
      m.threshold ? std::optional<std::string>(pqxx::to_string(*m.threshold)) : std::nullopt;
  tx.exec_params(kInsertMeasurement, analysis_id, m.rule, Micros(m.taken_at), m.queries.dump(),
                 m.values.dump(), m.metric, Nullable(observed), Nullable(threshold), m.comparator,
                 json(m.affected).dump(), m.verdict, m.message);
}

std::vector<MeasurementRow> ListMeasurements(pqxx::work& tx, const std::string& analysis_id,
                                             const std::string& rule, int limit) {
  std::vector<MeasurementRow> out;
  for (const auto& r : tx.exec_params(kListMeasurements, analysis_id, rule, limit)) {
    MeasurementRow m;
    m.id = r[0].as<std::int64_t>();
    m.rule = r[1].as<std::string>();
    m.taken_at = *TimeAt(r[2]);
    m.queries = json::parse(r[3].as<std::string>(), nullptr, false);
    m.values = json::parse(r[4].as<std::string>(), nullptr, false);
    m.metric = r[5].as<std::string>();
    if (!r[6].is_null()) m.observed = r[6].as<double>();
    if (!r[7].is_null()) m.threshold = r[7].as<double>();
    m.comparator = r[8].as<std::string>();
    m.affected = StringList(r[9].as<std::string>());
    m.verdict = r[10].as<std::string>();
    m.message = r[11].as<std::string>();
    out.push_back(std::move(m));
  }
  return out;
}

bool InsertAlert(pqxx::work& tx, const AlertRow& a, core::SystemTime now) {
  const auto r = tx.exec_params(kInsertAlert, a.fingerprint, Micros(a.starts_at), a.alert_name,
                                a.deployment_id, a.status, a.labels.dump(), a.annotations.dump(),
                                a.raised, a.alert_id, a.reason, Micros(now));
  return !r.empty();
}

namespace {

// Columns 0..9 of kLockAlert / kListAlerts.
AlertRow AlertFromRow(const pqxx::row& row) {
  AlertRow a;
  a.fingerprint = row[0].as<std::string>();
  a.starts_at = *TimeAt(row[1]);
  a.alert_name = row[2].as<std::string>();
  a.deployment_id = row[3].as<std::string>();
  a.status = row[4].as<std::string>();
  a.labels = json::parse(row[5].as<std::string>(), nullptr, false);
  a.annotations = json::parse(row[6].as<std::string>(), nullptr, false);
  a.raised = row[7].as<bool>();
  a.alert_id = row[8].as<std::string>();
  a.reason = row[9].as<std::string>();
  return a;
}

}  // namespace

std::optional<AlertRow> LockAlert(pqxx::work& tx, const std::string& fingerprint,
                                  core::SystemTime starts_at) {
  const auto r = tx.exec_params(kLockAlert, fingerprint, Micros(starts_at));
  if (r.empty()) return std::nullopt;
  return AlertFromRow(r[0]);
}

std::vector<ListedAlert> ListAlerts(pqxx::work& tx, const std::string& app,
                                    const std::string& deployment_id, int limit) {
  std::vector<ListedAlert> out;
  for (const auto& row : tx.exec_params(kListAlerts, app, deployment_id, limit)) {
    out.push_back({AlertFromRow(row), *TimeAt(row[10]), *TimeAt(row[11])});
  }
  return out;
}

void UpdateAlert(pqxx::work& tx, const AlertRow& a, core::SystemTime now) {
  tx.exec_params(kUpdateAlert, a.fingerprint, Micros(a.starts_at), a.alert_name, a.deployment_id,
                 a.status, a.labels.dump(), a.annotations.dump(), a.raised, a.alert_id, a.reason,
                 Micros(now));
}

}  // namespace sluice::watcher
