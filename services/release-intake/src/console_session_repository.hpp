#pragma once

// console_sessions (migrations/0006_console_sessions.sql): the sessions POST /v1/sessions
// starts, keyed by the SHA-256 of the cookie value, each with the API token it was made from.

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "console_session.hpp"
#include "release.hpp"

namespace sluice::release_intake {

struct SessionWithToken {
  StoredSession session;
  StoredToken token;
};

class SessionRepository {
 public:
  // Stores a new session and removes the ones past their lifetime or idle for `idle_ms`.
  static void Create(pqxx::work& tx, const std::string& id_hash, const std::string& token_id,
                     const std::string& csrf_token, std::int64_t now_ms, std::int64_t expires_at_ms,
                     std::int64_t idle_ms);
  static std::optional<SessionWithToken> Find(pqxx::work& tx, const std::string& id_hash);
  // Records that the session was used (at most every 15 s, to spare writes).
  static void Touch(pqxx::work& tx, const std::string& id_hash, std::int64_t now_ms);
  // True when there was such a session.
  static bool Delete(pqxx::work& tx, const std::string& id_hash);
};

}  // namespace sluice::release_intake
