#pragma once

// release-intake's SQL for inventory reads (migrations/0007_inventory_reads.sql): the hosts each
// inventory group had at a deployment request, for the next request of the same app and env.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>

#include "inventory.hpp"

namespace sluice::release_intake {

class InventoryRepository {
 public:
  // The hosts of each inventory group at the latest request of `app` + `env` that read it.
  static PreviousInventoryHosts Previous(pqxx::work& tx, const std::string& app,
                                         const std::string& env);
  // One row per inventory group of `env` (groups listed in the spec are not stored).
  static void Record(pqxx::work& tx, const std::string& deployment_id, const std::string& app,
                     const spec::Environment& env, std::int64_t now_ms);
};

}  // namespace sluice::release_intake
