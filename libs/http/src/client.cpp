#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <sluice/http/client.hpp>
#include <sluice/http/stream.hpp>
#include <string_view>

namespace sluice::http {
namespace {

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsRetryable(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

struct Transfer {
  ClientResponse response;
  size_t max_bytes = 0;
  bool too_large = false;
  // SendStreaming: a 2xx body goes here, chunk by chunk, instead of into response.body.
  const std::function<bool(std::string_view)>* on_data = nullptr;
  long status = 0;       // from the status line, known before the body
  bool stopped = false;  // on_data said stop
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->on_data != nullptr && t->status >= 200 && t->status < 300) {
    if ((*t->on_data)(std::string_view(data, len))) return len;
    t->stopped = true;
    return 0;  // aborts the transfer
  }
  if (t->response.body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer
  }
  t->response.body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  const std::string_view line(data, len);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response.headers.clear();  // a new response (after 100 Continue or a redirect)
    // "HTTP/1.1 200 OK": the status, for OnBody.
    if (const auto sp = line.find(' '); sp != std::string_view::npos) {
      t->status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    }
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response.headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                     std::string(Trim(line.substr(colon + 1))));
  }
  return len;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// The request's headers, and "Expect:" unless it sets one: no "Expect: 100-continue" round trip
// (and its one-second wait on servers without it).
std::unique_ptr<curl_slist, SlistDeleter> HeaderList(const ClientRequest& req) {
  curl_slist* raw_headers = nullptr;
  bool has_expect = false;
  for (const auto& [k, v] : req.headers) {
    has_expect = has_expect || EqualsIgnoreCase(k, "Expect");
    raw_headers = curl_slist_append(raw_headers, (k + ": " + v).c_str());
  }
  if (!has_expect) raw_headers = curl_slist_append(raw_headers, "Expect:");
  return std::unique_ptr<curl_slist, SlistDeleter>(raw_headers);
}

// The CA and the client certificate and key, each from PEM text or else from a file.
void SetTls(CURL* c, const ClientRequest& req) {
  // curl copies a blob (CURL_BLOB_COPY), so the request may go out of scope after the call.
  const auto set_blob = [c](CURLoption option, const std::string& pem) {
    curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(c, option, &blob);
  };
  if (!req.ca_pem.empty()) {
    set_blob(CURLOPT_CAINFO_BLOB, req.ca_pem);
  } else if (!req.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  }
  if (!req.client_cert_pem.empty()) {
    set_blob(CURLOPT_SSLCERT_BLOB, req.client_cert_pem);
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!req.client_cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, req.client_cert_file.c_str());
  }
  if (!req.client_key_pem.empty()) {
    set_blob(CURLOPT_SSLKEY_BLOB, req.client_key_pem);
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!req.client_key_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLKEY, req.client_key_file.c_str());
  }
}

// The method, and the body for the methods that carry one (curl reads it from `req`).
void SetMethod(CURL* c, const ClientRequest& req) {
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method != "GET" || !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    }
  }
}

// The HttpError for a failed transfer, naming the method and the URL without credentials.
[[noreturn]] void ThrowTransferError(const ClientRequest& req, CURLcode rc,
                                     const Transfer& transfer, const char* error_buffer) {
  const std::string where = req.method + " " + RedactUrl(req.url);
  if (transfer.too_large) {
    throw HttpError(
        where + ": response larger than " + std::to_string(req.max_response_bytes) + " bytes",
        false);
  }
  const std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  // curl's messages may quote the URL; keep only what cannot carry a secret.
  const bool mentions_url = detail.find("://") != std::string::npos;
  throw HttpError(where + ": " + (mentions_url ? curl_easy_strerror(rc) : detail), IsRetryable(rc));
}

}  // namespace

std::optional<std::string> ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

HttpError::HttpError(std::string msg, bool retryable)
    : std::runtime_error(msg), retryable_(retryable) {}

std::string RedactUrl(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "<invalid url>";
  const auto authority_start = scheme_end + 3;
  auto authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = url.size();
  std::string_view authority = url.substr(authority_start, authority_end - authority_start);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  return std::string(url.substr(0, authority_start)) + std::string(authority);
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

namespace {

// One exchange into `transfer` (Send, SendStreaming).
void Perform(const ClientRequest& req, Transfer& transfer) {
  InitCurlOnce();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) throw HttpError("curl_easy_init failed", false);
  CURL* c = curl.get();

  transfer.max_bytes = req.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const auto headers = HeaderList(req);

  const long timeout_ms = static_cast<long>(std::max<int64_t>(1, req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // any encoding curl can decode
  SetTls(c, req);
  SetMethod(c, req);

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && transfer.stopped)) {
    ThrowTransferError(req, rc, transfer, error_buffer);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &transfer.response.status);
}

}  // namespace

ClientResponse Send(const ClientRequest& req) {
  Transfer transfer;
  Perform(req, transfer);
  return std::move(transfer.response);
}

ClientResponse SendStreaming(const ClientRequest& req,
                             const std::function<bool(std::string_view)>& on_data) {
  Transfer transfer;
  transfer.on_data = &on_data;
  Perform(req, transfer);
  return std::move(transfer.response);
}

}  // namespace sluice::http
