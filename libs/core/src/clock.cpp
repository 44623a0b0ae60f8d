#include <cstdio>
#include <ctime>
#include <sluice/core/clock.hpp>
#include <string>

namespace sluice::core {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

std::string FormatRfc3339(SystemTime t) {
  const auto ms = ToUnixMillis(t);
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000 != 0) --secs;
  const int millis = static_cast<int>(((ms % 1000) + 1000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace sluice::core
