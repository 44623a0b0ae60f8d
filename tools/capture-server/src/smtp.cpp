#include "sluice/capture/smtp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "sluice/capture/mime.hpp"

namespace sluice::capture {
namespace {

constexpr int kMaxErrors = 20;                   // then 421 and the connection is closed
constexpr std::size_t kMaxLineBytes = 64 << 10;  // a longer line closes the connection

std::string Upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Upper(s.substr(0, prefix.size())) == prefix;
}

// "<a@x> SIZE=10" -> path "a@x", params "SIZE=10". nullopt when there is no path.
struct Path {
  std::string address;
  std::string params;
};
std::optional<Path> ParsePath(std::string_view s) {
  s = Trim(s);
  Path p;
  if (!s.empty() && s.front() == '<') {
    const auto close = s.find('>');
    if (close == std::string_view::npos) return std::nullopt;
    p.address = std::string(s.substr(1, close - 1));
    p.params = std::string(Trim(s.substr(close + 1)));
  } else {
    const auto space = s.find(' ');
    p.address = std::string(s.substr(0, space));
    if (space != std::string_view::npos) p.params = std::string(Trim(s.substr(space + 1)));
    if (p.address.empty()) return std::nullopt;
  }
  return p;
}

}  // namespace

// ---- SmtpSession ----

SmtpSession::SmtpSession(SmtpOptions options) : options_(std::move(options)) {}

std::string SmtpSession::Greeting() const {
  return "220 " + options_.hostname + " ESMTP Sluice capture\r\n";
}

void SmtpSession::Reset() {
  in_transaction_ = false;
  data_too_big_ = false;
  const std::string helo = mail_.helo;
  const std::string user = mail_.auth_user;
  const std::string password = mail_.auth_password;
  mail_ = SmtpMail{};
  mail_.helo = helo;
  mail_.auth_user = user;
  mail_.auth_password = password;
}

void SmtpSession::TlsStarted() {
  tls_active_ = true;
  greeted_ = false;
  authenticated_ = false;
  state_ = State::kCommand;
  mail_ = SmtpMail{};
  Reset();
}

SmtpSession::Step SmtpSession::Error(std::string reply) {
  if (++errors_ > kMaxErrors) return {"421 4.7.0 Too many errors, closing\r\n", true, {}};
  return {std::move(reply), false, {}};
}

SmtpSession::Step SmtpSession::OnLine(std::string_view line) {
  switch (state_) {
    case State::kData:
      return Data(line);
    case State::kAuthPlain:
    case State::kAuthLoginUser:
    case State::kAuthLoginPassword: {
      const State was = state_;
      state_ = State::kCommand;
      if (Trim(line) == "*") return Error("501 5.0.0 Authentication cancelled\r\n");
      const std::string decoded = DecodeBase64(Trim(line));
      if (was == State::kAuthPlain) return Auth("PLAIN " + std::string(Trim(line)));
      if (was == State::kAuthLoginUser) {
        pending_user_ = decoded;
        state_ = State::kAuthLoginPassword;
        return {"334 UGFzc3dvcmQ6\r\n", false, {}};  // "Password:"
      }
      return FinishAuth(pending_user_, decoded);
    }
    case State::kCommand:
      break;
  }
  return Command(line);
}

SmtpSession::Step SmtpSession::Data(std::string_view line) {
  if (line == ".") {
    state_ = State::kCommand;
    if (data_too_big_) {
      Reset();
      return Error("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    }
    Step step{"250 2.0.0 Ok: queued\r\n", false, mail_};
    Reset();
    return step;
  }
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);  // dot-unstuffing
  if (!data_too_big_ && mail_.data.size() + line.size() + 2 > options_.max_message_bytes) {
    data_too_big_ = true;
    mail_.data.clear();
    mail_.data.shrink_to_fit();
  }
  if (!data_too_big_) {
    mail_.data.append(line);
    mail_.data += "\r\n";
  }
  return {};
}

SmtpSession::Step SmtpSession::FinishAuth(const std::string& user, const std::string& password) {
  const bool required = !options_.username.empty() || !options_.password.empty();
  if (required && (user != options_.username || password != options_.password)) {
    return Error("535 5.7.8 Authentication credentials invalid\r\n");
  }
  authenticated_ = true;
  mail_.auth_user = user;
  mail_.auth_password = password;
  return {"235 2.7.0 Authentication successful\r\n", false, {}};
}

SmtpSession::Step SmtpSession::Auth(std::string_view args) {
  const auto space = args.find(' ');
  const std::string mechanism = Upper(args.substr(0, space));
  const std::string_view initial =
      space == std::string_view::npos ? std::string_view() : Trim(args.substr(space + 1));
  if (mechanism == "PLAIN") {
    if (initial.empty()) {
      state_ = State::kAuthPlain;
      return {"334 \r\n", false, {}};
    }
    // authzid NUL authcid NUL password ("=" is an empty initial response)
    const std::string decoded = initial == "=" ? "" : DecodeBase64(initial);
    const auto first = decoded.find('\0');
    const auto second = first == std::string::npos ? first : decoded.find('\0', first + 1);
    if (second == std::string::npos) {
      return Error("501 5.5.2 Cannot decode AUTH PLAIN response\r\n");
    }
    return FinishAuth(decoded.substr(first + 1, second - first - 1), decoded.substr(second + 1));
  }
  if (mechanism == "LOGIN") {
    if (!initial.empty()) {
      pending_user_ = DecodeBase64(initial);
      state_ = State::kAuthLoginPassword;
      return {"334 UGFzc3dvcmQ6\r\n", false, {}};
    }
    state_ = State::kAuthLoginUser;
    return {"334 VXNlcm5hbWU6\r\n", false, {}};  // "Username:"
  }
  return Error("504 5.5.4 Unrecognized authentication type\r\n");
}

bool SmtpSession::TlsOffered() const {
  return !options_.tls_cert_file.empty() && !options_.tls_key_file.empty();
}

bool SmtpSession::TlsMissing() const {
  return TlsOffered() && options_.require_tls && !tls_active_;
}

SmtpSession::Step SmtpSession::Hello(const std::string& verb, std::string_view args) {
  if (args.empty()) return Error("501 5.5.4 Syntax: " + verb + " hostname\r\n");
  greeted_ = true;
  Reset();
  mail_.helo = std::string(args);
  if (verb == "HELO") return {"250 " + options_.hostname + "\r\n", false, {}};
  return {"250-" + options_.hostname + " greets " + std::string(args) + "\r\n" + "250-SIZE " +
              std::to_string(options_.max_message_bytes) + "\r\n" + "250-8BITMIME\r\n" +
              (TlsOffered() && !tls_active_ ? "250-STARTTLS\r\n" : "") +
              "250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n",
          false,
          {}};
}

SmtpSession::Step SmtpSession::AuthCommand(std::string_view args) {
  if (!greeted_) return Error("503 5.5.1 Error: send EHLO first\r\n");
  if (TlsMissing()) return Error("530 5.7.0 Must issue a STARTTLS command first\r\n");
  if (authenticated_) return Error("503 5.5.1 Error: already authenticated\r\n");
  if (in_transaction_) return Error("503 5.5.1 Error: MAIL transaction in progress\r\n");
  if (args.empty()) return Error("501 5.5.4 Syntax: AUTH mechanism\r\n");
  return Auth(args);
}

SmtpSession::Step SmtpSession::Mail(std::string_view args) {
  const bool auth_required = !options_.username.empty() || !options_.password.empty();
  if (!greeted_) return Error("503 5.5.1 Error: send HELO/EHLO first\r\n");
  if (in_transaction_) return Error("503 5.5.1 Error: nested MAIL command\r\n");
  if (TlsMissing()) return Error("530 5.7.0 Must issue a STARTTLS command first\r\n");
  if (auth_required && !authenticated_) {
    return Error("530 5.7.0 Authentication required\r\n");
  }
  if (!StartsWithNoCase(args, "FROM:")) return Error("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  const auto path = ParsePath(args.substr(5));
  if (!path) return Error("501 5.1.7 Bad sender address syntax\r\n");
  const std::string params = Upper(path->params);
  const auto size_at = params.find("SIZE=");
  if (size_at != std::string::npos) {
    const auto declared = std::strtoull(params.c_str() + size_at + 5, nullptr, 10);
    if (declared > options_.max_message_bytes) {
      return Error("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    }
  }
  in_transaction_ = true;
  mail_.mail_from = path->address;
  mail_.tls = tls_active_;
  return {"250 2.1.0 Ok\r\n", false, {}};
}

SmtpSession::Step SmtpSession::Rcpt(std::string_view args) {
  if (!in_transaction_) return Error("503 5.5.1 Error: need MAIL command\r\n");
  if (!StartsWithNoCase(args, "TO:")) return Error("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
  const auto path = ParsePath(args.substr(3));
  if (!path || path->address.empty()) {
    return Error("501 5.1.3 Bad recipient address syntax\r\n");
  }
  if (mail_.rcpt_to.size() >= options_.max_recipients) {
    return Error("452 4.5.3 Error: too many recipients\r\n");
  }
  mail_.rcpt_to.push_back(path->address);
  return {"250 2.1.5 Ok\r\n", false, {}};
}

SmtpSession::Step SmtpSession::DataCommand(std::string_view args) {
  if (!args.empty()) return Error("501 5.5.4 Syntax: DATA\r\n");
  if (mail_.rcpt_to.empty()) return Error("503 5.5.1 Error: need RCPT command\r\n");
  state_ = State::kData;
  data_too_big_ = false;
  mail_.data.clear();
  return {"354 End data with <CR><LF>.<CR><LF>\r\n", false, {}};
}

SmtpSession::Step SmtpSession::StartTls(std::string_view args) {
  if (!TlsOffered()) return Error("454 4.7.0 TLS not available\r\n");
  if (tls_active_) return Error("503 5.5.1 Error: TLS already active\r\n");
  if (!args.empty()) return Error("501 5.5.4 Syntax: STARTTLS\r\n");
  if (!greeted_) return Error("503 5.5.1 Error: send EHLO first\r\n");
  return {"220 2.0.0 Ready to start TLS\r\n", false, {}, true};
}

SmtpSession::Step SmtpSession::Command(std::string_view line) {
  const auto space = line.find(' ');
  const std::string verb = Upper(line.substr(0, space));
  const std::string_view args =
      space == std::string_view::npos ? std::string_view() : Trim(line.substr(space + 1));
  if (verb == "EHLO" || verb == "HELO") return Hello(verb, args);
  if (verb == "AUTH") return AuthCommand(args);
  if (verb == "MAIL") return Mail(args);
  if (verb == "RCPT") return Rcpt(args);
  if (verb == "DATA") return DataCommand(args);
  if (verb == "RSET") {
    Reset();
    return {"250 2.0.0 Ok\r\n", false, {}};
  }
  if (verb == "NOOP") return {"250 2.0.0 Ok\r\n", false, {}};
  if (verb == "QUIT") return {"221 2.0.0 Bye\r\n", true, {}};
  if (verb == "VRFY") return {"252 2.0.0 Cannot VRFY user, but will accept message\r\n", false, {}};
  if (verb == "HELP") {
    return {"214 2.0.0 EHLO HELO AUTH MAIL RCPT DATA RSET NOOP VRFY QUIT\r\n", false, {}};
  }
  if (verb == "STARTTLS") return StartTls(args);
  return Error("500 5.5.2 Error: command not recognized\r\n");
}

// ---- SmtpServer ----

struct SmtpServer::Impl {
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  SmtpOptions options;
  MailHandler on_mail;
  int listen_fd = -1;
  int port = 0;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::list<std::unique_ptr<Connection>> connections;
  std::vector<SmtpMail> mails;

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls{nullptr, &SSL_CTX_free};

  // A connection's socket, TLS once STARTTLS went through.
  struct Stream {
    int fd = -1;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, &SSL_free};
  };

  static void Send(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  static void Send(Stream& stream, std::string_view s) {
    if (!stream.ssl) return Send(stream.fd, s);
    while (!s.empty()) {
      const int n = SSL_write(stream.ssl.get(), s.data(), static_cast<int>(s.size()));
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Bytes read, 0 at the end of the stream, -1 on a timeout (SO_RCVTIMEO) or an error.
  static ssize_t Receive(Stream& stream, char* buffer, std::size_t size) {
    if (!stream.ssl) {
      for (;;) {
        const ssize_t n = ::recv(stream.fd, buffer, size, 0);
        if (n < 0 && errno == EINTR) continue;
        return n;
      }
    }
    const int n = SSL_read(stream.ssl.get(), buffer, static_cast<int>(size));
    return n > 0 ? n : (SSL_get_error(stream.ssl.get(), n) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
  }

  // The server side of the handshake on the connection; false when it failed.
  bool StartTls(Stream& stream) {
    stream.ssl.reset(SSL_new(tls.get()));
    if (!stream.ssl || SSL_set_fd(stream.ssl.get(), stream.fd) != 1 ||
        SSL_accept(stream.ssl.get()) != 1) {
      ERR_clear_error();
      return false;
    }
    return true;
  }

  // Joins and closes the finished connections. Called with `mu` held.
  void Reap() {
    for (auto it = connections.begin(); it != connections.end();) {
      if ((*it)->done) {
        (*it)->thread.join();
        ::close((*it)->fd);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Accept() {
    while (!stopping) {
      const int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) {
        if (stopping) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        return;
      }
      timeval tv{};
      tv.tv_sec = options.idle_timeout_seconds;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::lock_guard lock(mu);
      Reap();
      if (connections.size() >= options.max_connections) {
        Send(fd, "421 4.7.0 " + options.hostname + " too many connections, try again later\r\n");
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Connection>();
      c->fd = fd;
      Connection* raw = c.get();
      c->thread = std::thread([this, raw] {
        Session(raw->fd);
        // The client sees the end now; the descriptor is closed when the thread is reaped.
        ::shutdown(raw->fd, SHUT_RDWR);
        raw->done = true;
      });
      connections.push_back(std::move(c));
    }
  }

  void Session(int fd) {
    SmtpSession session(options);
    Stream stream;
    stream.fd = fd;
    Send(stream, session.Greeting());
    std::string buffer;
    std::size_t scanned = 0;
    char chunk[8192];
    while (!stopping) {
      const auto nl = buffer.find('\n', scanned);
      if (nl == std::string::npos) {
        if (buffer.size() > kMaxLineBytes) {
          Send(stream, "500 5.5.2 Line too long\r\n");
          break;
        }
        scanned = buffer.size();
        const ssize_t n = Receive(stream, chunk, sizeof chunk);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          Send(stream, "421 4.4.2 " + options.hostname + " Error: timeout exceeded\r\n");
          break;
        }
        if (n <= 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      std::string_view line(buffer.data(), nl);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      auto step = session.OnLine(line);
      buffer.erase(0, nl + 1);
      scanned = 0;
      if (step.mail) {
        try {
          if (on_mail) on_mail(*step.mail);
          std::lock_guard lock(mu);
          mails.push_back(std::move(*step.mail));
        } catch (const std::exception& e) {
          step.reply = "451 4.3.0 Error: " + std::string(e.what()) + "\r\n";
        }
      }
      if (!step.reply.empty()) Send(stream, step.reply);
      if (step.close) break;
      if (step.start_tls) {
        // Whatever the client pipelined after STARTTLS was sent in the clear: dropped (RFC 3207).
        buffer.clear();
        if (!StartTls(stream)) break;
        session.TlsStarted();
      }
    }
    if (stream.ssl) SSL_shutdown(stream.ssl.get());
  }
};

SmtpServer::SmtpServer(SmtpOptions options, MailHandler on_mail) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  s.on_mail = std::move(on_mail);
  if (!s.options.tls_cert_file.empty() || !s.options.tls_key_file.empty()) {
    s.tls.reset(SSL_CTX_new(TLS_server_method()));
    if (!s.tls ||
        SSL_CTX_use_certificate_chain_file(s.tls.get(), s.options.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(s.tls.get(), s.options.tls_key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      ERR_clear_error();
      throw std::runtime_error("smtp: cannot load the TLS certificate " + s.options.tls_cert_file +
                               " and key " + s.options.tls_key_file);
    }
  }
  s.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s.listen_fd < 0) throw std::runtime_error("smtp: socket: " + std::string(strerror(errno)));
  const int one = 1;
  ::setsockopt(s.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(s.options.port));
  if (::inet_pton(AF_INET, s.options.host.c_str(), &addr.sin_addr) != 1 ||
      ::bind(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(s.listen_fd, 64) != 0) {
    const std::string why = strerror(errno);
    ::close(s.listen_fd);
    throw std::runtime_error("smtp: cannot listen on " + s.options.host + ":" +
                             std::to_string(s.options.port) + ": " + why);
  }
  socklen_t len = sizeof addr;
  ::getsockname(s.listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  s.port = ntohs(addr.sin_port);
  s.acceptor = std::thread([&s] { s.Accept(); });
}

SmtpServer::~SmtpServer() { Stop(); }

void SmtpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  ::shutdown(s.listen_fd, SHUT_RDWR);
  if (s.acceptor.joinable()) s.acceptor.join();
  ::close(s.listen_fd);
  std::list<std::unique_ptr<Impl::Connection>> open;
  {
    std::lock_guard lock(s.mu);
    open.swap(s.connections);
  }
  // Joined without the lock: a session may be recording its last message.
  for (auto& c : open) ::shutdown(c->fd, SHUT_RDWR);
  for (auto& c : open) {
    c->thread.join();
    ::close(c->fd);
  }
}

int SmtpServer::Port() const { return impl_->port; }

std::string SmtpServer::Url() const {
  return "smtp://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

std::vector<SmtpMail> SmtpServer::Mails() const {
  std::lock_guard lock(impl_->mu);
  return impl_->mails;
}

}  // namespace sluice::capture
