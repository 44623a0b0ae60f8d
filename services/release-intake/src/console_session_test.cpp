#include "console_session.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::release_intake {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kId = "sls_" + std::string(43, 'A');

TEST(ConsoleSession, NewIdsAreWellFormedAndDistinct) {
  const auto a = NewSessionId();
  const auto b = NewSessionId();
  EXPECT_NE(a, b);
  EXPECT_EQ(SessionIdFromCookie("sluice_session=" + a), a);
  EXPECT_EQ(NewCsrfToken().size(), 43U);
  EXPECT_NE(NewCsrfToken(), NewCsrfToken());
}

TEST(ConsoleSession, FindsTheSessionCookieAmongOthers) {
  EXPECT_EQ(SessionIdFromCookie("theme=dark; sluice_session=" + kId + "; lang=en"), kId);
  EXPECT_EQ(SessionIdFromCookie("  sluice_session = " + kId + " "), kId);
  EXPECT_FALSE(SessionIdFromCookie(""));
  EXPECT_FALSE(SessionIdFromCookie("other=" + kId));
  EXPECT_FALSE(SessionIdFromCookie("xsluice_session=" + kId));
}

TEST(ConsoleSession, AMalformedCookieValueIsNoSession) {
  EXPECT_FALSE(SessionIdFromCookie("sluice_session="));
  EXPECT_FALSE(SessionIdFromCookie("sluice_session=slc_" + std::string(43, 'A')));  // an API token
  EXPECT_FALSE(SessionIdFromCookie("sluice_session=sls_" + std::string(42, 'A')));
  EXPECT_FALSE(SessionIdFromCookie("sluice_session=sls_" + std::string(42, 'A') + "'"));
  EXPECT_FALSE(SessionIdFromCookie("sluice_session=sls_" + std::string(42, 'A') + "%"));
  // A malformed first cookie of the name does not hide a good one after it.
  EXPECT_EQ(SessionIdFromCookie("sluice_session=bad; sluice_session=" + kId), kId);
}

TEST(ConsoleSession, TheCookieIsHttpOnlyStrictAndSecureOverTls) {
  EXPECT_EQ(SessionCookie(kId, 3600s, false),
            "sluice_session=" + kId + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600");
  EXPECT_EQ(SessionCookie("", 0s, true),
            "sluice_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
  EXPECT_TRUE(CookieSecure(SessionOptions::Secure::kAuto, "https"));
  EXPECT_TRUE(CookieSecure(SessionOptions::Secure::kAuto, "https, http"));
  EXPECT_FALSE(CookieSecure(SessionOptions::Secure::kAuto, "http"));
  EXPECT_FALSE(CookieSecure(SessionOptions::Secure::kAuto, ""));
  EXPECT_TRUE(CookieSecure(SessionOptions::Secure::kAlways, ""));
  EXPECT_FALSE(CookieSecure(SessionOptions::Secure::kNever, "https"));
}

TEST(ConsoleSession, EveryMethodButReadsNeedsTheCsrfToken) {
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) EXPECT_TRUE(NeedsCsrf(m)) << m;
  for (const char* m : {"GET", "HEAD", "OPTIONS"}) EXPECT_FALSE(NeedsCsrf(m)) << m;
}

TEST(ConsoleSession, CsrfTokensMatchOnlyExactly) {
  EXPECT_TRUE(CsrfMatches("abc", "abc"));
  EXPECT_FALSE(CsrfMatches("abd", "abc"));
  EXPECT_FALSE(CsrfMatches("ab", "abc"));
  EXPECT_FALSE(CsrfMatches("", ""));  // no token stored is never a match
}

TEST(ConsoleSession, EndsWhenIdleOrAtItsLifetime) {
  const StoredSession s{"tok", "csrf", 1'000'000, 1'000'000 + 3'600'000};
  EXPECT_FALSE(SessionRefusal(s, 1'000'000 + 1'799'999, 30min));
  EXPECT_THAT(SessionRefusal(s, 1'000'000 + 1'800'000, 30min).value_or(""),
              HasSubstr("idle for more than 30m"));
  StoredSession busy = s;
  busy.last_seen_ms = s.expires_at_ms - 1;
  EXPECT_FALSE(SessionRefusal(busy, s.expires_at_ms - 1, 30min));
  EXPECT_THAT(SessionRefusal(busy, s.expires_at_ms, 30min).value_or(""),
              HasSubstr("reached its lifetime"));
}

}  // namespace
}  // namespace sluice::release_intake
