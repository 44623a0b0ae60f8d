#include "agent_enrollment.hpp"

#include <openssl/rand.h>

#include <array>
#include <regex>
#include <sluice/core/duration.hpp>
#include <sluice/core/encoding.hpp>
#include <stdexcept>

#include "field_reading.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

std::optional<FieldError> OnlyFields(const json& body,
                                     std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : body.items()) {
    bool ok = false;
    for (const auto k : known) ok = ok || key == k;
    if (!ok) {
      std::string names;
      for (const auto k : known) names += (names.empty() ? "" : ", ") + std::string(k);
      return Err(key, "unknown field '" + key + "'; known fields: " + names);
    }
  }
  return std::nullopt;
}

bool Matches(std::string_view s, const std::regex& re) {
  return std::regex_match(s.begin(), s.end(), re);
}

}  // namespace

bool IsValidAgentName(std::string_view s) {
  static const std::regex re("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$");
  return Matches(s, re);
}

bool IsValidAgentAddress(std::string_view s) {
  // A DNS name or an IPv4 address (letters, digits, '.', '-'), or an IPv6 address (hex digits
  // and ':'), at most 253 characters; never a port, a path, a space or a scheme.
  static const std::regex name("^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$");
  static const std::regex ipv6("^[0-9A-Fa-f:.]{2,45}$");
  return Matches(s, name) || (s.find(':') != std::string_view::npos && Matches(s, ipv6));
}

bool IsValidLabelKey(std::string_view s) {
  static const std::regex re("^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$");
  return Matches(s, re);
}

bool IsValidLabelValue(std::string_view s) {
  static const std::regex re("^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$");
  return Matches(s, re);
}

std::variant<EnrollmentTokenRequest, FieldError> ValidateEnrollmentTokenRequest(
    const json& body, std::int64_t now_ms) {
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  if (auto e = OnlyFields(body, {"name", "expires_in"})) return *e;
  std::optional<std::string> name, expires_in;
  if (auto e = GetString(body, "name", false, name)) return *e;
  if (name && !IsValidAgentName(*name)) {
    return Err("name",
               "name must be a host name: 1-63 lowercase letters, digits, '.' or '-', starting "
               "and ending with a letter or digit");
  }
  if (auto e = GetString(body, "expires_in", false, expires_in)) return *e;
  std::int64_t ttl = kDefaultEnrollmentTtlMs;
  if (expires_in) {
    const auto d = core::ParseDuration(*expires_in);
    if (!d || d->count() <= 0)
      return Err("expires_in", "expires_in must be a duration such as 30m or 2h");
    if (d->count() > kMaxEnrollmentTtlMs) {
      return Err("expires_in",
                 "expires_in is at most 7d: an enrolment token is for the next install");
    }
    ttl = d->count();
  }
  return EnrollmentTokenRequest{name, now_ms + ttl};
}

std::variant<EnrollRequest, FieldError> ValidateEnrollRequest(const json& body) {
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  if (auto e = OnlyFields(body, {"enrollment_token", "name", "address", "labels"})) return *e;
  std::optional<std::string> token, name, address;
  if (auto e = GetString(body, "enrollment_token", true, token)) return *e;
  if (token->empty() || token->size() > 256) {
    return Err("enrollment_token", "enrollment_token must be 1-256 characters");
  }
  if (auto e = GetString(body, "name", true, name)) return *e;
  if (!IsValidAgentName(*name)) {
    return Err("name",
               "name must be a host name: 1-63 lowercase letters, digits, '.' or '-', starting "
               "and ending with a letter or digit");
  }
  if (auto e = GetString(body, "address", true, address)) return *e;
  if (!IsValidAgentAddress(*address)) {
    return Err("address",
               "address must be a host name or an IP address (no scheme, port or path), at most "
               "253 characters");
  }
  EnrollRequest out{*token, *name, *address, {}};
  if (auto it = body.find("labels"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return Err("labels", "labels must be an object of strings");
    if (it->size() > kMaxAgentLabels) return Err("labels", "labels: at most 32 labels");
    for (const auto& [key, value] : it->items()) {
      const std::string field = "labels." + key;
      if (!IsValidLabelKey(key)) {
        return Err(field,
                   "a label key is 1-63 lowercase letters, digits, '.', '_', '/' or '-', "
                   "starting and ending with a letter or digit");
      }
      if (!value.is_string()) return Err(field, field + " must be a string");
      const auto v = value.get<std::string>();
      if (!IsValidLabelValue(v)) {
        return Err(field,
                   "a label value is at most 63 letters, digits, '.', '_' or '-', starting and "
                   "ending with a letter or digit");
      }
      out.labels.emplace(key, v);
    }
  }
  return out;
}

std::optional<EnrollmentRefusal> EnrollmentTokenRefusal(const StoredEnrollmentToken& token,
                                                        const std::string& name,
                                                        std::int64_t now_ms) {
  if (token.used_at_ms) {
    return EnrollmentRefusal{"the enrolment token was already used (by host '" + token.used_by +
                                 "'); an enrolment token enrols one host once: ask an admin "
                                 "for a new one",
                             false};
  }
  if (now_ms >= token.expires_at_ms) {
    return EnrollmentRefusal{"the enrolment token has expired; ask an admin for a new one", false};
  }
  if (token.host_name && *token.host_name != name) {
    return EnrollmentRefusal{
        "the enrolment token is for host '" + *token.host_name + "', not '" + name + "'", true};
  }
  return std::nullopt;
}

namespace {
std::string RandomSecret(const char* prefix) {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return prefix + core::Base64UrlEncode(
                      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}
}  // namespace

std::string NewAgentCredential() { return RandomSecret("slh_"); }
std::string NewEnrollmentToken() { return RandomSecret("sle_"); }

}  // namespace sluice::release_intake
