#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice::core {

// Readiness registry shared by a service's parts: each part reports its own named check
// (e.g. "postgres", "kafka-consumer") and the service is ready when all of them are ok.
// Thread-safe.
class Health {
 public:
  void Set(std::string_view check, bool ok, std::string detail = "");
  // All checks ok, and at least one registered.
  bool Ready() const;
  // {"status":"ready"|"not_ready","checks":{"name":{"ok":true,"detail":"…"}}}
  std::string ReportJson() const;

 private:
  struct Check {
    bool ok = false;
    std::string detail;
  };
  mutable std::mutex mu_;
  std::map<std::string, Check, std::less<>> checks_;  // guarded by mu_
};

}  // namespace sluice::core
