#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <nlohmann/json.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/pg/outbox.hpp>
#include <system_error>

namespace sluice::pg {
namespace {

// The row and the relay's wake-up in one round trip (PostgreSQL folds the identical
// notifications of one transaction into one, delivered at commit). current_schema() is the
// service schema: the pooled connection's search_path.
constexpr const char* kInsertSql =
    "WITH added AS (INSERT INTO outbox (topic, key, payload, headers) "
    "VALUES ($1, $2, $3, $4::jsonb) RETURNING id) "
    "SELECT pg_notify(current_schema() || '_outbox', '') FROM added";
// $1: a JSON array of {topic, key, payload (hex), headers}; ids follow the array's order.
constexpr const char* kInsertAllSql =
    "WITH added AS (INSERT INTO outbox (topic, key, payload, headers) "
    "SELECT m.value->>'topic', m.value->>'key', decode(m.value->>'payload', 'hex'), "
    "m.value->'headers' FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS m(value, n) "
    "ORDER BY m.n RETURNING id) "
    "SELECT pg_notify(current_schema() || '_outbox', '') FROM added LIMIT 1";
constexpr const char* kRelayLockSql = "SELECT pg_try_advisory_xact_lock(hashtext($1))";
constexpr const char* kSelectBatchSql =
    "SELECT id, topic, key, payload, headers::text, attempts FROM outbox "
    "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
constexpr const char* kMarkPublishedSql =
    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])";
constexpr const char* kRecordFailureSql =
    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
    "WHERE id = ANY($1::bigint[]) AND published_at IS NULL";
constexpr const char* kDeletePublishedSql =
    "DELETE FROM outbox WHERE published_at IS NOT NULL "
    "AND published_at < to_timestamp(0) + $1::bigint * interval '1 microsecond'";
constexpr const char* kPendingSql = "SELECT count(*) FROM outbox WHERE published_at IS NULL";

// Carries the publisher's exception out of WithTransaction, so the transaction rolls back.
struct PublishFailed {
  std::exception_ptr error;
  std::string message;
};

std::string IdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

nlohmann::json HeadersArray(const std::vector<std::pair<std::string, std::string>>& headers) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& [name, value] : headers) array.push_back({name, value});
  return array;
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseHeaders(const std::string& json) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& item : nlohmann::json::parse(json)) {
    headers.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
  }
  return headers;
}

class Wakeup final : public pqxx::notification_receiver {
 public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override {}
};

}  // namespace

void AddToOutbox(pqxx::work& tx, const OutboxMessage& message) {
  tx.exec_params(kInsertSql, message.topic, message.key,
                 pqxx::binarystring(message.payload.data(), message.payload.size()),
                 HeadersArray(message.headers).dump());
}

void AddAllToOutbox(pqxx::work& tx, const std::vector<OutboxMessage>& messages) {
  if (messages.empty()) return;
  if (messages.size() == 1) return AddToOutbox(tx, messages.front());
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& m : messages) {
    rows.push_back({{"topic", m.topic},
                    {"key", m.key},
                    {"payload", Hex(m.payload)},
                    {"headers", HeadersArray(m.headers)}});
  }
  tx.exec_params(kInsertAllSql, rows.dump());
}

int64_t DeletePublishedOutbox(pqxx::work& tx, core::SystemTime published_before) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(published_before.time_since_epoch())
          .count();
  return static_cast<int64_t>(tx.exec_params(kDeletePublishedSql, micros).affected_rows());
}

OutboxRelay::OutboxRelay(Database& db, OutboxPublisher publish, OutboxRelayOptions options)
    : db_(db),
      publish_(std::move(publish)),
      options_(options),
      channel_(db.Config().schema + "_outbox") {
  if (options_.batch_size < 1) throw std::invalid_argument("batch_size must be at least 1");
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  wake_read_ = fds[0];
  wake_write_ = fds[1];
}

OutboxRelay::~OutboxRelay() {
  Stop();
  close(wake_read_);
  close(wake_write_);
}

int OutboxRelay::RelayOnce() {
  std::vector<int64_t> ids;
  try {
    return db_.WithTransaction([&](pqxx::work& tx) -> int {
      ids.clear();
      if (options_.single_active_relay) {
        const auto locked = tx.exec_params1(kRelayLockSql, "sluice.pg.outbox:" + channel_);
        if (!locked[0].as<bool>()) return 0;
      }
      const auto rows = tx.exec_params(kSelectBatchSql, options_.batch_size);
      if (rows.empty()) return 0;
      std::vector<OutboxRow> batch;
      batch.reserve(rows.size());
      for (const auto& row : rows) {
        OutboxRow r{row[0].as<int64_t>(),
                    {row[1].as<std::string>(), row[2].as<std::string>(),
                     pqxx::binarystring(row[3]).str(), ParseHeaders(row[4].as<std::string>())},
                    row[5].as<int>()};
        ids.push_back(r.id);
        batch.push_back(std::move(r));
      }
      try {
        publish_(batch);
      } catch (const std::exception& e) {
        throw PublishFailed{std::current_exception(), e.what()};
      } catch (...) {
        throw PublishFailed{std::current_exception(), "unknown error"};
      }
      tx.exec_params(kMarkPublishedSql, IdArray(ids));
      return static_cast<int>(batch.size());
    });
  } catch (const PublishFailed& failed) {
    try {
      db_.WithTransaction(
          [&](pqxx::work& tx) { tx.exec_params(kRecordFailureSql, IdArray(ids), failed.message); });
    } catch (const std::exception& e) {
      core::Logger("outbox")->warn("could not record the publish failure: {}", e.what());
    }
    std::rethrow_exception(failed.error);
  }
}

int64_t OutboxRelay::Pending() {
  return db_.WithTransaction([](pqxx::work& tx) { return tx.exec1(kPendingSql)[0].as<int64_t>(); });
}

void OutboxRelay::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void OutboxRelay::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  const char byte = 1;
  [[maybe_unused]] const auto written = write(wake_write_, &byte, 1);
  if (thread_.joinable()) thread_.join();
  char drain[16];
  while (read(wake_read_, drain, sizeof(drain)) > 0) {
  }
}

void OutboxRelay::Run() {
  const auto log = core::Logger("outbox");
  bool failing = false;
  auto backoff = options_.idle_poll;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    try {
      const int published = RelayOnce();
      if (failing) {
        log->info("outbox relay recovered, publishing again");
        failing = false;
      }
      backoff = options_.idle_poll;
      if (published >= options_.batch_size) continue;  // more may be waiting
      WaitForWork(options_.idle_poll);
    } catch (...) {
      if (!failing) {
        std::string reason = "unknown error";
        try {
          throw;
        } catch (const std::exception& e) {
          reason = e.what();
        } catch (...) {
        }
        log->warn("outbox relay failing, backing off up to {} ms: {}", options_.max_backoff.count(),
                  reason);
        failing = true;
      }
      WaitStoppable(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  receiver_.reset();
  listener_.reset();
}

void OutboxRelay::WaitStoppable(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, timeout, [this] { return stopping_; });
}

void OutboxRelay::WaitForWork(std::chrono::milliseconds timeout) {
  if (!listener_) {
    try {
      listener_ = OpenConnection(db_.Config());
      receiver_ = std::make_unique<Wakeup>(*listener_, channel_);
    } catch (const std::exception&) {
      receiver_.reset();
      listener_.reset();
      WaitStoppable(timeout);  // poll until the listener can be reopened
      return;
    }
  }
  try {
    // Notifications that arrived while relaying are already buffered: no need to wait.
    if (listener_->get_notifs() > 0) return;
    pollfd fds[2] = {{listener_->sock(), POLLIN, 0}, {wake_read_, POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(timeout.count()));
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      listener_->get_notifs();  // consumes the input; throws if the connection broke
      if ((fds[0].revents & (POLLERR | POLLHUP)) != 0 || !listener_->is_open()) {
        throw pqxx::broken_connection("outbox listener connection closed");
      }
    }
  } catch (const std::exception&) {
    receiver_.reset();
    listener_.reset();
  }
}

}  // namespace sluice::pg
