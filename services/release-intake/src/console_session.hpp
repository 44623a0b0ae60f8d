#pragma once

// Console sessions: an API token exchanged for a cookie the page's script cannot read.
//
// `POST /v1/sessions` (with "Authorization: Bearer <token>") answers with a `sluice_session`
// cookie (HttpOnly, SameSite=Strict, Path=/, Secure over TLS) and a CSRF token in the body. A
// request without an Authorization header is then authenticated by the cookie, with the token's
// name and role; every request that changes something (any method but GET, HEAD, OPTIONS) must
// also carry the CSRF token in `X-CSRF-Token`, else 403 csrf. A session ends when it has been
// idle for the idle timeout, at its absolute lifetime, when its token is revoked or expires,
// or on `DELETE /v1/sessions/current`. Pure: unit-tested without a server.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::release_intake {

inline constexpr std::string_view kSessionCookie = "sluice_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

struct SessionOptions {
  std::chrono::seconds idle_timeout{std::chrono::minutes(30)};  // SLUICE_SESSION_IDLE
  std::chrono::seconds max_lifetime{std::chrono::hours(12)};    // SLUICE_SESSION_MAX
  enum class Secure { kAuto, kAlways, kNever };
  // kAuto: Secure when the request came over TLS (X-Forwarded-Proto: https from the ingress).
  Secure secure = Secure::kAuto;  // SLUICE_SESSION_SECURE=auto|always|never
};

// A new session id ("sls_" + 43 characters of URL-safe base64 of 32 random bytes) and a new
// CSRF token (43 such characters).
std::string NewSessionId();
std::string NewCsrfToken();

// The session id from a Cookie header ("a=b; sluice_session=<id>; c=d"); nullopt when absent or
// not of the form NewSessionId() makes (so a malformed cookie never reaches the database).
std::optional<std::string> SessionIdFromCookie(std::string_view cookie_header);

// The Set-Cookie value that starts (max_age > 0) or ends (max_age 0) a session.
std::string SessionCookie(std::string_view id, std::chrono::seconds max_age, bool secure);

// Whether to mark the cookie Secure, from the options and the request's X-Forwarded-Proto.
bool CookieSecure(SessionOptions::Secure mode, std::string_view forwarded_proto);

// A method that changes state and so needs the CSRF token.
bool NeedsCsrf(std::string_view method);

// Constant-time comparison of the CSRF token sent with the one stored.
bool CsrfMatches(std::string_view sent, std::string_view stored);

struct StoredSession {
  std::string token_id;
  std::string csrf_token;
  std::int64_t last_seen_ms = 0;
  std::int64_t expires_at_ms = 0;
};

// Why the session can no longer be used (nullopt: it can), for the 401 message.
std::optional<std::string> SessionRefusal(const StoredSession& s, std::int64_t now_ms,
                                          std::chrono::seconds idle_timeout);

}  // namespace sluice::release_intake
