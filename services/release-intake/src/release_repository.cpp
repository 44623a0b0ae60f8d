#include "release_repository.hpp"

#include <sluice/core/ids.hpp>
#include <sluice/pg/sql_time.hpp>

#include "grant_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kInsertRelease = R"sql(
  INSERT INTO releases (id, app, tag, version, artifact_url, sha256, artifact_kind, commit_sha,
                        repo, created_by, created_at, source, image, image_digest)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11::double precision / 1000), $12,
          $13, $14)
  ON CONFLICT (app, version) DO NOTHING
  RETURNING seq)sql";

constexpr const char* kReleaseColumns = R"sql(
  id, app, tag, version, artifact_url, sha256, artifact_kind, commit_sha, repo, created_by,
  (extract(epoch from created_at) * 1000)::bigint, source, seq, image, image_digest)sql";

constexpr const char* kSelectByAppVersion =
    "SELECT {} FROM releases WHERE app = $1 AND version = $2";
constexpr const char* kSelectById = "SELECT {} FROM releases WHERE id = $1";
// tag ($4) is a substring found with strpos, not a LIKE pattern: '%' and '_' in it are literal.
// since ($5) and until ($6) are microseconds since the epoch.
constexpr const char* kList = R"sql(
  SELECT {} FROM releases
  WHERE ($1::text IS NULL OR app = $1) AND ($2::bigint IS NULL OR seq < $2)
    AND ($4::text IS NULL OR strpos(tag, $4::text) > 0)
    AND )sql" SLUICE_PG_IN_US_RANGE("created_at", 5, 6) R"sql(
  ORDER BY seq DESC LIMIT $3)sql";

constexpr const char* kFindToken = R"sql(
  SELECT id, name, role, revoked_at IS NOT NULL,
         (extract(epoch from expires_at) * 1000)::bigint
  FROM api_tokens WHERE token_hash = $1)sql";
constexpr const char* kTouchToken = R"sql(
  UPDATE api_tokens SET last_used_at = to_timestamp($2::double precision / 1000)
  WHERE id = $1 AND (last_used_at IS NULL OR
                     last_used_at < to_timestamp($2::double precision / 1000) - interval '1 minute'))sql";
constexpr const char* kUpsertToken = R"sql(
  INSERT INTO api_tokens (id, name, token_hash, role, created_at, created_by)
  VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), $6)
  ON CONFLICT (name) DO UPDATE SET token_hash = EXCLUDED.token_hash, role = EXCLUDED.role,
                                   revoked_at = NULL, revoked_by = NULL, expires_at = NULL)sql";
constexpr const char* kCreateToken = R"sql(
  INSERT INTO api_tokens (id, name, token_hash, role, created_at, created_by, expires_at)
  VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000), $6,
          to_timestamp($7::double precision / 1000))
  ON CONFLICT (name) DO NOTHING)sql";
constexpr const char* kListTokens = R"sql(
  SELECT id, name, role, (extract(epoch from created_at) * 1000)::bigint, created_by,
         (extract(epoch from expires_at) * 1000)::bigint,
         (extract(epoch from last_used_at) * 1000)::bigint,
         (extract(epoch from revoked_at) * 1000)::bigint, revoked_by
  FROM api_tokens ORDER BY created_at, name)sql";
constexpr const char* kLockToken =
    "SELECT name, revoked_at IS NOT NULL FROM api_tokens WHERE id = $1 FOR UPDATE";
constexpr const char* kRevokeToken = R"sql(
  UPDATE api_tokens SET revoked_at = to_timestamp($2::double precision / 1000), revoked_by = $3
  WHERE id = $1)sql";
constexpr const char* kRecordReleaseEvent = R"sql(
  INSERT INTO github_release_events (event_key, delivery_id, accepted_at)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000))
  ON CONFLICT (event_key) DO NOTHING)sql";
constexpr const char* kFirstReleaseEvent =
    "SELECT delivery_id FROM github_release_events WHERE event_key = $1";
constexpr const char* kInsertAudit = R"sql(
  INSERT INTO audit_log (at, actor, action, target, outcome, trace_id, detail, app, env)
  VALUES (to_timestamp($1::double precision / 1000), $2, $3, $4, $5, $6, $7::jsonb, $8, $9))sql";
// Newest first by id (the keyset: $1 is the last id of the previous page); each filter applies
// when its parameter is not NULL; since ($6) and until ($7) are microseconds since the epoch.
constexpr const char* kListAudit = R"sql(
  SELECT id, (extract(epoch from at) * 1000)::bigint, actor, action, target, outcome, trace_id,
         detail::text, app, env
  FROM audit_log
  WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR actor = $2)
    AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR app = $4)
    AND ($5::text IS NULL OR env = $5)
    AND )sql" SLUICE_PG_IN_US_RANGE("at", 6, 7) R"sql(
  ORDER BY id DESC LIMIT $8)sql";
constexpr const char* kRecordDelivery = R"sql(
  INSERT INTO webhook_deliveries (delivery_id, event, received_at, outcome)
  VALUES ($1, $2, to_timestamp($3::double precision / 1000), $4)
  ON CONFLICT (delivery_id) DO NOTHING)sql";

std::string WithColumns(const char* statement) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, kReleaseColumns);
  return s;
}

// libpqxx 6.4 passes a null for an empty std::optional only through a plain pointer, so the
// optional text columns go through this.
const char* NullableText(const std::optional<std::string>& v) { return v ? v->c_str() : nullptr; }

Release FromRow(const pqxx::row& row) {
  Release r;
  r.id = row[0].as<std::string>();
  r.input.app = row[1].as<std::string>();
  r.input.tag = row[2].as<std::string>();
  r.input.version = row[3].as<std::string>();
  r.input.artifact_url = row[4].as<std::string>();
  r.input.sha256 = row[5].as<std::string>();
  r.input.artifact_kind =
      ParseArtifactKind(row[6].as<std::string>()).value_or(ArtifactKind::kTarball);
  if (!row[7].is_null()) r.input.commit = row[7].as<std::string>();
  if (!row[8].is_null()) r.input.repo = row[8].as<std::string>();
  r.input.created_by = row[9].as<std::string>();
  r.created_at_ms = row[10].as<std::int64_t>();
  r.source = row[11].as<std::string>();
  r.seq = row[12].as<std::int64_t>();
  if (!row[13].is_null()) r.input.image = row[13].as<std::string>();
  if (!row[14].is_null()) r.input.image_digest = row[14].as<std::string>();
  return r;
}

}  // namespace

InsertResult ReleaseRepository::Insert(pqxx::work& tx, const ReleaseInput& input,
                                       const std::string& id, std::int64_t now_ms,
                                       const std::string& source) {
  const std::string kind(ToString(input.artifact_kind));
  auto inserted = tx.exec_params(kInsertRelease, id, input.app, input.tag, input.version,
                                 input.artifact_url, input.sha256, kind, NullableText(input.commit),
                                 NullableText(input.repo), input.created_by, now_ms, source,
                                 NullableText(input.image), NullableText(input.image_digest));
  if (!inserted.empty()) {
    Release r{id, input, now_ms, source, inserted[0][0].as<std::int64_t>()};
    return {InsertOutcome::kCreated, std::move(r)};
  }
  auto existing = tx.exec_params(WithColumns(kSelectByAppVersion), input.app, input.version);
  if (existing.empty()) {
    // Cannot happen inside one transaction: the conflicting row is visible or we inserted.
    throw std::runtime_error("release " + input.app + "@" + input.version +
                             " neither inserted nor found");
  }
  Release stored = FromRow(existing[0]);
  return {SameArtifact(stored.input, input) ? InsertOutcome::kExisting : InsertOutcome::kConflict,
          std::move(stored)};
}

std::optional<Release> ReleaseRepository::Get(pqxx::work& tx, const std::string& id) {
  auto rows = tx.exec_params(WithColumns(kSelectById), id);
  if (rows.empty()) return std::nullopt;
  return FromRow(rows[0]);
}

std::vector<Release> ReleaseRepository::List(pqxx::work& tx, const std::optional<std::string>& app,
                                             const PageRequest& page,
                                             const std::optional<std::string>& tag,
                                             const core::TimeRange& created) {
  const auto text = [](const std::optional<std::int64_t>& v) {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
  };
  const auto after = text(page.after_seq);
  const auto since = text(created.since_us);
  const auto until = text(created.until_us);
  auto rows = tx.exec_params(WithColumns(kList), NullableText(app), NullableText(after), page.limit,
                             NullableText(tag), NullableText(since), NullableText(until));
  std::vector<Release> out;
  out.reserve(rows.size());
  for (const auto& row : rows) out.push_back(FromRow(row));
  return out;
}

std::optional<StoredToken> ReleaseRepository::FindToken(pqxx::work& tx,
                                                        const std::string& token_hash) {
  auto rows = tx.exec_params(kFindToken, token_hash);
  if (rows.empty()) return std::nullopt;
  auto role = ParseRole(rows[0][2].as<std::string>());
  if (!role) return std::nullopt;
  StoredToken t{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(), *role,
                rows[0][3].as<bool>(), std::nullopt};
  if (!rows[0][4].is_null()) t.expires_at_ms = rows[0][4].as<std::int64_t>();
  t.environments = GrantRepository::Of(tx, t.id);
  return t;
}

void ReleaseRepository::TouchToken(pqxx::work& tx, const std::string& id, std::int64_t now_ms) {
  tx.exec_params(kTouchToken, id, now_ms);
}

void ReleaseRepository::UpsertToken(pqxx::work& tx, const std::string& name,
                                    const std::string& token_hash, Role role,
                                    const std::string& created_by, std::int64_t now_ms) {
  tx.exec_params(kUpsertToken, core::NewUuid(), name, token_hash, std::string(ToString(role)),
                 now_ms, created_by);
}

std::optional<std::string> ReleaseRepository::CreateToken(pqxx::work& tx,
                                                          const TokenRequest& request,
                                                          const std::string& token_hash,
                                                          const std::string& created_by,
                                                          std::int64_t now_ms) {
  const std::string id = core::NewUuid();
  const std::optional<std::string> expires =
      request.expires_at_ms ? std::optional<std::string>(std::to_string(*request.expires_at_ms))
                            : std::nullopt;
  auto r = tx.exec_params(kCreateToken, id, request.name, token_hash,
                          std::string(ToString(request.role)), now_ms, created_by,
                          NullableText(expires));
  if (r.affected_rows() != 1) return std::nullopt;
  return id;
}

std::vector<nlohmann::json> ReleaseRepository::ListTokens(pqxx::work& tx, std::int64_t now_ms) {
  const auto opt_ms = [](const pqxx::field& f) {
    return f.is_null() ? nlohmann::json(nullptr) : nlohmann::json(f.as<std::int64_t>());
  };
  std::vector<nlohmann::json> out;
  for (const auto& row : tx.exec(kListTokens)) {
    const bool expired = !row[5].is_null() && row[5].as<std::int64_t>() <= now_ms;
    out.push_back({{"id", row[0].as<std::string>()},
                   {"name", row[1].as<std::string>()},
                   {"role", row[2].as<std::string>()},
                   {"created_at_ms", row[3].as<std::int64_t>()},
                   {"created_by", row[4].as<std::string>()},
                   {"expires_at_ms", opt_ms(row[5])},
                   {"last_used_at_ms", opt_ms(row[6])},
                   {"revoked", !row[7].is_null()},
                   {"revoked_at_ms", opt_ms(row[7])},
                   {"revoked_by", row[8].is_null() ? nlohmann::json(nullptr)
                                                   : nlohmann::json(row[8].as<std::string>())},
                   {"expired", expired}});
  }
  return out;
}

ReleaseRepository::RevokeOutcome ReleaseRepository::RevokeToken(pqxx::work& tx,
                                                                const std::string& id,
                                                                const std::string& revoked_by,
                                                                std::int64_t now_ms,
                                                                std::string& name) {
  auto rows = tx.exec_params(kLockToken, id);
  if (rows.empty()) return RevokeOutcome::kNotFound;
  name = rows[0][0].as<std::string>();
  if (rows[0][1].as<bool>()) return RevokeOutcome::kAlreadyRevoked;
  tx.exec_params(kRevokeToken, id, now_ms, revoked_by);
  return RevokeOutcome::kRevoked;
}

void ReleaseRepository::Audit(pqxx::work& tx, const AuditEntry& e, std::int64_t now_ms,
                              const AuditScope& scope) {
  tx.exec_params(kInsertAudit, now_ms, e.actor, e.action, e.target, e.outcome, e.trace_id,
                 e.detail.dump(), NullableText(scope.app), NullableText(scope.env));
}

ReleaseRepository::AuditPage ReleaseRepository::ListAudit(pqxx::work& tx, const AuditQuery& q) {
  auto text = [](const std::optional<std::int64_t>& v) {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
  };
  const auto after = text(q.page.after_seq);
  const auto since = text(q.at.since_us);
  const auto until = text(q.at.until_us);
  auto nullable = [](const pqxx::field& f) {
    return f.is_null() ? nlohmann::json() : nlohmann::json(f.as<std::string>());
  };
  // One row past the page says whether there is a next one (and is not returned).
  auto rows = tx.exec_params(kListAudit, NullableText(after), NullableText(q.actor),
                             NullableText(q.action), NullableText(q.app), NullableText(q.env),
                             NullableText(since), NullableText(until), q.page.limit + 1);
  AuditPage out;
  out.more = static_cast<int>(rows.size()) > q.page.limit;
  for (const auto& row : rows) {
    if (static_cast<int>(out.items.size()) == q.page.limit) break;
    out.items.push_back({{"id", row[0].as<std::int64_t>()},
                         {"at_ms", row[1].as<std::int64_t>()},
                         {"actor", row[2].as<std::string>()},
                         {"action", row[3].as<std::string>()},
                         {"target", row[4].as<std::string>()},
                         {"outcome", row[5].as<std::string>()},
                         {"trace_id", row[6].as<std::string>()},
                         {"detail", nlohmann::json::parse(row[7].as<std::string>())},
                         {"app", nullable(row[8])},
                         {"env", nullable(row[9])}});
  }
  return out;
}

bool ReleaseRepository::RecordDelivery(pqxx::work& tx, const std::string& delivery_id,
                                       const std::string& event, const std::string& outcome,
                                       std::int64_t now_ms) {
  return tx.exec_params(kRecordDelivery, delivery_id, event, now_ms, outcome).affected_rows() == 1;
}

bool ReleaseRepository::RecordReleaseEvent(pqxx::work& tx, const std::string& event_key,
                                           const std::string& delivery_id, std::int64_t now_ms,
                                           std::string& first_delivery) {
  if (tx.exec_params(kRecordReleaseEvent, event_key, delivery_id, now_ms).affected_rows() == 1) {
    return true;
  }
  auto rows = tx.exec_params(kFirstReleaseEvent, event_key);
  first_delivery = rows.empty() ? "" : rows[0][0].as<std::string>();
  return false;
}

}  // namespace sluice::release_intake
