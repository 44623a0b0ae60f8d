#include "delivery_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kLockApp = "SELECT pg_advisory_xact_lock(hashtext('app_specs:' || $1))";

constexpr const char* kSpecColumns =
    "app, version, sha256, yaml, applied_by, (extract(epoch from applied_at) * 1000)::bigint";
constexpr const char* kSpecListColumns =
    "app, version, sha256, '', applied_by, (extract(epoch from applied_at) * 1000)::bigint";

constexpr const char* kLatestSpec =
    "SELECT {} FROM app_specs WHERE app = $1 ORDER BY version DESC LIMIT 1";
constexpr const char* kSpecVersion = "SELECT {} FROM app_specs WHERE app = $1 AND version = $2";
constexpr const char* kSpecVersions =
    "SELECT {} FROM app_specs WHERE app = $1 ORDER BY version DESC";
constexpr const char* kApps = R"sql(
  SELECT DISTINCT ON (app) {} FROM app_specs ORDER BY app, version DESC)sql";
constexpr const char* kInsertSpec = R"sql(
  INSERT INTO app_specs (app, version, sha256, yaml, applied_by, applied_at)
  VALUES ($1, $2, $3, $4, $5, to_timestamp($6::double precision / 1000)))sql";

constexpr const char* kRequestColumns = R"sql(
  deployment_id, release_id, app, env, spec_version, requested_by,
  (extract(epoch from requested_at) * 1000)::bigint, request_sha256)sql";
constexpr const char* kInsertRequest = R"sql(
  INSERT INTO deployment_requests (deployment_id, release_id, app, env, spec_version,
                                   requested_by, requested_at, idempotency_key, request_sha256)
  VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::double precision / 1000), $8, $9)
  ON CONFLICT (idempotency_key) DO NOTHING)sql";
constexpr const char* kRequestByKey =
    "SELECT {} FROM deployment_requests WHERE idempotency_key = $1";
constexpr const char* kRequestById = "SELECT {} FROM deployment_requests WHERE deployment_id = $1";

std::string With(const char* statement, const char* columns) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, columns);
  return s;
}

AppSpecVersion SpecFromRow(const pqxx::row& row) {
  return AppSpecVersion{row[0].as<std::string>(), row[1].as<std::int64_t>(),
                        row[2].as<std::string>(), row[3].as<std::string>(),
                        row[4].as<std::string>(), row[5].as<std::int64_t>()};
}

StoredDeploymentRequest RequestFromRow(const pqxx::row& row) {
  return StoredDeploymentRequest{row[0].as<std::string>(),  row[1].as<std::string>(),
                                 row[2].as<std::string>(),  row[3].as<std::string>(),
                                 row[4].as<std::int64_t>(), row[5].as<std::string>(),
                                 row[6].as<std::int64_t>(), row[7].as<std::string>()};
}

}  // namespace

void DeliveryRepository::LockApp(pqxx::work& tx, const std::string& app) {
  tx.exec_params(kLockApp, app);
}

std::optional<AppSpecVersion> DeliveryRepository::LatestSpec(pqxx::work& tx,
                                                             const std::string& app) {
  auto rows = tx.exec_params(With(kLatestSpec, kSpecColumns), app);
  if (rows.empty()) return std::nullopt;
  return SpecFromRow(rows[0]);
}

std::optional<AppSpecVersion> DeliveryRepository::Spec(pqxx::work& tx, const std::string& app,
                                                       std::int64_t version) {
  auto rows = tx.exec_params(With(kSpecVersion, kSpecColumns), app, version);
  if (rows.empty()) return std::nullopt;
  return SpecFromRow(rows[0]);
}

std::vector<AppSpecVersion> DeliveryRepository::SpecVersions(pqxx::work& tx,
                                                             const std::string& app) {
  std::vector<AppSpecVersion> out;
  for (const auto& row : tx.exec_params(With(kSpecVersions, kSpecListColumns), app)) {
    out.push_back(SpecFromRow(row));
  }
  return out;
}

std::vector<AppSpecVersion> DeliveryRepository::Apps(pqxx::work& tx) {
  std::vector<AppSpecVersion> out;
  for (const auto& row : tx.exec(With(kApps, kSpecListColumns))) out.push_back(SpecFromRow(row));
  return out;
}

void DeliveryRepository::InsertSpec(pqxx::work& tx, const AppSpecVersion& s) {
  tx.exec_params(kInsertSpec, s.app, s.version, s.sha256, s.yaml, s.applied_by, s.applied_at_ms);
}

bool DeliveryRepository::InsertDeploymentRequest(
    pqxx::work& tx, const StoredDeploymentRequest& r,
    const std::optional<std::string>& idempotency_key) {
  // libpqxx 6.4 passes a null for an empty optional only through a plain pointer.
  const char* key = idempotency_key ? idempotency_key->c_str() : nullptr;
  auto result =
      tx.exec_params(kInsertRequest, r.deployment_id, r.release_id, r.app, r.env, r.spec_version,
                     r.requested_by, r.requested_at_ms, key, r.request_sha256);
  return result.affected_rows() == 1;
}

std::optional<StoredDeploymentRequest> DeliveryRepository::FindByIdempotencyKey(
    pqxx::work& tx, const std::string& key) {
  auto rows = tx.exec_params(With(kRequestByKey, kRequestColumns), key);
  if (rows.empty()) return std::nullopt;
  return RequestFromRow(rows[0]);
}

std::optional<StoredDeploymentRequest> DeliveryRepository::FindDeploymentRequest(
    pqxx::work& tx, const std::string& deployment_id) {
  auto rows = tx.exec_params(With(kRequestById, kRequestColumns), deployment_id);
  if (rows.empty()) return std::nullopt;
  return RequestFromRow(rows[0]);
}

}  // namespace sluice::release_intake
