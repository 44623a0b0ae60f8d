#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/http/client.hpp>
#include <sluice/kube/credentials.hpp>
#include <sluice/kube/errors.hpp>
#include <sluice/kube/resource.hpp>
#include <string>
#include <string_view>

namespace sluice::kube {

using Json = nlohmann::json;

// The patch content types the API takes.
enum class PatchType {
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902: a list of operations)
};
std::string_view PatchContentType(PatchType type);

struct ListOptions {
  std::string label_selector;  // "app=web,sluice.io/track=canary"
  std::string field_selector;
  // Pages of this many items, fetched until the list is whole (0: the server's default, one
  // page). The result's metadata.resourceVersion is the snapshot's; poll from it.
  int page_size = 500;
};

using Transport = std::function<http::ClientResponse(const http::ClientRequest&)>;
using Sleeper = std::function<void(std::chrono::milliseconds)>;

struct ClientOptions {
  // Who we are in messages: "executor may not patch deployments.apps in namespace shop ...".
  std::string identity = "sluice";
  std::string field_manager = "sluice";      // server-side apply's manager name
  std::chrono::milliseconds timeout{15000};  // one HTTP exchange, connect included
  // Tries of one call on kThrottled (any verb: a 429 was not processed) and on kServerError /
  // kTransport (reads only: a write may have landed). 1 = no retry.
  int max_attempts = 4;
  std::chrono::milliseconds initial_backoff{200};  // doubled per try
  std::chrono::milliseconds max_wait{30000};       // cap on a backoff or a Retry-After
  size_t max_response_bytes = 64 << 20;
  Transport transport;  // default: http::Send (libcurl)
  Sleeper sleep;        // default: std::this_thread::sleep_for
};

// A typed, blocking Kubernetes API client: JSON in, JSON out, errors as ApiError (a closed
// set with IsRetryable()), credentials from a kubeconfig or the pod's service account.
// Thread-safe (each call is its own curl handle).
class Client {
 public:
  explicit Client(Credentials creds, ClientOptions options = {});

  const Credentials& GetCredentials() const { return creds_; }
  const ClientOptions& Options() const { return options_; }

  Json Get(const Resource& r, std::string_view ns, std::string_view name);
  // nullopt on 404.
  std::optional<Json> GetIfExists(const Resource& r, std::string_view ns, std::string_view name);
  // A List object ({"items": [...], "metadata": {"resourceVersion": ...}}), every page merged.
  // `ns` empty lists across all namespaces.
  Json List(const Resource& r, std::string_view ns, const ListOptions& options = {});
  Json Create(const Resource& r, std::string_view ns, const Json& object);
  // PUT of the whole object; its metadata.resourceVersion makes a stale write a kConflict.
  Json Update(const Resource& r, std::string_view ns, const Json& object);
  Json Patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
             const Json& patch);
  // Server-side apply (application/apply-patch+yaml; JSON is YAML): creates or updates to
  // `object`'s fields, owned by options.field_manager; `force` takes fields other managers own.
  Json Apply(const Resource& r, std::string_view ns, const Json& object, bool force = true);
  // propagationPolicy Background (the dependants go after); throws kNotFound when absent.
  void Delete(const Resource& r, std::string_view ns, std::string_view name);
  // false when it was already gone.
  bool DeleteIfExists(const Resource& r, std::string_view ns, std::string_view name);

  // Read-modify-write that survives concurrent writers: Get, `mutate` (return false to leave
  // the object alone: nothing is written), Update; on kConflict read again and retry, up to
  // `attempts` times. Returns the object as stored.
  Json UpdateWithRetry(const Resource& r, std::string_view ns, std::string_view name,
                       const std::function<bool(Json&)>& mutate, int attempts = 5);

 private:
  struct Call {
    RequestInfo info;
    std::string method;
    std::string path_and_query;
    std::string body;
    std::string content_type;
  };
  RequestInfo Info(Verb verb, const Resource& r, std::string_view ns, std::string_view name) const;
  Json Perform(const Call& call);
  http::ClientResponse Exchange(const Call& call);

  Credentials creds_;
  ClientOptions options_;
  TokenSource token_;
};

// The generic form: calls `fn` until it does not throw kConflict, at most `attempts` times
// (each try must re-read what it changes; client-go's retry.RetryOnConflict).
template <typename Fn>
auto RetryOnConflict(int attempts, Fn&& fn) -> decltype(fn()) {
  for (int i = 1;; ++i) {
    try {
      return fn();
    } catch (const ApiError& e) {
      if (e.Kind() != ErrorKind::kConflict || i >= attempts) throw;
    }
  }
}

}  // namespace sluice::kube
