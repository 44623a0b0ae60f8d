#pragma once

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/strict_json.hpp>
#include <sluice/core/time_range.hpp>
#include <string>
#include <string_view>
#include <thread>

namespace sluice::http {

struct ServerOptions {
  std::string addr = "127.0.0.1:8080";  // host:port; port 0 picks a free port (tests)
  size_t max_body_bytes = 1 << 20;
  int threads = 8;  // workers: they only take requests whose head has arrived
  std::chrono::milliseconds read_timeout{10000};
  // How long an idle keep-alive connection is kept. It waits in the event loop, not on a worker,
  // and a stopping server closes it at once.
  std::chrono::seconds keep_alive_timeout{1};
  // The whole request head (request line and headers) must arrive within header_timeout of the
  // connection's first byte (or of its opening); the whole body within body_timeout of the
  // head. read_timeout still bounds each single read. Until its head is complete a connection
  // waits in one event loop, not on a worker: slow clients cannot take the workers. A request
  // whose head and body together fit in 32 KiB waits there for its body as well (so the
  // header_timeout covers both).
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{30000};
  // Open connections per client address and in all; past either, a new connection gets a 503
  // and is closed at once. 0: no bound.
  std::size_t max_connections_per_address = 128;
  std::size_t max_connections = 1024;
  // HTTPS when both are set (PEM files). With a client CA as well, only clients presenting a
  // certificate it signed get through (mutual TLS).
  std::string tls_cert_file{};
  std::string tls_key_file{};
  std::string tls_client_ca_file{};
  // Entity tags on whole GET answers, and 304 to a matching If-None-Match (see Server). On by
  // default for every server: it only touches answers a client may keep and revalidate, costs
  // one SHA-256 of a body already in memory, and a caller that sends no If-None-Match (the
  // services calling each other) sees a few more headers and nothing else. Off for a server whose
  // GET bodies are large and never revalidated.
  bool etags = true;
};

using JsonHandler = std::function<void(const httplib::Request&, httplib::Response&)>;

// An HTTP server for a service's API and its ops endpoints, wrapping httplib::Server.
//
// Routes registered through Get/Post/Put/Delete run inside a wrapper that
//  - sets the trace id (from the W3C `traceparent` header, or a new one) in a core::TraceScope
//    and echoes it in `X-Trace-Id`;
//  - turns ApiException into its JSON error, nlohmann::json::exception into 400 malformed_json,
//    any other exception into 500 internal (logged with the trace id; the body says nothing
//    about the cause);
//  - for POST/PUT, refuses a body over max_body_bytes with 413 body_too_large and a non-JSON
//    Content-Type with 415 unsupported_media_type before the handler runs;
//  - for GET and HEAD, when etags is on (the default), tags a 200 answer that has a whole body,
//    no ETag of its own, no content provider (a stream, such as server-sent events, is left as
//    it is) and no `Cache-Control: no-store` (such a body is never revalidated, and may hold a
//    secret): `ETag: "<first 32 hex digits of the SHA-256 of the body>"`, with `-gzip` or `-br`
//    before the closing quote when httplib will compress the body (each coding is its own
//    representation), `Vary: Accept-Encoding` when the media type is one httplib compresses,
//    and `Cache-Control: private, no-cache` unless the handler set one (API answers depend on
//    the caller's role: shared caches must not keep them, a browser must revalidate each use).
//    When the request's If-None-Match lists the tag (IfNoneMatchLists), the answer becomes 304
//    without a body, keeping ETag, Cache-Control and Vary. The tag is made from the body the
//    handler wrote, so it needs no knowledge of the resource and is right for every caller:
//    two callers seeing different fields get different tags. The handler still runs in full;
//    a 304 saves the transfer and the client's work, not the server's;
//  - counts requests and latency (labels: server, route pattern, method, status class) once
//    MountOps has named the registry.
// Responses httplib produces itself (no route, unreadable request) get the same JSON error
// shape.
// Connections are accepted through a gate (src/connection_gate.hpp): a connection waits in one
// epoll loop, without a thread, until its request head (and a body of up to 32 KiB) has
// arrived, so slow clients cannot take the workers; see ServerOptions for the deadlines and
// the per-address bound.
class Server : public core::Component {
 public:
  Server(std::string name, ServerOptions options);
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  httplib::Server& Raw() { return *server_; }
  // "https" when the options name a certificate, else "http".
  std::string_view Scheme() const { return options_.tls_cert_file.empty() ? "http" : "https"; }

  void Get(const std::string& pattern, JsonHandler h);
  void Post(const std::string& pattern, JsonHandler h);
  void Put(const std::string& pattern, JsonHandler h);
  void Delete(const std::string& pattern, JsonHandler h);

  // /healthz (200 {"status":"ok"} while the process serves), /readyz (200 or 503 with the
  // Health report) and /metrics (Prometheus text format of the registry, which also receives
  // the server's request metrics). Call before Start.
  void MountOps(core::Health& health, ::prometheus::Registry& registry);

  std::string_view Name() const override { return name_; }
  // Binds (std::runtime_error naming the address when that fails), then serves on a thread.
  void Start() override;
  // Stops accepting, finishes the requests in hand, joins the thread. Idempotent.
  void Stop() override;
  // The bound port (useful when addr uses port 0); 0 before Start.
  int Port() const { return port_.load(); }

 private:
  httplib::Server::Handler Wrap(std::string method, std::string pattern, JsonHandler h);
  httplib::Server::HandlerWithContentReader WrapWithBody(std::string method, std::string pattern,
                                                         JsonHandler h);
  void Observe(const std::string& method, const std::string& route, int status,
               std::optional<std::chrono::steady_clock::duration> elapsed);
  void Run(const std::string& method, const std::string& pattern, const httplib::Request& req,
           httplib::Response& res, const std::function<void()>& body);

  std::string name_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;  // an httplib::SSLServer with TLS
  std::atomic<int> port_{0};
  std::thread thread_;
  std::atomic<bool> loop_exited_{false};
  std::mutex mu_;  // Start/Stop
  bool started_ = false;
  ::prometheus::Family<::prometheus::Counter>* requests_ = nullptr;
  ::prometheus::Family<::prometheus::Histogram>* latency_ = nullptr;
};

// The body as JSON, parsed strictly (core::ParseStrictJson): throws ApiException 400
// malformed_json when it is empty, not JSON or not UTF-8 (field "body"), nests deeper than
// limits.max_depth, repeats a key in one object or holds a NUL in a string (field: the path of
// the offending element, e.g. "alerts[3].labels.foo").
nlohmann::json ParseJsonBody(const httplib::Request& req, const core::JsonLimits& limits = {});
void WriteJson(httplib::Response& res, int status, const nlohmann::json& body);

// Whether an If-None-Match value lists `etag` (a quoted entity tag, e.g. "\"abc\""), by the weak
// comparison RFC 9110 section 13.1.2 prescribes for it: W/"abc" and "abc" match each other;
// tags are case-sensitive; "*" alone matches any tag. The value is a comma-separated list of
// tags (empty elements and spaces around them allowed); parsing stops, matching nothing more,
// at the first element that is not a tag.
bool IfNoneMatchLists(std::string_view if_none_match, std::string_view etag);

// Typed field readers; they throw BadRequest naming the field. A required string must be
// present and non-empty; an optional one may be absent or null.
std::string RequireString(const nlohmann::json& body, std::string_view field);
std::optional<std::string> OptionalString(const nlohmann::json& body, std::string_view field);

// The `limit` query parameter of a list: `fallback` when absent, else a whole number from 1 to
// `max` (digits only); anything else throws BadRequest naming "limit".
int LimitParam(const httplib::Request& req, int fallback, int max = 500);

// The `since` and `until` query parameters of a list (core::ParseTimeRange, durations counted
// back from `now`); a malformed one throws BadRequest naming it, since after until names "until".
core::TimeRange TimeRangeParams(const httplib::Request& req, core::SystemTime now);

}  // namespace sluice::http
