#include "list_cursor.hpp"

#include <algorithm>
#include <charconv>
#include <sluice/core/encoding.hpp>

namespace sluice::rollout_planner {
namespace {

constexpr std::size_t kMaxIdChars = 256;

bool IsUrlSafeBase64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

std::string FormatListCursor(const ListCursor& cursor) {
  return core::Base64UrlEncode(std::to_string(cursor.created_at_us) + "." + cursor.id);
}

std::optional<ListCursor> ParseListCursor(std::string_view text) {
  if (text.empty() || text.size() > kMaxListCursorChars) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), IsUrlSafeBase64)) return std::nullopt;
  std::string standard(text);
  std::replace(standard.begin(), standard.end(), '-', '+');
  std::replace(standard.begin(), standard.end(), '_', '/');
  const auto decoded = core::Base64Decode(standard);
  // One encoding per cursor: the unused low bits of the last character must be zero.
  if (!decoded || core::Base64UrlEncode(*decoded) != text) return std::nullopt;
  const std::string_view plain = *decoded;
  const auto dot = plain.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view micros = plain.substr(0, dot);
  if (!std::all_of(micros.begin(), micros.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (micros.size() > 1 && micros.front() == '0')) {
    return std::nullopt;
  }
  ListCursor out;
  const auto [end, ec] =
      std::from_chars(micros.data(), micros.data() + micros.size(), out.created_at_us);
  if (ec != std::errc() || end != micros.data() + micros.size()) return std::nullopt;
  const std::string_view id = plain.substr(dot + 1);
  if (id.empty() || id.size() > kMaxIdChars) return std::nullopt;
  if (!std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return std::nullopt;
  }
  out.id = std::string(id);
  return out;
}

}  // namespace sluice::rollout_planner
