#pragma once

// release-intake's decisions: what a valid release is, how a GitHub delivery becomes one, who
// may do what. Pure functions over plain values: no I/O, no clock.

#include <cstdint>
#include <map>
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
  // A tarball release that also goes to Kubernetes targets: the image they run (a reference,
  // and optionally its digest "sha256:<64 hex>", then deployed by digest).
  std::optional<std::string> image;
  std::optional<std::string> image_digest;
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

// Text that is shown back to people (names, tags, who made a release, a repository, a reason):
// valid UTF-8 without control characters (C0, DEL, C1) and without the bidirectional controls
// that make text display in another order than it is stored (U+061C, U+200E, U+200F,
// U+202A-U+202E, U+2066-U+2069). Returns what is wrong and at which byte offset, or nullopt.
// One check for every such field, so a release cannot carry a "Trojan Source" name.
std::optional<std::string> UnsafeTextReason(std::string_view s);

// The byte offset of the first byte of `s` that does not continue valid UTF-8 (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or nullopt when it all is.
std::optional<std::size_t> InvalidUtf8Offset(std::string_view s);

bool IsValidAppName(std::string_view s);  // ^[a-z][a-z0-9-]{0,62}$
bool IsSemverish(std::string_view s);     // 1.2.3, 1.2.3-rc.1, 1.2.3+build.5
bool IsValidTag(std::string_view s);      // optional prefix ("v", "release-", "shop/v") + semver
bool IsValidArtifactUrl(std::string_view s, ArtifactKind kind);
bool IsValidImageReference(std::string_view s);                  // registry/repo[:tag][@sha256:...]
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
  // For kRelease: which GitHub event this is, "<repository id>/<release id>/<action>" (ids, or
  // the repository's full name and the tag when a payload lacks them). The HMAC covers the body
  // but not X-GitHub-Delivery, so a signed body re-sent under a new delivery id is caught by
  // this key, not by the delivery id.
  std::string event_key;
};
GithubOutcome InterpretGithubEvent(std::string_view event, const nlohmann::json& payload);

// Access control. Roles are ordered: each includes the rights of those before it.
enum class Role { kViewer = 0, kDeployer = 1, kApprover = 2, kAdmin = 3 };
std::string_view ToString(Role role);
std::optional<Role> ParseRole(std::string_view s);
inline bool Allows(Role held, Role needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

// Roles per environment ("grants"): a token holds its global `role` everywhere, except in the
// environments its grants name, where it holds the granted role instead (higher or lower). An
// environment is named as in delivery specs (`production`), for every app. So a token created
// with {"role": "viewer", "environments": {"staging": "deployer"}} deploys to staging and only
// looks at production; {"role": "deployer", "environments": {"production": "viewer"}} deploys
// anywhere but production.
using EnvGrants = std::map<std::string, Role, std::less<>>;
inline constexpr std::size_t kMaxGrantsPerToken = 64;

// The role a token holds in environment `env`.
Role RoleIn(Role global, const EnvGrants& grants, std::string_view env);
// The highest role a token holds in any environment: what a call that targets an environment
// checks before it knows which (RoleIn decides once it does).
Role HighestRole(Role global, const EnvGrants& grants);
// An "environments" object of a token request: {"<env>": "<role>"}, at most kMaxGrantsPerToken
// environment names (^[a-z][a-z0-9-]{0,62}$); the error names "<field>.<env>".
std::variant<EnvGrants, FieldError> ParseGrants(const nlohmann::json& value,
                                                const std::string& field);
// A grant's body (PUT /v1/tokens/{id}/environments/{env}): {"role": "<role>"}.
std::variant<Role, FieldError> ParseGrantBody(const nlohmann::json& body);
nlohmann::json GrantsJson(const EnvGrants& grants);  // {"<env>": "<role>"}

// A refusal for a call into an environment (403 forbidden_in_environment) when the token's role
// there is below `needed`: the message names the token, the environment, its role there and the
// role needed; `what` says what was asked ("deploy", "approve", ...).
struct EnvRoleRefusal {
  std::string message;
  nlohmann::json detail;  // {env, role, needed, token}
};
std::optional<EnvRoleRefusal> CheckRoleIn(const std::string& token_name, Role global,
                                          const EnvGrants& grants, std::string_view env,
                                          Role needed, std::string_view what);

// A POST /v1/tokens body: {name, role, expires_in?, expires_at?}. `expires_in` is a duration
// ("30m", "12h", "90d", sums such as "1d12h"); `expires_at` an RFC 3339 time
// ("2027-01-31T00:00:00Z", or with an offset). At most one of the two; the expiry must lie in the
// future and at most kMaxTokenLifetime ahead. No expiry: the token is valid until revoked.
// `environments` (optional): the token's grants, {"<env>": "<role>"} (EnvGrants). With
// `environments`, `role` may be left out: viewer.
struct TokenRequest {
  std::string name;
  Role role = Role::kViewer;
  std::optional<std::int64_t> expires_at_ms;
  EnvGrants environments = {};
};
inline constexpr std::int64_t kMaxTokenLifetimeMs = 3650LL * 24 * 3600 * 1000;  // ten years
std::variant<TokenRequest, FieldError> ValidateTokenRequest(const nlohmann::json& body,
                                                            std::int64_t now_ms);

// RFC 3339 ("2027-01-31T10:00:00Z", "2027-01-31T10:00:00.5+02:00") as Unix milliseconds.
std::optional<std::int64_t> ParseRfc3339Millis(std::string_view s);

// Whether a stored token may be used at `now_ms`, and if not, why (the 401 message).
struct StoredToken {
  std::string id;
  std::string name;
  Role role = Role::kViewer;
  bool revoked = false;
  std::optional<std::int64_t> expires_at_ms;
  EnvGrants environments = {};  // its grants
};
std::optional<std::string> TokenRefusal(const StoredToken& token, std::int64_t now_ms);

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

// GET /v1/releases' `tag` filter: releases whose tag contains it (case-sensitive, every
// character literal). 1 to kMaxTagFilterChars bytes of text that passes UnsafeTextReason, the
// check of a release's own fields; the error names "tag".
inline constexpr std::size_t kMaxTagFilterChars = 128;
std::optional<FieldError> CheckTagFilter(std::string_view tag);

}  // namespace sluice::release_intake
