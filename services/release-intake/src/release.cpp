#include "release.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <regex>
#include <set>
#include <sluice/core/clock.hpp>
#include <sluice/core/duration.hpp>
#include <sluice/core/encoding.hpp>
#include <sluice/core/rfc3339.hpp>
#include <stdexcept>

#include "field_reading.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

const std::regex& SemverRe() {
  static const std::regex re(
      R"(^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$)");
  return re;
}

bool IsPrintable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

// Decodes the UTF-8 sequence at s[i]: its code point and length, or length 0 when it is not
// valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
struct CodePoint {
  char32_t value = 0;
  std::size_t length = 0;
};
CodePoint DecodeUtf8(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  std::size_t n = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (i + n > s.size()) return {};
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, n};
}

bool IsBidiControl(char32_t c) {
  return c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

}  // namespace

std::string_view ToString(ArtifactKind kind) {
  switch (kind) {
    case ArtifactKind::kTarball:
      return "tarball";
    case ArtifactKind::kImage:
      return "image";
    case ArtifactKind::kModel:
      return "model";
  }
  return "tarball";
}

std::optional<ArtifactKind> ParseArtifactKind(std::string_view s) {
  if (s == "tarball") return ArtifactKind::kTarball;
  if (s == "image") return ArtifactKind::kImage;
  if (s == "model") return ArtifactKind::kModel;
  return std::nullopt;
}

json ToJson(const Release& r) {
  json j = {{"id", r.id},
            {"app", r.input.app},
            {"tag", r.input.tag},
            {"version", r.input.version},
            {"artifact_url", r.input.artifact_url},
            {"sha256", r.input.sha256},
            {"artifact_kind", ToString(r.input.artifact_kind)},
            {"created_by", r.input.created_by},
            {"created_at_ms", r.created_at_ms},
            {"source", r.source}};
  j["commit"] = r.input.commit ? json(*r.input.commit) : json(nullptr);
  j["repo"] = r.input.repo ? json(*r.input.repo) : json(nullptr);
  if (r.input.image) j["image"] = *r.input.image;
  if (r.input.image_digest) j["image_digest"] = *r.input.image_digest;
  return j;
}

std::optional<std::size_t> InvalidUtf8Offset(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto cp = DecodeUtf8(s, i);
    if (cp.length == 0) return i;
    i += cp.length;
  }
  return std::nullopt;
}

std::optional<std::string> UnsafeTextReason(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto cp = DecodeUtf8(s, i);
    const std::string at = " at byte offset " + std::to_string(i);
    if (cp.length == 0) return "is not valid UTF-8" + at;
    char hex[16];
    std::snprintf(hex, sizeof hex, "U+%04X", static_cast<unsigned>(cp.value));
    if (cp.value < 0x20 || cp.value == 0x7F || (cp.value >= 0x80 && cp.value <= 0x9F)) {
      return std::string("has the control character ") + hex + at;
    }
    if (IsBidiControl(cp.value)) {
      return std::string("has the bidirectional control character ") + hex + at +
             ", which makes text display in another order than it is stored";
    }
    i += cp.length;
  }
  return std::nullopt;
}

bool IsValidAppName(std::string_view s) {
  static const std::regex re("^[a-z][a-z0-9-]{0,62}$");
  return std::regex_match(s.begin(), s.end(), re) && s.back() != '-';
}

bool IsSemverish(std::string_view s) {
  return s.size() <= 128 && std::regex_match(s.begin(), s.end(), SemverRe());
}

std::string VersionFromTag(std::string_view tag) {
  // The version is the longest semver suffix of the tag.
  for (std::size_t i = 0; i < tag.size(); ++i) {
    if (i > 0 &&
        !(tag[i - 1] == 'v' || tag[i - 1] == '-' || tag[i - 1] == '/' || tag[i - 1] == '_')) {
      continue;
    }
    if (IsSemverish(tag.substr(i))) return std::string(tag.substr(i));
  }
  return "";
}

bool IsValidTag(std::string_view s) {
  static const std::regex prefix("^[A-Za-z][A-Za-z0-9_/-]*$|^$");
  if (s.empty() || s.size() > 128) return false;
  const std::string version = VersionFromTag(s);
  if (version.empty()) return false;
  const std::string_view head = s.substr(0, s.size() - version.size());
  return std::regex_match(head.begin(), head.end(), prefix);
}

bool IsValidArtifactUrl(std::string_view s, ArtifactKind kind) {
  if (s.empty() || s.size() > 2048 || !IsPrintable(s) || s.find(' ') != std::string_view::npos) {
    return false;
  }
  static const std::regex web(R"(^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s]*)?$)");
  static const std::regex s3(R"(^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s]+$)");
  static const std::regex image(
      R"(^(oci://)?[a-z0-9.-]+(:[0-9]{1,5})?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$)");
  if (std::regex_match(s.begin(), s.end(), web) || std::regex_match(s.begin(), s.end(), s3)) {
    return true;
  }
  return kind == ArtifactKind::kImage && std::regex_match(s.begin(), s.end(), image);
}

bool IsValidImageReference(std::string_view s) {
  static const std::regex image(
      R"(^[a-z0-9.-]+(:[0-9]{1,5})?/[a-z0-9._/-]+(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$)");
  return !s.empty() && s.size() <= 512 && std::regex_match(s.begin(), s.end(), image);
}

std::optional<std::string> NormalizeSha256(std::string_view s) {
  if (s.rfind("sha256:", 0) == 0) s.remove_prefix(7);
  if (s.size() != 64) return std::nullopt;
  std::string out;
  out.reserve(64);
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else if (c >= 'a' && c <= 'f') {
      out.push_back(c);
    } else if (c >= 'A' && c <= 'F') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

namespace {

// Only known fields; then the text checks.
std::optional<FieldError> CheckFieldsAndText(const json& body) {
  static const std::set<std::string> kKnown = {
      "app",    "tag",  "version",       "artifact_url", "sha256",      "created_by",
      "commit", "repo", "artifact_kind", "image",        "image_digest"};
  for (const auto& [key, value] : body.items()) {
    if (!kKnown.contains(key)) {
      return Err(key, "unknown field '" + key +
                          "'; known fields: app, tag, version, "
                          "artifact_url, sha256, created_by, commit, repo, artifact_kind, "
                          "image, image_digest");
    }
  }
  // Every text field passes the one check for text shown to people, before its own rules.
  for (const auto& [key, value] : body.items()) {
    if (!value.is_string()) continue;
    if (auto why = UnsafeTextReason(value.get_ref<const std::string&>())) {
      return Err(key, key + " " + *why);
    }
  }
  return std::nullopt;
}

// image and image_digest: the image a tarball or model release's Kubernetes targets run.
std::optional<FieldError> GetImage(const json& body, ArtifactKind artifact_kind,
                                   std::optional<std::string>& image,
                                   std::optional<std::string>& image_digest) {
  if (auto e = GetString(body, "image", false, image)) return e;
  if (auto e = GetString(body, "image_digest", false, image_digest)) return e;
  if (image) {
    if (artifact_kind == ArtifactKind::kImage) {
      return Err("image",
                 "image is for a tarball or model release that also goes to Kubernetes "
                 "targets; a release of artifact_kind image names its image in artifact_url");
    }
    if (!IsValidImageReference(*image)) {
      return Err("image",
                 "image must be an image reference such as registry.example/app:1.4.2 "
                 "(at most 512 characters)");
    }
  }
  if (image_digest) {
    if (!image) return Err("image_digest", "image_digest needs image");
    auto hex = NormalizeSha256(*image_digest);
    if (!hex || image_digest->rfind("sha256:", 0) != 0) {
      return Err("image_digest", "image_digest must be sha256:<64 hexadecimal characters>");
    }
    image_digest = "sha256:" + *hex;
  }
  return std::nullopt;
}

// created_by (default: the caller's token name), commit and repo.
std::optional<FieldError> GetProvenance(const json& body, std::string_view default_created_by,
                                        std::optional<std::string>& created_by,
                                        std::optional<std::string>& commit,
                                        std::optional<std::string>& repo) {
  if (auto e = GetString(body, "created_by", false, created_by)) return e;
  if (!created_by) created_by = std::string(default_created_by);
  if (created_by->empty() || created_by->size() > 128) {
    return Err("created_by", "created_by must be 1-128 printable characters");
  }
  if (auto why = UnsafeTextReason(*created_by)) {  // the default (a token name) too
    return Err("created_by", "created_by " + *why);
  }
  if (auto e = GetString(body, "commit", false, commit)) return e;
  if (commit) {
    static const std::regex sha_re("^[0-9a-f]{7,64}$");
    if (!std::regex_match(*commit, sha_re)) {
      return Err("commit", "commit must be a lowercase hex git object id (7-64 chars)");
    }
  }
  if (auto e = GetString(body, "repo", false, repo)) return e;
  if (repo && (repo->empty() || repo->size() > 256)) {
    return Err("repo", "repo must be 1-256 printable characters");
  }
  return std::nullopt;
}

}  // namespace

ValidationResult ValidateRelease(const json& body, std::string_view default_created_by) {
  ValidationResult result;
  auto fail = [&](FieldError e) {
    result.error = std::move(e);
    return result;
  };
  if (!body.is_object()) return fail(Err("body", "body must be a JSON object"));
  if (auto e = CheckFieldsAndText(body)) return fail(*e);
  std::optional<std::string> app, tag, version, url, sha, created_by, commit, repo, kind;
  if (auto e = GetString(body, "app", true, app)) return fail(*e);
  if (!IsValidAppName(*app)) {
    return fail(Err("app",
                    "app must be 1-63 characters of a-z, 0-9 and '-', starting with a "
                    "letter (got '" +
                        app->substr(0, 80) + "')"));
  }
  if (auto e = GetString(body, "tag", true, tag)) return fail(*e);
  if (!IsValidTag(*tag)) {
    return fail(Err("tag",
                    "tag must be a semantic version with an optional prefix, e.g. "
                    "v1.4.2 or release-1.4.2 (got '" +
                        tag->substr(0, 80) + "')"));
  }
  if (auto e = GetString(body, "version", false, version)) return fail(*e);
  if (!version) version = VersionFromTag(*tag);
  if (!IsSemverish(*version)) {
    return fail(Err("version",
                    "version must be a semantic version such as 1.4.2 or 1.4.2-rc.1 "
                    "(got '" +
                        version->substr(0, 80) + "')"));
  }
  if (auto e = GetString(body, "artifact_kind", false, kind)) return fail(*e);
  auto artifact_kind = kind ? ParseArtifactKind(*kind) : ArtifactKind::kTarball;
  if (!artifact_kind) {
    return fail(Err("artifact_kind", "artifact_kind must be tarball, image or model"));
  }
  if (auto e = GetString(body, "artifact_url", true, url)) return fail(*e);
  if (!IsValidArtifactUrl(*url, *artifact_kind)) {
    return fail(Err("artifact_url",
                    "artifact_url must be an http(s):// or s3:// URL of at most 2048 characters"
                    " (or an image reference for artifact_kind image)"));
  }
  if (auto e = GetString(body, "sha256", true, sha)) return fail(*e);
  auto digest = NormalizeSha256(*sha);
  if (!digest) return fail(Err("sha256", "sha256 must be 64 hexadecimal characters"));
  if (auto e = GetProvenance(body, default_created_by, created_by, commit, repo)) return fail(*e);
  std::optional<std::string> image, image_digest;
  if (auto e = GetImage(body, *artifact_kind, image, image_digest)) return fail(*e);
  result.release = ReleaseInput{*app,        *tag,   *version, *url,  *digest,     *artifact_kind,
                                *created_by, commit, repo,     image, image_digest};
  return result;
}

bool SameArtifact(const ReleaseInput& a, const ReleaseInput& b) {
  return a.app == b.app && a.version == b.version && a.sha256 == b.sha256 &&
         a.artifact_url == b.artifact_url && a.artifact_kind == b.artifact_kind &&
         a.image == b.image && a.image_digest == b.image_digest;
}

std::string GithubSignature(std::string_view secret, std::string_view body) {
  return "sha256=" + core::HexEncode(core::HmacSha256(secret, body));
}

bool VerifyGithubSignature(std::string_view secret, std::string_view body,
                           std::string_view signature_header) {
  if (secret.empty()) return false;
  const std::string expected = GithubSignature(secret, body);
  if (signature_header.size() != expected.size()) return false;
  return CRYPTO_memcmp(expected.data(), signature_header.data(), expected.size()) == 0;
}

namespace {

GithubOutcome Invalid(GithubOutcome out, std::string field, std::string reason) {
  out.kind = GithubOutcome::Kind::kInvalid;
  out.field = std::move(field);
  out.reason = std::move(reason);
  return out;
}

// A webhook's field read without json::value(), which throws when the field holds another type
// (or `obj` is no object): the string there, else `fallback`.
std::string StringOr(const json& obj, const char* key, std::string fallback = "") {
  if (!obj.is_object()) return fallback;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// True only when `obj` holds the boolean true at `key`.
bool IsTrue(const json& obj, const char* key) {
  if (!obj.is_object()) return false;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

// The app a repository's name stands for: lower case, '_' and '.' as '-'.
std::string AppFromRepoName(std::string app) {
  for (auto& c : app) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : app) {
    if (c == '_' || c == '.') c = '-';
  }
  return app;
}

// The release an archive asset (.tar.gz, .tgz) of a published GitHub release stands for, with
// the event key of the delivery; or why it is refused.
GithubOutcome ReleaseFromAsset(const json& payload, const json& rel, const json& repo,
                               const json& asset, const std::string& name, const std::string& app,
                               const std::string& tag, const std::string& action) {
  GithubOutcome out;
  const std::string digest = asset.contains("digest") && asset["digest"].is_string()
                                 ? asset["digest"].get<std::string>()
                                 : "";
  auto sha = NormalizeSha256(digest);
  if (!sha) {
    return Invalid(std::move(out), "release.assets[].digest",
                   "asset '" + name + "' has no sha256 digest (\"sha256:<64 hex>\")");
  }
  ReleaseInput r;
  r.app = app;
  r.tag = tag;
  r.version = VersionFromTag(tag);
  r.artifact_url = StringOr(asset, "browser_download_url");
  r.sha256 = *sha;
  r.artifact_kind = ArtifactKind::kTarball;
  r.created_by = payload.contains("sender") && payload["sender"].is_object()
                     ? "github:" + StringOr(payload["sender"], "login", "unknown")
                     : "github";
  if (rel.contains("target_commitish") && rel["target_commitish"].is_string()) {
    const std::string c = rel["target_commitish"];
    static const std::regex sha_re("^[0-9a-f]{7,64}$");
    if (std::regex_match(c, sha_re)) r.commit = c;
  }
  if (repo.contains("full_name") && repo["full_name"].is_string()) {
    r.repo = repo["full_name"].get<std::string>();
  }
  if (auto why = UnsafeTextReason(r.created_by)) {
    return Invalid(std::move(out), "sender.login", "sender.login " + *why);
  }
  if (r.repo) {
    if (auto why = UnsafeTextReason(*r.repo)) {
      return Invalid(std::move(out), "repository.full_name", "repository.full_name " + *why);
    }
  }
  const auto id_text = [](const json& obj, const char* id_field, const std::string& fallback) {
    const auto it = obj.find(id_field);
    if (it != obj.end() && it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
    return fallback;
  };
  out.event_key = id_text(repo, "id", r.repo.value_or(r.app));
  out.event_key += "/" + id_text(rel, "id", "tag:" + tag);
  out.event_key += "/" + action;
  if (!IsValidAppName(r.app)) {
    return Invalid(std::move(out), "repository.name",
                   "repository name '" + r.app + "' is not a valid app name");
  }
  if (!IsValidArtifactUrl(r.artifact_url, r.artifact_kind)) {
    return Invalid(std::move(out), "release.assets[].browser_download_url",
                   "asset URL is not http(s)");
  }
  out.kind = GithubOutcome::Kind::kRelease;
  out.release = std::move(r);
  return out;
}

}  // namespace

GithubOutcome InterpretGithubEvent(std::string_view event, const json& payload) {
  GithubOutcome out;
  if (event != "release") {
    out.reason = "event '" + std::string(event) + "' does not create releases";
    return out;
  }
  if (!payload.is_object()) return Invalid(std::move(out), "body", "payload must be a JSON object");
  // json::value() throws when the key holds another type: a non-string action is no action.
  const auto action_it = payload.find("action");
  const std::string action =
      action_it != payload.end() && action_it->is_string() ? action_it->get<std::string>() : "";
  if (action != "published") {
    out.reason = "release action '" + action + "' is not 'published'";
    return out;
  }
  const auto rel = payload.find("release");
  if (rel == payload.end() || !rel->is_object()) {
    return Invalid(std::move(out), "release", "release is missing");
  }
  const auto repo = payload.find("repository");
  if (repo == payload.end() || !repo->is_object() || !repo->contains("name")) {
    return Invalid(std::move(out), "repository.name", "repository.name is missing");
  }
  // Pre-releases are still releases; drafts never are.
  if (IsTrue(*rel, "draft")) {
    out.reason = "draft releases are ignored";
    return out;
  }
  const std::string app = AppFromRepoName(StringOr(*repo, "name"));
  const std::string tag = StringOr(*rel, "tag_name");
  if (!IsValidTag(tag)) {
    return Invalid(std::move(out), "release.tag_name",
                   "tag '" + tag + "' is not a semantic version tag");
  }
  const auto assets = rel->find("assets");
  if (assets == rel->end() || !assets->is_array() || assets->empty()) {
    return Invalid(std::move(out), "release.assets",
                   "release has no assets; attach the artifact (.tar.gz)");
  }
  for (const auto& asset : *assets) {
    const std::string name = StringOr(asset, "name");
    const bool archive = name.ends_with(".tar.gz") || name.ends_with(".tgz");
    if (!archive) continue;
    return ReleaseFromAsset(payload, *rel, *repo, asset, name, app, tag, action);
  }
  return Invalid(std::move(out), "release.assets", "no .tar.gz or .tgz asset in the release");
}

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kDeployer:
      return "deployer";
    case Role::kApprover:
      return "approver";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view s) {
  if (s == "viewer") return Role::kViewer;
  if (s == "deployer") return Role::kDeployer;
  if (s == "approver") return Role::kApprover;
  if (s == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string HashToken(std::string_view token) { return core::Sha256Hex(token); }

std::string NewToken() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return "slc_" + core::Base64UrlEncode(
                      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::optional<std::int64_t> ParseRfc3339Millis(std::string_view s) {
  const auto t = core::ParseRfc3339(s);
  if (!t) return std::nullopt;
  return core::ToUnixMillis(*t);
}

std::variant<TokenRequest, FieldError> ValidateTokenRequest(const json& body, std::int64_t now_ms) {
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "name" && key != "role" && key != "expires_in" && key != "expires_at" &&
        key != "environments") {
      return Err(key, "unknown field '" + key +
                          "'; known fields: name, role, expires_in, "
                          "expires_at, environments");
    }
  }
  std::optional<std::string> name, role, expires_in, expires_at;
  if (auto e = GetString(body, "name", true, name)) return *e;
  static const std::regex kName("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  if (!std::regex_match(*name, kName)) {
    return Err("name", "name must be 1-64 characters of letters, digits, . _ -");
  }
  EnvGrants grants;
  const auto envs = body.find("environments");
  if (envs != body.end()) {
    auto parsed = ParseGrants(*envs, "environments");
    if (const auto* e = std::get_if<FieldError>(&parsed)) return *e;
    grants = std::get<EnvGrants>(std::move(parsed));
  }
  // With grants, the global role may be left out: viewer everywhere else.
  if (auto e = GetString(body, "role", grants.empty(), role)) return *e;
  const auto parsed_role = role ? ParseRole(*role) : std::optional<Role>(Role::kViewer);
  if (!parsed_role) return Err("role", "role must be viewer, deployer, approver or admin");
  TokenRequest out{*name, *parsed_role, std::nullopt, std::move(grants)};
  if (auto e = GetString(body, "expires_in", false, expires_in)) return *e;
  if (auto e = GetString(body, "expires_at", false, expires_at)) return *e;
  if (expires_in && expires_at) return Err("expires_at", "give expires_in or expires_at, not both");
  if (expires_in) {
    const auto d = core::ParseDuration(*expires_in);
    if (!d || d->count() <= 0) {
      return Err("expires_in", "expires_in must be a duration such as 12h, 30d or 1d12h");
    }
    if (d->count() > kMaxTokenLifetimeMs) return Err("expires_in", "expires_in is at most 3650d");
    out.expires_at_ms = now_ms + d->count();
  } else if (expires_at) {
    const auto at = ParseRfc3339Millis(*expires_at);
    if (!at) {
      return Err("expires_at", "expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z");
    }
    if (*at <= now_ms) return Err("expires_at", "expires_at is in the past");
    if (*at - now_ms > kMaxTokenLifetimeMs) {
      return Err("expires_at", "expires_at is at most ten years ahead");
    }
    out.expires_at_ms = *at;
  }
  return out;
}

std::optional<std::string> TokenRefusal(const StoredToken& token, std::int64_t now_ms) {
  if (token.revoked) return "API token '" + token.name + "' was revoked";
  if (token.expires_at_ms && *token.expires_at_ms <= now_ms) {
    return "API token '" + token.name + "' expired at " +
           core::FormatRfc3339(core::FromUnixMillis(*token.expires_at_ms)) +
           "; ask an admin for a new one";
  }
  return std::nullopt;
}

std::optional<FieldError> CheckTagFilter(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagFilterChars) {
    return FieldError{"tag", "tag must be 1 to " + std::to_string(kMaxTagFilterChars) +
                                 " characters of the tag to look for"};
  }
  if (auto why = UnsafeTextReason(tag)) return FieldError{"tag", "tag " + *why};
  return std::nullopt;
}

std::variant<PageRequest, FieldError> ParsePage(std::optional<std::string> limit,
                                                std::optional<std::string> cursor) {
  PageRequest page;
  if (limit) {
    const std::string_view text = *limit;
    int v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > 200) {
      return FieldError{"limit", "limit must be a whole number from 1 to 200"};
    }
    page.limit = v;
  }
  if (cursor) {
    const std::string_view text = *cursor;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || v < 0) {
      return FieldError{"cursor", "cursor must be the next_cursor value of a previous page"};
    }
    page.after_seq = v;
  }
  return page;
}

}  // namespace sluice::release_intake
