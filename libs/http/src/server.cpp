#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sluice/core/clock.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/encoding.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <stdexcept>
#include <type_traits>

#include "connection_gate.hpp"

namespace sluice::http {
namespace {

constexpr const char* kTraceHeader = "X-Trace-Id";
constexpr const char* kUnmatchedRoute = "unmatched";

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The trace id of a W3C traceparent ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"),
// or a new one when the header is absent or malformed.
std::string TraceIdFrom(const httplib::Request& req) {
  const std::string tp = req.get_header_value("traceparent");
  if (tp.size() >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-') {
    const std::string_view version = std::string_view(tp).substr(0, 2);
    const std::string_view id = std::string_view(tp).substr(3, 32);
    if (IsLowerHex(version) && version != "ff" && IsLowerHex(id) && id != std::string(32, '0')) {
      return std::string(id);
    }
  }
  return core::NewTraceId();
}

std::string MediaType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return t;
}

bool IsJsonMediaType(const std::string& media_type) {
  return media_type == "application/json" ||
         (media_type.size() > 5 && media_type.rfind("+json") == media_type.size() - 5);
}

bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  const std::string len = req.get_header_value("Content-Length");
  return !len.empty() && len != "0";
}

std::string StatusClass(int status) { return std::to_string(status / 100) + "xx"; }

// The error body for a response httplib produced without a handler.
ApiError DefaultError(const httplib::Request& req, int status, size_t max_body_bytes) {
  switch (status) {
    case 400:
      return {400, "bad_request", "the request could not be parsed", ""};
    case 404:
      return {404, "not_found", "no route for " + req.method + " " + req.path, ""};
    case 405:
      return {405, "method_not_allowed", req.method + " is not allowed here", ""};
    case 413:
      return {413, "body_too_large",
              "request body exceeds " + std::to_string(max_body_bytes) + " bytes", "body"};
    case 414:
      return {414, "uri_too_long", "request URI is too long", ""};
    default:
      return {status, status >= 500 ? "internal" : "http_error",
              "request failed with status " + std::to_string(status), ""};
  }
}

ApiError InternalError(const std::string& trace_id) {
  return {500, "internal", "internal error (trace id " + trace_id + ")", ""};
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Whether a Cache-Control value holds the directive (case-insensitive, with or without an
// argument).
bool HasDirective(std::string_view cache_control, std::string_view directive) {
  std::size_t start = 0;
  while (start <= cache_control.size()) {
    const std::size_t comma = std::min(cache_control.find(',', start), cache_control.size());
    std::string_view item = TrimOws(cache_control.substr(start, comma - start));
    item = TrimOws(item.substr(0, item.find('=')));
    if (item.size() == directive.size() &&
        std::equal(item.begin(), item.end(), directive.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        })) {
      return true;
    }
    start = comma + 1;
  }
  return false;
}

// The strong tag of the body as httplib will send it: compressed when the request accepts a
// coding httplib applies to the media type (it decides with the same function, after the
// handler), so each coding's bytes have their own tag.
std::string EntityTag(const httplib::Request& req, const httplib::Response& res) {
  std::string tag = "\"" + core::Sha256Hex(res.body).substr(0, 32);
  switch (httplib::detail::encoding_type(req, res)) {
    case httplib::detail::EncodingType::Gzip:
      tag += "-gzip";
      break;
    case httplib::detail::EncodingType::Brotli:
      tag += "-br";
      break;
    default:
      break;
  }
  return tag + "\"";
}

// Whether httplib compresses this answer's media type for a client that accepts it.
bool Compressible(const httplib::Response& res) {
  httplib::Request accepting;
  accepting.set_header("Accept-Encoding", "gzip, br");
  return httplib::detail::encoding_type(accepting, res) != httplib::detail::EncodingType::None;
}

bool AnyIfNoneMatchLists(const httplib::Request& req, std::string_view etag) {
  const std::size_t n = req.get_header_value_count("If-None-Match");
  for (std::size_t i = 0; i < n; ++i) {
    if (IfNoneMatchLists(req.get_header_value("If-None-Match", i), etag)) return true;
  }
  return false;
}

// See the Server comment: tags a whole 200 answer to GET or HEAD, and turns it into a 304 when
// the request's If-None-Match lists the tag.
void TagAndRevalidate(const httplib::Request& req, httplib::Response& res) {
  if ((req.method != "GET" && req.method != "HEAD") || res.status != 200 || res.body.empty() ||
      res.content_provider_ || res.has_header("ETag")) {
    return;
  }
  const std::string cache_control = res.get_header_value("Cache-Control");
  if (HasDirective(cache_control, "no-store")) return;
  const std::string etag = EntityTag(req, res);
  res.set_header("ETag", etag);
  if (cache_control.empty()) res.set_header("Cache-Control", "private, no-cache");
  if (!res.has_header("Vary") && Compressible(res)) res.set_header("Vary", "Accept-Encoding");
  if (!AnyIfNoneMatchLists(req, etag)) return;
  // RFC 9110 section 15.4.5: no content; of the representation's metadata only what a cache
  // needs to update its copy (ETag, Cache-Control, Vary) is kept.
  res.status = 304;
  res.body.clear();
  res.headers.erase("Content-Type");
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

}  // namespace

namespace {

// What the connection gate asks of our httplib server: serve one request on a connection.
class Gated {
 public:
  virtual ~Gated() = default;
  virtual void SetGate(detail::ConnectionGate* gate) = 0;
  virtual detail::Served ServeOne(detail::Connection& c, const detail::GateOptions& o) = 0;
  virtual socket_t ListenSocket() const = 0;
};

// httplib's Server (or SSLServer) whose accepted sockets go to the gate instead of straight to
// a worker; the gate calls back ServeOne, which runs httplib's request processing over a
// stream with deadlines.
template <class Base>
class GatedServer final : public Base, public Gated {
 public:
  template <class... Args>
  explicit GatedServer(Args&&... args) : Base(std::forward<Args>(args)...) {}

  void SetGate(detail::ConnectionGate* gate) override { gate_ = gate; }
  socket_t ListenSocket() const override { return this->svr_sock_; }

  detail::Served ServeOne(detail::Connection& c, const detail::GateOptions& o) override {
    if constexpr (std::is_same_v<Base, httplib::SSLServer>) {
      if (const auto step = TlsProgress(c, o); step != detail::Served::kKeep) return step;
    }
    detail::ConnectionStream stream(c, o);
    const bool close_connection = ++c.served >= this->keep_alive_max_count_;
    bool connection_closed = false;
    const bool ok = this->process_request(stream, close_connection, connection_closed,
                                          [&](httplib::Request& req) { req.ssl = c.ssl; });
    return ok && !close_connection && !connection_closed ? detail::Served::kKeep
                                                         : detail::Served::kClose;
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    gate_->Admit(sock);
    return true;
  }

  // With TLS the gate cannot see the head: this worker moves the handshake on and decrypts what
  // has arrived, without waiting for more; kWait hands the connection back to the gate until
  // more bytes come (within the head's deadline, which the gate keeps). kKeep: the head is in.
  detail::Served TlsProgress(detail::Connection& c, const detail::GateOptions& o) {
    if (c.ssl == nullptr) {
      {
        std::lock_guard lock(ssl_mu_);
        c.ssl = SSL_new(this->ssl_context());
      }
      if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) return detail::Served::kClose;
    }
    while (!c.handshake_done) {
      const int r = SSL_accept(c.ssl);
      if (r == 1) {
        c.handshake_done = true;
        break;
      }
      const int err = SSL_get_error(c.ssl, r);
      if (err == SSL_ERROR_WANT_READ) return detail::Served::kWait;
      // The handshake's output filled the socket buffer: wait (briefly) for the peer to read.
      if (err != SSL_ERROR_WANT_WRITE ||
          !detail::WaitFor(c.fd, POLLOUT, c.deadline, o.write_timeout)) {
        ERR_clear_error();
        return detail::Served::kClose;
      }
    }
    char tmp[8192];
    while (c.buffer.size() < detail::kPeekBytes + detail::kGateBytes) {
      const int n = SSL_read(c.ssl, tmp, sizeof tmp);
      if (n > 0) {
        c.buffer.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      const int err = SSL_get_error(c.ssl, n);
      if (err == SSL_ERROR_WANT_READ) break;
      ERR_clear_error();
      return detail::Served::kClose;  // closed or failed before the request arrived
    }
    const std::size_t wanted = detail::BytesWanted(c.buffer);
    if (wanted == 0) {  // head incomplete; too long a head goes to httplib, which refuses it
      return c.buffer.size() >= detail::kPeekBytes ? detail::Served::kKeep : detail::Served::kWait;
    }
    return c.buffer.size() >= wanted ? detail::Served::kKeep : detail::Served::kWait;
  }

  detail::ConnectionGate* gate_ = nullptr;
  std::mutex ssl_mu_;
};

std::unique_ptr<httplib::Server> MakeServer(const std::string& name, const ServerOptions& o) {
  if (o.tls_cert_file.empty() && o.tls_key_file.empty()) {
    if (!o.tls_client_ca_file.empty()) {
      throw std::runtime_error("the " + name +
                               " server has a TLS client CA but no certificate and key: set "
                               "both, or no client CA");
    }
    return std::make_unique<GatedServer<httplib::Server>>();
  }
  if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
    throw std::runtime_error("the " + name +
                             " server's TLS certificate and key go together: set both or neither");
  }
  auto server = std::make_unique<GatedServer<httplib::SSLServer>>(
      o.tls_cert_file.c_str(), o.tls_key_file.c_str(),
      o.tls_client_ca_file.empty() ? nullptr : o.tls_client_ca_file.c_str());
  if (!server->is_valid()) {
    throw std::runtime_error(
        "the " + name + " server cannot use TLS certificate " + o.tls_cert_file + " with key " +
        o.tls_key_file +
        (o.tls_client_ca_file.empty() ? "" : " and client CA " + o.tls_client_ca_file) +
        ": check that the files exist, are PEM and belong together");
  }
  return server;
}

}  // namespace

Server::Server(std::string name, ServerOptions options)
    : name_(std::move(name)), options_(std::move(options)), server_(MakeServer(name_, options_)) {
  detail::GateOptions gate;
  gate.threads = static_cast<std::size_t>(std::max(1, options_.threads));
  gate.header_timeout = options_.header_timeout;
  gate.body_timeout = options_.body_timeout;
  gate.read_timeout = options_.read_timeout;
  gate.keep_alive_timeout = options_.keep_alive_timeout;
  gate.max_per_address = options_.max_connections_per_address;
  gate.max_total = options_.max_connections;
  gate.tls = !options_.tls_cert_file.empty();
  Gated* gated = dynamic_cast<Gated*>(server_.get());
  // httplib calls this once per listen and owns (and shuts down) what it returns.
  server_->new_task_queue = [this, gated, gate] {
    auto* queue = new detail::ConnectionGate(
        gate, [gated, gate](detail::Connection& c) { return gated->ServeOne(c, gate); }, name_);
    gated->SetGate(queue);
    return queue;
  };
  server_->set_read_timeout(options_.read_timeout);
  server_->set_keep_alive_timeout(static_cast<time_t>(options_.keep_alive_timeout.count()));
  server_->set_payload_max_length(options_.max_body_bytes);
  // httplib sets SO_REUSEPORT by default, which would let a second server bind a port that is
  // already served; SO_REUSEADDR alone still allows a quick restart.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.has_header(kTraceHeader)) {
          // Not through a wrapped route: no route matched or httplib refused the request.
          res.set_header(kTraceHeader, TraceIdFrom(req));
          Observe(req.method, kUnmatchedRoute, res.status, std::nullopt);
        }
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        WriteError(res, DefaultError(req, res.status, options_.max_body_bytes));
        return httplib::Server::HandlerResponse::Handled;
      }));
  // Routes added through Raw() are not wrapped; keep their failures in the same shape.
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        const std::string trace_id = TraceIdFrom(req);
        core::TraceScope scope(trace_id);
        res.set_header(kTraceHeader, trace_id);
        try {
          std::rethrow_exception(ep);
        } catch (const ApiException& e) {
          WriteError(res, e.Error());
        } catch (const std::exception& e) {
          core::Logger("http")->error("{} {} failed: {}", req.method, req.path, e.what());
          WriteError(res, InternalError(trace_id));
        } catch (...) {
          core::Logger("http")->error("{} {} failed with a non-standard exception", req.method,
                                      req.path);
          WriteError(res, InternalError(trace_id));
        }
      });
}

Server::~Server() { Stop(); }

void Server::Observe(const std::string& method, const std::string& route, int status,
                     std::optional<std::chrono::steady_clock::duration> elapsed) {
  if (requests_ == nullptr) return;
  const prometheus::Labels labels = {
      {"server", name_}, {"route", route}, {"method", method}, {"status", StatusClass(status)}};
  requests_->Add(labels).Increment();
  if (elapsed) {
    latency_->Add(labels, LatencyBuckets())
        .Observe(std::chrono::duration<double>(*elapsed).count());
  }
}

void Server::Run(const std::string& method, const std::string& pattern, const httplib::Request& req,
                 httplib::Response& res, const std::function<void()>& body) {
  const auto start = core::SystemClock::Instance().Monotonic();
  // A wrapped route answers whole bodies: Range is ignored (RFC 9110 section 14.2 allows it).
  // httplib 0.11 would otherwise cut the body of a 200 to the range after the handler, so a
  // client asking for bytes=0-3 got 4 bytes of JSON as if they were all of it (and the tag of
  // the whole). httplib owns the request as a non-const object; the handler only sees it const.
  const_cast<httplib::Request&>(req).ranges.clear();
  const std::string trace_id = TraceIdFrom(req);
  core::TraceScope scope(trace_id);
  try {
    body();
  } catch (const ApiException& e) {
    WriteError(res, e.Error());
  } catch (const nlohmann::json::exception& e) {
    WriteError(res, ApiError{400, "malformed_json", e.what(), ""});
  } catch (const std::exception& e) {
    core::Logger("http")->error("{} {} failed: {}", req.method, req.path, e.what());
    WriteError(res, InternalError(trace_id));
  } catch (...) {
    core::Logger("http")->error("{} {} failed with a non-standard exception", req.method, req.path);
    WriteError(res, InternalError(trace_id));
  }
  res.set_header(kTraceHeader, trace_id);
  if (res.status == -1) res.status = 200;
  if (options_.etags) TagAndRevalidate(req, res);
  Observe(method, pattern, res.status, core::SystemClock::Instance().Monotonic() - start);
}

httplib::Server::Handler Server::Wrap(std::string method, std::string pattern, JsonHandler h) {
  return [this, method = std::move(method), pattern = std::move(pattern), h = std::move(h)](
             const httplib::Request& req, httplib::Response& res) {
    Run(method, pattern, req, res, [&] { h(req, res); });
  };
}

httplib::Server::HandlerWithContentReader Server::WrapWithBody(std::string method,
                                                               std::string pattern, JsonHandler h) {
  return [this, method = std::move(method), pattern = std::move(pattern), h = std::move(h)](
             const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader) {
    Run(method, pattern, req, res, [&] {
      const std::string media_type = MediaType(req.get_header_value("Content-Type"));
      const auto unsupported = [&] {
        return ApiException(ApiError{415, "unsupported_media_type",
                                     "send the body as application/json (got \"" +
                                         req.get_header_value("Content-Type") + "\")",
                                     "Content-Type"});
      };
      // A multipart body would need a multipart reader; refuse it before reading.
      if (HasBody(req) && media_type.rfind("multipart/", 0) == 0) throw unsupported();
      const ApiException too_large(ApiError{
          413, "body_too_large",
          "request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes", "body"});
      std::string body;
      bool over_limit = false;
      // A POST with neither Content-Length nor a chunked body (curl -X POST) has no body to
      // read; asking httplib's reader for one fails, which is not the client's error.
      const bool read = !HasBody(req) || reader([&](const char* data, size_t n) {
        if (body.size() + n > options_.max_body_bytes) {
          over_limit = true;
          return false;
        }
        body.append(data, n);
        return true;
      });
      if (over_limit || res.status == 413) throw too_large;
      if (!read) throw ApiException(ApiError{400, "bad_request", "could not read the body", ""});
      if (!body.empty() && !IsJsonMediaType(media_type)) throw unsupported();
      httplib::Request with_body = req;
      with_body.body = std::move(body);
      h(with_body, res);
    });
  };
}

void Server::Get(const std::string& pattern, JsonHandler h) {
  server_->Get(pattern, Wrap("GET", pattern, std::move(h)));
}

void Server::Post(const std::string& pattern, JsonHandler h) {
  server_->Post(pattern, WrapWithBody("POST", pattern, std::move(h)));
}

void Server::Put(const std::string& pattern, JsonHandler h) {
  server_->Put(pattern, WrapWithBody("PUT", pattern, std::move(h)));
}

void Server::Delete(const std::string& pattern, JsonHandler h) {
  server_->Delete(pattern, Wrap("DELETE", pattern, std::move(h)));
}

void Server::MountOps(core::Health& health, prometheus::Registry& registry) {
  requests_ = &prometheus::BuildCounter()
                   .Name("sluice_http_requests_total")
                   .Help("HTTP requests served, by route pattern, method and status class")
                   .Register(registry);
  latency_ = &prometheus::BuildHistogram()
                  .Name("sluice_http_request_duration_seconds")
                  .Help("HTTP request latency, by route pattern, method and status class")
                  .Register(registry);
  Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    WriteJson(res, 200, {{"status", "ok"}});
  });
  Get("/readyz", [&health](const httplib::Request&, httplib::Response& res) {
    res.status = health.Ready() ? 200 : 503;
    res.set_content(health.ReportJson(), "application/json");
  });
  Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(prometheus::TextSerializer().Serialize(registry.Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
}

void Server::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  const auto hp = core::ParseHostPort(options_.addr);
  if (!hp) {
    throw std::runtime_error("address \"" + options_.addr + "\" of the " + name_ +
                             " server is not host:port: use e.g. 127.0.0.1:8080");
  }
  errno = 0;
  int port = -1;
  if (hp->port == 0) {
    port = server_->bind_to_any_port(hp->host);
  } else if (server_->bind_to_port(hp->host, hp->port)) {
    port = hp->port;
  }
  if (port <= 0) {
    const int err = errno;
    throw std::runtime_error("address " + options_.addr + " is in use or cannot be bound" +
                             (err != 0 ? std::string(" (") + std::strerror(err) + ")" : "") +
                             ": stop the process holding it or give the " + name_ +
                             " server another address");
  }
  // httplib listens with a backlog of 5: a burst of connections (a load balancer's, or many
  // slow clients') would overflow it and every further connect would wait a second for its
  // SYN to be sent again. Listening again on the bound socket raises the backlog.
  if (const auto* gated = dynamic_cast<const Gated*>(server_.get())) {
    ::listen(gated->ListenSocket(), SOMAXCONN);
  }
  port_ = port;
  loop_exited_ = false;
  thread_ = std::thread([this] {
    if (!server_->listen_after_bind()) {
      core::Logger("http")->error("{} server stopped serving unexpectedly", name_);
    }
    loop_exited_ = true;
  });
  // httplib::Server::stop() is a no-op until the accept loop runs: wait for it, so that a
  // Stop right after Start cannot miss it.
  while (!server_->is_running() && !loop_exited_) std::this_thread::yield();
  started_ = true;
  core::Logger("http")->info("{} server listening on {}://{}:{}", name_, Scheme(), hp->host, port);
}

void Server::Stop() {
  std::lock_guard lock(mu_);
  if (!started_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  started_ = false;
  core::Logger("http")->info("{} server stopped", name_);
}

nlohmann::json ParseJsonBody(const httplib::Request& req, const core::JsonLimits& limits) {
  if (req.body.empty()) {
    throw ApiException(
        ApiError{400, "malformed_json", "the request body is empty: send a JSON object", "body"});
  }
  try {
    return core::ParseStrictJson(req.body, limits);
  } catch (const core::JsonInputError& e) {
    if (!e.Path().empty()) throw ApiException(ApiError{400, "malformed_json", e.what(), e.Path()});
    throw ApiException(ApiError{
        400, "malformed_json",
        "the request body is not valid JSON" +
            (e.Byte() > 0 ? " (at byte " + std::to_string(e.Byte()) + ")" : std::string()) + ": " +
            e.what(),
        "body"});
  }
}

void WriteJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

bool IfNoneMatchLists(std::string_view if_none_match, std::string_view etag) {
  const auto opaque = [](std::string_view tag) {
    return tag.rfind("W/", 0) == 0 ? tag.substr(2) : tag;
  };
  const std::string_view want = opaque(etag);
  const std::string_view value = TrimOws(if_none_match);
  if (value == "*") return true;
  std::size_t i = 0;
  while (i < value.size()) {
    if (IsOws(value[i]) || value[i] == ',') {
      ++i;
      continue;
    }
    if (value.compare(i, 2, "W/") == 0) i += 2;
    if (i >= value.size() || value[i] != '"') return false;
    const std::size_t close = value.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    const std::string_view tag = value.substr(i, close + 1 - i);
    i = close + 1;
    while (i < value.size() && IsOws(value[i])) ++i;
    if (i < value.size() && value[i] != ',') return false;  // "abc"x: not a tag
    if (tag == want) return true;
  }
  return false;
}

std::string RequireString(const nlohmann::json& body, std::string_view field) {
  auto v = OptionalString(body, field);
  if (!v) throw BadRequest(std::string(field), std::string(field) + " is required");
  if (v->empty()) throw BadRequest(std::string(field), std::string(field) + " must not be empty");
  return *v;
}

int LimitParam(const httplib::Request& req, int fallback, int max) {
  if (!req.has_param("limit")) return fallback;
  const std::string text = req.get_param_value("limit");
  int limit = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > max) {
    throw BadRequest("limit", "limit must be 1 to " + std::to_string(max));
  }
  return limit;
}

core::TimeRange TimeRangeParams(const httplib::Request& req, core::SystemTime now) {
  const auto param = [&](const char* name) -> std::optional<std::string> {
    if (!req.has_param(name)) return std::nullopt;
    return req.get_param_value(name);
  };
  const auto since = param("since");
  const auto until = param("until");
  auto range = core::ParseTimeRange(since, until, now);
  if (auto* e = std::get_if<core::TimeRangeError>(&range)) throw BadRequest(e->field, e->message);
  return std::get<core::TimeRange>(range);
}

std::optional<std::string> OptionalString(const nlohmann::json& body, std::string_view field) {
  if (!body.is_object()) throw BadRequest("body", "the request body must be a JSON object");
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    throw BadRequest(std::string(field),
                     std::string(field) + " must be a string, not " + it->type_name());
  }
  return it->get<std::string>();
}

}  // namespace sluice::http
