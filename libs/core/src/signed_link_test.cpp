#include <gtest/gtest.h>

#include <sluice/core/signed_link.hpp>
#include <stdexcept>

namespace sluice::core {
namespace {

const std::string kSecretA(32, 'k');
const std::string kSecretB(40, 'b');
constexpr std::int64_t kDay = 86400;

LinkParams Params(const std::string& query) { return ParseLinkTarget("/x?" + query).params; }

TEST(SignedLinkTest, KnownVector) {
  // Computed independently (Python hmac/hashlib/base64.urlsafe_b64encode without padding).
  EXPECT_EQ(SignLinkQuery({"a", kSecretA}, "/v1/incidents/inc-1/chart.svg", 1800000000),
            "exp=1800000000&kid=a&sig=DhFYTso-hI1WA21kZxy58MUnP3XIT8b1HBAw6XRgkiQ");
}

TEST(SignedLinkTest, SignedUrlVerifiesUntilItsExpiry) {
  const std::vector<LinkKey> keys{{"a", kSecretA}};
  const auto url = SignUrl(keys[0], "https://sluice.example:8080/console/deployments/d-1", 1000);
  const auto link = ParseLinkTarget(url.substr(url.find("/console")));
  EXPECT_EQ(link.path, "/console/deployments/d-1");
  EXPECT_EQ(VerifyLink(keys, link.path, link.params, 999, kDay).verdict, LinkVerdict::kOk);
  const auto expired = VerifyLink(keys, link.path, link.params, 1000, kDay);
  EXPECT_EQ(expired.verdict, LinkVerdict::kExpired);
  EXPECT_EQ(expired.message, "signed link expired at 1970-01-01T00:16:40Z; ask for a new one");
}

TEST(SignedLinkTest, AnotherPathOrExpiryOrKeyIsRefused) {
  const std::vector<LinkKey> keys{{"a", kSecretA}, {"b", kSecretB}};
  const auto q = SignLinkQuery(keys[0], "/console/deployments/d-1", 5000);
  EXPECT_EQ(VerifyLink(keys, "/console/deployments/d-2", Params(q), 10, kDay).verdict,
            LinkVerdict::kBadSignature);
  auto later = Params(q);
  later.exp = "6000";
  EXPECT_EQ(VerifyLink(keys, "/console/deployments/d-1", later, 10, kDay).verdict,
            LinkVerdict::kBadSignature);
  auto other_kid = Params(q);
  other_kid.kid = "b";
  EXPECT_EQ(VerifyLink(keys, "/console/deployments/d-1", other_kid, 10, kDay).verdict,
            LinkVerdict::kBadSignature);
  auto unknown = Params(q);
  unknown.kid = "zz";
  EXPECT_EQ(VerifyLink(keys, "/console/deployments/d-1", unknown, 10, kDay).verdict,
            LinkVerdict::kUnknownKey);
}

TEST(SignedLinkTest, RotationKeepsOldLinksOpenUntilTheKeyIsDropped) {
  const LinkKey old_key{"old", kSecretA};
  const LinkKey new_key{"new", kSecretB};
  const auto q = SignLinkQuery(old_key, "/p", 5000);
  EXPECT_EQ(VerifyLink({new_key, old_key}, "/p", Params(q), 10, kDay).verdict, LinkVerdict::kOk);
  EXPECT_EQ(VerifyLink({new_key}, "/p", Params(q), 10, kDay).verdict, LinkVerdict::kUnknownKey);
}

TEST(SignedLinkTest, MissingMalformedAndTooLongLinks) {
  const std::vector<LinkKey> keys{{"a", kSecretA}};
  EXPECT_EQ(VerifyLink(keys, "/p", {}, 10, kDay).verdict, LinkVerdict::kMissing);
  EXPECT_EQ(VerifyLink(keys, "/p", Params("exp=100&kid=a"), 10, kDay).verdict,
            LinkVerdict::kMalformed);
  EXPECT_EQ(VerifyLink(keys, "/p", Params("exp=1e9&kid=a&sig=x"), 10, kDay).verdict,
            LinkVerdict::kMalformed);
  EXPECT_EQ(VerifyLink(keys, "/p", Params("exp=-5&kid=a&sig=x"), 10, kDay).verdict,
            LinkVerdict::kMalformed);
  const auto far = SignLinkQuery(keys[0], "/p", 10 + 2 * kDay);
  EXPECT_EQ(VerifyLink(keys, "/p", Params(far), 10, kDay).verdict, LinkVerdict::kTooLong);
}

TEST(SignedLinkTest, ParseLinkKeys) {
  const auto keys = ParseLinkKeys(" new:" + kSecretB + " , old:" + kSecretA);
  ASSERT_EQ(keys.size(), 2U);
  EXPECT_EQ(keys[0].id, "new");
  EXPECT_EQ(keys[1].secret, kSecretA);
  EXPECT_TRUE(ParseLinkKeys("").empty());
  EXPECT_THROW(ParseLinkKeys("nocolon"), std::invalid_argument);
  EXPECT_THROW(ParseLinkKeys("a:short"), std::invalid_argument);
  EXPECT_THROW(ParseLinkKeys("A!:" + kSecretA), std::invalid_argument);
  EXPECT_THROW(ParseLinkKeys("a:" + kSecretA + ",a:" + kSecretB), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::core
