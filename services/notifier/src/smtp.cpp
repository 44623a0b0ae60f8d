#include "smtp.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace sluice::notifier {
namespace {

struct Upload {
  const std::string* data;
  std::size_t offset = 0;
};

std::size_t Read(char* buffer, std::size_t size, std::size_t nitems, void* userp) {
  auto* up = static_cast<Upload*>(userp);
  const std::size_t room = size * nitems;
  const std::size_t n = std::min(room, up->data->size() - up->offset);
  std::copy_n(up->data->data() + up->offset, n, buffer);  // bytes, not a C string
  up->offset += n;
  return n;
}

bool TransportRetryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string MailboxAddress(const std::string& mailbox) {
  const auto open = mailbox.find('<');
  const auto close = mailbox.rfind('>');
  if (open == std::string::npos || close == std::string::npos || close < open) return mailbox;
  return mailbox.substr(open + 1, close - open - 1);
}

void SendMail(const SmtpRequest& req) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw SmtpError("smtp: cannot create a libcurl handle", true, 0);
  CURL* h = curl.get();
  curl_slist* rcpt = nullptr;
  for (const auto& t : req.to)
    rcpt = curl_slist_append(rcpt, ("<" + MailboxAddress(t) + ">").c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt_guard(rcpt,
                                                                         &curl_slist_free_all);
  Upload upload{&req.message};
  const std::string from = "<" + MailboxAddress(req.from) + ">";
  char error[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &Read);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.message.size()));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  if (req.starttls && req.url.rfind("smtp://", 0) == 0) {
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  }
  if (!req.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
  if (!req.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, req.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, req.password.c_str());
  }
  const CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  if (rc == CURLE_OK) return;
  // Never the URL's user info or the password: only what went wrong.
  const std::string what = "smtp: " + std::string(curl_easy_strerror(rc)) +
                           (error[0] != '\0' ? std::string(" (") + error + ")" : "") +
                           (code > 0 ? ", server replied " + std::to_string(code) : "");
  const bool retryable = code >= 400 && code < 500 ? true
                         : code >= 500             ? false
                                                   : TransportRetryable(rc);
  throw SmtpError(what, retryable, code);
}

}  // namespace sluice::notifier
