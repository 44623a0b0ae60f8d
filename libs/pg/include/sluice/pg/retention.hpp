#pragma once

// What a service forgets, and when: the rows that exist only to make delivery exactly-once and
// would otherwise grow without bound. Published outbox rows (the relay is done with them; dead
// and unpublished rows are kept), inbox records (they dedupe redeliveries, so they must outlive
// any redelivery: the consumed topics' retention and the consumer group's offsets retention),
// and what a service adds of its own (release-intake: the answers to Kafka submissions). Each
// table is purged in batches of `batch` rows, one transaction each, so a large backlog never
// holds a long lock. service::App runs it every SLUICE_HOUSEKEEPING_INTERVAL.

#include <chrono>
#include <cstdint>
#include <functional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <vector>

namespace sluice::pg {

struct RetentionOptions {
  std::chrono::milliseconds inbox{std::chrono::hours(14 * 24)};        // SLUICE_INBOX_RETENTION
  std::chrono::milliseconds outbox_published{std::chrono::hours(24)};  // SLUICE_OUTBOX_RETENTION
  int64_t batch = 5000;
};

// Deletes at most `limit` rows of one table older than `before` in `tx`; returns how many.
using PurgeFn = std::function<int64_t(pqxx::work& tx, core::SystemTime before, int64_t limit)>;

struct RetainedTable {
  std::string name;  // the table: log lines and the metric's label
  std::chrono::milliseconds keep;
  PurgeFn purge;
};

// The library's own tables (outbox, inbox) under `options`.
std::vector<RetainedTable> LibraryRetention(const RetentionOptions& options);

// Purges every table of `tables` of what is older than now - keep, `batch` rows per
// transaction, until a batch comes back short; returns the rows deleted per table, in order.
std::vector<int64_t> PurgeExpired(Database& db, core::SystemTime now,
                                  const std::vector<RetainedTable>& tables, int64_t batch);

// Bounded forms of DeleteInboxBefore and DeletePublishedOutbox (inbox.hpp, outbox.hpp).
int64_t DeleteInboxBefore(pqxx::work& tx, core::SystemTime received_before, int64_t limit);
int64_t DeletePublishedOutbox(pqxx::work& tx, core::SystemTime published_before, int64_t limit);

}  // namespace sluice::pg
