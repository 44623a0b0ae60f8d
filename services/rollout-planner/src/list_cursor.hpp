#pragma once

// The cursor of GET /v1/deployments: keyset paging over the list's order, newest first
// (created_at DESC, id DESC, a total order since id is the key). A cursor names the last
// deployment of a page; the next page is what comes after it in that order. Pure: no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::rollout_planner {

struct ListCursor {
  std::int64_t created_at_us = 0;  // deployments.created_at, microseconds since the epoch
  std::string id;                  // deployments.id

  bool operator==(const ListCursor&) const = default;
};

// Opaque to clients: URL-safe base64 (no padding) of "<created_at_us>.<id>".
std::string FormatListCursor(const ListCursor& cursor);

// The cursor FormatListCursor made, else nullopt: any other text (a character outside the
// URL-safe alphabet, padding, a non-canonical encoding, a negative, signed, zero-led or too
// large time, an empty id or one with a space or control byte, more than kMaxListCursorChars).
inline constexpr std::size_t kMaxListCursorChars = 512;
std::optional<ListCursor> ParseListCursor(std::string_view text);

}  // namespace sluice::rollout_planner
