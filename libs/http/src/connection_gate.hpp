#pragma once

// How a Server reads requests (internal to libs/http).
//
// httplib hands every accepted connection to a fixed pool of workers, and a worker reads the
// request head itself, with a timeout per read: a client that sends one header line every few
// seconds keeps a worker for as long as it likes, and ten of them freeze the server. Here the
// workers only ever see a connection whose request head has fully arrived: until then it waits
// in one epoll loop (no thread), for at most header_timeout. The body is read by the worker
// within body_timeout. Connections are bounded per client address and in all.

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::http::detail {

using Clock = std::chrono::steady_clock;

struct GateOptions {
  std::size_t threads = 8;
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds read_timeout{10000};  // each single read
  std::chrono::milliseconds write_timeout{5000};  // each write of a response part
  std::chrono::milliseconds keep_alive_timeout{1000};
  std::size_t max_per_address = 0;  // 0: unbounded
  std::size_t max_total = 0;
  bool tls = false;
};

// One client connection. Bytes read ahead of what httplib asked for stay in `buffer`.
struct Connection {
  int fd = -1;
  std::string ip;
  int port = 0;
  SSL* ssl = nullptr;
  bool handshake_done = false;
  std::string buffer;
  std::size_t served = 0;
  bool idle = false;             // kept alive between requests, nothing received yet
  Clock::time_point deadline{};  // idle: until closed; else: for the whole head
};

// A request stream over a Connection with deadlines: the head must be read by head_deadline,
// the body within body_timeout of the head's end; each read also within read_timeout.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(Connection& c, const GateOptions& o) : c_(c), o_(o) {}
  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return c_.fd; }
  bool TimedOut() const { return timed_out_; }

 private:
  Clock::time_point Deadline() const;
  bool Fill();
  void Track(const char* p, size_t n);

  Connection& c_;
  const GateOptions& o_;
  bool head_done_ = false;
  std::size_t line_length_ = 1;
  Clock::time_point body_deadline_{};
  bool timed_out_ = false;
};

// Waits for `events` on fd until `deadline` (or `cap`, whichever is first); true when ready.
bool WaitFor(int fd, short events, Clock::time_point deadline, std::chrono::milliseconds cap);

// How much of a waiting connection's input is looked at for the end of its head. A head
// longer than this goes to a worker as it is, and httplib refuses it (414 / 400).
inline constexpr std::size_t kPeekBytes = 16 * 1024;
// A request whose head and body (by Content-Length) fit in this many bytes also waits in the
// gate for its body; it stays below a TCP receive window, so the client is never stalled by
// the unread bytes.
inline constexpr std::size_t kGateBytes = 32 * 1024;

// How many bytes of input the gate waits for before a worker takes the request: the head, plus
// the body when its length is known and the whole request fits in kGateBytes (not with
// Transfer-Encoding, nor with Expect: 100-continue, whose client waits for the server first).
// 0 while the head is incomplete.
std::size_t BytesWanted(std::string_view s);

// What became of a connection handed to a worker.
enum class Served {
  kClose,  // done with it (or it failed)
  kKeep,   // a request was served; keep the connection alive for the next one
  kWait,   // not ready yet (TLS: the handshake or the head is still arriving): wait for more
};

// Serves one request on a connection whose head has arrived (with TLS: makes what progress the
// bytes that arrived allow, and serves the request once its head is complete).
using ServeFn = std::function<Served(Connection&)>;

// The task queue httplib's accept loop hands accepted sockets to. enqueue() runs httplib's task
// inline: the server's process_and_close_socket override calls Admit(), which only registers
// the socket with the waiting loop.
class ConnectionGate : public httplib::TaskQueue {
 public:
  ConnectionGate(GateOptions options, ServeFn serve, std::string name);
  ~ConnectionGate() override;
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  void enqueue(std::function<void()> fn) override { fn(); }
  // Closes the waiting connections, lets the workers finish the requests in hand, joins.
  void shutdown() override;

  void Admit(int fd);

 private:
  void Loop();
  void Work();
  void Check(std::unique_ptr<Connection>& c, std::uint32_t events, bool& ready, bool& gone);
  void Close(std::unique_ptr<Connection> c);
  void Wake();

  const GateOptions options_;
  const ServeFn serve_;
  const std::string name_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;

  std::mutex mu_;
  std::condition_variable ready_cv_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Connection>> incoming_;  // to the waiting loop
  std::deque<std::unique_ptr<Connection>> ready_;      // to the workers
  std::map<std::string, std::size_t> per_address_;
  std::size_t total_ = 0;

  std::thread loop_;
  std::vector<std::thread> workers_;
  bool shut_down_ = false;
};

}  // namespace sluice::http::detail
