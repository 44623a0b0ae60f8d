#include "release.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace sluice::release_intake {
namespace {

using nlohmann::json;

const std::string kSha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

json ValidBody() {
  return {{"app", "shop"},
          {"tag", "v1.4.2"},
          {"artifact_url", "https://artifacts.example.com/shop/shop-1.4.2.tar.gz"},
          {"sha256", kSha},
          {"created_by", "ci"}};
}

FieldError ErrorOf(const json& body) {
  auto r = ValidateRelease(body, "token-name");
  EXPECT_FALSE(r.release.has_value());
  EXPECT_TRUE(r.error.has_value());
  return r.error.value_or(FieldError{});
}

TEST(ValidateReleaseTest, AcceptsAndNormalises) {
  auto body = ValidBody();
  body["sha256"] = "sha256:" + std::string(64, 'A');
  body["commit"] = "abc1234";
  auto r = ValidateRelease(body, "token-name");
  ASSERT_TRUE(r.release.has_value()) << r.error->message;
  EXPECT_EQ(r.release->version, "1.4.2");  // derived from the tag
  EXPECT_EQ(r.release->sha256, std::string(64, 'a'));
  EXPECT_EQ(r.release->artifact_kind, ArtifactKind::kTarball);
  EXPECT_EQ(r.release->commit, "abc1234");
}

// A tarball release for VM hosts and Kubernetes targets together names the image they run.
TEST(ValidateReleaseTest, ATarballReleaseMayNameTheImageOfItsKubernetesTargets) {
  auto body = ValidBody();
  body["image"] = "registry.example:5000/shop/web:1.4.2";
  body["image_digest"] = "sha256:" + std::string(64, 'B');
  auto r = ValidateRelease(body, "token-name");
  ASSERT_TRUE(r.release.has_value()) << r.error->message;
  EXPECT_EQ(r.release->image, "registry.example:5000/shop/web:1.4.2");
  EXPECT_EQ(r.release->image_digest, "sha256:" + std::string(64, 'b'));
  EXPECT_EQ(ToJson(Release{"id", *r.release, 0, "api", 1})["image"],
            "registry.example:5000/shop/web:1.4.2");
  EXPECT_FALSE(ToJson(Release{"id", *ValidateRelease(ValidBody(), "t").release, 0, "api", 1})
                   .contains("image"));

  auto other = *r.release;
  other.image = "registry.example:5000/shop/web:1.4.3";
  EXPECT_FALSE(SameArtifact(*r.release, other));  // another image is another artifact

  const auto with = [](json patch) {
    auto b = ValidBody();
    b.merge_patch(patch);
    return ErrorOf(b).field;
  };
  EXPECT_EQ(with({{"image", "not an image"}}), "image");
  EXPECT_EQ(with({{"image", "registry.example/web:1"}, {"artifact_kind", "image"}}), "image");
  EXPECT_EQ(with({{"image_digest", "sha256:" + std::string(64, 'a')}}), "image_digest");
  EXPECT_EQ(with({{"image", "registry.example/web:1"}, {"image_digest", std::string(64, 'a')}}),
            "image_digest");
}

TEST(ValidateReleaseTest, DefaultsCreatedByToTheCaller) {
  auto body = ValidBody();
  body.erase("created_by");
  EXPECT_EQ(ValidateRelease(body, "ci-token").release->created_by, "ci-token");
}

TEST(ValidateReleaseTest, NamesTheFieldThatIsWrong) {
  struct Case {
    const char* field;
    json value;
  };
  const Case cases[] = {
      {"app", "Shop"},
      {"app", ""},
      {"app", 5},
      {"app", "a-"},
      {"tag", "latest"},
      {"tag", "v1.2"},
      {"tag", "v01.2.3"},
      {"version", "1.2"},
      {"artifact_url", "ftp://x/y"},
      {"artifact_url", "https://exa mple.com/x"},
      {"sha256", "abc"},
      {"sha256", std::string(64, 'g')},
      {"created_by", ""},
      {"commit", "XYZ"},
      {"artifact_kind", "zip"},
      {"repo", ""},
  };
  for (const auto& c : cases) {
    auto body = ValidBody();
    body[c.field] = c.value;
    EXPECT_EQ(ErrorOf(body).field, c.field) << c.field << " = " << c.value.dump();
  }
}

TEST(ValidateReleaseTest, MissingRequiredFields) {
  for (const char* f : {"app", "tag", "artifact_url", "sha256"}) {
    auto body = ValidBody();
    body.erase(f);
    auto e = ErrorOf(body);
    EXPECT_EQ(e.field, f);
    EXPECT_NE(e.message.find("required"), std::string::npos);
  }
}

TEST(ValidateReleaseTest, UnknownFieldIsAnError) {
  auto body = ValidBody();
  body["sha265"] = kSha;
  auto e = ErrorOf(body);
  EXPECT_EQ(e.field, "sha265");
  EXPECT_NE(e.message.find("unknown field"), std::string::npos);
}

TEST(ValidateReleaseTest, NotAnObject) {
  EXPECT_EQ(ErrorOf(json::array()).field, "body");
  EXPECT_EQ(ErrorOf(json("x")).field, "body");
}

TEST(ValidateReleaseTest, ImageReferencesOnlyForImages) {
  auto body = ValidBody();
  body["artifact_url"] = "registry.example.com/shop:1.4.2";
  EXPECT_EQ(ErrorOf(body).field, "artifact_url");
  body["artifact_kind"] = "image";
  EXPECT_TRUE(ValidateRelease(body, "x").release.has_value());
}

TEST(TagTest, VersionFromTag) {
  EXPECT_EQ(VersionFromTag("v1.2.3"), "1.2.3");
  EXPECT_EQ(VersionFromTag("release-2.0.0-rc.1"), "2.0.0-rc.1");
  EXPECT_EQ(VersionFromTag("shop/v3.1.4+build.7"), "3.1.4+build.7");
  EXPECT_EQ(VersionFromTag("1.0.0"), "1.0.0");
  EXPECT_EQ(VersionFromTag("nope"), "");
  EXPECT_TRUE(IsValidTag("shop/v3.1.4"));
  EXPECT_FALSE(IsValidTag("-1.2.3"));
  EXPECT_FALSE(IsValidTag("v1.2.3 "));
}

TEST(SameArtifactTest, ChecksumDecides) {
  auto a = *ValidateRelease(ValidBody(), "x").release;
  auto b = a;
  EXPECT_TRUE(SameArtifact(a, b));
  b.sha256 = std::string(64, 'b');
  EXPECT_FALSE(SameArtifact(a, b));
}

TEST(GithubSignatureTest, KnownVectorAndConstantTimeCompare) {
  // The example from GitHub's documentation on validating webhook deliveries.
  EXPECT_EQ(GithubSignature("It's a Secret to Everybody", "Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  EXPECT_TRUE(VerifyGithubSignature(
      "It's a Secret to Everybody", "Hello, World!",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  EXPECT_FALSE(VerifyGithubSignature(
      "It's a Secret to Everybody", "Hello, World?",
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"));
  EXPECT_FALSE(VerifyGithubSignature("It's a Secret to Everybody", "Hello, World!", "sha256="));
  EXPECT_FALSE(VerifyGithubSignature("", "Hello, World!", GithubSignature("", "Hello, World!")));
}

json GithubRelease() {
  return {{"action", "published"},
          {"repository", {{"name", "Shop_API"}, {"full_name", "acme/Shop_API"}}},
          {"sender", {{"login", "octocat"}}},
          {"release",
           {{"tag_name", "v2.0.1"},
            {"draft", false},
            {"target_commitish", "0123456789abcdef0123456789abcdef01234567"},
            {"assets", json::array({{{"name", "notes.txt"}},
                                    {{"name", "shop-2.0.1.tar.gz"},
                                     {"browser_download_url",
                                      "https://github.com/acme/Shop_API/releases/download/v2.0.1/"
                                      "shop-2.0.1.tar.gz"},
                                     {"digest", "sha256:" + kSha}}})}}}};
}

// A non-string "action" threw nlohmann's type_error out of the webhook (a 500; found by
// fuzz/github_webhook): it is no action, so the event is ignored.
TEST(GithubEventTest, ANonStringActionIsIgnoredNotThrown) {
  auto p = GithubRelease();
  p["action"] = {{"x", 1}};
  EXPECT_EQ(InterpretGithubEvent("release", p).kind, GithubOutcome::Kind::kIgnored);
  p["action"] = 7;
  EXPECT_EQ(InterpretGithubEvent("release", p).kind, GithubOutcome::Kind::kIgnored);
}

// The same for every other field the webhook reads (found by fuzz/github_webhook: a
// non-string tag_name): a field of another type is refused or passed over, never thrown.
TEST(GithubEventTest, FieldsOfAnotherTypeAreRefusedNotThrown) {
  const auto kind_with = [](const std::function<void(json&)>& change) {
    auto p = GithubRelease();
    change(p);
    return InterpretGithubEvent("release", p).kind;
  };
  using Kind = GithubOutcome::Kind;
  EXPECT_EQ(kind_with([](json& p) { p["release"]["tag_name"] = json::array({1}); }),
            Kind::kInvalid);
  EXPECT_EQ(kind_with([](json& p) { p["repository"]["name"] = 5; }), Kind::kInvalid);
  EXPECT_EQ(kind_with([](json& p) { p["release"]["assets"][1]["name"] = json::object(); }),
            Kind::kInvalid);
  EXPECT_EQ(kind_with([](json& p) { p["release"]["assets"][0] = "notes.txt"; }), Kind::kRelease);
  EXPECT_EQ(kind_with([](json& p) { p["release"]["assets"][1]["browser_download_url"] = 1; }),
            Kind::kInvalid);
  EXPECT_EQ(kind_with([](json& p) { p["release"]["draft"] = "yes"; }), Kind::kRelease);
  EXPECT_EQ(kind_with([](json& p) { p["release"]["prerelease"] = "no"; }), Kind::kRelease);
  auto p = GithubRelease();
  p["sender"]["login"] = json::array();
  const auto out = InterpretGithubEvent("release", p);
  ASSERT_EQ(out.kind, Kind::kRelease) << out.reason;
  EXPECT_EQ(out.release->created_by, "github:unknown");
}

TEST(GithubEventTest, PublishedReleaseWithDigestBecomesARelease) {
  auto out = InterpretGithubEvent("release", GithubRelease());
  ASSERT_EQ(out.kind, GithubOutcome::Kind::kRelease) << out.reason;
  EXPECT_EQ(out.release->app, "shop-api");
  EXPECT_EQ(out.release->version, "2.0.1");
  EXPECT_EQ(out.release->sha256, kSha);
  EXPECT_EQ(out.release->created_by, "github:octocat");
  EXPECT_EQ(out.release->repo, "acme/Shop_API");
  EXPECT_TRUE(out.release->commit.has_value());
}

TEST(GithubEventTest, IgnoredAndInvalid) {
  EXPECT_EQ(InterpretGithubEvent("push", GithubRelease()).kind, GithubOutcome::Kind::kIgnored);
  auto p = GithubRelease();
  p["action"] = "created";
  EXPECT_EQ(InterpretGithubEvent("release", p).kind, GithubOutcome::Kind::kIgnored);
  p = GithubRelease();
  p["release"]["draft"] = true;
  EXPECT_EQ(InterpretGithubEvent("release", p).kind, GithubOutcome::Kind::kIgnored);
  p = GithubRelease();
  p["release"]["assets"][1].erase("digest");
  auto out = InterpretGithubEvent("release", p);
  EXPECT_EQ(out.kind, GithubOutcome::Kind::kInvalid);
  EXPECT_EQ(out.field, "release.assets[].digest");
  p = GithubRelease();
  p["release"]["tag_name"] = "nightly";
  EXPECT_EQ(InterpretGithubEvent("release", p).field, "release.tag_name");
  p = GithubRelease();
  p["release"]["assets"] = json::array({{{"name", "notes.txt"}}});
  EXPECT_EQ(InterpretGithubEvent("release", p).field, "release.assets");
}

TEST(GithubEventTest, KeyedByRepositoryReleaseAndAction) {
  auto p = GithubRelease();
  EXPECT_EQ(InterpretGithubEvent("release", p).event_key, "acme/Shop_API/tag:v2.0.1/published");
  p["repository"]["id"] = 42;
  p["release"]["id"] = 7001;
  EXPECT_EQ(InterpretGithubEvent("release", p).event_key, "42/7001/published");
}

TEST(GithubEventTest, BidiControlsInSenderOrRepositoryAreRefused) {
  auto p = GithubRelease();
  p["sender"]["login"] = "octo\u202Ecat";
  auto out = InterpretGithubEvent("release", p);
  EXPECT_EQ(out.kind, GithubOutcome::Kind::kInvalid);
  EXPECT_EQ(out.field, "sender.login");
  p = GithubRelease();
  p["repository"]["full_name"] = "acme/\u2066Shop_API";
  EXPECT_EQ(InterpretGithubEvent("release", p).field, "repository.full_name");
}

TEST(UnsafeTextTest, RefusesControlsBidiAndBadUtf8) {
  EXPECT_EQ(UnsafeTextReason("ci-bot (Grace Hopper) \xC3\xA9\xE6\x97\xA5"), std::nullopt);
  for (const std::string bidi : {"\u202A", "\u202B", "\u202C", "\u202D", "\u202E", "\u2066",
                                 "\u2067", "\u2068", "\u2069", "\u200E", "\u200F", "\u061C"}) {
    const auto why = UnsafeTextReason("ab" + bidi + "c");
    ASSERT_TRUE(why.has_value()) << bidi;
    EXPECT_NE(why->find("bidirectional"), std::string::npos) << *why;
    EXPECT_NE(why->find("byte offset 2"), std::string::npos) << *why;
  }
  for (const std::string& control : {std::string("a\nb"), std::string("a\tb"), std::string("a\x7F"),
                                     std::string("a\xC2\x85"), std::string("a\0b", 3)}) {
    EXPECT_NE(UnsafeTextReason(control).value_or("").find("control character"), std::string::npos);
  }
  EXPECT_NE(UnsafeTextReason("ok\xFF").value_or("").find("not valid UTF-8 at byte offset 2"),
            std::string::npos);
}

TEST(Utf8Test, FirstInvalidByte) {
  EXPECT_EQ(InvalidUtf8Offset("plain \xE2\x80\xAE \xF0\x9F\x98\x80"), std::nullopt);
  EXPECT_EQ(InvalidUtf8Offset("abc\xFF"), 3u);
  EXPECT_EQ(InvalidUtf8Offset("a\xC0\xAF"), 1u);         // overlong '/'
  EXPECT_EQ(InvalidUtf8Offset("ab\xED\xA0\x80"), 2u);    // a surrogate
  EXPECT_EQ(InvalidUtf8Offset("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(InvalidUtf8Offset("x\xE2\x80"), 1u);         // cut short
}

TEST(ValidateReleaseTest, EveryTextFieldRefusesBidiAndControls) {
  for (const char* field : {"created_by", "repo", "artifact_url", "tag", "version", "app"}) {
    auto body = ValidBody();
    body["repo"] = "acme/shop";
    body[field] = body.value(field, std::string("x")) + "\u202E";
    const auto e = ErrorOf(body);
    EXPECT_EQ(e.field, field);
    EXPECT_NE(e.message.find("bidirectional"), std::string::npos) << e.message;
  }
  auto body = ValidBody();
  body["created_by"] = "ci\u0007";
  EXPECT_NE(ErrorOf(body).message.find("control character U+0007"), std::string::npos);
  // The default created_by (the token's name) is checked as well.
  body = ValidBody();
  body.erase("created_by");
  EXPECT_EQ(ValidateRelease(body, "bad\u202Ename").error.value_or(FieldError{}).field,
            "created_by");
}

TEST(TokenRequestTest, NameRoleAndOptionalExpiry) {
  const std::int64_t now = 1'700'000'000'000;
  auto ok = ValidateTokenRequest({{"name", "ci"}, {"role", "deployer"}}, now);
  ASSERT_TRUE(std::holds_alternative<TokenRequest>(ok));
  EXPECT_EQ(std::get<TokenRequest>(ok).expires_at_ms, std::nullopt);
  ok = ValidateTokenRequest({{"name", "ci"}, {"role", "deployer"}, {"expires_in", "1d12h"}}, now);
  EXPECT_EQ(std::get<TokenRequest>(ok).expires_at_ms, now + 36LL * 3600 * 1000);
  ok = ValidateTokenRequest(
      {{"name", "ci"}, {"role", "viewer"}, {"expires_at", "2024-01-01T01:00:00+01:00"}}, now);
  EXPECT_EQ(std::get<TokenRequest>(ok).expires_at_ms, 1'704'067'200'000);
  auto field_of = [&](const json& body) {
    auto r = ValidateTokenRequest(body, now);
    return std::holds_alternative<FieldError>(r) ? std::get<FieldError>(r).field : "none";
  };
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "root"}}), "role");
  EXPECT_EQ(field_of({{"name", "c i"}, {"role", "viewer"}}), "name");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"scope", "x"}}), "scope");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"expires_in", "soon"}}), "expires_in");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"expires_in", "0h"}}), "expires_in");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"expires_in", "3651d"}}), "expires_in");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"expires_at", "2020-01-01T00:00:00Z"}}),
            "expires_at");
  EXPECT_EQ(field_of({{"name", "ci"}, {"role", "viewer"}, {"expires_at", "2030-02-30T00:00:00Z"}}),
            "expires_at");
  EXPECT_EQ(field_of({{"name", "ci"},
                      {"role", "viewer"},
                      {"expires_in", "1h"},
                      {"expires_at", "2030-01-01T00:00:00Z"}}),
            "expires_at");
}

TEST(TokenRefusalTest, RevokedAndExpiredTokensSayWhy) {
  StoredToken t{"id", "ci", Role::kDeployer, false, std::nullopt};
  EXPECT_EQ(TokenRefusal(t, 1000), std::nullopt);
  t.expires_at_ms = 2000;
  EXPECT_EQ(TokenRefusal(t, 1999), std::nullopt);
  EXPECT_NE(TokenRefusal(t, 2000).value_or("").find("expired at 1970-01-01T00:00:02"),
            std::string::npos);
  t.revoked = true;
  EXPECT_NE(TokenRefusal(t, 0).value_or("").find("revoked"), std::string::npos);
}

TEST(RoleTest, OrderedRights) {
  EXPECT_TRUE(Allows(Role::kAdmin, Role::kDeployer));
  EXPECT_TRUE(Allows(Role::kDeployer, Role::kDeployer));
  EXPECT_FALSE(Allows(Role::kViewer, Role::kDeployer));
  EXPECT_EQ(ParseRole("approver"), Role::kApprover);
  EXPECT_EQ(ParseRole("root"), std::nullopt);
}

TEST(TokenTest, HashAndShape) {
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const auto t1 = NewToken();
  const auto t2 = NewToken();
  EXPECT_EQ(t1.size(), 4u + 43u);
  EXPECT_EQ(t1.rfind("slc_", 0), 0u);
  EXPECT_NE(t1, t2);
}

TEST(PageTest, Parsing) {
  auto p = std::get<PageRequest>(ParsePage(std::nullopt, std::nullopt));
  EXPECT_EQ(p.limit, 50);
  EXPECT_FALSE(p.after_seq.has_value());
  p = std::get<PageRequest>(ParsePage("10", "42"));
  EXPECT_EQ(p.limit, 10);
  EXPECT_EQ(p.after_seq, 42);
  EXPECT_EQ(std::get<FieldError>(ParsePage("0", std::nullopt)).field, "limit");
  EXPECT_EQ(std::get<FieldError>(ParsePage("201", std::nullopt)).field, "limit");
  EXPECT_EQ(std::get<FieldError>(ParsePage("5x", std::nullopt)).field, "limit");
  EXPECT_EQ(std::get<FieldError>(ParsePage(std::nullopt, "-1")).field, "cursor");
}

TEST(TagFilterTest, AcceptsAnyShownTextUpTo128BytesAndNamesTagOtherwise) {
  const std::vector<std::string> ok = {"v1",
                                       "1.2",
                                       "shop/v",
                                       "%",
                                       "_",
                                       "rc.1'; DROP TABLE releases;--",
                                       std::string(kMaxTagFilterChars, 'a')};
  for (const auto& tag : ok) EXPECT_FALSE(CheckTagFilter(tag).has_value()) << tag;
  const std::vector<std::string> bad = {std::string(),    std::string(kMaxTagFilterChars + 1, 'a'),
                                        "v1\n",           std::string{'v', '\0', '1'},
                                        "v1\xe2\x80\xae", "\xff"};
  for (const auto& tag : bad) {
    const auto e = CheckTagFilter(tag);
    ASSERT_TRUE(e.has_value()) << tag;
    EXPECT_EQ(e->field, "tag");
  }
}

}  // namespace
}  // namespace sluice::release_intake
