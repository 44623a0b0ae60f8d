#pragma once

#include <sluice/pg/migrations.hpp>
#include <vector>

namespace sluice::generated {
// migrations/*.sql, embedded at build time (cmake/EmbedMigrations.cmake).
const std::vector<sluice::pg::Migration>& ExecutorMigrations();
}  // namespace sluice::generated
