#include "environment_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kColumns =
    "deployment_id, app, env, release_id, succeeded, failed, bake_expected, bake_passed";

// The row is created only with app, env and release id; each flag is kept unless given.
constexpr const char* kUpsert = R"sql(
  INSERT INTO env_deployments AS d (deployment_id, app, env, release_id, succeeded, failed,
                                    bake_expected, bake_passed, seen_at, updated_at)
  SELECT $1, $2, $3, $4, coalesce($5, false), coalesce($6, false), coalesce($7, false),
         coalesce($8, false), to_timestamp($9::double precision / 1000),
         to_timestamp($9::double precision / 1000)
  WHERE $2 <> '' AND $3 <> '' AND $4 <> ''
  ON CONFLICT (deployment_id) DO UPDATE SET
    succeeded = coalesce($5, d.succeeded), failed = coalesce($6, d.failed),
    bake_expected = coalesce($7, d.bake_expected), bake_passed = coalesce($8, d.bake_passed),
    updated_at = excluded.updated_at
  RETURNING deployment_id, app, env, release_id, succeeded, failed, bake_expected,
            bake_passed)sql";
constexpr const char* kUpdate = R"sql(
  UPDATE env_deployments AS d SET
    succeeded = coalesce($2, d.succeeded), failed = coalesce($3, d.failed),
    bake_expected = coalesce($4, d.bake_expected), bake_passed = coalesce($5, d.bake_passed),
    updated_at = to_timestamp($6::double precision / 1000)
  WHERE deployment_id = $1
  RETURNING deployment_id, app, env, release_id, succeeded, failed, bake_expected,
            bake_passed)sql";
constexpr const char* kFind = "SELECT {} FROM env_deployments WHERE deployment_id = $1";
constexpr const char* kReleaseIn = R"sql(
  SELECT {} FROM env_deployments WHERE app = $1 AND env = $2 AND release_id = $3
  ORDER BY seen_at DESC, deployment_id DESC LIMIT 20)sql";
constexpr const char* kMarkPromoted =
    "UPDATE env_deployments SET promoted = true WHERE deployment_id = $1 AND NOT promoted";

constexpr const char* kFreezeColumns =
    "app, env, reason, frozen_by, (extract(epoch from frozen_at) * 1000)::bigint";
constexpr const char* kFreeze = "SELECT {} FROM env_freezes WHERE app = $1 AND env = $2";
constexpr const char* kFreezes =
    "SELECT {} FROM env_freezes WHERE $1 = '' OR app = $1 ORDER BY app, env";
constexpr const char* kSetFreeze = R"sql(
  INSERT INTO env_freezes (app, env, reason, frozen_by, frozen_at)
  VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000))
  ON CONFLICT (app, env) DO UPDATE SET reason = excluded.reason, frozen_by = excluded.frozen_by,
                                       frozen_at = excluded.frozen_at)sql";
constexpr const char* kClearFreeze = "DELETE FROM env_freezes WHERE app = $1 AND env = $2";

std::string With(const char* statement, const char* columns) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, columns);
  return s;
}

EnvDeployment FromRow(const pqxx::row& r) {
  return EnvDeployment{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                       r[3].as<std::string>(), r[4].as<bool>(),        r[5].as<bool>(),
                       r[6].as<bool>(),        r[7].as<bool>()};
}

EnvFreeze FreezeFromRow(const pqxx::row& r) {
  return EnvFreeze{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::int64_t>()};
}

}  // namespace

std::optional<EnvDeployment> EnvironmentRepository::Apply(pqxx::work& tx,
                                                          const EnvDeploymentUpdate& u,
                                                          std::int64_t now_ms) {
  const bool creates = !u.app.empty() && !u.env.empty() && !u.release_id.empty();
  const auto rows =
      creates ? tx.exec_params(kUpsert, u.deployment_id, u.app, u.env, u.release_id, u.succeeded,
                               u.failed, u.bake_expected, u.bake_passed, now_ms)
              : tx.exec_params(kUpdate, u.deployment_id, u.succeeded, u.failed, u.bake_expected,
                               u.bake_passed, now_ms);
  if (rows.empty()) return std::nullopt;
  return FromRow(rows[0]);
}

std::optional<EnvDeployment> EnvironmentRepository::Find(pqxx::work& tx,
                                                         const std::string& deployment_id) {
  const auto rows = tx.exec_params(With(kFind, kColumns), deployment_id);
  if (rows.empty()) return std::nullopt;
  return FromRow(rows[0]);
}

std::vector<EnvDeployment> EnvironmentRepository::ReleaseIn(pqxx::work& tx, const std::string& app,
                                                            const std::string& env,
                                                            const std::string& release_id) {
  std::vector<EnvDeployment> out;
  for (const auto& r : tx.exec_params(With(kReleaseIn, kColumns), app, env, release_id)) {
    out.push_back(FromRow(r));
  }
  return out;
}

bool EnvironmentRepository::MarkPromoted(pqxx::work& tx, const std::string& deployment_id) {
  return tx.exec_params(kMarkPromoted, deployment_id).affected_rows() == 1;
}

std::optional<EnvFreeze> EnvironmentRepository::Freeze(pqxx::work& tx, const std::string& app,
                                                       const std::string& env) {
  const auto rows = tx.exec_params(With(kFreeze, kFreezeColumns), app, env);
  if (rows.empty()) return std::nullopt;
  return FreezeFromRow(rows[0]);
}

std::vector<EnvFreeze> EnvironmentRepository::Freezes(pqxx::work& tx, const std::string& app) {
  std::vector<EnvFreeze> out;
  for (const auto& r : tx.exec_params(With(kFreezes, kFreezeColumns), app)) {
    out.push_back(FreezeFromRow(r));
  }
  return out;
}

void EnvironmentRepository::SetFreeze(pqxx::work& tx, const EnvFreeze& f) {
  tx.exec_params(kSetFreeze, f.app, f.env, f.reason, f.frozen_by, f.frozen_at_ms);
}

bool EnvironmentRepository::ClearFreeze(pqxx::work& tx, const std::string& app,
                                        const std::string& env) {
  return tx.exec_params(kClearFreeze, app, env).affected_rows() == 1;
}

}  // namespace sluice::release_intake
