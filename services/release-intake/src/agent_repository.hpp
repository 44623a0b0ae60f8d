#pragma once

// release-intake's SQL for enrolled host agents (migrations/0010_agent_enrollment.sql).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "agent_enrollment.hpp"
#include "inventory.hpp"

namespace sluice::release_intake {

struct StoredAgent {
  std::string name;
  std::string address;
  nlohmann::json labels = nlohmann::json::object();
  std::string enrollment_id;
  std::int64_t enrolled_at_ms = 0;
  std::optional<std::int64_t> last_seen_at_ms;
  std::optional<std::int64_t> revoked_at_ms;
  std::string revoked_by;
};
nlohmann::json ToJson(const StoredAgent& a);

class AgentRepository {
 public:
  static void CreateEnrollmentToken(pqxx::work& tx, const std::string& id,
                                    const std::string& token_hash,
                                    const EnrollmentTokenRequest& request,
                                    const std::string& created_by, std::int64_t now_ms);
  // The token with that hash, locked until the transaction ends (used and expired ones too).
  static std::optional<StoredEnrollmentToken> LockEnrollmentToken(pqxx::work& tx,
                                                                  const std::string& token_hash);
  static void MarkEnrollmentTokenUsed(pqxx::work& tx, const std::string& id,
                                      const std::string& host, std::int64_t now_ms);
  // Inserts the host, or enrols a revoked one again; false when an enrolled (not revoked) host
  // has that name.
  static bool Enroll(pqxx::work& tx, const EnrollRequest& request,
                     const std::string& credential_hash, const std::string& enrollment_id,
                     std::int64_t now_ms);
  static std::optional<StoredAgent> FindByCredential(pqxx::work& tx,
                                                     const std::string& credential_hash);
  static void Touch(pqxx::work& tx, const std::string& name, std::int64_t now_ms);
  // Every host, by name.
  static std::vector<StoredAgent> List(pqxx::work& tx);
  // The hosts not revoked, by name, as selector host groups match them (inventory.hpp).
  static std::vector<EnrolledAgent> Enrolled(pqxx::work& tx);
  enum class RevokeOutcome { kRevoked, kAlreadyRevoked, kNotFound };
  static RevokeOutcome Revoke(pqxx::work& tx, const std::string& name, const std::string& by,
                              std::int64_t now_ms);
};

}  // namespace sluice::release_intake
