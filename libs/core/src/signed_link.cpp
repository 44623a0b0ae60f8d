#include <openssl/crypto.h>

#include <charconv>
#include <ctime>
#include <sluice/core/encoding.hpp>
#include <sluice/core/signed_link.hpp>
#include <stdexcept>

namespace sluice::core {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ValidKeyId(std::string_view id) {
  if (id.empty() || id.size() > 16) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string Mac(const LinkKey& key, std::string_view path, std::string_view exp) {
  std::string msg = "sluice-link-v1\n";
  msg.append(path);
  msg += '\n';
  msg.append(exp);
  return Base64UrlEncode(HmacSha256(key.secret, msg));
}

std::string Rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The path of an absolute URL ("scheme://authority/path") or the text itself.
std::string_view UrlPath(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return url;
  const auto slash = url.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
}

}  // namespace

std::vector<LinkKey> ParseLinkKeys(std::string_view text) {
  std::vector<LinkKey> keys;
  std::size_t start = 0;
  int index = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const auto item = Trim(text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    ++index;
    if (!item.empty()) {
      const auto colon = item.find(':');
      const std::string where = "link key " + std::to_string(index);
      if (colon == std::string_view::npos) {
        throw std::invalid_argument(where + " is not 'id:secret'");
      }
      LinkKey key{std::string(item.substr(0, colon)), std::string(item.substr(colon + 1))};
      if (!ValidKeyId(key.id)) {
        throw std::invalid_argument(where + ": the id must be 1-16 of [a-z0-9_-]");
      }
      if (key.secret.size() < kMinLinkSecretBytes) {
        throw std::invalid_argument(where + " ('" + key.id + "'): the secret has " +
                                    std::to_string(key.secret.size()) + " bytes, at least " +
                                    std::to_string(kMinLinkSecretBytes) + " are needed");
      }
      for (const auto& k : keys) {
        if (k.id == key.id) throw std::invalid_argument(where + ": id '" + key.id + "' repeated");
      }
      keys.push_back(std::move(key));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return keys;
}

std::string SignLinkQuery(const LinkKey& key, std::string_view path, std::int64_t expires_unix) {
  const std::string exp = std::to_string(expires_unix);
  return "exp=" + exp + "&kid=" + key.id + "&sig=" + Mac(key, path, exp);
}

std::string SignUrl(const LinkKey& key, std::string_view url, std::int64_t expires_unix) {
  return std::string(url) + "?" + SignLinkQuery(key, UrlPath(url), expires_unix);
}

LinkCheck VerifyLink(const std::vector<LinkKey>& keys, std::string_view path,
                     const LinkParams& params, std::int64_t now_unix,
                     std::int64_t max_lifetime_seconds) {
  LinkCheck out;
  if (!params.exp && !params.kid && !params.sig) {
    out.message = "no signed link (exp, kid, sig) and no API token";
    return out;
  }
  out.verdict = LinkVerdict::kMalformed;
  if (!params.exp || !params.kid || !params.sig) {
    out.message = "a signed link needs all of exp, kid and sig";
    return out;
  }
  const std::string& exp = *params.exp;
  std::int64_t expires = 0;
  auto [p, ec] = std::from_chars(exp.data(), exp.data() + exp.size(), expires);
  if (ec != std::errc() || p != exp.data() + exp.size() || exp.size() > 12 || expires <= 0) {
    out.message = "the signed link's exp is not a time in seconds";
    return out;
  }
  out.expires_unix = expires;
  const LinkKey* key = nullptr;
  for (const auto& k : keys) {
    if (k.id == *params.kid) key = &k;
  }
  if (key == nullptr) {
    out.verdict = LinkVerdict::kUnknownKey;
    out.message = "the signed link's key is not known here (retired, or never configured)";
    return out;
  }
  const std::string expected = Mac(*key, path, exp);
  if (params.sig->size() != expected.size() ||
      CRYPTO_memcmp(params.sig->data(), expected.data(), expected.size()) != 0) {
    out.verdict = LinkVerdict::kBadSignature;
    out.message = "the signed link's signature does not match this page";
    return out;
  }
  if (now_unix >= expires) {
    out.verdict = LinkVerdict::kExpired;
    out.message = "signed link expired at " + Rfc3339(expires) + "; ask for a new one";
    return out;
  }
  if (expires - now_unix > max_lifetime_seconds) {
    out.verdict = LinkVerdict::kTooLong;
    out.message = "the signed link lives longer than this server allows";
    return out;
  }
  out.verdict = LinkVerdict::kOk;
  out.message = "ok";
  return out;
}

ParsedLink ParseLinkTarget(std::string_view target) {
  ParsedLink out;
  const auto q = target.find('?');
  out.path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto item = rest.substr(0, amp);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      const auto name = item.substr(0, eq);
      std::string value(item.substr(eq + 1));
      if (name == "exp") out.params.exp = value;
      if (name == "kid") out.params.kid = value;
      if (name == "sig") out.params.sig = value;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace sluice::core
