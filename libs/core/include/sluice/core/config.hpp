#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

// A bad or missing setting. The message names the key and says how to fix it.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A host and a port, as in "127.0.0.1:8080" or "[::1]:9000" (host keeps no brackets).
struct HostAndPort {
  std::string host;
  int port = 0;
};

// Parses "host:port" (port 0..65535; IPv6 hosts in brackets). Empty optional when malformed.
std::optional<HostAndPort> ParseHostPort(std::string_view s);

// Strict configuration from the environment (12-factor).
//
// Only variables whose names start with "SLUICE_" are considered. Every getter records its key
// as known, so that RejectUnknown() can refuse a misspelt variable once all settings are read.
// An empty value counts as unset. Not thread-safe: read the configuration once, at start-up.
class EnvConfig {
 public:
  // Reads the process environment.
  EnvConfig();
  // Reads the given variables instead (tests).
  explicit EnvConfig(std::map<std::string, std::string> env);

  std::string String(std::string_view key, std::string_view default_value);
  std::string Required(std::string_view key);
  int64_t Int(std::string_view key, int64_t default_value, int64_t min, int64_t max);
  // true/false/1/0/yes/no, in any case.
  bool Bool(std::string_view key, bool default_value);
  // "250ms", "5s", "2m", "1h" and sums of them ("1m30s"); a bare number is rejected.
  std::chrono::milliseconds Duration(std::string_view key, std::chrono::milliseconds def);
  // "host:port", validated; the default is returned as given.
  std::string HostPort(std::string_view key, std::string_view def);
  // KEY from the environment, or the contents of the file named by KEY_FILE (trailing newline
  // trimmed). Never logged. Empty optional when neither is set; ConfigError when both are set
  // or the file cannot be read.
  std::optional<std::string> Secret(std::string_view key);

  // Marks a key as known without reading it (a variable a shared ConfigMap sets for every
  // service but this one does not use).
  void MarkKnown(std::string_view key);

  // Throws ConfigError for any SLUICE_* variable no getter asked for (a typo), naming it and
  // the closest known key ("did you mean SLUICE_PG_DSN?").
  void RejectUnknown() const;

 private:
  // The value of a set, non-empty variable; records the key as known.
  std::optional<std::string> Lookup(std::string_view key);

  std::map<std::string, std::string> env_;
  std::set<std::string, std::less<>> known_;
};

// SLUICE_LOG_LEVEL: trace, debug, info (the default), warn or error; ConfigError naming the key
// for anything else.
std::string LogLevelFromEnv(EnvConfig& env);

// Prints "<service>: configuration error: <what>" as one line to stderr and exits with status 2.
// Keys every service accepts without reading them: the shared infrastructure's addresses
// (SLUICE_KAFKA_BROKERS, SLUICE_PG_DSN, SLUICE_REDIS_URL, SLUICE_PROMETHEUS_URL,
// SLUICE_ALERTMANAGER_URL, SLUICE_LOG_LEVEL, and the local stack's SLUICE_KAFKA_SASL_BROKERS and
// SLUICE_KAFKA_SASL_CA), so one environment can serve the whole suite.
const std::vector<std::string_view>& SuiteWideKeys();

[[noreturn]] void ExitOnConfigError(std::string_view service, const std::exception& e);

}  // namespace sluice::core
