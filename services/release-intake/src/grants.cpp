// Roles per environment (release.hpp: EnvGrants, RoleIn, CheckRoleIn). Pure.
#include <algorithm>

#include "release.hpp"

namespace sluice::release_intake {

using nlohmann::json;

Role RoleIn(Role global, const EnvGrants& grants, std::string_view env) {
  const auto it = grants.find(env);
  return it == grants.end() ? global : it->second;
}

Role HighestRole(Role global, const EnvGrants& grants) {
  Role out = global;
  for (const auto& [env, role] : grants) {
    if (Allows(role, out)) out = role;
  }
  return out;
}

std::variant<EnvGrants, FieldError> ParseGrants(const json& value, const std::string& field) {
  if (!value.is_object()) {
    return FieldError{field, field + " must be an object of environment names to roles, e.g. " +
                                 "{\"staging\": \"deployer\"}"};
  }
  if (value.size() > kMaxGrantsPerToken) {
    return FieldError{
        field, field + " names at most " + std::to_string(kMaxGrantsPerToken) + " environments"};
  }
  EnvGrants out;
  for (const auto& [env, role] : value.items()) {
    if (!IsValidAppName(env)) {
      return FieldError{field, "'" + env.substr(0, 64) +
                                   "' is not an environment name (a-z, 0-9 and '-', starting "
                                   "with a letter, at most 63 characters)"};
    }
    const auto parsed = role.is_string() ? ParseRole(role.get<std::string>()) : std::nullopt;
    if (!parsed) {
      return FieldError{field + "." + env,
                        field + "." + env + " must be viewer, deployer, approver or admin"};
    }
    out.emplace(env, *parsed);
  }
  return out;
}

std::variant<Role, FieldError> ParseGrantBody(const json& body) {
  if (!body.is_object())
    return FieldError{"body", "body must be a JSON object {\"role\": \"...\"}"};
  for (const auto& [key, value] : body.items()) {
    if (key != "role") return FieldError{key, "unknown field '" + key + "'; known fields: role"};
  }
  const auto it = body.find("role");
  const auto parsed =
      it != body.end() && it->is_string() ? ParseRole(it->get<std::string>()) : std::nullopt;
  if (!parsed) return FieldError{"role", "role must be viewer, deployer, approver or admin"};
  return *parsed;
}

json GrantsJson(const EnvGrants& grants) {
  json out = json::object();
  for (const auto& [env, role] : grants) out[env] = ToString(role);
  return out;
}

std::optional<EnvRoleRefusal> CheckRoleIn(const std::string& token_name, Role global,
                                          const EnvGrants& grants, std::string_view env,
                                          Role needed, std::string_view what) {
  const Role held = RoleIn(global, grants, env);
  if (Allows(held, needed)) return std::nullopt;
  const bool granted = grants.contains(env);
  const std::string e(env);
  std::string message =
      "token '" + token_name + "' is " + std::string(ToString(held)) + " in environment '" + e +
      "' (" + (granted ? "granted there" : "its role everywhere without a grant") + "); to " +
      std::string(what) + " there it needs " + std::string(ToString(needed)) +
      " or higher: an admin grants it with 'sluice token grant " + token_name + " --env " + e +
      "=" + std::string(ToString(needed)) + "'";
  return EnvRoleRefusal{std::move(message),
                        {{"env", e},
                         {"role", ToString(held)},
                         {"needed", ToString(needed)},
                         {"token", token_name},
                         {"granted", granted}}};
}

}  // namespace sluice::release_intake
