#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sluice/core/encoding.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/pg/outbox.hpp>
#include <sluice/pg/retention.hpp>
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
// Live rows in id order, except those behind an earlier live row of their key that failed on
// its own (failed_at): they wait for it, while the rows of other keys go ahead.
constexpr const char* kSelectBatchSql =
    "SELECT id, topic, key, payload, headers::text, attempts FROM outbox o "
    "WHERE published_at IS NULL AND dead_at IS NULL AND NOT EXISTS ("
    "SELECT 1 FROM outbox f WHERE f.key = o.key AND f.id < o.id AND f.published_at IS NULL "
    "AND f.dead_at IS NULL AND f.failed_at IS NOT NULL) "
    "ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
constexpr const char* kMarkPublishedSql =
    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])";
constexpr const char* kRecordFailureSql =
    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 "
    "WHERE id = ANY($1::bigint[]) AND published_at IS NULL";
// $1: a JSON array of {id, error}.
constexpr const char* kMarkDeadSql =
    "UPDATE outbox SET dead_at = now(), attempts = attempts + 1, last_error = r.error "
    "FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, error text) WHERE outbox.id = r.id";
constexpr const char* kRecordRowFailuresSql =
    "UPDATE outbox SET failed_at = now(), attempts = attempts + 1, last_error = r.error "
    "FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, error text) WHERE outbox.id = r.id";
// At most $2 rows a call (retention.hpp). Dead and unpublished rows are never deleted.
constexpr const char* kDeletePublishedSql =
    "DELETE FROM outbox WHERE id = ANY(ARRAY("
    "SELECT id FROM outbox WHERE published_at IS NOT NULL "
    "AND published_at < to_timestamp(0) + $1::bigint * interval '1 microsecond' "
    "ORDER BY id LIMIT $2))";
constexpr const char* kPendingSql =
    "SELECT count(*) FROM outbox WHERE published_at IS NULL AND dead_at IS NULL";
constexpr const char* kStatsSql =
    "SELECT count(*) FILTER (WHERE dead_at IS NULL), count(*) FILTER (WHERE dead_at IS NOT NULL), "
    "COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE dead_at IS NULL)), 0)"
    "::float8 FROM outbox WHERE published_at IS NULL";
// Bound on the error text stored in last_error.
constexpr size_t kMaxErrorChars = 2000;

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

std::vector<std::pair<std::string, std::string>> ParseHeaders(const std::string& json) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& item : nlohmann::json::parse(json)) {
    headers.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
  }
  return headers;
}

// An error as last_error can hold it: no NUL (text and jsonb refuse it), bounded.
std::string StoredError(std::string error) {
  std::replace(error.begin(), error.end(), '\0', ' ');
  if (error.size() > kMaxErrorChars) error = error.substr(0, kMaxErrorChars) + "...";
  return error;
}

std::string FailuresJson(const std::vector<std::pair<int64_t, std::string>>& failures) {
  nlohmann::json array = nlohmann::json::array();
  for (const auto& [id, error] : failures) array.push_back({{"id", id}, {"error", error}});
  return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

size_t RowBytes(const OutboxMessage& m) {
  size_t bytes = m.key.size() + m.payload.size();
  for (const auto& [name, value] : m.headers) bytes += name.size() + value.size();
  return bytes;
}

// Logged after the commit that recorded the row's fate.
struct DeadRow {
  int64_t id;
  std::string topic;
  std::string key;
  size_t bytes;
  std::string reason;
};
struct FailedRow {
  int64_t id;
  std::string key;
  int attempts;
  std::string reason;
};

bool IsPowerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

// The selected rows as the publisher sees them; their ids into `ids` (for a failure record).
std::vector<OutboxRow> ToOutboxRows(const pqxx::result& rows, std::vector<int64_t>& ids) {
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
  return batch;
}

// The publisher's results, one per row; whatever it throws becomes PublishFailed (the whole
// batch failed: recorded in a transaction of its own, then rethrown).
std::vector<OutboxResult> PublishBatch(const OutboxPublisher& publish,
                                       const std::vector<OutboxRow>& batch) {
  std::vector<OutboxResult> results;
  try {
    results = publish(batch);
  } catch (const std::exception& e) {
    throw PublishFailed{std::current_exception(), e.what()};
  } catch (...) {
    throw PublishFailed{std::current_exception(), "unknown error"};
  }
  if (results.size() != batch.size()) {
    throw std::logic_error("outbox publisher returned " + std::to_string(results.size()) +
                           " results for " + std::to_string(batch.size()) + " rows");
  }
  return results;
}

// What the relay writes back for one batch.
struct BatchFate {
  std::vector<int64_t> done;
  std::vector<std::pair<int64_t, std::string>> dead_errors;
  std::vector<std::pair<int64_t, std::string>> retry_errors;
};

// A key stays in order: once one of its rows is not published (and not dead), the rows of that
// key after it are not marked published either.
BatchFate SortResults(const std::vector<OutboxRow>& batch, const std::vector<OutboxResult>& results,
                      std::vector<DeadRow>& dead, std::vector<FailedRow>& failed) {
  BatchFate fate;
  std::set<std::string> held_keys;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& row = batch[i];
    const auto& result = results[i];
    switch (result.outcome) {
      case OutboxOutcome::kPublished:
        if (!held_keys.contains(row.message.key)) fate.done.push_back(row.id);
        break;
      case OutboxOutcome::kRefused: {
        const std::string reason = StoredError(result.error);
        fate.dead_errors.emplace_back(row.id, reason);
        dead.push_back({row.id, row.message.topic, row.message.key, RowBytes(row.message), reason});
        break;
      }
      case OutboxOutcome::kRetry: {
        const std::string reason = StoredError(result.error);
        fate.retry_errors.emplace_back(row.id, reason);
        failed.push_back({row.id, row.message.key, row.attempts + 1, reason});
        held_keys.insert(row.message.key);
        break;
      }
    }
  }
  return fate;
}

void WriteFate(pqxx::work& tx, const BatchFate& fate) {
  if (!fate.done.empty()) tx.exec_params(kMarkPublishedSql, IdArray(fate.done));
  if (!fate.dead_errors.empty()) tx.exec_params(kMarkDeadSql, FailuresJson(fate.dead_errors));
  if (!fate.retry_errors.empty()) {
    tx.exec_params(kRecordRowFailuresSql, FailuresJson(fate.retry_errors));
  }
}

// After the commit: each dead-lettered row, and the failing ones once, then at 2, 4, 8, ...
// attempts, so a row that keeps failing does not flood the log.
void LogFates(const std::vector<DeadRow>& dead, const std::vector<FailedRow>& failed,
              const std::string& schema) {
  const auto log = core::Logger("outbox");
  for (const auto& d : dead) {
    log->error(
        "outbox row {} (topic {}, key '{}', {} bytes) was refused for good and is dead-lettered: "
        "{}. The rows behind it are published. The row stays in {}.outbox with dead_at set "
        "(SELECT id, topic, key, last_error FROM {}.outbox WHERE dead_at IS NOT NULL); fix what "
        "produced it (an event over the broker's message.max.bytes means an input limit is "
        "missing) and delete the row, or clear dead_at to publish it again.",
        d.id, d.topic, d.key, d.bytes, d.reason, schema, schema);
  }
  for (const auto& f : failed) {
    if (IsPowerOfTwo(f.attempts)) {
      log->warn(
          "outbox row {} (key '{}') not published, attempt {}: {}; later rows of its key wait",
          f.id, f.key, f.attempts, f.reason);
    }
  }
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
                    {"payload", core::HexEncode(m.payload)},
                    {"headers", HeadersArray(m.headers)}});
  }
  tx.exec_params(kInsertAllSql, rows.dump());
}

int64_t DeletePublishedOutbox(pqxx::work& tx, core::SystemTime published_before) {
  return DeletePublishedOutbox(tx, published_before, std::numeric_limits<int64_t>::max());
}

int64_t DeletePublishedOutbox(pqxx::work& tx, core::SystemTime published_before, int64_t limit) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(published_before.time_since_epoch())
          .count();
  return static_cast<int64_t>(tx.exec_params(kDeletePublishedSql, micros, limit).affected_rows());
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
  std::vector<DeadRow> dead;
  std::vector<FailedRow> failed;
  int published = 0;
  try {
    published = db_.WithTransaction([&](pqxx::work& tx) -> int {
      ids.clear();
      dead.clear();
      failed.clear();
      if (options_.single_active_relay) {
        const auto locked = tx.exec_params1(kRelayLockSql, "sluice.pg.outbox:" + channel_);
        if (!locked[0].as<bool>()) return 0;
      }
      const auto rows = tx.exec_params(kSelectBatchSql, options_.batch_size);
      if (rows.empty()) return 0;
      const std::vector<OutboxRow> batch = ToOutboxRows(rows, ids);
      const std::vector<OutboxResult> results = PublishBatch(publish_, batch);
      const BatchFate fate = SortResults(batch, results, dead, failed);
      WriteFate(tx, fate);
      return static_cast<int>(fate.done.size());
    });
  } catch (const PublishFailed& failed_batch) {
    try {
      db_.WithTransaction([&](pqxx::work& tx) {
        tx.exec_params(kRecordFailureSql, IdArray(ids), StoredError(failed_batch.message));
      });
    } catch (const std::exception& e) {
      core::Logger("outbox")->warn("could not record the publish failure: {}", e.what());
    }
    std::rethrow_exception(failed_batch.error);
  }
  LogFates(dead, failed, db_.Config().schema);
  dead_lettered_ += dead.size();
  if (published == 0 && dead.empty() && !failed.empty()) {
    throw OutboxStalled("no row of the batch could be published: " + failed.front().reason);
  }
  return published;
}

OutboxStats OutboxRelay::Stats() {
  return db_.WithTransaction([](pqxx::work& tx) {
    const auto row = tx.exec1(kStatsSql);
    return OutboxStats{row[0].as<int64_t>(), row[1].as<int64_t>(), row[2].as<double>()};
  });
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
