#include "deployment_repository.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;

constexpr const char* kLockDeployment =
    "SELECT view::text FROM deployment_projection WHERE deployment_id = $1 FOR UPDATE";

constexpr const char* kSaveDeployment =
    "INSERT INTO deployment_projection (deployment_id, view, app, env, first_seen_at, "
    "  updated_at) "
    "VALUES ($1, $2::jsonb, $3, $4, to_timestamp($5::double precision / 1000000), "
    "  to_timestamp($5::double precision / 1000000)) "
    "ON CONFLICT (deployment_id) DO UPDATE SET view = EXCLUDED.view, app = EXCLUDED.app, "
    "  env = EXCLUDED.env, updated_at = EXCLUDED.updated_at";

constexpr const char* kExtendActiveUntil =
    "UPDATE deployment_projection SET "
    "  active_until = GREATEST(active_until, to_timestamp($2::double precision / 1000000)), "
    "  updated_at = to_timestamp($3::double precision / 1000000) WHERE deployment_id = $1";

constexpr const char* kDeploymentsFor =
    "SELECT view::text, (extract(epoch FROM first_seen_at) * 1000000)::bigint, "
    "  (extract(epoch FROM active_until) * 1000000)::bigint FROM deployment_projection "
    "WHERE ($3 <> '' AND deployment_id = $3) OR ($3 = '' AND app = $1 AND env = $2) "
    "ORDER BY first_seen_at DESC LIMIT 50";

constexpr const char* kNewerDeploymentPlanned =
    "SELECT EXISTS (SELECT 1 FROM deployment_projection n, deployment_projection d "
    "  WHERE d.deployment_id = $3 AND n.app = $1 AND n.env = $2 "
    "    AND n.deployment_id <> $3 AND n.first_seen_at > d.first_seen_at)";

std::int64_t Micros(core::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

core::SystemTime FromMicros(std::int64_t us) {
  return core::SystemTime(
      std::chrono::duration_cast<core::SystemTime::duration>(std::chrono::microseconds(us)));
}

}  // namespace

std::optional<projection::Deployment> LockDeployment(pqxx::work& tx,
                                                     const std::string& deployment_id) {
  const auto r = tx.exec_params(kLockDeployment, deployment_id);
  if (r.empty()) return std::nullopt;
  return projection::FromJson(json::parse(r[0][0].as<std::string>()));
}

void SaveDeployment(pqxx::work& tx, const projection::Deployment& d, core::SystemTime now) {
  tx.exec_params(kSaveDeployment, d.id, projection::ToJson(d).dump(), d.app, d.env, Micros(now));
}

void ExtendActiveUntil(pqxx::work& tx, const std::string& deployment_id,
                       core::SystemTime active_until, core::SystemTime now) {
  tx.exec_params(kExtendActiveUntil, deployment_id, Micros(active_until), Micros(now));
}

std::vector<WatchedDeployment> DeploymentsFor(pqxx::work& tx, const std::string& app,
                                              const std::string& env,
                                              const std::string& deployment_id) {
  std::vector<WatchedDeployment> out;
  for (const auto& r : tx.exec_params(kDeploymentsFor, app, env, deployment_id)) {
    const auto p = projection::FromJson(json::parse(r[0].as<std::string>()));
    WatchedDeployment d;
    d.deployment_id = p.id;
    d.app = p.app;
    d.env = p.env;
    d.version = p.version;
    d.release_id = p.release_id;
    d.status = std::string(projection::ToString(p.status));
    d.started_at = FromMicros(r[1].as<std::int64_t>());
    if (!r[2].is_null()) d.active_until = FromMicros(r[2].as<std::int64_t>());
    out.push_back(std::move(d));
  }
  return out;
}

bool NewerDeploymentPlanned(pqxx::work& tx, const std::string& app, const std::string& env,
                            const std::string& deployment_id) {
  return tx.exec_params1(kNewerDeploymentPlanned, app, env, deployment_id)[0].as<bool>();
}

}  // namespace sluice::watcher
