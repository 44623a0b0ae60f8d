#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace sluice::core {

// Sets up JSON logging on stderr, one object a line:
//   {"ts":"…","level":"info","service":"release-intake","logger":"outbox","trace_id":"…","msg":"…"}
// level is one of trace, debug, info, warn, error, critical, off.
void InitLogging(std::string_view service, std::string_view level);

// A named logger per module (created on first use, sharing the JSON sink).
std::shared_ptr<spdlog::logger> Logger(std::string_view module);

// The trace id of the work this thread is doing; log lines carry it.
class TraceScope {
 public:
  explicit TraceScope(std::string trace_id);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
  static const std::string& Current();

 private:
  std::string previous_;
};

// Escapes a string for inclusion in a JSON string literal (no surrounding quotes).
std::string JsonEscape(std::string_view s);

}  // namespace sluice::core
