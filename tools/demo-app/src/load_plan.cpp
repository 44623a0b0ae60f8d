#include "load_plan.hpp"

#include <algorithm>
#include <cmath>
#include <sluice/core/config.hpp>

namespace sluice::demo {

Pacer::Pacer(double rate_per_second) {
  if (!(rate_per_second > 0.0) || !std::isfinite(rate_per_second)) {
    throw std::invalid_argument("rate must be a positive number of requests per second");
  }
  interval_ = std::chrono::nanoseconds(static_cast<std::int64_t>(std::ceil(1e9 / rate_per_second)));
}

core::MonotonicTime Pacer::Claim(core::MonotonicTime now) {
  std::lock_guard lock(mu_);
  core::MonotonicTime slot = now;
  if (last_) slot = std::max(now, *last_ + interval_);
  last_ = slot;
  return slot;
}

std::string NormaliseTarget(std::string_view target) {
  std::string t(target);
  while (!t.empty() && t.back() == '/') t.pop_back();
  std::string_view hostport = t;
  if (t.rfind("http://", 0) == 0) {
    hostport = std::string_view(t).substr(7);
  } else if (t.find("://") != std::string::npos) {
    throw std::invalid_argument("target " + t + ": only http:// URLs or host:port");
  }
  const auto hp = core::ParseHostPort(hostport);
  if (!hp || hp->host.empty() || hp->port == 0) {
    throw std::invalid_argument("target \"" + t + "\" is not host:port or http://host:port");
  }
  return "http://" + std::string(hostport);
}

std::vector<std::string> ParseTargets(std::string_view text) {
  std::vector<std::string> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    try {
      out.push_back(NormaliseTarget(line));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("line " + std::to_string(line_no) + ": " + e.what());
    }
  }
  return out;
}

}  // namespace sluice::demo
