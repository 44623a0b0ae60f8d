#include "sluice/service/poll_loop.hpp"

#include <exception>
#include <sluice/core/logging.hpp>

namespace sluice::service {

void RunPollLoop(const std::string& name, PollLoopState state, std::chrono::milliseconds poll,
                 int full_pass, const std::function<int()>& pass) {
  const auto log = core::Logger(name);
  bool failing = false;
  std::unique_lock lock(state.mu);
  while (!state.stop) {
    state.wake = false;
    lock.unlock();
    int handled = 0;
    try {
      handled = pass();
      if (failing) log->info("{} recovered", name);
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) log->error("{} pass failed (will retry): {}", name, e.what());
      failing = true;
    }
    lock.lock();
    if (handled < full_pass || failing) {
      state.cv.wait_for(lock, poll, [&state] { return state.stop || state.wake; });
    }
  }
}

}  // namespace sluice::service
