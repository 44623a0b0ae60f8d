#include <sluice/core/health.hpp>
#include <sluice/core/logging.hpp>

namespace sluice::core {

void Health::Set(std::string_view check, bool ok, std::string detail) {
  std::lock_guard lock(mu_);
  auto& c = checks_[std::string(check)];
  c.ok = ok;
  c.detail = std::move(detail);
}

bool Health::Ready() const {
  std::lock_guard lock(mu_);
  if (checks_.empty()) return false;
  for (const auto& [name, c] : checks_) {
    if (!c.ok) return false;
  }
  return true;
}

std::string Health::ReportJson() const {
  std::lock_guard lock(mu_);
  bool ready = !checks_.empty();
  std::string checks;
  for (const auto& [name, c] : checks_) {
    ready = ready && c.ok;
    if (!checks.empty()) checks += ',';
    checks += "\"" + JsonEscape(name) + "\":{\"ok\":" + (c.ok ? "true" : "false") +
              ",\"detail\":\"" + JsonEscape(c.detail) + "\"}";
  }
  return std::string("{\"status\":\"") + (ready ? "ready" : "not_ready") + "\",\"checks\":{" +
         checks + "}}";
}

}  // namespace sluice::core
