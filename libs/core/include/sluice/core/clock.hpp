#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

namespace sluice::core {

using SystemTime = std::chrono::system_clock::time_point;
using MonotonicTime = std::chrono::steady_clock::time_point;

// The only way Sluice code reads the time: injected, so tests use a ManualClock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
  virtual MonotonicTime Monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  MonotonicTime Monotonic() const override { return std::chrono::steady_clock::now(); }
  static SystemClock& Instance();
};

// Milliseconds since the Unix epoch, the unit used in logs, rows and headers.
inline std::int64_t ToUnixMillis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline SystemTime FromUnixMillis(std::int64_t ms) {
  return SystemTime(std::chrono::milliseconds(ms));
}

// RFC 3339 with milliseconds in UTC, e.g. 2026-11-25T10:00:00.123Z.
std::string FormatRfc3339(SystemTime t);

}  // namespace sluice::core
