#include <sluice/core/logging.hpp>
#include <sluice/core/periodic_task.hpp>

namespace sluice::core {

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval,
                           std::function<void()> task)
    : name_(std::move(name)), interval_(interval), task_(std::move(task)) {}

PeriodicTask::~PeriodicTask() { Stop(); }

void PeriodicTask::Start() {
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicTask::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      task_();
    } catch (const std::exception& e) {
      Logger("periodic")->error("{} failed: {}", name_, e.what());
    }
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

}  // namespace sluice::core
