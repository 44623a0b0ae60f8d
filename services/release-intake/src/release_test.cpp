#include "release.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::release_intake
