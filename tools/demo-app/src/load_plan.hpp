#pragma once

// The load generator's pure parts: pacing request starts so a target never sees more than
// the configured rate, and reading the list of targets.

#include <chrono>
#include <mutex>
#include <optional>
#include <sluice/core/clock.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::demo {

// Hands out start times for requests to one target, at most `rate_per_second` of them per
// second: consecutive start times are at least 1/rate apart. A caller that falls behind
// (slow responses) is not allowed to catch up in a burst: the next slot is never earlier
// than the time it asks. Thread-safe (the workers of one target share it).
class Pacer {
 public:
  explicit Pacer(double rate_per_second);

  // The time at which the caller may send its next request (>= now).
  core::MonotonicTime Claim(core::MonotonicTime now);
  std::chrono::nanoseconds Interval() const { return interval_; }

 private:
  std::chrono::nanoseconds interval_;
  std::mutex mu_;
  std::optional<core::MonotonicTime> last_;  // guarded by mu_
};

// Targets, one a line: "host:port" or an http:// URL; blank lines and '#' comments skipped.
// Returns base URLs without a trailing slash ("http://10.77.0.11:8000"). Throws
// std::invalid_argument naming the line for anything else.
std::vector<std::string> ParseTargets(std::string_view text);

// One target given on the command line, normalised as above.
std::string NormaliseTarget(std::string_view target);

}  // namespace sluice::demo
