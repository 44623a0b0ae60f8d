#pragma once

// A small SMTP server standing in for a mail relay: EHLO/HELO, AUTH PLAIN and LOGIN, MAIL, RCPT,
// DATA (dot-unstuffed, size-limited), RSET, NOOP, VRFY, HELP, QUIT, and STARTTLS (RFC 3207) when
// given a certificate. Without one, STARTTLS is answered "454 TLS not available" and not
// advertised, so a client that requires TLS fails the way it does against a relay without it.
// The protocol lives in SmtpSession (no I/O, unit-tested); SmtpServer runs one session per
// connection, each on its own thread, and does the TLS handshake (OpenSSL).

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::capture {

struct SmtpOptions {
  std::string host = "127.0.0.1";
  int port = 0;                              // 0: any free port
  std::string hostname = "capture.sluice";   // in the greeting and the EHLO answer
  std::size_t max_message_bytes = 10 << 20;  // DATA larger than this: 552
  std::size_t max_recipients = 100;          // more RCPT: 452
  std::size_t max_connections = 64;          // more at once: 421 and closed
  int idle_timeout_seconds = 300;            // a silent client is disconnected
  // When both are set, AUTH must present them (535 otherwise) and MAIL needs AUTH first (530).
  // When empty, any credentials are accepted and AUTH is optional; the user is still recorded.
  std::string username;
  std::string password;
  // PEM files: when both are set, EHLO offers STARTTLS and the connection is upgraded on it.
  std::string tls_cert_file;
  std::string tls_key_file;
  // With TLS offered: AUTH and MAIL before STARTTLS are refused (530), as a relay on port 587
  // that requires encryption does.
  bool require_tls = false;
};

// One accepted message.
struct SmtpMail {
  std::string helo;       // the EHLO/HELO argument
  std::string auth_user;  // "" when the client did not authenticate
  std::string auth_password;
  std::string mail_from;             // the reverse path without angle brackets
  std::vector<std::string> rcpt_to;  // forward paths without angle brackets
  std::string data;                  // the message, dot-unstuffed, CRLF line ends
  bool tls = false;                  // sent after STARTTLS
};

// The protocol state of one connection. Feed it every line the client sends (without its line
// end); each answer is what to write back (CRLF included, possibly several lines).
class SmtpSession {
 public:
  explicit SmtpSession(SmtpOptions options);

  struct Step {
    std::string reply;             // empty while reading DATA lines
    bool close = false;            // close the connection after writing the reply
    std::optional<SmtpMail> mail;  // set when a message was accepted (reply is then 250)
    bool start_tls = false;        // write the reply, then run the TLS handshake
  };

  std::string Greeting() const;  // "220 <hostname> ESMTP ..."
  Step OnLine(std::string_view line);
  // Reading the lines of a DATA section (or an AUTH continuation).
  bool InData() const { return state_ == State::kData; }
  // The TLS handshake after STARTTLS succeeded: the session starts over (RFC 3207 4.2: EHLO
  // and AUTH again), now encrypted.
  void TlsStarted();

 private:
  enum class State { kCommand, kData, kAuthPlain, kAuthLoginUser, kAuthLoginPassword };

  // One command line, and one function per command that takes arguments.
  Step Command(std::string_view line);
  Step Hello(const std::string& verb, std::string_view args);  // EHLO, HELO
  Step AuthCommand(std::string_view args);
  Step Mail(std::string_view args);
  Step Rcpt(std::string_view args);
  Step DataCommand(std::string_view args);
  Step StartTls(std::string_view args);
  Step Data(std::string_view line);
  Step Auth(std::string_view args);
  Step FinishAuth(const std::string& user, const std::string& password);
  Step Error(std::string reply);
  void Reset();
  // STARTTLS is offered (a certificate and key are set); it is missing when required but not
  // started yet.
  bool TlsOffered() const;
  bool TlsMissing() const;

  SmtpOptions options_;
  State state_ = State::kCommand;
  bool greeted_ = false;
  bool tls_active_ = false;
  bool authenticated_ = false;
  bool in_transaction_ = false;
  bool data_too_big_ = false;
  int errors_ = 0;
  std::string pending_user_;
  SmtpMail mail_;
};

// The listener. `on_mail` is called for every accepted message (from the connection's thread)
// before the client is answered; if it throws, the client gets "451" and the message is dropped.
class SmtpServer {
 public:
  using MailHandler = std::function<void(const SmtpMail&)>;

  // Throws std::runtime_error when it cannot listen.
  explicit SmtpServer(SmtpOptions options, MailHandler on_mail = nullptr);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  int Port() const;
  std::string Url() const;              // "smtp://<host>:<port>"
  std::vector<SmtpMail> Mails() const;  // every accepted message, in order
  // Stops listening, closes the open connections and waits for their threads.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::capture
