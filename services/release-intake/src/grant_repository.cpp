#include "grant_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kLockToken = "SELECT name FROM api_tokens WHERE id = $1 FOR UPDATE";
constexpr const char* kGrantsOf =
    "SELECT env, role FROM api_token_grants WHERE token_id = $1 ORDER BY env";
constexpr const char* kAllGrants =
    "SELECT token_id, env, role FROM api_token_grants ORDER BY token_id, env";
constexpr const char* kGrantOf =
    "SELECT role FROM api_token_grants WHERE token_id = $1 AND env = $2 FOR UPDATE";
constexpr const char* kSetGrant = R"sql(
  INSERT INTO api_token_grants (token_id, env, role, granted_by, granted_at)
  VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000))
  ON CONFLICT (token_id, env) DO UPDATE SET role = EXCLUDED.role,
                                            granted_by = EXCLUDED.granted_by,
                                            granted_at = EXCLUDED.granted_at)sql";
constexpr const char* kRemoveGrant =
    "DELETE FROM api_token_grants WHERE token_id = $1 AND env = $2 RETURNING role";
constexpr const char* kRecordOverride = R"sql(
  UPDATE deployment_requests SET override_reason = $2, overridden = NULLIF($3, ''),
                                 override_detail = $4::jsonb
  WHERE deployment_id = $1)sql";
constexpr const char* kOverrideOf = R"sql(
  SELECT override_reason, coalesce(overridden, ''), coalesce(override_detail::text, 'null')
  FROM deployment_requests WHERE deployment_id = $1 AND override_reason IS NOT NULL)sql";

std::optional<Role> RoleOf(const pqxx::field& f) { return ParseRole(f.as<std::string>()); }

}  // namespace

std::optional<std::string> GrantRepository::LockToken(pqxx::work& tx, const std::string& token_id) {
  const auto rows = tx.exec_params(kLockToken, token_id);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

EnvGrants GrantRepository::Of(pqxx::work& tx, const std::string& token_id) {
  EnvGrants out;
  for (const auto& row : tx.exec_params(kGrantsOf, token_id)) {
    if (const auto role = RoleOf(row[1])) out.emplace(row[0].as<std::string>(), *role);
  }
  return out;
}

std::map<std::string, EnvGrants> GrantRepository::All(pqxx::work& tx) {
  std::map<std::string, EnvGrants> out;
  for (const auto& row : tx.exec(kAllGrants)) {
    if (const auto role = RoleOf(row[2])) {
      out[row[0].as<std::string>()].emplace(row[1].as<std::string>(), *role);
    }
  }
  return out;
}

std::optional<Role> GrantRepository::Set(pqxx::work& tx, const std::string& token_id,
                                         const std::string& env, Role role,
                                         const std::string& granted_by, std::int64_t now_ms) {
  const auto before = tx.exec_params(kGrantOf, token_id, env);
  tx.exec_params(kSetGrant, token_id, env, std::string(ToString(role)), granted_by, now_ms);
  return before.empty() ? std::nullopt : RoleOf(before[0][0]);
}

std::optional<Role> GrantRepository::Remove(pqxx::work& tx, const std::string& token_id,
                                            const std::string& env) {
  const auto rows = tx.exec_params(kRemoveGrant, token_id, env);
  return rows.empty() ? std::nullopt : RoleOf(rows[0][0]);
}

void GrantRepository::RecordOverride(pqxx::work& tx, const std::string& deployment_id,
                                     const GateOverride& o) {
  tx.exec_params(kRecordOverride, deployment_id, o.reason, o.overridden, o.detail.dump());
}

std::optional<GateOverride> GrantRepository::OverrideOf(pqxx::work& tx,
                                                        const std::string& deployment_id) {
  const auto rows = tx.exec_params(kOverrideOf, deployment_id);
  if (rows.empty()) return std::nullopt;
  return GateOverride{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                      nlohmann::json::parse(rows[0][2].as<std::string>())};
}

}  // namespace sluice::release_intake
