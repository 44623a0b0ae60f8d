#include "console_session.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <sluice/core/duration.hpp>
#include <sluice/core/encoding.hpp>
#include <stdexcept>

namespace sluice::release_intake {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// NewSessionId()'s form: "sls_" and 43 characters of URL-safe base64.
bool WellFormedId(std::string_view id) {
  constexpr std::string_view kPrefix = "sls_";
  if (id.size() != kPrefix.size() + 43 || id.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(id.begin() + kPrefix.size(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string RandomUrlSafe() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return core::Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace

std::string NewSessionId() { return "sls_" + RandomUrlSafe(); }
std::string NewCsrfToken() { return RandomUrlSafe(); }

std::optional<std::string> SessionIdFromCookie(std::string_view cookie_header) {
  while (!cookie_header.empty()) {
    const auto semi = cookie_header.find(';');
    const std::string_view pair = Trim(cookie_header.substr(0, semi));
    cookie_header =
        semi == std::string_view::npos ? std::string_view() : cookie_header.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || Trim(pair.substr(0, eq)) != kSessionCookie) continue;
    const std::string_view value = Trim(pair.substr(eq + 1));
    if (WellFormedId(value)) return std::string(value);
  }
  return std::nullopt;
}

std::string SessionCookie(std::string_view id, std::chrono::seconds max_age, bool secure) {
  std::string c = std::string(kSessionCookie) + "=" + std::string(id) +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age.count());
  if (secure) c += "; Secure";
  return c;
}

bool CookieSecure(SessionOptions::Secure mode, std::string_view forwarded_proto) {
  switch (mode) {
    case SessionOptions::Secure::kAlways:
      return true;
    case SessionOptions::Secure::kNever:
      return false;
    case SessionOptions::Secure::kAuto:
      break;
  }
  return Trim(forwarded_proto.substr(0, forwarded_proto.find(','))) == "https";
}

bool NeedsCsrf(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool CsrfMatches(std::string_view sent, std::string_view stored) {
  if (sent.empty() || sent.size() != stored.size()) return false;
  return CRYPTO_memcmp(sent.data(), stored.data(), sent.size()) == 0;
}

std::optional<std::string> SessionRefusal(const StoredSession& s, std::int64_t now_ms,
                                          std::chrono::seconds idle_timeout) {
  if (now_ms >= s.expires_at_ms) {
    return "the console session has reached its lifetime; sign in again with an API token";
  }
  const auto idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(idle_timeout).count();
  if (now_ms - s.last_seen_ms >= idle_ms) {
    return "the console session was idle for more than " + core::FormatDuration(idle_timeout) +
           "; sign in again with an API token";
  }
  return std::nullopt;
}

}  // namespace sluice::release_intake
