#pragma once

// A client of the Prometheus HTTP API (/api/v1/query, /api/v1/query_range). The same calls
// work against VictoriaMetrics (its single-node server and vmselect serve the same paths).
// Blocking; one instance may be shared by threads.

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/clock.hpp"

namespace sluice::prometheus {

struct ClientOptions {
  std::string base_url = "http://127.0.0.1:19090";  // no trailing slash needed
  // Sent as-is in an Authorization header when set (e.g. "Bearer abc", "Basic ...").
  std::string authorization;
  std::chrono::milliseconds timeout{5000};       // per attempt
  int attempts = 3;                              // transport errors and 5xx are retried
  std::chrono::milliseconds retry_backoff{200};  // doubled after each failed attempt
};

using Labels = std::map<std::string, std::string>;

struct Point {
  core::SystemTime at;
  double value = 0;  // may be NaN or +/-Inf as Prometheus returns them
};

// One series of a result. An instant query gives one point per series; a range query many.
struct Series {
  Labels labels;  // without __name__ when Prometheus dropped it
  std::vector<Point> points;
};

enum class ResultType { kVector, kMatrix, kScalar, kString };

struct QueryResult {
  ResultType type = ResultType::kVector;
  std::vector<Series> series;  // a scalar is one series with no labels
  std::vector<std::string> warnings;
};

// Why a query failed. `retryable` is true for transport errors, timeouts and 5xx / 503,
// false for a bad query (400 bad_data) or an unreadable answer.
class QueryError : public std::runtime_error {
 public:
  QueryError(std::string message, bool retryable)
      : std::runtime_error(message), retryable_(retryable) {}
  bool IsRetryable() const { return retryable_; }

 private:
  bool retryable_;
};

class Client {
 public:
  explicit Client(ClientOptions options);

  // GET /api/v1/query?query=&time= ; `at` unset = the server's now.
  QueryResult Query(std::string_view promql,
                    std::optional<core::SystemTime> at = std::nullopt) const;

  // GET /api/v1/query_range?query=&start=&end=&step=
  QueryResult QueryRange(std::string_view promql, core::SystemTime start, core::SystemTime end,
                         std::chrono::milliseconds step) const;

  const ClientOptions& Options() const { return options_; }

 private:
  ClientOptions options_;
};

// Parses the JSON body of a query answer ({"status":"success","data":{...}}); throws
// QueryError (not retryable) for "status":"error" with Prometheus's errorType and error.
QueryResult ParseQueryResponse(std::string_view body);

// Escapes a string for use inside a PromQL regex matcher (=~"..."): regex metacharacters get
// a backslash, and the result is safe inside a double-quoted PromQL string.
std::string EscapeRegex(std::string_view s);

}  // namespace sluice::prometheus
