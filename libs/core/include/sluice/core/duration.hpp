#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

// The one duration grammar of Sluice (specs, env config, routing config, tokens, the agent, the
// CLI): a sum of `<integer><unit>` terms, units d, h, m, s and ms, as in "500ms", "30s", "2m",
// "1h30m" or "1d12h". No sign, spaces, fractions or bare numbers; the total must fit in
// milliseconds. Zero ("0s") is a duration: callers that need a positive one, a cap, or fewer
// units check that themselves.
//
// On failure returns nullopt and, when `error` is given, sets it to why: "empty", "negative",
// "no number", "missing unit", "unknown unit" or "too large".
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text,
                                                       std::string* error = nullptr);

// A duration in that grammar, shortest spelling without the day unit (which the spec grammar,
// analysis::ParseDuration, does not have), zero terms left out: "1h30m", "36h", "20s", "1m500ms",
// "0s". ParseDuration(FormatDuration(d)) == d for every d >= 0; a negative duration is written
// as its absolute value after a '-' (for messages only).
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace sluice::core
