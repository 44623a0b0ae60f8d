#pragma once

// A time zone of the system tz database (TZif files under /usr/share/zoneinfo), read without
// the process-wide TZ setting (which localtime would need and no thread may change), and the
// deployment windows of an environment (delivery_spec.hpp's `windows:`) judged against it.
// Parsing and judging are pure; only Load reads a file.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <sluice/spec/delivery_spec.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::release_intake {

class TimeZone {
 public:
  // A zone with one offset from UTC, always.
  static TimeZone Fixed(std::string name, std::chrono::seconds offset);
  // A zone whose offset is `offsets[i]` from `transitions[i]` (UTC seconds, ascending) on and
  // `initial` before the first.
  static TimeZone FromTransitions(std::string name, std::chrono::seconds initial,
                                  std::vector<std::int64_t> transitions,
                                  std::vector<std::chrono::seconds> offsets);
  // The bytes of a TZif file (version 1, or the 64-bit data of version 2 and later); nullopt
  // when they are not one. Past its last transition (2037 in Debian's files) the last offset
  // holds.
  static std::optional<TimeZone> FromTzif(std::string name, std::string_view bytes);
  // `name` ("Europe/Berlin", "UTC") from `dir`; nullopt when there is no such zone. "UTC" is
  // known without a file.
  static std::optional<TimeZone> Load(const std::string& name,
                                      const std::string& dir = "/usr/share/zoneinfo");

  // Load, remembered for the life of the process (zones loaded once; thread-safe).
  static std::optional<TimeZone> Cached(const std::string& name);

  const std::string& Name() const { return name_; }
  std::chrono::seconds OffsetAt(std::int64_t utc_seconds) const;

 private:
  std::string name_;
  std::chrono::seconds initial_{0};
  std::vector<std::int64_t> transitions_;
  std::vector<std::chrono::seconds> offsets_;
};

// Whether a deployment may start at `now_ms` under `windows` (each window's zone in `zones`,
// by name; a window whose zone is missing never opens), and when the next window opens when
// not (within the coming 8 days; nullopt when none does).
struct WindowState {
  bool open = true;
  std::optional<std::int64_t> next_open_ms;
  std::string next_open_local;  // "Mon 09:00 Europe/Berlin" of that opening
};
WindowState CheckWindows(const std::vector<spec::DeploymentWindow>& windows,
                         const std::map<std::string, TimeZone>& zones, std::int64_t now_ms);

// The zones of `windows` that load (Cached), by name; the ones that do not are left out.
std::map<std::string, TimeZone> ZonesOf(const std::vector<spec::DeploymentWindow>& windows);

// "mon-fri 09:00-17:00 Europe/Berlin" (days listed one by one when they are not a run).
std::string DescribeWindow(const spec::DeploymentWindow& w);

}  // namespace sluice::release_intake
