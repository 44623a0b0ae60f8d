#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace sluice::lock {

struct RedisConfig {
  std::string url = "redis://127.0.0.1:16379/0";
  std::chrono::milliseconds timeout{1000};  // connect and per-command
  // Filled from url by ParseRedisUrl (RedisClient parses url itself).
  std::string host = "127.0.0.1";
  int port = 16379;
  int db = 0;
  std::string username;
  std::string password;  // never logged
};

// Parses redis://[[username]:password@]host[:port][/db] (port defaults to 6379, db to 0;
// user and password may be percent-encoded; IPv6 hosts in brackets). Throws
// std::invalid_argument naming the problem, with any password masked.
RedisConfig ParseRedisUrl(std::string_view url);

// The URL with any password replaced by ***, fit for logs.
std::string RedactRedisUrl(std::string_view url);

// Redis cannot be reached, the connection broke, or it refused the handshake. Retryable;
// per DESIGN invariant 7 losing Redis only delays work.
class RedisUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Redis reply as a plain value. Error replies are values too (type kError, text in str):
// the caller decides whether "WRONGTYPE ..." is fatal.
struct RedisReply {
  enum class Type { kNil, kStatus, kError, kInteger, kString, kArray };
  Type type = Type::kNil;
  std::string str;  // kStatus, kError, kString
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray

  bool IsNil() const { return type == Type::kNil; }
  bool IsError() const { return type == Type::kError; }
  bool IsOk() const { return type == Type::kStatus && str == "OK"; }
};

// Converts a hiredis reply tree (pure; exposed for tests).
RedisReply ConvertReply(const redisReply& reply);

// One connection to Redis, shared by threads (a mutex serialises commands). A broken
// connection is dropped; the next command reconnects. A command that fails on the wire is not
// retried (its effect is unknown): it throws RedisUnavailable and the caller retries later.
class RedisClient {
 public:
  explicit RedisClient(RedisConfig config);  // does not connect yet
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Runs the command given as argv (binary-safe), e.g. {"SET", key, value, "NX"}.
  RedisReply Command(const std::vector<std::string>& argv);

  // PING; false on any failure (for /readyz).
  bool Ping();

  const RedisConfig& Config() const { return config_; }

 private:
  void ConnectLocked();
  void DropLocked();

  RedisConfig config_;
  std::mutex mu_;
  redisContext* context_ = nullptr;  // guarded by mu_
};

}  // namespace sluice::lock
