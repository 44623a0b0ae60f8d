#pragma once

#include <sluice/core/clock.hpp>

namespace sluice::core::testing {

// A clock that moves only when the test says so.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(SystemTime start = SystemTime(std::chrono::seconds(1'700'000'000)))
      : now_(start), mono_(MonotonicTime(std::chrono::seconds(1'000))) {}

  SystemTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  MonotonicTime Monotonic() const override {
    std::lock_guard lock(mu_);
    return mono_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    now_ += std::chrono::duration_cast<SystemTime::duration>(d);
    mono_ += std::chrono::duration_cast<MonotonicTime::duration>(d);
  }
  void Set(SystemTime t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  SystemTime now_;
  MonotonicTime mono_;
};

}  // namespace sluice::core::testing
