#include "audit.hpp"

#include <regex>

namespace sluice::release_intake {
namespace {

bool IsValidAction(std::string_view s) {
  static const std::regex re(R"(^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$)");
  return s.size() <= kMaxAuditActionBytes && std::regex_match(s.begin(), s.end(), re);
}

}  // namespace

std::variant<AuditQuery, FieldError> ParseAuditQuery(const AuditQueryParams& p,
                                                     core::SystemTime now) {
  AuditQuery q;
  auto page = ParsePage(p.limit, p.cursor);
  if (auto* e = std::get_if<FieldError>(&page)) return *e;
  q.page = std::get<PageRequest>(page);
  if (p.actor) {
    if (p.actor->empty() || p.actor->size() > kMaxAuditActorBytes) {
      return FieldError{"actor", "actor must be 1 to 200 bytes: a token name, agent:<name>, ..."};
    }
    if (auto why = UnsafeTextReason(*p.actor)) return FieldError{"actor", "actor " + *why};
    q.actor = p.actor;
  }
  if (p.action) {
    if (!IsValidAction(*p.action)) {
      return FieldError{"action",
                        "action must be an audited action such as deployment.request or "
                        "token.create (dotted lower-case words, at most 64 bytes)"};
    }
    q.action = p.action;
  }
  if (p.app) {
    if (!IsValidAppName(*p.app)) return FieldError{"app", "app is not a valid app name"};
    q.app = p.app;
  }
  if (p.env) {
    if (!IsValidAppName(*p.env)) {
      return FieldError{"env", "env must be an environment name, e.g. production"};
    }
    q.env = p.env;
  }
  auto range = core::ParseTimeRange(p.since, p.until, now);
  if (auto* e = std::get_if<core::TimeRangeError>(&range)) return FieldError{e->field, e->message};
  q.at = std::get<core::TimeRange>(range);
  return q;
}

}  // namespace sluice::release_intake
