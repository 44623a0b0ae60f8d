#pragma once

#include <optional>
#include <sluice/core/clock.hpp>
#include <string_view>

namespace sluice::core {

// Reads an RFC 3339 time as Sluice writes one (FormatRfc3339) and as other systems write them
// (Alertmanager, Kubernetes, people): "2026-11-25T10:00:00Z", "t" or " " for "T", "z" for "Z",
// an optional fraction (nanoseconds kept, finer digits dropped), "Z" or an offset ("+08:00"),
// second 60 (a leap second). nullopt for anything else, out-of-range fields and impossible dates
// included, and years outside 1678-2261 (the system clock holds nanoseconds in 64 bits).
std::optional<SystemTime> ParseRfc3339(std::string_view text);

}  // namespace sluice::core
