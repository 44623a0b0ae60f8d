#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Signed, expiring links: a URL path that opens without an API token until its expiry, because
// it carries an HMAC-SHA256 of the path and the expiry under a key the verifier holds.
//
//   <path>?exp=<unix seconds>&kid=<key id>&sig=<base64url HMAC>
//   HMAC input: "sluice-link-v1\n" + path + "\n" + exp
//
// Keys rotate: the first key of the list signs, every key of the list verifies, so a new key
// is put first (links signed with the old one keep opening) and the old one is dropped once
// the longest-lived link signed with it has expired.
namespace sluice::core {

struct LinkKey {
  std::string id;      // [a-z0-9_-]{1,16}, named by the link's kid
  std::string secret;  // at least kMinLinkSecretBytes bytes
};

inline constexpr std::size_t kMinLinkSecretBytes = 32;

// "id:secret[,id:secret...]" (whitespace around items ignored). Throws std::invalid_argument
// naming the item when an id is malformed or repeated, or a secret is too short.
std::vector<LinkKey> ParseLinkKeys(std::string_view text);

// The query string (without '?') that makes `path` open until `expires_unix`.
std::string SignLinkQuery(const LinkKey& key, std::string_view path, std::int64_t expires_unix);

// `url` (absolute or a path, no query of its own) with the signed query appended; the signed
// path is the URL's path ("https://host:8080/console/x" signs "/console/x").
std::string SignUrl(const LinkKey& key, std::string_view url, std::int64_t expires_unix);

enum class LinkVerdict {
  kOk,
  kMissing,       // no exp / kid / sig at all
  kMalformed,     // one of them missing or not well formed
  kUnknownKey,    // kid not among the keys
  kBadSignature,  // the HMAC does not match (constant-time compare)
  kExpired,       // now >= exp
  kTooLong,       // exp further ahead than max_lifetime_seconds
};

struct LinkParams {
  std::optional<std::string> exp, kid, sig;
};

struct LinkCheck {
  LinkVerdict verdict = LinkVerdict::kMissing;
  std::int64_t expires_unix = 0;
  // What a person reads: "signed link expired at 2026-12-06T20:00:00Z", ...
  std::string message;
};

LinkCheck VerifyLink(const std::vector<LinkKey>& keys, std::string_view path,
                     const LinkParams& params, std::int64_t now_unix,
                     std::int64_t max_lifetime_seconds);

// Splits "path?a=b&c=d" into the path and the link parameters (other parameters are ignored).
struct ParsedLink {
  std::string path;
  LinkParams params;
};
ParsedLink ParseLinkTarget(std::string_view target);

}  // namespace sluice::core
