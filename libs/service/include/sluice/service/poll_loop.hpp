#pragma once
// The loop of a service's background worker (the watcher's analyzer, the notifier's sender):
// one pass after another, at once while a pass did a full batch, else after `poll` or a wake.
// A failing pass is logged once ("<name> pass failed (will retry)") and retried after `poll`;
// the first pass that succeeds again logs "<name> recovered".
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace sluice::service {

struct PollLoopState {
  std::mutex& mu;
  std::condition_variable& cv;
  const bool& stop;  // read under `mu`: the loop returns once it is set
  bool& wake;        // set under `mu` (then cv notified) to start the next pass at once
};

// Returns when `state.stop` is set. `pass` returns how many items it handled; `full_pass` of
// them means there may be more, so the next pass starts without waiting.
void RunPollLoop(const std::string& name, PollLoopState state, std::chrono::milliseconds poll,
                 int full_pass, const std::function<int()>& pass);

}  // namespace sluice::service
