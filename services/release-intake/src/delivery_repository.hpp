#pragma once

// release-intake's SQL for delivery specs and deployment requests. Every statement is a named
// constant in delivery_repository.cpp.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace sluice::release_intake {

struct AppSpecVersion {
  std::string app;
  std::int64_t version = 0;
  std::string sha256;
  std::string yaml;  // empty in listings
  std::string applied_by;
  std::int64_t applied_at_ms = 0;
};

struct StoredDeploymentRequest {
  std::string deployment_id;
  std::string release_id;
  std::string app;
  std::string env;
  std::int64_t spec_version = 0;
  std::string requested_by;
  std::int64_t requested_at_ms = 0;
  std::string request_sha256;
};

class DeliveryRepository {
 public:
  // Serialises spec applies of one app until `tx` ends (a transaction-scoped advisory lock).
  static void LockApp(pqxx::work& tx, const std::string& app);
  static std::optional<AppSpecVersion> LatestSpec(pqxx::work& tx, const std::string& app);
  static std::optional<AppSpecVersion> Spec(pqxx::work& tx, const std::string& app,
                                            std::int64_t version);
  // Newest first, without the YAML.
  static std::vector<AppSpecVersion> SpecVersions(pqxx::work& tx, const std::string& app);
  // The latest version of every app, without the YAML, by app name.
  static std::vector<AppSpecVersion> Apps(pqxx::work& tx);
  static void InsertSpec(pqxx::work& tx, const AppSpecVersion& spec);

  // Inserts the request; false when its idempotency key is taken (nothing inserted).
  static bool InsertDeploymentRequest(pqxx::work& tx, const StoredDeploymentRequest& r,
                                      const std::optional<std::string>& idempotency_key);
  static std::optional<StoredDeploymentRequest> FindByIdempotencyKey(pqxx::work& tx,
                                                                     const std::string& key);
  static std::optional<StoredDeploymentRequest> FindDeploymentRequest(
      pqxx::work& tx, const std::string& deployment_id);
};

}  // namespace sluice::release_intake
