#pragma once

// Enrolling host agents: what a valid enrolment-token request and enrolment are, and whether a
// stored enrolment token may be spent. Pure functions over plain values: no I/O, no clock.
//
// The flow: an admin creates a one-time enrolment token (POST /v1/agents/enrollment-tokens,
// expires, single use, optionally bound to one host name); the host spends it on
// POST /v1/agents/enroll with its name, address and labels, and receives its own credential
// ("slh_..."), a bearer token shown once and stored as its SHA-256. The agent sends it to
// release-intake (POST /v1/agents/heartbeat); revoking the host (DELETE /v1/agents/{name})
// makes release-intake refuse it.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "release.hpp"

namespace sluice::release_intake {

inline constexpr std::int64_t kDefaultEnrollmentTtlMs = 3600LL * 1000;       // 1h
inline constexpr std::int64_t kMaxEnrollmentTtlMs = 7LL * 24 * 3600 * 1000;  // 7d
inline constexpr std::size_t kMaxAgentLabels = 32;

// POST /v1/agents/enrollment-tokens: {"expires_in"?: "30m" (default 1h, at most 7d),
// "name"?: the one host name it may enrol}.
struct EnrollmentTokenRequest {
  std::optional<std::string> host_name;
  std::int64_t expires_at_ms = 0;
};
std::variant<EnrollmentTokenRequest, FieldError> ValidateEnrollmentTokenRequest(
    const nlohmann::json& body, std::int64_t now_ms);

// POST /v1/agents/enroll: {"enrollment_token", "name", "address", "labels"?: {k: v}}.
struct EnrollRequest {
  std::string enrollment_token;
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
};
std::variant<EnrollRequest, FieldError> ValidateEnrollRequest(const nlohmann::json& body);

bool IsValidAgentName(std::string_view s);     // ^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$
bool IsValidAgentAddress(std::string_view s);  // a host name, IPv4 or IPv6 address
bool IsValidLabelKey(std::string_view s);      // ^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$
bool IsValidLabelValue(
    std::string_view s);  // ^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$ or ""

// A stored enrolment token.
struct StoredEnrollmentToken {
  std::string id;
  std::optional<std::string> host_name;
  std::string created_by;
  std::int64_t expires_at_ms = 0;
  std::optional<std::int64_t> used_at_ms;
  std::string used_by;
};

// Why the token cannot enrol `name` at `now_ms` (the message of the 401 / 403), nullopt when it
// can. `name_mismatch` is set when the only reason is the bound host name.
struct EnrollmentRefusal {
  std::string message;
  bool name_mismatch = false;
};
std::optional<EnrollmentRefusal> EnrollmentTokenRefusal(const StoredEnrollmentToken& token,
                                                        const std::string& name,
                                                        std::int64_t now_ms);

// A new host credential: "slh_" + 43 characters of URL-safe base64 of 32 random bytes.
std::string NewAgentCredential();
// A new enrolment token: "sle_" + the same.
std::string NewEnrollmentToken();

}  // namespace sluice::release_intake
