#pragma once

// How read commands print an answer (`-o table|json|yaml`), durations, exit codes and the
// client-side diff of two spec versions: pure functions, unit-tested in sluice_cli_unit_test.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

enum class Format { kTable, kJson, kYaml };
// "table", "json", "yaml"; nullopt for anything else.
std::optional<Format> ParseFormat(std::string_view s);

// The JSON as a YAML document (yaml-cpp's emitter, block style). Strings that YAML would read
// as another type ("true", "12", "null", "yes") are quoted, so the document reads back as the
// same JSON.
std::string ToYaml(const nlohmann::json& value);

// One column of a table: its header and the key of each item it shows. A key ending in "_ms"
// holding a number is shown as an RFC 3339 UTC time; null, absent and "" show "-".
struct Column {
  std::string header;
  std::string key;
};
// A header line and one line per item, columns two spaces apart; `empty` when there is none.
std::vector<std::string> RenderTable(const nlohmann::json& items, const std::vector<Column>& cols,
                                     std::string_view empty);
// An object as aligned "key: value" lines (objects and arrays as compact JSON).
std::vector<std::string> RenderFields(const nlohmann::json& object);

// "1h30m", "90s", "500ms", "2d", "0s": a sum of <integer><unit> (d, h, m, s, ms); nullopt for
// anything else (no unit, unknown unit, negative, more than ten years).
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

// --since and --until of the list commands (core::ParseTimeRange: an RFC 3339 time, or a
// duration such as 2h or 1h30m meaning that long before `now`), resolved here to RFC 3339 UTC
// times to the microsecond, so a page's "next page" command names the same range; "" for a flag
// not given. On a wrong value, `error` says which flag and why.
struct TimeRangeFlags {
  std::string since;
  std::string until;
};
std::optional<TimeRangeFlags> ResolveTimeRange(std::string_view since, std::string_view until,
                                               std::chrono::system_clock::time_point now,
                                               std::string& error);

// The CLI's exit codes (cli/README.md documents them; scripts depend on them).
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // anything else: a bad request, a conflict, an unreadable file
  kExitOutcome = 2,      // the deployment or analysis ended other than successfully
  kExitNotFound = 3,     // 404
  kExitRefused = 4,      // 401, 403: no token, a wrong one, or a role too small
  kExitUnavailable = 5,  // the API cannot be reached, or answered 502, 503, 504
  kExitUsage = 64,       // the command line is wrong (sysexits' EX_USAGE)
};
// The exit code for an HTTP status the API answered with (0 for 2xx).
int ExitCodeForHttpStatus(long status);
// What to do next after an API error, one sentence; "" when the message says enough.
//   `api` is the URL the CLI talked to.
std::string HintFor(long status, std::string_view api);

// A unified diff (`diff -u` style, 3 lines of context) from `a` to `b`; "" when they are equal.
std::string UnifiedDiff(std::string_view a, std::string_view b, std::string_view label_a,
                        std::string_view label_b);

}  // namespace sluice::cli
