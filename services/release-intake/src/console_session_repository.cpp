#include "console_session_repository.hpp"

namespace sluice::release_intake {
namespace {

constexpr const char* kCreate = R"sql(
  INSERT INTO console_sessions (id_hash, token_id, csrf_token, created_at, last_seen_at, expires_at)
  VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000),
          to_timestamp($4::double precision / 1000), to_timestamp($5::double precision / 1000)))sql";
constexpr const char* kPrune = R"sql(
  DELETE FROM console_sessions
  WHERE expires_at <= to_timestamp($1::double precision / 1000)
     OR last_seen_at <= to_timestamp(($1 - $2)::double precision / 1000))sql";
constexpr const char* kFind = R"sql(
  SELECT s.token_id, s.csrf_token,
         (extract(epoch from s.last_seen_at) * 1000)::bigint,
         (extract(epoch from s.expires_at) * 1000)::bigint,
         t.name, t.role, t.revoked_at IS NOT NULL,
         (extract(epoch from t.expires_at) * 1000)::bigint
  FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id
  WHERE s.id_hash = $1)sql";
constexpr const char* kTouch = R"sql(
  UPDATE console_sessions SET last_seen_at = to_timestamp($2::double precision / 1000)
  WHERE id_hash = $1 AND last_seen_at < to_timestamp($2::double precision / 1000) - interval '15 seconds')sql";
constexpr const char* kDelete = "DELETE FROM console_sessions WHERE id_hash = $1";

}  // namespace

void SessionRepository::Create(pqxx::work& tx, const std::string& id_hash,
                               const std::string& token_id, const std::string& csrf_token,
                               std::int64_t now_ms, std::int64_t expires_at_ms,
                               std::int64_t idle_ms) {
  tx.exec_params(kPrune, now_ms, idle_ms);
  tx.exec_params(kCreate, id_hash, token_id, csrf_token, now_ms, expires_at_ms);
}

std::optional<SessionWithToken> SessionRepository::Find(pqxx::work& tx,
                                                        const std::string& id_hash) {
  auto rows = tx.exec_params(kFind, id_hash);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  auto role = ParseRole(r[5].as<std::string>());
  if (!role) return std::nullopt;
  SessionWithToken out;
  out.session = {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::int64_t>(),
                 r[3].as<std::int64_t>()};
  out.token = {r[0].as<std::string>(), r[4].as<std::string>(), *role, r[6].as<bool>(),
               std::nullopt};
  if (!r[7].is_null()) out.token.expires_at_ms = r[7].as<std::int64_t>();
  return out;
}

void SessionRepository::Touch(pqxx::work& tx, const std::string& id_hash, std::int64_t now_ms) {
  tx.exec_params(kTouch, id_hash, now_ms);
}

bool SessionRepository::Delete(pqxx::work& tx, const std::string& id_hash) {
  return tx.exec_params(kDelete, id_hash).affected_rows() > 0;
}

}  // namespace sluice::release_intake
