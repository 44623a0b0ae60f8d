#pragma once

// The SQL of roles per environment (api_token_grants) and of the promotion gate's admin
// override (deployment_requests.override_*), migration 0009_environment_roles.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "release.hpp"

namespace sluice::release_intake {

// What an admin's override of the gate was: the reason, the refusal it went past (the gate's
// code, empty when the gate would have let the release go) and that refusal's facts.
struct GateOverride {
  std::string reason;
  std::string overridden;
  nlohmann::json detail;
};

class GrantRepository {
 public:
  // The name of the token with that id, locked until `tx` ends; nullopt for an unknown id.
  static std::optional<std::string> LockToken(pqxx::work& tx, const std::string& token_id);
  // The grants of one token.
  static EnvGrants Of(pqxx::work& tx, const std::string& token_id);
  // The grants of every token that has one, by token id.
  static std::map<std::string, EnvGrants> All(pqxx::work& tx);
  // Sets (adds or replaces) the grant of `env`; the role it replaced, if any.
  static std::optional<Role> Set(pqxx::work& tx, const std::string& token_id,
                                 const std::string& env, Role role, const std::string& granted_by,
                                 std::int64_t now_ms);
  // Removes the grant of `env`; the role it was, if there was one.
  static std::optional<Role> Remove(pqxx::work& tx, const std::string& token_id,
                                    const std::string& env);

  // Records the override on the stored deployment request.
  static void RecordOverride(pqxx::work& tx, const std::string& deployment_id,
                             const GateOverride& o);
  // The override of a deployment requested here, if it had one.
  static std::optional<GateOverride> OverrideOf(pqxx::work& tx, const std::string& deployment_id);
};

}  // namespace sluice::release_intake
