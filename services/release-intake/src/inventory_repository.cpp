#include "inventory_repository.hpp"

#include <nlohmann/json.hpp>

namespace sluice::release_intake {
namespace {

constexpr const char* kPrevious = R"sql(
  SELECT DISTINCT ON (host_group) host_group, hosts::text FROM inventory_reads
  WHERE app = $1 AND env = $2 ORDER BY host_group, read_at DESC)sql";
constexpr const char* kRecord = R"sql(
  INSERT INTO inventory_reads (deployment_id, app, env, host_group, source, sha256, hosts, read_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, to_timestamp($8::double precision / 1000)))sql";

}  // namespace

PreviousInventoryHosts InventoryRepository::Previous(pqxx::work& tx, const std::string& app,
                                                     const std::string& env) {
  PreviousInventoryHosts out;
  for (const auto& row : tx.exec_params(kPrevious, app, env)) {
    auto names = nlohmann::json::parse(row[1].as<std::string>());
    auto& hosts = out[row[0].as<std::string>()];
    for (const auto& n : names) {
      if (n.is_string()) hosts.push_back(n.get<std::string>());
    }
  }
  return out;
}

void InventoryRepository::Record(pqxx::work& tx, const std::string& deployment_id,
                                 const std::string& app, const spec::Environment& env,
                                 std::int64_t now_ms) {
  for (const auto& g : env.targets) {
    if (!g.inventory) continue;
    nlohmann::json names = nlohmann::json::array();
    for (const auto& h : g.hosts) names.push_back(h.name);
    tx.exec_params(kRecord, deployment_id, app, env.name, g.name, DescribeSource(*g.inventory),
                   g.inventory->sha256, names.dump(), now_ms);
  }
}

}  // namespace sluice::release_intake
