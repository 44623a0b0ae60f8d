#pragma once

#include <optional>
#include <sluice/core/clock.hpp>
#include <string_view>

namespace sluice::core {

// Reads an RFC 3339 time as Sluice writes one (FormatRfc3339) and as RFC 3339 readers expect:
// "2026-11-25T10:00:00Z", with an optional fraction (milliseconds kept, finer digits dropped) and
// "Z" or an offset ("+08:00"). nullopt for anything else, out-of-range fields included, and years
// outside 1678-2261 (the system clock holds nanoseconds in 64 bits).
std::optional<SystemTime> ParseRfc3339(std::string_view text);

}  // namespace sluice::core
