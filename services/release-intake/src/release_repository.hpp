#pragma once

// release-intake's SQL. Every statement is a named constant in release_repository.cpp.

#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/time_range.hpp>
#include <string>
#include <vector>

#include "audit.hpp"
#include "release.hpp"

namespace sluice::release_intake {

struct TokenRecord {
  std::string id;
  std::string name;
  Role role = Role::kViewer;
  EnvGrants environments = {};  // its roles per environment (RoleIn)
};

struct AuditEntry {
  std::string actor;
  std::string action;
  std::string target;
  std::string outcome;
  std::string trace_id;
  nlohmann::json detail = nlohmann::json::object();
};

// The app and environment an audit entry is about, when it is about one (stored in their own
// columns so GET /v1/audit filters on them).
struct AuditScope {
  std::optional<std::string> app;
  std::optional<std::string> env;
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
  // Newest first; `after_seq` continues a listing. `tag` (when given) keeps the releases whose
  // tag contains it, `created` those created in [since, until); both hold on every page.
  static std::vector<Release> List(pqxx::work& tx, const std::optional<std::string>& app,
                                   const PageRequest& page,
                                   const std::optional<std::string>& tag = std::nullopt,
                                   const core::TimeRange& created = {});

  // The token with that hash (with its grants), revoked and expired ones included (the caller
  // says why not).
  static std::optional<StoredToken> FindToken(pqxx::work& tx, const std::string& token_hash);
  // Records that the token was used (at most once a minute per token, to spare writes).
  static void TouchToken(pqxx::work& tx, const std::string& id, std::int64_t now_ms);
  // Creates or replaces the token called `name` (used for the bootstrap admin token): not
  // revoked, no expiry.
  static void UpsertToken(pqxx::work& tx, const std::string& name, const std::string& token_hash,
                          Role role, const std::string& created_by, std::int64_t now_ms);
  // The new token's id, or nullopt when the name is taken (revoked tokens keep their names).
  static std::optional<std::string> CreateToken(pqxx::work& tx, const TokenRequest& request,
                                                const std::string& token_hash,
                                                const std::string& created_by, std::int64_t now_ms);
  // Every token, oldest first, without hashes: {id, name, role, created_at_ms, created_by,
  // expires_at_ms, last_used_at_ms, revoked, revoked_at_ms, revoked_by, expired}.
  static std::vector<nlohmann::json> ListTokens(pqxx::work& tx, std::int64_t now_ms);
  enum class RevokeOutcome { kRevoked, kAlreadyRevoked, kNotFound };
  // Revokes the token with that id; its name, for the audit log, through `name`.
  static RevokeOutcome RevokeToken(pqxx::work& tx, const std::string& id,
                                   const std::string& revoked_by, std::int64_t now_ms,
                                   std::string& name);

  static void Audit(pqxx::work& tx, const AuditEntry& entry, std::int64_t now_ms,
                    const AuditScope& scope = {});
  // One page of the audit log, newest first, filtered as the query says: {id, at_ms, actor,
  // action, target, outcome, trace_id, detail, app, env}, and whether an older entry matches too.
  struct AuditPage {
    std::vector<nlohmann::json> items;
    bool more = false;
  };
  static AuditPage ListAudit(pqxx::work& tx, const AuditQuery& query);

  // Records a GitHub delivery id; false when it was seen before (a replay).
  static bool RecordDelivery(pqxx::work& tx, const std::string& delivery_id,
                             const std::string& event, const std::string& outcome,
                             std::int64_t now_ms);
  // Records a GitHub release event (GithubOutcome::event_key) as accepted; false when it was
  // accepted before, under any delivery id. `first_delivery` is then the delivery that was.
  static bool RecordReleaseEvent(pqxx::work& tx, const std::string& event_key,
                                 const std::string& delivery_id, std::int64_t now_ms,
                                 std::string& first_delivery);
};

}  // namespace sluice::release_intake
