#include "connection_gate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sluice/core/logging.hpp>
#include <stdexcept>
#include <unordered_map>

namespace sluice::http::detail {
namespace {

// A response written by the gate itself, in the API's error shape.
std::string CannedResponse(std::string_view status, std::string_view code,
                           std::string_view message) {
  const std::string body = R"({"error":{"code":")" + std::string(code) + R"(","message":")" +
                           std::string(message) + R"(","field":""}})";
  return "HTTP/1.1 " + std::string(status) +
         "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

const std::string& Busy() {
  static const std::string kBusy =
      CannedResponse("503 Service Unavailable", "unavailable", "too many open connections");
  return kBusy;
}

const std::string& HeadTimeout() {
  static const std::string kTimeout = CannedResponse("408 Request Timeout", "request_timeout",
                                                     "the request did not arrive in time");
  return kTimeout;
}

void SendBestEffort(int fd, std::string_view s) {
  [[maybe_unused]] const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

std::string PeerIp(int fd, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  port = 0;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "";
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return host;
}

}  // namespace

std::size_t BytesWanted(std::string_view s) {
  const std::size_t crlf = s.find("\r\n\r\n");
  const std::size_t lf = s.find("\n\n");
  std::size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos) end = std::min(end, lf + 2);
  if (end == std::string_view::npos) return 0;
  std::string head(s.substr(0, end));
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (head.find("\ntransfer-encoding:") != std::string::npos ||
      head.find("\nexpect:") != std::string::npos) {
    return end;
  }
  const std::size_t at = head.find("\ncontent-length:");
  if (at == std::string::npos) return end;
  std::size_t i = at + 16;
  while (i < head.size() && (head[i] == ' ' || head[i] == '\t')) ++i;
  std::size_t length = 0;
  std::size_t digits = 0;
  for (; i < head.size() && head[i] >= '0' && head[i] <= '9' && digits < 12; ++i, ++digits) {
    length = length * 10 + static_cast<std::size_t>(head[i] - '0');
  }
  // A malformed length is httplib's to refuse; a large body is read by the worker.
  if (digits == 0 || end + length > kGateBytes) return end;
  return end + length;
}

bool WaitFor(int fd, short events, Clock::time_point deadline, std::chrono::milliseconds cap) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min(left, cap).count()));
    if (r > 0) return true;
    if (r == 0 && left > cap) return false;  // the per-read timeout
    if (r < 0 && errno != EINTR) return false;
  }
}

// ---- ConnectionStream ----------------------------------------------------------------------

Clock::time_point ConnectionStream::Deadline() const {
  return head_done_ ? body_deadline_ : c_.deadline;
}

bool ConnectionStream::is_readable() const {
  if (!c_.buffer.empty() || (c_.ssl != nullptr && SSL_pending(c_.ssl) > 0)) return true;
  return WaitFor(c_.fd, POLLIN, Deadline(), o_.read_timeout);
}

bool ConnectionStream::is_writable() const {
  return WaitFor(c_.fd, POLLOUT, Clock::now() + o_.write_timeout, o_.write_timeout);
}

// Reads what is there into the buffer, waiting (within the deadlines) when nothing is.
bool ConnectionStream::Fill() {
  char tmp[8192];
  for (;;) {
    if (Clock::now() >= Deadline()) {
      timed_out_ = true;
      return false;
    }
    short wait = POLLIN;
    if (c_.ssl != nullptr) {
      const int n = SSL_read(c_.ssl, tmp, sizeof tmp);
      if (n > 0) {
        c_.buffer.append(tmp, static_cast<size_t>(n));
        return true;
      }
      const int err = SSL_get_error(c_.ssl, n);
      if (err == SSL_ERROR_WANT_WRITE) {
        wait = POLLOUT;
      } else if (err != SSL_ERROR_WANT_READ) {
        return false;  // closed, or a TLS error
      }
    } else {
      const ssize_t n = ::recv(c_.fd, tmp, sizeof tmp, 0);
      if (n > 0) {
        c_.buffer.append(tmp, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) return false;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    }
    if (!WaitFor(c_.fd, wait, Deadline(), o_.read_timeout)) {
      timed_out_ = true;
      return false;
    }
  }
}

// Notes where the head ends (an empty line), from which the body's deadline runs.
void ConnectionStream::Track(const char* p, size_t n) {
  if (head_done_) return;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == '\n') {
      if (line_length_ == 0) {
        head_done_ = true;
        body_deadline_ = Clock::now() + o_.body_timeout;
        return;
      }
      line_length_ = 0;
    } else if (p[i] != '\r') {
      ++line_length_;
    }
  }
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (c_.buffer.empty() && !Fill()) return -1;
  const size_t n = std::min(size, c_.buffer.size());
  std::memcpy(ptr, c_.buffer.data(), n);
  c_.buffer.erase(0, n);
  Track(ptr, n);
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  const auto deadline = Clock::now() + o_.write_timeout;
  size_t sent = 0;
  while (sent < size) {
    short wait = POLLOUT;
    if (c_.ssl != nullptr) {
      const int n = SSL_write(c_.ssl, ptr + sent, static_cast<int>(size - sent));
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      const int err = SSL_get_error(c_.ssl, n);
      if (err == SSL_ERROR_WANT_READ) {
        wait = POLLIN;
      } else if (err != SSL_ERROR_WANT_WRITE) {
        return -1;
      }
    } else {
      const ssize_t n = ::send(c_.fd, ptr + sent, size - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    }
    if (!WaitFor(c_.fd, wait, deadline, o_.write_timeout)) return -1;
  }
  return static_cast<ssize_t>(size);
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = c_.ip;
  port = c_.port;
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ip.clear();
  port = 0;
  if (::getsockname(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  ip = host;
}

// ---- ConnectionGate ------------------------------------------------------------------------

ConnectionGate::ConnectionGate(GateOptions options, ServeFn serve, std::string name)
    : options_(options), serve_(std::move(serve)), name_(std::move(name)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    throw std::runtime_error(std::string("the ") + name_ +
                             " server cannot create its connection loop: " + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  loop_ = std::thread([this] { Loop(); });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, options_.threads); ++i) {
    workers_.emplace_back([this] { Work(); });
  }
}

ConnectionGate::~ConnectionGate() {
  shutdown();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void ConnectionGate::Wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void ConnectionGate::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  Wake();
  ready_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  // What neither the loop nor a worker took.
  std::vector<std::unique_ptr<Connection>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& c : incoming_) left.push_back(std::move(c));
    for (auto& c : ready_) left.push_back(std::move(c));
    incoming_.clear();
    ready_.clear();
  }
  for (auto& c : left) Close(std::move(c));
}

void ConnectionGate::Admit(int fd) {
  int port = 0;
  std::string ip = PeerIp(fd, port);
  {
    std::unique_lock lock(mu_);
    const auto it = per_address_.find(ip);
    const bool full = stopping_ || (options_.max_total > 0 && total_ >= options_.max_total) ||
                      (options_.max_per_address > 0 && it != per_address_.end() &&
                       it->second >= options_.max_per_address);
    if (full) {
      lock.unlock();
      if (!options_.tls) SendBestEffort(fd, Busy());
      ::close(fd);
      return;
    }
    ++total_;
    ++per_address_[ip];
  }
  const int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  auto c = std::make_unique<Connection>();
  c->fd = fd;
  c->ip = std::move(ip);
  c->port = port;
  c->deadline = Clock::now() + options_.header_timeout;
  {
    std::lock_guard lock(mu_);
    incoming_.push_back(std::move(c));
  }
  Wake();
}

void ConnectionGate::Close(std::unique_ptr<Connection> c) {
  if (c->ssl != nullptr) {
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
  }
  ::close(c->fd);
  std::lock_guard lock(mu_);
  --total_;
  const auto it = per_address_.find(c->ip);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

// Looks at what a waiting connection has sent so far, without taking it off the socket.
void ConnectionGate::Check(std::unique_ptr<Connection>& c, std::uint32_t events, bool& ready,
                           bool& gone) {
  ready = gone = false;
  // (A TLS connection back from a worker may hold part of its head in `buffer`: only new
  // bytes wake it.)
  if (c->ssl != nullptr && SSL_pending(c->ssl) > 0) {
    ready = true;
    return;
  }
  std::string peek(kPeekBytes, '\0');
  const ssize_t n = ::recv(c->fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    gone = true;
    return;
  }
  if (n < 0) return;
  if (c->idle) {  // a kept-alive connection starts its next request: the head's clock starts
    c->idle = false;
    c->deadline = Clock::now() + options_.header_timeout;
  }
  // With TLS the head is encrypted: a worker decrypts what came and decides.
  if (options_.tls) {
    ready = true;
    return;
  }
  const std::size_t wanted =
      BytesWanted(std::string_view(peek.data(), static_cast<std::size_t>(n)));
  if (wanted == 0) {
    ready = static_cast<std::size_t>(n) >= kPeekBytes;  // too long a head: httplib refuses it
  } else if (wanted <= static_cast<std::size_t>(n)) {
    ready = true;
  } else if (wanted > kPeekBytes) {  // a body past the first look: look again, further
    peek.resize(wanted);
    const ssize_t m = ::recv(c->fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
    ready = m > 0 && static_cast<std::size_t>(m) >= wanted;
  }
  // A client that hung up before its head was complete will never complete it.
  if (!ready && (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) gone = true;
}

void ConnectionGate::Loop() {
  std::unordered_map<int, std::unique_ptr<Connection>> waiting;
  std::vector<epoll_event> events(256);
  for (;;) {
    std::vector<std::unique_ptr<Connection>> fresh;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      fresh.swap(incoming_);
    }
    std::vector<std::unique_ptr<Connection>> to_check;
    for (auto& c : fresh) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
      ev.data.fd = c->fd;
      if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        Close(std::move(c));
        continue;
      }
      const int fd = c->fd;
      waiting.emplace(fd, std::move(c));
    }
    auto next = Clock::now() + std::chrono::seconds(1);
    for (const auto& [fd, c] : waiting) next = std::min(next, c->deadline);
    const auto wait_ms = std::max<long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count() + 1);
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(wait_ms));
    std::vector<std::unique_ptr<Connection>> dispatch;
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == wake_fd_) {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
        continue;
      }
      const auto it = waiting.find(fd);
      if (it == waiting.end()) continue;
      bool ready = false, gone = false;
      Check(it->second, events[static_cast<size_t>(i)].events, ready, gone);
      if (ready || gone) {
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        if (ready) {
          dispatch.push_back(std::move(it->second));
        } else {
          Close(std::move(it->second));
        }
        waiting.erase(it);
      }
    }
    const auto now = Clock::now();
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (it->second->deadline > now) {
        ++it;
        continue;
      }
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->first, nullptr);
      if (!it->second->idle && !options_.tls) SendBestEffort(it->first, HeadTimeout());
      Close(std::move(it->second));
      it = waiting.erase(it);
    }
    if (!dispatch.empty()) {
      {
        std::lock_guard lock(mu_);
        for (auto& c : dispatch) ready_.push_back(std::move(c));
      }
      ready_cv_.notify_all();
    }
  }
  for (auto& [fd, c] : waiting) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    Close(std::move(c));
  }
}

void ConnectionGate::Work() {
  for (;;) {
    std::unique_ptr<Connection> c;
    {
      std::unique_lock lock(mu_);
      ready_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping, nothing in hand
      c = std::move(ready_.front());
      ready_.pop_front();
    }
    for (;;) {
      Served outcome = Served::kClose;
      try {
        outcome = serve_(*c);
      } catch (const std::exception& e) {
        core::Logger("http")->error("{} server: a connection failed: {}", name_, e.what());
      }
      bool stopping = false;
      {
        std::lock_guard lock(mu_);
        stopping = stopping_;
      }
      if (outcome == Served::kClose || stopping) {
        Close(std::move(c));
        break;
      }
      if (outcome == Served::kKeep) {
        if (!c->buffer.empty() || (c->ssl != nullptr && SSL_pending(c->ssl) > 0)) {
          c->deadline = Clock::now() + options_.header_timeout;  // a pipelined request
          continue;
        }
        c->idle = true;
        c->deadline = Clock::now() + options_.keep_alive_timeout;
      }
      // kKeep or kWait: back to the waiting loop (kWait keeps the head's deadline).
      {
        std::lock_guard lock(mu_);
        incoming_.push_back(std::move(c));
      }
      Wake();
      break;
    }
  }
}

}  // namespace sluice::http::detail
