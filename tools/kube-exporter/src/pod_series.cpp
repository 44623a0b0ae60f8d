#include "pod_series.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "faults.hpp"

namespace sluice::kube_exporter {
namespace {

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}

std::string Escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string VersionOfImage(const std::string& image, const VersionRules& rules) {
  if (const auto it = rules.images.find(image); it != rules.images.end()) return it->second;
  const auto at = image.find('@');
  if (at != std::string::npos) {
    if (const auto it = rules.images.find(image.substr(at + 1)); it != rules.images.end()) {
      return it->second;
    }
  }
  const std::string repo = image.substr(0, at);
  const auto slash = repo.rfind('/');
  const auto colon = repo.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash) &&
      colon + 1 < repo.size()) {
    return repo.substr(colon + 1);
  }
  return "unknown";
}

std::vector<Pod> PodsOf(const nlohmann::json& pod_list, const VersionRules& rules) {
  std::vector<Pod> out;
  for (const auto& p : pod_list.value("items", nlohmann::json::array())) {
    const auto& meta = p.value("metadata", nlohmann::json::object());
    if (meta.contains("deletionTimestamp")) continue;
    if (p.value("/status/phase"_json_pointer, std::string()) != "Running") continue;
    const auto containers = p.value("/spec/containers"_json_pointer, nlohmann::json::array());
    std::string image;
    for (const auto& c : containers) {
      if (rules.container.empty() || c.value("name", "") == rules.container) {
        image = c.value("image", "");
        break;
      }
    }
    if (image.empty()) continue;
    out.push_back({meta.value("name", ""), image, VersionOfImage(image, rules)});
  }
  std::sort(out.begin(), out.end(), [](const Pod& a, const Pod& b) { return a.name < b.name; });
  return out;
}

PodSeries::PodSeries(Behaviour behaviour) : behaviour_(std::move(behaviour)) {}

PodSeries::Change PodSeries::SetPods(const std::vector<Pod>& pods) {
  Change change;
  std::map<std::string, State> next;
  for (const auto& p : pods) {
    auto it = pods_.find(p.name);
    if (it != pods_.end() && it->second.pod == p) {
      next.emplace(p.name, std::move(it->second));
      continue;
    }
    State s;
    s.pod = p;
    s.buckets.assign(demo::LatencyBuckets().size(), 0.0);
    next.emplace(p.name, std::move(s));
    change.added.push_back(p);
  }
  for (const auto& [name, s] : pods_) {
    if (!next.contains(name)) change.removed.push_back(name);
  }
  pods_ = std::move(next);
  return change;
}

void PodSeries::Advance(double seconds) {
  if (seconds <= 0) return;
  const auto& bounds = demo::LatencyBuckets();
  for (auto& [name, s] : pods_) {
    const bool bad = IsBad(s.pod.version);
    const double n = behaviour_.rate * seconds;
    const double err = n * (bad ? behaviour_.bad_error_rate : behaviour_.healthy_error_rate);
    const double latency = bad ? behaviour_.bad_latency_s : behaviour_.healthy_latency_s;
    s.errors += err;
    s.ok += n - err;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      if (latency <= bounds[i]) s.buckets[i] += n;
    }
    s.sum += n * latency;
    s.count += n;
  }
}

std::string PodSeries::Render() const {
  std::ostringstream o;
  const auto& bounds = demo::LatencyBuckets();
  o << "# HELP demo_http_requests_total Requests to GET / (the work), by version and status "
       "code\n# TYPE demo_http_requests_total counter\n";
  for (const auto& [name, s] : pods_) {
    const std::string l =
        "instance_name=\"" + Escaped(name) + "\",version=\"" + Escaped(s.pod.version) + "\"";
    o << "demo_http_requests_total{" << l << ",code=\"200\"} " << Number(s.ok) << "\n";
    o << "demo_http_requests_total{" << l << ",code=\"500\"} " << Number(s.errors) << "\n";
  }
  o << "# HELP demo_http_request_duration_seconds Time to answer GET /, by version\n"
       "# TYPE demo_http_request_duration_seconds histogram\n";
  for (const auto& [name, s] : pods_) {
    const std::string l =
        "instance_name=\"" + Escaped(name) + "\",version=\"" + Escaped(s.pod.version) + "\"";
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      o << "demo_http_request_duration_seconds_bucket{" << l << ",le=\"" << Number(bounds[i])
        << "\"} " << Number(s.buckets[i]) << "\n";
    }
    o << "demo_http_request_duration_seconds_bucket{" << l << ",le=\"+Inf\"} " << Number(s.count)
      << "\n";
    o << "demo_http_request_duration_seconds_sum{" << l << "} " << Number(s.sum) << "\n";
    o << "demo_http_request_duration_seconds_count{" << l << "} " << Number(s.count) << "\n";
  }
  o << "# HELP demo_app_info The running release of the demo application\n"
       "# TYPE demo_app_info gauge\n";
  for (const auto& [name, s] : pods_) {
    o << "demo_app_info{instance_name=\"" << Escaped(name) << "\",version=\""
      << Escaped(s.pod.version) << "\"} 1\n";
  }
  return o.str();
}

}  // namespace sluice::kube_exporter
