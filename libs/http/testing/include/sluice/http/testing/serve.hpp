#pragma once
// Test fixtures' HTTP servers (fakes of agents, artifact servers, scrape targets).
#include <httplib.h>

#include <atomic>
#include <memory>
#include <thread>

namespace sluice::http::testing {

// Runs `server` (already bound, e.g. with bind_to_any_port) on a new thread and returns that
// thread once the accept loop runs. httplib::Server::stop() is a no-op until then, so a fixture
// that stops its server right after starting it (a test that never calls it) would otherwise
// wait in join() for ever.
inline std::thread ServeInBackground(httplib::Server& server) {
  auto returned = std::make_shared<std::atomic<bool>>(false);
  std::thread t([&server, returned] {
    server.listen_after_bind();
    *returned = true;
  });
  while (!server.is_running() && !*returned) std::this_thread::yield();
  return t;
}

}  // namespace sluice::http::testing
