#pragma once

// GET /v1/audit's query: its page and its filters, checked before any SQL runs.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "release.hpp"

namespace sluice::release_intake {

// The query parameters as they arrived (absent: nullopt).
struct AuditQueryParams {
  std::optional<std::string> limit, cursor, actor, action, app, env, since, until;
};

// A checked query. The page's cursor is the id of the last entry seen (entries come newest
// first, by id); every filter set must match exactly; since and until bound the entry's time,
// both inclusive.
struct AuditQuery {
  PageRequest page;
  std::optional<std::string> actor;   // who: a token name, "agent:<name>", "window", ...
  std::optional<std::string> action;  // e.g. deployment.request
  std::optional<std::string> app;     // entries about one app (recorded on app-scoped actions)
  std::optional<std::string> env;     // entries about one environment (likewise)
  std::optional<std::int64_t> since_ms, until_ms;
};

// The limits of a filter value.
inline constexpr std::size_t kMaxAuditActorBytes = 200;
inline constexpr std::size_t kMaxAuditActionBytes = 64;

// The first refused parameter names its field: limit and cursor as ParsePage refuses them;
// actor empty, longer than 200 bytes or unsafe text (UnsafeTextReason); action not dotted
// lower-case words ("deployment.request"); app and env not names ([a-z][a-z0-9-]{0,62});
// since or until not RFC 3339; until before since (field until).
std::variant<AuditQuery, FieldError> ParseAuditQuery(const AuditQueryParams& params);

}  // namespace sluice::release_intake
