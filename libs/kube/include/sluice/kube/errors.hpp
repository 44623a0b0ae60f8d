#pragma once

#include <chrono>
#include <optional>
#include <sluice/kube/resource.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kube {

// What went wrong with one API call: a closed set the driver keys on.
enum class ErrorKind {
  kUnauthorized,   // 401: the credential was refused (bad or expired token, unknown cert)
  kForbidden,      // 403: authenticated, but RBAC does not allow the verb
  kNotFound,       // 404
  kConflict,       // 409 Conflict: a stale resourceVersion; re-read and retry
  kAlreadyExists,  // 409 AlreadyExists: create of a name that exists
  kInvalid,        // 422: the object was refused by validation; the causes say why
  kGone,           // 410: a resourceVersion too old to list or watch from; list again
  kBadRequest,     // any other 4xx: a bug in the request
  kThrottled,      // 429: too many requests; retry after Retry-After
  kServerError,    // 5xx
  kTransport,      // no HTTP answer: connect refused, reset, timeout, TLS handshake
};
std::string_view ErrorKindName(ErrorKind kind);

// One field-level cause of a Status (422 mostly).
struct StatusCause {
  std::string reason;  // FieldValueInvalid, FieldValueRequired, ...
  std::string message;
  std::string field;  // spec.replicas
};

// The API's metav1.Status body of a failed call; fields empty when the body was not one.
struct ApiStatus {
  std::string reason;  // NotFound, Conflict, Invalid, Forbidden, ...
  std::string message;
  std::vector<StatusCause> causes;
  std::optional<int> retry_after_seconds;  // details.retryAfterSeconds
};
// Parses a Status; nullopt when `body` is not JSON of kind Status.
std::optional<ApiStatus> ParseStatus(std::string_view body);

// The call that failed, for messages.
struct RequestInfo {
  Verb verb = kGet;
  Resource resource;
  std::string ns;
  std::string name;
  std::string identity = "sluice";  // who we are, e.g. "executor"
  std::string server;               // https://host:port
};

class ApiError : public std::runtime_error {
 public:
  ApiError(ErrorKind kind, long http_status, const std::string& message, ApiStatus status,
           std::optional<std::chrono::seconds> retry_after, bool retryable);

  ErrorKind Kind() const { return kind_; }
  long HttpStatus() const { return http_status_; }  // 0 for kTransport
  const ApiStatus& Status() const { return status_; }
  // Trying the same call again later may succeed: kThrottled, kServerError, and kTransport
  // unless curl called the failure final (a CA that does not verify the server). kConflict
  // needs a re-read first (see UpdateWithRetry), so it is not retryable as it stands.
  bool IsRetryable() const { return retryable_; }
  // The server's Retry-After (header or details.retryAfterSeconds), when it gave one.
  std::optional<std::chrono::seconds> RetryAfter() const { return retry_after_; }

 private:
  ErrorKind kind_;
  long http_status_;
  ApiStatus status_;
  std::optional<std::chrono::seconds> retry_after_;
  bool retryable_;
};

// Maps a non-2xx answer to the ApiError to throw. Pure: the message is built from the
// request, the status code, the body (a Status, usually) and the Retry-After header. A 403
// reads "executor may not patch deployments.apps in namespace shop: add a Role rule
// {apiGroups: [apps], resources: [deployments], verbs: [patch]} (API: ...)".
ApiError MakeApiError(const RequestInfo& req, long http_status, std::string_view body,
                      const std::optional<std::string>& retry_after_header);
// A transport failure (no status): retryable when curl said so.
ApiError MakeTransportError(const RequestInfo& req, const std::string& what, bool retryable);

// Retry-After as delta-seconds; nullopt for an HTTP date or garbage (the caller's backoff
// applies).
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value);

}  // namespace sluice::kube
