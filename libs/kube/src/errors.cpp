#include <charconv>
#include <nlohmann/json.hpp>
#include <sluice/kube/errors.hpp>

namespace sluice::kube {
namespace {

std::string JsonString(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// "patch deployments.apps shop/web", "list pods in shop", "create namespaces".
std::string Describe(const RequestInfo& req) {
  std::string out(VerbName(req.verb));
  out += ' ';
  out += req.resource.QualifiedName();
  if (!req.name.empty()) {
    out += ' ';
    if (req.resource.namespaced && !req.ns.empty()) out += req.ns + "/";
    out += req.name;
  } else if (req.resource.namespaced && !req.ns.empty()) {
    out += " in " + req.ns;
  }
  return out;
}

std::string ForbiddenMessage(const RequestInfo& req, const ApiStatus& status) {
  // RBAC's refusals read 'User "x" cannot patch resource ...'; other 403s (a namespace being
  // deleted, an admission webhook) are passed on without a rule to add.
  if (status.message.find(" cannot ") == std::string::npos && !status.message.empty()) {
    return req.identity + " may not " + Describe(req) + ": " + status.message;
  }
  const std::string verb(VerbName(req.verb));
  const std::string rule = FormatRbacRule(req.resource.group, req.resource.resource, req.verb);
  std::string where;
  std::string role;
  if (!req.resource.namespaced) {
    where = " (cluster-scoped)";
    role = "a ClusterRole rule ";
  } else if (req.ns.empty()) {
    where = " in all namespaces";
    role = "a ClusterRole rule ";
  } else {
    where = " in namespace " + req.ns;
    role = "a Role rule ";
  }
  std::string out = req.identity + " may not " + verb + " " + req.resource.QualifiedName() + where +
                    ": add " + role + rule;
  if (!status.message.empty()) out += " (API: " + status.message + ")";
  return out;
}

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUnauthorized:
      return "Unauthorized";
    case ErrorKind::kForbidden:
      return "Forbidden";
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kConflict:
      return "Conflict";
    case ErrorKind::kAlreadyExists:
      return "AlreadyExists";
    case ErrorKind::kInvalid:
      return "Invalid";
    case ErrorKind::kGone:
      return "Gone";
    case ErrorKind::kBadRequest:
      return "BadRequest";
    case ErrorKind::kThrottled:
      return "Throttled";
    case ErrorKind::kServerError:
      return "ServerError";
    case ErrorKind::kTransport:
      return "Transport";
  }
  return "?";
}

std::optional<ApiStatus> ParseStatus(std::string_view body) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || JsonString(j, "kind") != "Status") return std::nullopt;
  ApiStatus s;
  s.reason = JsonString(j, "reason");
  s.message = JsonString(j, "message");
  if (const auto d = j.find("details"); d != j.end() && d->is_object()) {
    if (const auto c = d->find("causes"); c != d->end() && c->is_array()) {
      for (const auto& cause : *c) {
        if (!cause.is_object()) continue;
        s.causes.push_back({JsonString(cause, "reason"), JsonString(cause, "message"),
                            JsonString(cause, "field")});
      }
    }
    if (const auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer()) {
      s.retry_after_seconds = r->get<int>();
    }
  }
  return s;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

ApiError::ApiError(ErrorKind kind, long http_status, const std::string& message, ApiStatus status,
                   std::optional<std::chrono::seconds> retry_after, bool retryable)
    : std::runtime_error(message),
      kind_(kind),
      http_status_(http_status),
      status_(std::move(status)),
      retry_after_(retry_after),
      retryable_(retryable) {}

namespace {

// Retry-After (seconds) when the header holds one, else the Status' details.retryAfterSeconds.
std::optional<std::chrono::seconds> RetryAfter(const std::optional<std::string>& header,
                                               const ApiStatus& status) {
  std::optional<std::chrono::seconds> retry_after;
  if (header) retry_after = ParseRetryAfter(*header);
  if (!retry_after && status.retry_after_seconds) {
    retry_after = std::chrono::seconds(*status.retry_after_seconds);
  }
  return retry_after;
}

ErrorKind KindFor(long http_status, const ApiStatus& status) {
  if (http_status == 401) return ErrorKind::kUnauthorized;
  if (http_status == 403) return ErrorKind::kForbidden;
  if (http_status == 404) return ErrorKind::kNotFound;
  if (http_status == 409) {
    return status.reason == "AlreadyExists" ? ErrorKind::kAlreadyExists : ErrorKind::kConflict;
  }
  if (http_status == 410) return ErrorKind::kGone;
  if (http_status == 422) return ErrorKind::kInvalid;
  if (http_status == 429) return ErrorKind::kThrottled;
  if (http_status >= 500) return ErrorKind::kServerError;
  return ErrorKind::kBadRequest;
}

// What was refused, why, and what to do: one line naming the request.
std::string ErrorMessage(const RequestInfo& req, ErrorKind kind, long http_status,
                         const ApiStatus& status, std::optional<std::chrono::seconds> retry_after) {
  const std::string what = Describe(req);
  const std::string api = status.message.empty() ? "" : ": " + status.message;
  const std::string code = " (" + std::to_string(http_status) + ")";
  std::string message;
  switch (kind) {
    case ErrorKind::kUnauthorized:
      return req.identity + ": " + req.server + " refused the credentials" + code + " on " + what +
             ": the token is wrong or expired, or the client certificate is not signed by "
             "the cluster's CA";
    case ErrorKind::kForbidden:
      return ForbiddenMessage(req, status);
    case ErrorKind::kNotFound:
      return what + ": not found" + code + api;
    case ErrorKind::kConflict:
      return what + ": conflict" + code + api + " (re-read the object and apply the change again)";
    case ErrorKind::kAlreadyExists:
      return what + ": already exists" + code + api;
    case ErrorKind::kInvalid:
      message = what + ": refused as invalid" + code + api;
      if (!status.causes.empty()) {
        message += "; causes:";
        for (const auto& c : status.causes) {
          message += " " + (c.field.empty() ? c.reason : c.field) + ": " + c.message + ";";
        }
        message.pop_back();
      }
      return message;
    case ErrorKind::kGone:
      return what + ": resourceVersion expired" + code + api;
    case ErrorKind::kThrottled:
    case ErrorKind::kServerError:
      message =
          what + ": " + (kind == ErrorKind::kThrottled ? "throttled" : "server error") + code + api;
      if (retry_after) message += " (retry after " + std::to_string(retry_after->count()) + "s)";
      return message;
    case ErrorKind::kBadRequest:
    case ErrorKind::kTransport:
      break;
  }
  return what + ": refused" + code + api;
}

}  // namespace

ApiError MakeApiError(const RequestInfo& req, long http_status, std::string_view body,
                      const std::optional<std::string>& retry_after_header) {
  ApiStatus status = ParseStatus(body).value_or(ApiStatus{});
  if (status.message.empty() && !body.empty() && body.size() <= 512 &&
      body.find('{') == std::string_view::npos) {
    status.message = std::string(body);  // a proxy's plain-text answer
  }
  const auto retry_after = RetryAfter(retry_after_header, status);
  const ErrorKind kind = KindFor(http_status, status);
  const std::string message = ErrorMessage(req, kind, http_status, status, retry_after);
  const bool retryable = kind == ErrorKind::kThrottled || kind == ErrorKind::kServerError;
  return ApiError(kind, http_status, message, std::move(status), retry_after, retryable);
}

ApiError MakeTransportError(const RequestInfo& req, const std::string& what, bool retryable) {
  return ApiError(ErrorKind::kTransport, 0,
                  Describe(req) + ": no answer from " + req.server + ": " + what +
                      (retryable ? "" : " (not retryable: check the server URL and CA)"),
                  ApiStatus{}, std::nullopt, retryable);
}

}  // namespace sluice::kube
