#pragma once

// release-intake's SQL for environments and promotion (migrations/0008_environments.sql):
// the deployments it learns of from events, and the freeze switch of each environment.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "promotion.hpp"

namespace sluice::release_intake {

// What an event says about one deployment; unset fields leave the row as it is.
struct EnvDeploymentUpdate {
  std::string deployment_id;
  std::string app;         // "" when the event does not carry it
  std::string env;         // ""
  std::string release_id;  // ""
  std::optional<bool> succeeded;
  std::optional<bool> failed;
  std::optional<bool> bake_expected;
  std::optional<bool> bake_passed;
};

class EnvironmentRepository {
 public:
  // Creates the row (when app, env and release id are known) or updates it; the row after the
  // change, nullopt when there is none (an event about a deployment not seen planned).
  static std::optional<EnvDeployment> Apply(pqxx::work& tx, const EnvDeploymentUpdate& u,
                                            std::int64_t now_ms);
  static std::optional<EnvDeployment> Find(pqxx::work& tx, const std::string& deployment_id);
  // The release's deployments in one environment, newest first.
  static std::vector<EnvDeployment> ReleaseIn(pqxx::work& tx, const std::string& app,
                                              const std::string& env,
                                              const std::string& release_id);
  // Marks the deployment's promotions done; false when they were done already.
  static bool MarkPromoted(pqxx::work& tx, const std::string& deployment_id);

  static std::optional<EnvFreeze> Freeze(pqxx::work& tx, const std::string& app,
                                         const std::string& env);
  // Every frozen environment (of one app when `app` is not empty), by app and env.
  static std::vector<EnvFreeze> Freezes(pqxx::work& tx, const std::string& app);
  // Freezes (or updates the reason of a frozen) environment.
  static void SetFreeze(pqxx::work& tx, const EnvFreeze& f);
  // false when the environment was not frozen.
  static bool ClearFreeze(pqxx::work& tx, const std::string& app, const std::string& env);
};

}  // namespace sluice::release_intake
