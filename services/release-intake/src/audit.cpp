#include "audit.hpp"

#include <regex>

namespace sluice::release_intake {
namespace {

bool IsValidAction(std::string_view s) {
  static const std::regex re(R"(^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$)");
  return s.size() <= kMaxAuditActionBytes && std::regex_match(s.begin(), s.end(), re);
}

// An RFC 3339 time as Unix milliseconds, or the error naming `field`.
std::variant<std::int64_t, FieldError> Time(const std::string& text, const char* field) {
  if (auto ms = ParseRfc3339Millis(text)) return *ms;
  return FieldError{field,
                    std::string(field) + " must be an RFC 3339 time, e.g. 2027-01-31T10:00:00Z"};
}

}  // namespace

std::variant<AuditQuery, FieldError> ParseAuditQuery(const AuditQueryParams& p) {
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
  if (p.since) {
    auto t = Time(*p.since, "since");
    if (auto* e = std::get_if<FieldError>(&t)) return *e;
    q.since_ms = std::get<std::int64_t>(t);
  }
  if (p.until) {
    auto t = Time(*p.until, "until");
    if (auto* e = std::get_if<FieldError>(&t)) return *e;
    q.until_ms = std::get<std::int64_t>(t);
  }
  if (q.since_ms && q.until_ms && *q.until_ms < *q.since_ms) {
    return FieldError{"until", "until is before since"};
  }
  return q;
}

}  // namespace sluice::release_intake
