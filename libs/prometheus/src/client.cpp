#include "sluice/prometheus/client.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sluice/core/strict_json.hpp>
#include <thread>

#include "sluice/http/client.hpp"

namespace sluice::prometheus {
namespace {

using nlohmann::json;

// Unix seconds with millisecond precision, as Prometheus accepts them.
std::string UnixSeconds(core::SystemTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

std::string StepSeconds(std::chrono::milliseconds step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(step.count()) / 1000.0);
  return buf;
}

double ParseSampleValue(const json& v) {
  if (!v.is_string()) throw QueryError("unreadable answer: a sample value is not a string", false);
  const auto& s = v.get_ref<const std::string&>();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  try {
    size_t used = 0;
    const double d = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
    return d;
  } catch (const std::exception&) {
    throw QueryError("unreadable answer: sample value '" + s + "' is not a number", false);
  }
}

Point ParsePoint(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number()) {
    throw QueryError("unreadable answer: a sample is not [time, \"value\"]", false);
  }
  const double secs = pair[0].get<double>();
  Point p;
  p.at = core::SystemTime(
      std::chrono::duration_cast<core::SystemTime::duration>(std::chrono::duration<double>(secs)));
  p.value = ParseSampleValue(pair[1]);
  return p;
}

Labels ParseLabels(const json& metric) {
  Labels labels;
  if (!metric.is_object()) return labels;
  for (const auto& [k, v] : metric.items()) {
    if (v.is_string()) labels.emplace(k, v.get<std::string>());
  }
  return labels;
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/')
    options_.base_url.pop_back();
  if (options_.attempts < 1) options_.attempts = 1;
}

namespace {

QueryResult Fetch(const ClientOptions& o, const std::string& path_and_query) {
  http::ClientRequest req;
  req.method = "GET";
  req.url = o.base_url + path_and_query;
  req.timeout = o.timeout;
  req.headers.emplace_back("Accept", "application/json");
  if (!o.authorization.empty()) req.headers.emplace_back("Authorization", o.authorization);

  std::chrono::milliseconds backoff = o.retry_backoff;
  std::string last_error;
  for (int attempt = 1; attempt <= o.attempts; ++attempt) {
    bool retryable = false;
    try {
      const http::ClientResponse resp = http::Send(req);
      if (resp.status >= 200 && resp.status < 300) return ParseQueryResponse(resp.body);
      if (resp.status == 400 || resp.status == 422) {
        // Prometheus answers a bad query with 400 bad_data: the body says what is wrong.
        ParseQueryResponse(resp.body);  // throws with errorType and error
        throw QueryError(
            "HTTP " + std::to_string(resp.status) + " from " + http::RedactUrl(o.base_url), false);
      }
      last_error = "HTTP " + std::to_string(resp.status) + " from " + http::RedactUrl(o.base_url);
      retryable = resp.status >= 500 || resp.status == 429;
      if (!retryable) throw QueryError(last_error, false);
    } catch (const http::HttpError& e) {
      last_error = e.what();
      retryable = e.IsRetryable();
      if (!retryable) throw QueryError(last_error, false);
    }
    if (attempt < o.attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  throw QueryError(
      "query failed after " + std::to_string(o.attempts) + " attempt(s): " + last_error, true);
}

}  // namespace

QueryResult Client::Query(std::string_view promql, std::optional<core::SystemTime> at) const {
  std::string q = "/api/v1/query?query=" + http::UrlEncode(promql);
  if (at) q += "&time=" + UnixSeconds(*at);
  return Fetch(options_, q);
}

QueryResult Client::QueryRange(std::string_view promql, core::SystemTime start,
                               core::SystemTime end, std::chrono::milliseconds step) const {
  if (step.count() <= 0) throw QueryError("query_range: step must be positive", false);
  if (end < start) throw QueryError("query_range: end is before start", false);
  const std::string q = "/api/v1/query_range?query=" + http::UrlEncode(promql) +
                        "&start=" + UnixSeconds(start) + "&end=" + UnixSeconds(end) +
                        "&step=" + StepSeconds(step);
  return Fetch(options_, q);
}

QueryResult ParseQueryResponse(std::string_view body) {
  json doc;
  try {
    doc = core::ParseStrictJson(body);
  } catch (const core::JsonInputError&) {
    doc = nullptr;
  }
  if (!doc.is_object()) {
    throw QueryError("unreadable answer: not a JSON object", false);
  }
  const std::string status = doc.value("status", "");
  if (status != "success") {
    throw QueryError("query refused: " + doc.value("errorType", std::string("error")) + ": " +
                         doc.value("error", std::string("(no message)")),
                     false);
  }
  QueryResult result;
  if (auto w = doc.find("warnings"); w != doc.end() && w->is_array()) {
    for (const auto& s : *w) {
      if (s.is_string()) result.warnings.push_back(s.get<std::string>());
    }
  }
  const auto data = doc.find("data");
  if (data == doc.end() || !data->is_object())
    throw QueryError("unreadable answer: no data", false);
  const std::string type = data->value("resultType", "");
  const auto res = data->find("result");
  if (res == data->end()) throw QueryError("unreadable answer: no data.result", false);
  if (type == "vector") {
    result.type = ResultType::kVector;
    if (!res->is_array()) throw QueryError("unreadable answer: vector result is not a list", false);
    for (const auto& s : *res) {
      Series series;
      series.labels = ParseLabels(s.value("metric", json::object()));
      series.points.push_back(ParsePoint(s.value("value", json())));
      result.series.push_back(std::move(series));
    }
  } else if (type == "matrix") {
    result.type = ResultType::kMatrix;
    if (!res->is_array()) throw QueryError("unreadable answer: matrix result is not a list", false);
    for (const auto& s : *res) {
      Series series;
      series.labels = ParseLabels(s.value("metric", json::object()));
      const auto values = s.find("values");
      if (values != s.end() && values->is_array()) {
        for (const auto& p : *values) series.points.push_back(ParsePoint(p));
      }
      result.series.push_back(std::move(series));
    }
  } else if (type == "scalar") {
    result.type = ResultType::kScalar;
    Series series;
    series.points.push_back(ParsePoint(*res));
    result.series.push_back(std::move(series));
  } else if (type == "string") {
    result.type = ResultType::kString;
  } else {
    throw QueryError("unreadable answer: unknown resultType '" + type + "'", false);
  }
  return result;
}

std::string EscapeRegex(std::string_view s) {
  // RE2 metacharacters get a backslash; in a double-quoted PromQL string a backslash must
  // itself be escaped, so each escape is written as two backslashes.
  static constexpr std::string_view kMeta = R"(\.+*?()|[]{}^$)";
  std::string out;
  for (char c : s) {
    if (kMeta.find(c) != std::string_view::npos) {
      out += "\\\\";
      out.push_back(c);
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace sluice::prometheus
