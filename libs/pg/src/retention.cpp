#include <sluice/pg/retention.hpp>

namespace sluice::pg {

std::vector<RetainedTable> LibraryRetention(const RetentionOptions& options) {
  return {
      {"outbox", options.outbox_published,
       [](pqxx::work& tx, core::SystemTime before, int64_t limit) {
         return DeletePublishedOutbox(tx, before, limit);
       }},
      {"inbox", options.inbox,
       [](pqxx::work& tx, core::SystemTime before, int64_t limit) {
         return DeleteInboxBefore(tx, before, limit);
       }},
  };
}

std::vector<int64_t> PurgeExpired(Database& db, core::SystemTime now,
                                  const std::vector<RetainedTable>& tables, int64_t batch) {
  std::vector<int64_t> deleted;
  deleted.reserve(tables.size());
  for (const auto& table : tables) {
    const auto before = now - table.keep;
    int64_t total = 0;
    for (;;) {
      const int64_t n =
          db.WithTransaction([&](pqxx::work& tx) { return table.purge(tx, before, batch); });
      total += n;
      if (n < batch) break;
    }
    deleted.push_back(total);
  }
  return deleted;
}

}  // namespace sluice::pg
