#pragma once

// Test support for end-to-end tests: run a service binary as a child process, wait for it,
// stop it. Used only by tests.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace sluice::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with the current environment less its SLUICE_* variables, plus `env`;
  // stdout and stderr appended to `log_path`.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
               std::string log_path);
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t Pid() const { return pid_; }
  bool Running();
  // Sends SIGTERM and waits up to `timeout`; returns the exit status (or -1 if it had to be
  // killed).
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void Kill();  // SIGKILL, as a crash would
  const std::string& LogPath() const { return log_path_; }
  std::string LogTail(std::size_t bytes = 4000) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// A TCP port on 127.0.0.1 free at the time of the call.
int FreePort();

// Polls url until it answers 200 or the timeout passes; false on timeout.
bool WaitForHttpOk(const std::string& url, std::chrono::milliseconds timeout);

// The environment variable or the fallback.
std::string EnvOr(const char* name, const std::string& fallback);

// A random lowercase suffix for names that must not collide between test runs.
std::string RandomSuffix(std::size_t n = 8);

// Runs a shell command; returns its exit status.
int Shell(const std::string& command);

}  // namespace sluice::testing
