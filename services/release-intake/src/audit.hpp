#pragma once

// GET /v1/audit's query: its page and its filters, checked before any SQL runs.

#include <cstdint>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/time_range.hpp>
#include <string>
#include <variant>

#include "release.hpp"

namespace sluice::release_intake {

// The query parameters as they arrived (absent: nullopt).
struct AuditQueryParams {
  std::optional<std::string> limit, cursor, actor, action, app, env, since, until;
};

// A checked query. The page's cursor is the id of the last entry seen (entries come newest
// first, by id); every filter set must match exactly; since and until bound the entry's time
// as every list's do (core::ParseTimeRange: since <= at < until).
struct AuditQuery {
  PageRequest page;
  std::optional<std::string> actor;   // who: a token name, "agent:<name>", "window", ...
  std::optional<std::string> action;  // e.g. deployment.request
  std::optional<std::string> app;     // entries about one app (recorded on app-scoped actions)
  std::optional<std::string> env;     // entries about one environment (likewise)
  core::TimeRange at;
};

// The limits of a filter value.
inline constexpr std::size_t kMaxAuditActorBytes = 200;
inline constexpr std::size_t kMaxAuditActionBytes = 64;

// The first refused parameter names its field: limit and cursor as ParsePage refuses them;
// actor empty, longer than 200 bytes or unsafe text (UnsafeTextReason); action not dotted
// lower-case words ("deployment.request"); app and env not names ([a-z][a-z0-9-]{0,62});
// since or until as core::ParseTimeRange refuses them (an RFC 3339 time, or a duration before
// `now`; until before since names until).
std::variant<AuditQuery, FieldError> ParseAuditQuery(const AuditQueryParams& params,
                                                     core::SystemTime now);

}  // namespace sluice::release_intake
