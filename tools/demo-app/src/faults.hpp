#pragma once

// The demo application's pure parts: the fault settings (what GET / does), sampling one
// request's outcome from them, and the process metrics read from /proc.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::demo {

// How GET / misbehaves. Defaults come from the release's demo.json; POST /admin/faults
// changes them at run time.
struct Faults {
  double error_rate = 0.0;  // probability of a 500, 0..1
  int latency_ms = 20;      // mean time spent on a request
  // Uniform spread around latency_ms (± jitter_ms); absent: a tenth of latency_ms.
  std::optional<int> jitter_ms;
  bool healthy = true;  // false: /healthz answers 503

  int EffectiveJitterMs() const { return jitter_ms.value_or(latency_ms / 10); }
  bool operator==(const Faults&) const = default;
};

inline constexpr int kMaxLatencyMs = 60'000;

// A fault document that cannot be applied; `field` names the offending key.
class FaultError : public std::invalid_argument {
 public:
  FaultError(std::string field, const std::string& message)
      : std::invalid_argument(message), field_(std::move(field)) {}
  const std::string& Field() const { return field_; }

 private:
  std::string field_;
};

// Applies the keys present in `doc` (a JSON object) on top of `base`: error_rate (0..1),
// latency_ms (0..60000), jitter_ms (0..60000, or null for the default), healthy (bool).
// Unknown keys and wrong types are refused with FaultError; nothing is applied then.
Faults ApplyFaults(const Faults& base, const nlohmann::json& doc);
// The same from text (demo.json, a request body); malformed JSON is a FaultError on "body".
Faults ApplyFaultsText(const Faults& base, std::string_view text);

nlohmann::json ToJson(const Faults& faults);

// What one GET / does.
struct Outcome {
  std::chrono::milliseconds latency{0};
  bool fail = false;
};

// Draws outcomes from a seeded generator: deterministic for a given seed and sequence of
// faults. Not thread-safe; the caller serialises.
class Sampler {
 public:
  explicit Sampler(std::uint64_t seed) : rng_(seed) {}
  Outcome Next(const Faults& faults);

 private:
  std::mt19937_64 rng_;
};

// Buckets of demo_http_request_duration_seconds: 5 ms .. 5 s.
const std::vector<double>& LatencyBuckets();

// CPU time and resident memory of a process, from /proc/<pid>/stat.
struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double start_time_seconds = 0;  // since boot
};

// Parses the text of /proc/<pid>/stat (the command name may hold spaces and parentheses).
// Empty optional when the text does not have the expected fields.
std::optional<ProcessStats> ParseProcStat(std::string_view stat, long ticks_per_second,
                                          long page_size);

// Prometheus text lines (HELP, TYPE, sample) for process_cpu_seconds_total and
// process_resident_memory_bytes.
std::string RenderProcessMetrics(const ProcessStats& stats);

// The release version: the agent's SLUICE_RELEASE_VERSION when set, else the first line of
// the release's VERSION file, else "unknown".
std::string ResolveVersion(std::optional<std::string> env_version,
                           std::optional<std::string> version_file);

}  // namespace sluice::demo
