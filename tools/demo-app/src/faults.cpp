#include "faults.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sluice::demo {
namespace {

int ReadMillis(const nlohmann::json& v, const std::string& field) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) {
    throw FaultError(field, field + " must be a whole number of milliseconds");
  }
  const auto ms = v.get<std::int64_t>();
  if (ms < 0 || ms > kMaxLatencyMs) {
    throw FaultError(field, field + " must be between 0 and " + std::to_string(kMaxLatencyMs));
  }
  return static_cast<int>(ms);
}

}  // namespace

Faults ApplyFaults(const Faults& base, const nlohmann::json& doc) {
  if (!doc.is_object()) throw FaultError("body", "faults must be a JSON object");
  Faults out = base;
  for (const auto& [key, value] : doc.items()) {
    if (key == "error_rate") {
      if (!value.is_number()) throw FaultError(key, "error_rate must be a number from 0 to 1");
      const double rate = value.get<double>();
      if (!(rate >= 0.0 && rate <= 1.0)) {
        throw FaultError(key, "error_rate must be a number from 0 to 1");
      }
      out.error_rate = rate;
    } else if (key == "latency_ms") {
      out.latency_ms = ReadMillis(value, key);
    } else if (key == "jitter_ms") {
      out.jitter_ms = value.is_null() ? std::nullopt : std::optional<int>(ReadMillis(value, key));
    } else if (key == "healthy") {
      if (!value.is_boolean()) throw FaultError(key, "healthy must be true or false");
      out.healthy = value.get<bool>();
    } else {
      throw FaultError(
          key, "unknown field " + key + " (known: error_rate, latency_ms, jitter_ms, healthy)");
    }
  }
  return out;
}

Faults ApplyFaultsText(const Faults& base, std::string_view text) {
  const auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) throw FaultError("body", "faults are not valid JSON");
  return ApplyFaults(base, doc);
}

nlohmann::json ToJson(const Faults& faults) {
  return {{"error_rate", faults.error_rate},
          {"latency_ms", faults.latency_ms},
          {"jitter_ms", faults.EffectiveJitterMs()},
          {"healthy", faults.healthy}};
}

Outcome Sampler::Next(const Faults& faults) {
  Outcome o;
  const int jitter = faults.EffectiveJitterMs();
  int ms = faults.latency_ms;
  if (jitter > 0) ms += std::uniform_int_distribution<int>(-jitter, jitter)(rng_);
  o.latency = std::chrono::milliseconds(std::clamp(ms, 0, kMaxLatencyMs));
  if (faults.error_rate >= 1.0) {
    o.fail = true;
  } else if (faults.error_rate > 0.0) {
    o.fail = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < faults.error_rate;
  }
  return o;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,  1.0,   2.5,  5.0};
  return kBuckets;
}

std::optional<ProcessStats> ParseProcStat(std::string_view stat, long ticks_per_second,
                                          long page_size) {
  // "pid (comm) state ppid ...": comm may contain anything, so split after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0 || page_size <= 0) {
    return std::nullopt;
  }
  std::istringstream in{std::string(stat.substr(close + 1))};
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  // Fields after comm start at 3 (state). utime 14, stime 15, starttime 22, rss 24.
  constexpr std::size_t kUtime = 14 - 3, kStime = 15 - 3, kStart = 22 - 3, kRss = 24 - 3;
  if (fields.size() <= kRss) return std::nullopt;
  try {
    ProcessStats s;
    const double ticks = static_cast<double>(ticks_per_second);
    s.cpu_seconds =
        static_cast<double>(std::stoull(fields[kUtime]) + std::stoull(fields[kStime])) / ticks;
    s.start_time_seconds = static_cast<double>(std::stoull(fields[kStart])) / ticks;
    s.resident_bytes =
        static_cast<double>(std::stoll(fields[kRss])) * static_cast<double>(page_size);
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string RenderProcessMetrics(const ProcessStats& stats) {
  std::ostringstream out;
  out.precision(17);
  out << "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
      << "# TYPE process_cpu_seconds_total counter\n"
      << "process_cpu_seconds_total " << stats.cpu_seconds << "\n"
      << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      << "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << stats.resident_bytes << "\n";
  return out.str();
}

std::string ResolveVersion(std::optional<std::string> env_version,
                           std::optional<std::string> version_file) {
  const auto trim = [](std::string s) {
    const auto nl = s.find_first_of("\r\n");
    if (nl != std::string::npos) s.resize(nl);
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string::npos) return std::string();
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
  };
  if (env_version) {
    auto v = trim(*env_version);
    if (!v.empty()) return v;
  }
  if (version_file) {
    auto v = trim(*version_file);
    if (!v.empty()) return v;
  }
  return "unknown";
}

}  // namespace sluice::demo
