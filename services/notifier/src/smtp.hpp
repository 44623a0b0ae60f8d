#pragma once

// Sending an e-mail over SMTP with libcurl (STARTTLS, AUTH).

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::notifier {

struct SmtpRequest {
  std::string url;       // smtp://host:port or smtps://host:port (implicit TLS)
  bool starttls = true;  // on smtp://: require STARTTLS (fails if the server does not offer it)
  std::string username;  // AUTH when non-empty
  std::string password;
  std::string from;  // "Name <addr>" or "addr"
  std::vector<std::string> to;
  std::string message;  // the whole RFC 5322 message, CRLF line endings
  std::chrono::milliseconds timeout{10000};
  std::string ca_file;  // extra CA bundle (private mail relays); empty = system store
};

// The mail server refused or could not be reached. `code` is the SMTP reply code when one
// was received (0 otherwise); 4xx replies and transport failures are retryable.
class SmtpError : public std::runtime_error {
 public:
  SmtpError(std::string msg, bool retryable, long code)
      : std::runtime_error(msg), retryable_(retryable), code_(code) {}
  bool IsRetryable() const { return retryable_; }
  long Code() const { return code_; }

 private:
  bool retryable_;
  long code_;
};

// "addr" from "Name <addr>" (or the input when it has no angle brackets).
std::string MailboxAddress(const std::string& mailbox);

void SendMail(const SmtpRequest& req);

}  // namespace sluice::notifier
