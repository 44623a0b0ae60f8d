#pragma once

// release-intake's SQL. Every statement is a named constant in release_repository.cpp.

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "release.hpp"

namespace sluice::release_intake {

struct TokenRecord {
  std::string id;
  std::string name;
  Role role = Role::kViewer;
};

struct AuditEntry {
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;
  std::string trace_id;
  nlohmann::json detail = nlohmann::json::object();
};

enum class InsertOutcome { kCreated, kExisting, kConflict };
struct InsertResult {
  InsertOutcome outcome = InsertOutcome::kCreated;
  Release release;  // the new one, or the one already stored
};

class ReleaseRepository {
 public:
  // Inserts a release unless (app, version) exists; then returns the stored one and whether it
  // is the same artifact (kExisting) or a different one (kConflict).
  static InsertResult Insert(pqxx::work& tx, const ReleaseInput& input, const std::string& id,
                             std::int64_t now_ms, const std::string& source);
  static std::optional<Release> Get(pqxx::work& tx, const std::string& id);
  // Newest first; `after_seq` continues a listing.
  static std::vector<Release> List(pqxx::work& tx, const std::optional<std::string>& app,
                                   const PageRequest& page);

  static std::optional<TokenRecord> FindToken(pqxx::work& tx, const std::string& token_hash);
  // Creates or replaces the token called `name` (used for the bootstrap admin token).
  static void UpsertToken(pqxx::work& tx, const std::string& name, const std::string& token_hash,
                          Role role, const std::string& created_by, std::int64_t now_ms);
  static bool CreateToken(pqxx::work& tx, const std::string& name, const std::string& token_hash,
                          Role role, const std::string& created_by, std::int64_t now_ms);

  static void Audit(pqxx::work& tx, const AuditEntry& entry, std::int64_t now_ms);
  static std::vector<nlohmann::json> ListAudit(pqxx::work& tx, int limit);

  // Records a GitHub delivery id; false when it was seen before (a replay).
  static bool RecordDelivery(pqxx::work& tx, const std::string& delivery_id,
                             const std::string& event, const std::string& outcome,
                             std::int64_t now_ms);
};

}  // namespace sluice::release_intake
