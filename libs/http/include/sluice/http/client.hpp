#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

// A small blocking libcurl client for calls to other systems (webhooks, Prometheus, agents).
struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{5000};  // the whole exchange, connect included
  // TLS: extra CA bundle, client certificate and key (mTLS), all PEM file paths; empty = unset.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
  // The same as PEM text in memory (a kubeconfig's *-data fields); a non-empty one takes
  // precedence over its file. The key never touches the disk.
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  size_t max_response_bytes = 16 << 20;  // a larger response fails (not retryable)
};

struct ClientResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // The first header of that name, compared case-insensitively.
  std::optional<std::string> Header(std::string_view name) const;
};

// A transport failure (no HTTP status was received). The message names the method and the
// scheme://host:port of the URL only: webhook URLs carry secrets in their paths.
class HttpError : public std::runtime_error {
 public:
  HttpError(std::string msg, bool retryable);
  // Connection refused or reset, timeouts, name resolution: trying again may help.
  bool IsRetryable() const { return retryable_; }

 private:
  bool retryable_;
};

// Performs the request. Any HTTP status (including 4xx/5xx) is a response, not an error;
// throws HttpError on transport failure.
ClientResponse Send(const ClientRequest& req);

// scheme://host[:port] of a URL, without user info, path or query (for log lines).
std::string RedactUrl(std::string_view url);

// Percent-encodes everything but RFC 3986's unreserved characters (A-Z a-z 0-9 - _ . ~): a
// query parameter's or a form field's value, or a path segment.
std::string UrlEncode(std::string_view s);

}  // namespace sluice::http
