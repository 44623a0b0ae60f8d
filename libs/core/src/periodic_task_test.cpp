#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <sluice/core/periodic_task.hpp>

namespace sluice::core {
namespace {

TEST(PeriodicTaskTest, RunsAtStartAndStopsPromptlyDespiteALongInterval) {
  std::promise<void> ran;
  std::atomic<int> runs{0};
  PeriodicTask task("probe", std::chrono::hours(1), [&] {
    if (runs.fetch_add(1) == 0) ran.set_value();
  });
  task.Start();
  ran.get_future().wait();  // the first round runs at once, not after the interval
  const auto before = std::chrono::steady_clock::now();
  task.Stop();  // wakes the hour-long wait
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
  EXPECT_EQ(runs.load(), 1);
  task.Stop();  // idempotent
}

TEST(PeriodicTaskTest, AnExceptionDoesNotEndTheLoop) {
  std::promise<void> second;
  std::atomic<int> runs{0};
  PeriodicTask task("flaky", std::chrono::milliseconds(1), [&] {
    const int n = runs.fetch_add(1);
    if (n == 0) throw std::runtime_error("first round fails");
    if (n == 1) second.set_value();
  });
  task.Start();
  second.get_future().wait();
  task.Stop();
  EXPECT_GE(runs.load(), 2);
}

}  // namespace
}  // namespace sluice::core
