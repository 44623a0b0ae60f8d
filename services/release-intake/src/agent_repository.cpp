#include "agent_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kCreateToken = R"sql(
  INSERT INTO agent_enrollment_tokens (id, token_hash, host_name, created_by, created_at,
                                       expires_at)
  VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000),
          to_timestamp($6::double precision / 1000)))sql";
constexpr const char* kLockToken = R"sql(
  SELECT id, host_name, created_by, (extract(epoch from expires_at) * 1000)::bigint,
         (extract(epoch from used_at) * 1000)::bigint, coalesce(used_by, '')
  FROM agent_enrollment_tokens WHERE token_hash = $1 FOR UPDATE)sql";
constexpr const char* kMarkUsed = R"sql(
  UPDATE agent_enrollment_tokens SET used_at = to_timestamp($3::double precision / 1000),
                                     used_by = $2
  WHERE id = $1 AND used_at IS NULL)sql";
// A revoked host's row is taken over by the new enrolment; an enrolled one is left alone.
constexpr const char* kEnroll = R"sql(
  INSERT INTO agents AS a (name, address, labels, credential_hash, enrollment_id, enrolled_at)
  VALUES ($1, $2, $3::jsonb, $4, $5, to_timestamp($6::double precision / 1000))
  ON CONFLICT (name) DO UPDATE SET
    address = excluded.address, labels = excluded.labels,
    credential_hash = excluded.credential_hash, enrollment_id = excluded.enrollment_id,
    enrolled_at = excluded.enrolled_at, last_seen_at = NULL, revoked_at = NULL, revoked_by = NULL
  WHERE a.revoked_at IS NOT NULL
  RETURNING name)sql";
constexpr const char* kColumns = R"sql(
  name, address, labels::text, enrollment_id, (extract(epoch from enrolled_at) * 1000)::bigint,
  (extract(epoch from last_seen_at) * 1000)::bigint,
  (extract(epoch from revoked_at) * 1000)::bigint, coalesce(revoked_by, ''))sql";
constexpr const char* kTouch = R"sql(
  UPDATE agents SET last_seen_at = to_timestamp($2::double precision / 1000) WHERE name = $1)sql";
constexpr const char* kRevoke = R"sql(
  UPDATE agents SET revoked_at = to_timestamp($3::double precision / 1000), revoked_by = $2
  WHERE name = $1 AND revoked_at IS NULL)sql";

template <typename T>
std::optional<T> Opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

StoredAgent FromRow(const pqxx::row& r) {
  StoredAgent a;
  a.name = r[0].as<std::string>();
  a.address = r[1].as<std::string>();
  a.labels = nlohmann::json::parse(r[2].as<std::string>());
  a.enrollment_id = r[3].as<std::string>();
  a.enrolled_at_ms = r[4].as<std::int64_t>();
  a.last_seen_at_ms = Opt<std::int64_t>(r[5]);
  a.revoked_at_ms = Opt<std::int64_t>(r[6]);
  a.revoked_by = r[7].as<std::string>();
  return a;
}

nlohmann::json OrNull(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json ToJson(const StoredAgent& a) {
  return {{"name", a.name},
          {"address", a.address},
          {"labels", a.labels},
          {"enrolled_at_ms", a.enrolled_at_ms},
          {"enrollment_id", a.enrollment_id},
          {"last_seen_at_ms", OrNull(a.last_seen_at_ms)},
          {"revoked", a.revoked_at_ms.has_value()},
          {"revoked_at_ms", OrNull(a.revoked_at_ms)},
          {"revoked_by", a.revoked_at_ms ? nlohmann::json(a.revoked_by) : nlohmann::json(nullptr)}};
}

void AgentRepository::CreateEnrollmentToken(pqxx::work& tx, const std::string& id,
                                            const std::string& token_hash,
                                            const EnrollmentTokenRequest& request,
                                            const std::string& created_by, std::int64_t now_ms) {
  tx.exec_params(kCreateToken, id, token_hash, request.host_name, created_by, now_ms,
                 request.expires_at_ms);
}

std::optional<StoredEnrollmentToken> AgentRepository::LockEnrollmentToken(
    pqxx::work& tx, const std::string& token_hash) {
  const auto rows = tx.exec_params(kLockToken, token_hash);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  return StoredEnrollmentToken{r[0].as<std::string>(),  Opt<std::string>(r[1]),
                               r[2].as<std::string>(),  r[3].as<std::int64_t>(),
                               Opt<std::int64_t>(r[4]), r[5].as<std::string>()};
}

void AgentRepository::MarkEnrollmentTokenUsed(pqxx::work& tx, const std::string& id,
                                              const std::string& host, std::int64_t now_ms) {
  tx.exec_params(kMarkUsed, id, host, now_ms);
}

bool AgentRepository::Enroll(pqxx::work& tx, const EnrollRequest& request,
                             const std::string& credential_hash, const std::string& enrollment_id,
                             std::int64_t now_ms) {
  const nlohmann::json labels(request.labels);
  return !tx.exec_params(kEnroll, request.name, request.address, labels.dump(), credential_hash,
                         enrollment_id, now_ms)
              .empty();
}

std::optional<StoredAgent> AgentRepository::FindByCredential(pqxx::work& tx,
                                                             const std::string& credential_hash) {
  const auto rows =
      tx.exec_params(std::string("SELECT ") + kColumns + " FROM agents WHERE credential_hash = $1",
                     credential_hash);
  if (rows.empty()) return std::nullopt;
  return FromRow(rows[0]);
}

void AgentRepository::Touch(pqxx::work& tx, const std::string& name, std::int64_t now_ms) {
  tx.exec_params(kTouch, name, now_ms);
}

std::vector<StoredAgent> AgentRepository::List(pqxx::work& tx) {
  std::vector<StoredAgent> out;
  for (const auto& r : tx.exec(std::string("SELECT ") + kColumns + " FROM agents ORDER BY name")) {
    out.push_back(FromRow(r));
  }
  return out;
}

std::vector<EnrolledAgent> AgentRepository::Enrolled(pqxx::work& tx) {
  std::vector<EnrolledAgent> out;
  for (const auto& r : tx.exec(std::string("SELECT ") + kColumns +
                               " FROM agents WHERE revoked_at IS NULL ORDER BY name")) {
    const auto stored = FromRow(r);
    EnrolledAgent a{stored.name, stored.address, {}, stored.revoked_at_ms.has_value()};
    for (const auto& [k, v] : stored.labels.items()) {
      if (v.is_string()) a.labels.emplace(k, v.get<std::string>());
    }
    out.push_back(std::move(a));
  }
  return out;
}

AgentRepository::RevokeOutcome AgentRepository::Revoke(pqxx::work& tx, const std::string& name,
                                                       const std::string& by, std::int64_t now_ms) {
  if (tx.exec_params(kRevoke, name, by, now_ms).affected_rows() == 1)
    return RevokeOutcome::kRevoked;
  const auto rows = tx.exec_params("SELECT 1 FROM agents WHERE name = $1", name);
  return rows.empty() ? RevokeOutcome::kNotFound : RevokeOutcome::kAlreadyRevoked;
}

}  // namespace sluice::release_intake
