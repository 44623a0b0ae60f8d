#include <algorithm>
#include <cctype>
#include <cstdint>
#include <sluice/core/logging.hpp>
#include <sluice/pg/database.hpp>
#include <string_view>

namespace sluice::pg {
namespace {

constexpr int kMaxSerializationRetries = 3;

// SQLSTATE classes that mean the session is gone rather than the statement being wrong:
// 08 connection exception, 57P01..57P03 admin shutdown / crash shutdown / cannot connect now.
bool IsConnectionSqlState(const std::string& state) {
  return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
}

// The DSN with any password masked, fit for error messages and logs.
std::string RedactDsn(const std::string& dsn) {
  std::string out = dsn;
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto at = out.find('@', scheme + 3);
    const auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
    const auto pw = out.find("password=");
    if (pw != std::string::npos) {
      const auto end = out.find('&', pw);
      out.replace(pw + 9, (end == std::string::npos ? out.size() : end) - pw - 9, "***");
    }
    return out;
  }
  const auto pw = out.find("password=");
  if (pw != std::string::npos) {
    const auto end = out.find(' ', pw);
    out.replace(pw + 9, (end == std::string::npos ? out.size() : end) - pw - 9, "***");
  }
  return out;
}

}  // namespace

void ValidateSchemaName(const std::string& schema) {
  bool ok = !schema.empty() && schema.size() <= 63 &&
            (std::islower(static_cast<unsigned char>(schema[0])) || schema[0] == '_');
  for (char c : schema) {
    const auto u = static_cast<unsigned char>(c);
    ok = ok && (std::islower(u) || std::isdigit(u) || c == '_');
  }
  if (!ok) {
    throw std::invalid_argument("PgConfig.schema \"" + schema +
                                "\" must match [a-z_][a-z0-9_]* and be at most 63 characters");
  }
}

std::string DsnWithConnectTimeout(const std::string& dsn, std::chrono::milliseconds timeout) {
  if (dsn.find("connect_timeout") != std::string::npos) return dsn;
  const auto seconds = std::max<int64_t>(1, (timeout.count() + 999) / 1000);
  const std::string param = "connect_timeout=" + std::to_string(seconds);
  if (dsn.find("://") != std::string::npos) {
    return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + param;
  }
  return dsn.empty() ? param : dsn + " " + param;
}

std::unique_ptr<pqxx::connection> OpenConnection(const PgConfig& config) {
  ValidateSchemaName(config.schema);
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(
        DsnWithConnectTimeout(config.dsn, config.connect_timeout));
    // set_variable, not a bare SET: libpqxx restores it if it ever reactivates the session.
    conn->set_variable("search_path", conn->quote_name(config.schema));
  } catch (const pqxx::broken_connection& e) {
    throw PgUnavailable("cannot connect to PostgreSQL at " + RedactDsn(config.dsn) + ": " +
                        e.what());
  } catch (const pqxx::sql_error& e) {
    if (IsConnectionSqlState(e.sqlstate())) {
      throw PgUnavailable("cannot connect to PostgreSQL at " + RedactDsn(config.dsn) + ": " +
                          e.what());
    }
    throw;
  }
  return conn;
}

Database::Database(PgConfig config) : config_(std::move(config)) {
  ValidateSchemaName(config_.schema);
  if (config_.pool_size < 1) {
    throw std::invalid_argument("PgConfig.pool_size must be at least 1");
  }
}

Database::~Database() = default;

int Database::IdleConnections() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(idle_.size());
}

std::unique_ptr<pqxx::connection> Database::Acquire(bool fresh) {
  {
    std::unique_lock lock(mu_);
    released_.wait(lock, [this] { return in_use_ < config_.pool_size; });
    ++in_use_;
    if (!fresh && !idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
  }
  try {
    return OpenConnection(config_);
  } catch (...) {
    std::lock_guard lock(mu_);
    --in_use_;
    released_.notify_one();
    throw;
  }
}

void Database::Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (broken) {
      // A server restart or failover breaks every session: do not hand out the others.
      dropped.swap(idle_);
    } else if (conn && conn->is_open()) {
      idle_.push_back(std::move(conn));
    }
    released_.notify_one();
  }
  // conn (if broken) and dropped close here, outside the lock.
}

void Database::RunTransaction(const std::function<void(pqxx::work&)>& body) {
  static const auto log = core::Logger("pg");
  int serialization_retries = 0;
  bool reconnected = false;
  for (;;) {
    auto conn = Acquire(/*fresh=*/reconnected);
    bool committing = false;
    std::string failure;
    try {
      pqxx::work tx(*conn);
      body(tx);
      committing = true;
      tx.commit();
      Release(std::move(conn), false);
      return;
    } catch (const pqxx::in_doubt_error& e) {
      Release(std::move(conn), true);
      throw PgUnavailable(std::string("connection lost during commit, outcome unknown: ") +
                          e.what());
    } catch (const pqxx::serialization_failure&) {
      Release(std::move(conn), false);
      if (++serialization_retries > kMaxSerializationRetries) throw;
      continue;
    } catch (const pqxx::deadlock_detected&) {
      Release(std::move(conn), false);
      if (++serialization_retries > kMaxSerializationRetries) throw;
      continue;
    } catch (const pqxx::broken_connection& e) {
      failure = e.what();
    } catch (const pqxx::sql_error& e) {
      if (!IsConnectionSqlState(e.sqlstate()) && conn->is_open()) {
        Release(std::move(conn), false);
        throw;
      }
      failure = e.what();
    } catch (...) {
      const bool broken = !conn->is_open();
      Release(std::move(conn), broken);
      throw;
    }
    // The connection failed.
    Release(std::move(conn), true);
    if (committing) {
      throw PgUnavailable("connection lost during commit, outcome unknown: " + failure);
    }
    if (reconnected) {
      throw PgUnavailable("PostgreSQL connection failed again after reconnecting: " + failure);
    }
    log->warn("PostgreSQL connection broken, retrying on a new connection: {}", failure);
    reconnected = true;
  }
}

bool Database::Ping() {
  try {
    RunTransaction([](pqxx::work& tx) { tx.exec("SELECT 1"); });
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace sluice::pg
