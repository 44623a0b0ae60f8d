#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::pg {

struct PgConfig {
  std::string dsn = "postgresql://sluice:sluice@127.0.0.1:15432/sluice";
  std::string schema;  // the service's own schema, e.g. "release_intake"; required
  int pool_size = 4;
  std::chrono::milliseconds connect_timeout{3000};
};

// The server is down, the connection broke, or a connection cannot be opened. Retryable:
// the caller backs off and tries again (a consumer does not commit its offset).
// Everything else from libpqxx (pqxx::sql_error, pqxx::unique_violation, ...) passes through.
class PgUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws std::invalid_argument when the schema is not a plain lowercase identifier
// ([a-z_][a-z0-9_]*, at most 63 characters): it is used in identifiers and channel names.
void ValidateSchemaName(const std::string& schema);

// The DSN with connect_timeout (whole seconds, rounded up, at least 1) added for libpq.
std::string DsnWithConnectTimeout(const std::string& dsn, std::chrono::milliseconds timeout);

// Opens a connection to config.dsn (with the connect timeout) whose search_path is the
// service schema. Throws PgUnavailable when it cannot.
std::unique_ptr<pqxx::connection> OpenConnection(const PgConfig& config);

// A small pool of connections to one database, each with search_path set to the service
// schema. Thread-safe. Connections open lazily, on first use.
class Database {
 public:
  explicit Database(PgConfig config);  // does not connect yet
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs f(pqxx::work&) in a transaction on a pooled connection, commits, returns f's result.
  // A broken connection is dropped (with the other idle ones: a server restart breaks them
  // all). When the connection fails before commit, f runs once more on a freshly opened
  // connection; if that fails too, or a connection cannot be opened, or the connection breaks
  // during commit (outcome unknown), PgUnavailable is thrown. Serialization failures and
  // deadlocks (40001 / 40P01) are retried up to 3 times. f may therefore run more than once:
  // it must not have side effects outside the transaction.
  template <typename F>
  auto WithTransaction(F&& f) -> decltype(f(std::declval<pqxx::work&>())) {
    using Result = decltype(f(std::declval<pqxx::work&>()));
    if constexpr (std::is_void_v<Result>) {
      RunTransaction([&f](pqxx::work& tx) { f(tx); });
    } else {
      std::optional<Result> result;
      RunTransaction([&f, &result](pqxx::work& tx) { result.emplace(f(tx)); });
      return std::move(*result);
    }
  }

  // SELECT 1 on a pooled connection; false on any failure (for /readyz).
  bool Ping();

  const PgConfig& Config() const { return config_; }

  // Connections currently idle in the pool (for tests and /metrics).
  int IdleConnections() const;

  // The retry / reconnect loop behind WithTransaction.
  void RunTransaction(const std::function<void(pqxx::work&)>& body);

 private:
  // A connection from the pool, or a new one; `fresh` forces a newly opened connection.
  std::unique_ptr<pqxx::connection> Acquire(bool fresh);
  void Release(std::unique_ptr<pqxx::connection> conn, bool broken);

  const PgConfig config_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  int in_use_ = 0;                                       // guarded by mu_
};

}  // namespace sluice::pg
