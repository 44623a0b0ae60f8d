#pragma once

// release-intake's decisions: what a valid release is, how a GitHub delivery becomes one, who
// may do what. Pure functions over plain values: no I/O, no clock.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::release_intake {

enum class ArtifactKind { kTarball, kImage, kModel };
std::string_view ToString(ArtifactKind kind);
std::optional<ArtifactKind> ParseArtifactKind(std::string_view s);

// A release as submitted, after validation and normalisation.
struct ReleaseInput {
  std::string app;
  std::string tag;
  std::string version;
  std::string artifact_url;
  std::string sha256;  // 64 lowercase hex
  ArtifactKind artifact_kind = ArtifactKind::kTarball;
  std::string created_by;
  std::optional<std::string> commit;
  std::optional<std::string> repo;
};

// A stored release.
struct Release {
  std::string id;
  ReleaseInput input;
  std::int64_t created_at_ms = 0;
  std::string source;  // "api" or "github"
  std::int64_t seq = 0;
};

nlohmann::json ToJson(const Release& r);

// One thing wrong with a request, naming the JSON field.
struct FieldError {
  std::string field;
  std::string message;
};

// Checks every field of a POST /v1/releases body. Unknown fields are errors (a typo such as
// "sha265" must not be silently ignored). `default_created_by` fills a missing created_by.
// Returns the normalised input, or the first error found (fields are checked in a fixed order).
struct ValidationResult {
  std::optional<ReleaseInput> release;
  std::optional<FieldError> error;
};
ValidationResult ValidateRelease(const nlohmann::json& body, std::string_view default_created_by);

bool IsValidAppName(std::string_view s);  // ^[a-z][a-z0-9-]{0,62}$
bool IsSemverish(std::string_view s);     // 1.2.3, 1.2.3-rc.1, 1.2.3+build.5
bool IsValidTag(std::string_view s);      // optional prefix ("v", "release-", "shop/v") + semver
bool IsValidArtifactUrl(std::string_view s, ArtifactKind kind);
std::optional<std::string> NormalizeSha256(std::string_view s);  // accepts "sha256:" prefix
std::string VersionFromTag(std::string_view tag);                // "v1.2.3" -> "1.2.3"

// Two submissions of the same (app, version): the same release when the artifact is the same.
bool SameArtifact(const ReleaseInput& a, const ReleaseInput& b);

// GitHub webhooks.
// X-Hub-Signature-256: "sha256=" + hex(HMAC-SHA256(secret, body)); compared in constant time.
bool VerifyGithubSignature(std::string_view secret, std::string_view body,
                           std::string_view signature_header);
std::string GithubSignature(std::string_view secret, std::string_view body);

// A `release` event with action "published" whose assets include an archive carrying a
// sha256 digest becomes a release. Returns why not otherwise (as a FieldError naming the
// payload field), or std::nullopt-with-ignored for events that are not for us.
struct GithubOutcome {
  enum class Kind { kRelease, kIgnored, kInvalid } kind = Kind::kIgnored;
  std::optional<ReleaseInput> release;
  std::string reason;  // why ignored / invalid
  std::string field;   // for kInvalid
};
GithubOutcome InterpretGithubEvent(std::string_view event, const nlohmann::json& payload);

// Access control. Roles are ordered: each includes the rights of those before it.
enum class Role { kViewer = 0, kDeployer = 1, kApprover = 2, kAdmin = 3 };
std::string_view ToString(Role role);
std::optional<Role> ParseRole(std::string_view s);
inline bool Allows(Role held, Role needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

// Hex SHA-256 of an API token, the form stored in api_tokens.token_hash.
std::string HashToken(std::string_view token);
// A new token: "slc_" + 43 chars of URL-safe base64 of 32 random bytes.
std::string NewToken();

// Paging: limit in [1, 200], default 50; cursor is the decimal seq of the last item seen.
struct PageRequest {
  int limit = 50;
  std::optional<std::int64_t> after_seq;
};
std::variant<PageRequest, FieldError> ParsePage(std::optional<std::string> limit,
                                                std::optional<std::string> cursor);

}  // namespace sluice::release_intake
