#pragma once

// Presigned GET URLs for objects in S3-compatible storage (AWS Signature Version 4 with
// query-string authentication, "Authenticating Requests: Using Query Parameters" in the Amazon
// S3 API reference). Pure: no I/O, the time is an argument.
//
// The executor turns an artifact's s3://bucket/key into such a URL just before it sends a
// deploy command to a host (artifact_access.hpp), so hosts download a plain http(s) URL and
// never hold storage credentials. Only the Host header is signed and the payload is
// UNSIGNED-PAYLOAD: any HTTP client (the agent's libcurl, curl or wget in the ssh step script)
// can fetch the URL as it is, a Range header included.

#include <chrono>
#include <optional>
#include <sluice/core/clock.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::executor {

// The longest lifetime a SigV4 presigned URL may have (X-Amz-Expires at most 604800).
inline constexpr std::chrono::seconds kS3MaxUrlTtl{7 * 24 * 3600};

// An s3:// URL or a setting the presigner cannot use; the message says which part and why.
class S3UrlError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Where the store answers: from an http(s) endpoint URL.
struct S3Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // a DNS name, an IPv4 address, or an IPv6 address in brackets
  std::string port;    // empty when it is the scheme's default (the Host header omits it)
};

// Parses "http(s)://host[:port][/]" (no path, query, user or fragment). Throws S3UrlError.
S3Endpoint ParseS3Endpoint(std::string_view url);

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;  // never logged
};

struct S3Signer {
  S3Endpoint endpoint;
  std::string region = "us-east-1";
  S3Credentials credentials;
  // Path-style (http://endpoint/bucket/key), what on-premises stores (SeaweedFS, Ceph RGW,
  // MinIO) answer without wildcard DNS; false: virtual-hosted (http://bucket.endpoint/key).
  bool path_style = true;
};

// An object: s3://<bucket>/<key>.
struct S3Object {
  std::string bucket;
  std::string key;  // as stored: '%' and '?' are characters of the key, not escapes
};

// True when the URL names an S3 object (starts with "s3://"), valid or not.
bool IsS3Url(std::string_view url);

// Parses s3://bucket/key. The bucket follows S3's naming rules (3 to 63 characters: lowercase
// letters, digits, '.', '-', starting and ending with a letter or digit, not an IPv4 address);
// the key is 1 to 1024 bytes without control characters and without "." or ".." segments
// (HTTP clients resolve those before sending, so the signed path would not be the one asked
// for). Everything after the bucket's '/' is the key, literally. Throws S3UrlError.
S3Object ParseS3Url(std::string_view url);

// RFC 3986 percent-encoding as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ as %XX with
// uppercase hex; '/' kept when `keep_slash` (object keys in a path).
std::string S3UriEncode(std::string_view s, bool keep_slash);

// "20130524T000000Z": the X-Amz-Date of a time (UTC, whole seconds).
std::string AmzDate(core::SystemTime t);

struct PresignedUrl {
  std::string url;
  core::SystemTime expires_at;
  // The steps, for tests and for debugging a SignatureDoesNotMatch (no secret in them).
  std::string canonical_request;
  std::string string_to_sign;
};

// Presigns `method` (GET, HEAD or PUT) of the object for `ttl` (1 s to 7 days) from `now`.
// Throws S3UrlError when the TTL is out of range or, in virtual-hosted style, the bucket cannot
// be a DNS label of the endpoint (an IP-address endpoint, or a bucket with a '.' over https).
PresignedUrl PresignS3(const S3Signer& signer, const S3Object& object, std::string_view method,
                       core::SystemTime now, std::chrono::seconds ttl);

}  // namespace sluice::executor
