#include "s3_presign.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sluice/core/encoding.hpp>

namespace sluice::executor {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kService = "s3";
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
constexpr std::size_t kMaxKeyBytes = 1024;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); }
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// A DNS name or IPv4 address: letters, digits, '.', '-'.
bool IsHostName(std::string_view h) {
  return !h.empty() && h.size() <= 253 && h.front() != '-' && h.front() != '.' &&
         std::all_of(h.begin(), h.end(), [](char c) {
           return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                  c == '-';
         });
}

bool IsIpv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= s.size()) {
    const auto end = std::min(s.find('.', i), s.size());
    const auto part = s.substr(i, end - i);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), IsDigit)) {
      return false;
    }
    ++parts;
    i = end + 1;
  }
  return parts == 4;
}

void CheckBucket(std::string_view b) {
  const bool ok = b.size() >= 3 && b.size() <= 63 && IsLowerAlnum(b.front()) &&
                  IsLowerAlnum(b.back()) &&
                  std::all_of(b.begin(), b.end(),
                              [](char c) { return IsLowerAlnum(c) || c == '.' || c == '-'; }) &&
                  b.find("..") == std::string_view::npos && !IsIpv4(b);
  if (!ok) {
    throw S3UrlError("bucket \"" + std::string(b) +
                     "\" is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-', "
                     "starting and ending with a letter or digit)");
  }
}

void CheckKey(std::string_view k) {
  if (k.empty()) throw S3UrlError("the object key is empty (give s3://bucket/key)");
  if (k.size() > kMaxKeyBytes) throw S3UrlError("the object key is longer than 1024 bytes");
  if (std::any_of(k.begin(), k.end(), [](char c) { return IsControl(c); })) {
    throw S3UrlError("the object key contains a control character");
  }
  std::size_t i = 0;
  while (i <= k.size()) {
    const auto end = std::min(k.find('/', i), k.size());
    const auto segment = k.substr(i, end - i);
    if (segment == "." || segment == "..") {
      throw S3UrlError("the object key has a \"" + std::string(segment) +
                       "\" segment, which HTTP clients resolve away before sending");
    }
    i = end + 1;
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// host[:port] as an HTTP client sends it in Host (no default port).
std::string Authority(std::string_view host, const S3Endpoint& e) {
  std::string out(host);
  if (!e.port.empty()) out += ":" + e.port;
  return out;
}

}  // namespace

S3Endpoint ParseS3Endpoint(std::string_view url) {
  const std::string shown(url);
  S3Endpoint e;
  std::string_view rest;
  if (url.starts_with("https://")) {
    e.scheme = "https";
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    e.scheme = "http";
    rest = url.substr(7);
  } else {
    throw S3UrlError("\"" + shown + "\" is not an http:// or https:// URL");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    throw S3UrlError("\"" + shown +
                     "\" must be scheme://host[:port] only (no path, query or user)");
  }
  std::string_view host = rest;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) {
      throw S3UrlError("\"" + shown + "\": unterminated IPv6 address");
    }
    host = rest.substr(0, close + 1);
    const auto inner = rest.substr(1, close - 1);
    if (!std::all_of(inner.begin(), inner.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':';
        })) {
      throw S3UrlError("\"" + shown + "\": not an IPv6 address in brackets");
    }
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) throw S3UrlError("\"" + shown + "\": bad port");
      port = after.substr(1);
    }
  } else {
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (!IsHostName(host)) throw S3UrlError("\"" + shown + "\": not a valid host name");
  }
  e.host = Lower(host);
  if (!port.empty() || rest.ends_with(':')) {
    int n = 0;
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit) ||
        (n = std::stoi(std::string(port))) < 1 || n > 65535) {
      throw S3UrlError("\"" + shown + "\": the port must be 1 to 65535");
    }
    const bool default_port = (e.scheme == "http" && n == 80) || (e.scheme == "https" && n == 443);
    if (!default_port) e.port = std::to_string(n);
  }
  return e;
}

bool IsS3Url(std::string_view url) { return url.starts_with("s3://"); }

S3Object ParseS3Url(std::string_view url) {
  if (!IsS3Url(url)) throw S3UrlError("not an s3:// URL");
  const auto rest = url.substr(5);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    throw S3UrlError("\"" + std::string(url) + "\" names no object (give s3://bucket/key)");
  }
  S3Object o{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
  CheckBucket(o.bucket);
  CheckKey(o.key);
  return o;
}

std::string S3UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string AmzDate(core::SystemTime t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd(day);
  const std::chrono::hh_mm_ss hms(secs - day);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02ld%02ld%02lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

PresignedUrl PresignS3(const S3Signer& signer, const S3Object& object, std::string_view method,
                       core::SystemTime now, std::chrono::seconds ttl) {
  if (ttl < std::chrono::seconds(1) || ttl > kS3MaxUrlTtl) {
    throw S3UrlError("a presigned URL lives 1 second to 7 days");
  }
  if (method != "GET" && method != "HEAD" && method != "PUT") {
    throw S3UrlError("presigning " + std::string(method) + " is not supported");
  }
  CheckBucket(object.bucket);
  CheckKey(object.key);
  const S3Endpoint& e = signer.endpoint;
  std::string host;
  std::string path;
  if (signer.path_style) {
    host = Authority(e.host, e);
    path = "/" + object.bucket + "/" + S3UriEncode(object.key, true);
  } else {
    if (e.host.starts_with('[') || IsIpv4(e.host)) {
      throw S3UrlError("virtual-hosted style needs a DNS name as the endpoint, not " + e.host +
                       " (use path-style)");
    }
    if (e.scheme == "https" && object.bucket.find('.') != std::string::npos) {
      throw S3UrlError("bucket \"" + object.bucket +
                       "\" has a '.', which no TLS certificate of the endpoint covers in "
                       "virtual-hosted style (use path-style)");
    }
    host = Authority(object.bucket + "." + e.host, e);
    path = "/" + S3UriEncode(object.key, true);
  }

  const std::string amz_date = AmzDate(now);
  const std::string scope =
      amz_date.substr(0, 8) + "/" + signer.region + "/" + std::string(kService) + "/aws4_request";
  // Sorted by name, as the canonical query string must be.
  const std::string query =
      "X-Amz-Algorithm=" + std::string(kAlgorithm) +
      "&X-Amz-Credential=" + S3UriEncode(signer.credentials.access_key_id + "/" + scope, false) +
      "&X-Amz-Date=" + amz_date + "&X-Amz-Expires=" + std::to_string(ttl.count()) +
      "&X-Amz-SignedHeaders=host";

  PresignedUrl out;
  out.canonical_request = std::string(method) + "\n" + path + "\n" + query + "\nhost:" + host +
                          "\n\nhost\n" + std::string(kUnsignedPayload);
  out.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" +
                       core::Sha256Hex(out.canonical_request);
  const std::string k_date =
      core::HmacSha256("AWS4" + signer.credentials.secret_access_key, amz_date.substr(0, 8));
  const std::string k_region = core::HmacSha256(k_date, signer.region);
  const std::string k_service = core::HmacSha256(k_region, kService);
  const std::string k_signing = core::HmacSha256(k_service, "aws4_request");
  const std::string signature = core::HexEncode(core::HmacSha256(k_signing, out.string_to_sign));
  out.url = e.scheme + "://" + host + path + "?" + query + "&X-Amz-Signature=" + signature;
  out.expires_at = std::chrono::floor<std::chrono::seconds>(now) + ttl;
  return out;
}

}  // namespace sluice::executor
