#include "instance_record_repository.hpp"

#include <nlohmann/json.hpp>

namespace sluice::executor {
namespace {

// A terminal row keeps its status: the update applies only while the stored row is in flight,
// or when the new status is terminal too (a resumed command confirming its result).
// The rows arrive as one JSON array (a statement per batch of hosts, not per host).
constexpr const char* kUpsert = R"sql(
  INSERT INTO instance_deployment_records
    (deployment_id, batch_index, host, ip, status, deployed_at, health_status, error_message,
     version, generation, attempts, updated_at)
  SELECT r.deployment_id, r.batch_index, r.host, r.ip, r.status,
         CASE WHEN r.deployed_at_ms IS NULL THEN NULL
              ELSE to_timestamp(r.deployed_at_ms::double precision / 1000) END,
         r.health_status, r.error_message, r.version, r.generation, r.attempts,
         to_timestamp(r.updated_at_ms::double precision / 1000)
    FROM jsonb_to_recordset($1::jsonb) AS r(
         deployment_id text, batch_index integer, host text, ip text, status text,
         deployed_at_ms bigint, health_status text, error_message text, version text,
         generation bigint, attempts integer, updated_at_ms bigint)
  ON CONFLICT (deployment_id, host, generation) DO UPDATE SET
    batch_index = EXCLUDED.batch_index, ip = EXCLUDED.ip, status = EXCLUDED.status,
    deployed_at = EXCLUDED.deployed_at, health_status = EXCLUDED.health_status,
    error_message = EXCLUDED.error_message, version = EXCLUDED.version,
    attempts = EXCLUDED.attempts, updated_at = EXCLUDED.updated_at
  WHERE instance_deployment_records.status IN ('pending', 'deploying', 'reverting')
     OR EXCLUDED.status IN ('succeeded', 'failed', 'reverted'))sql";

constexpr const char* kColumns = R"sql(
  deployment_id, batch_index, host, ip, status,
  (extract(epoch from deployed_at) * 1000)::bigint, health_status, error_message, version,
  generation, attempts, (extract(epoch from updated_at) * 1000)::bigint)sql";

constexpr const char* kSelectOne = R"sql(
  SELECT {} FROM instance_deployment_records
  WHERE deployment_id = $1 AND host = $2 AND generation = $3)sql";
constexpr const char* kSelectBatch = R"sql(
  SELECT {} FROM instance_deployment_records
  WHERE deployment_id = $1 AND batch_index = $2 AND generation = $3
  ORDER BY host)sql";
constexpr const char* kSelectDeployment = R"sql(
  SELECT {} FROM instance_deployment_records
  WHERE deployment_id = $1
  ORDER BY generation, batch_index, host)sql";
constexpr const char* kSelectInFlight = R"sql(
  SELECT {} FROM instance_deployment_records
  WHERE status IN ('pending', 'deploying', 'reverting')
  ORDER BY updated_at, deployment_id, host
  LIMIT $1)sql";
constexpr const char* kHighestGeneration = R"sql(
  SELECT max(generation) FROM instance_deployment_records WHERE deployment_id = $1)sql";

constexpr const char* kClaimHost = R"sql(
  INSERT INTO executor_host_owners (host, deployment_id, generation, updated_at)
  VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000))
  ON CONFLICT (host) DO UPDATE SET
    deployment_id = EXCLUDED.deployment_id, generation = EXCLUDED.generation,
    updated_at = EXCLUDED.updated_at)sql";
constexpr const char* kHostOwner = R"sql(
  SELECT deployment_id FROM executor_host_owners WHERE host = $1)sql";

std::string WithColumns(const char* statement) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, kColumns);
  return s;
}

InstanceRecord FromRow(const pqxx::row& row) {
  InstanceRecord r;
  r.deployment_id = core::DeploymentId(row[0].as<std::string>());
  r.batch_index = core::BatchIndex(row[1].as<std::uint32_t>());
  r.host = row[2].as<std::string>();
  r.ip = row[3].as<std::string>();
  r.status = ParseInstanceStatus(row[4].as<std::string>());
  if (!row[5].is_null()) r.deployed_at_ms = row[5].as<std::int64_t>();
  r.health = ParseHostHealth(row[6].as<std::string>());
  r.error_message = row[7].as<std::string>();
  r.version = row[8].as<std::string>();
  r.generation = core::Generation(row[9].as<std::uint64_t>());
  r.attempts = row[10].as<std::uint32_t>();
  r.updated_at_ms = row[11].as<std::int64_t>();
  return r;
}

std::vector<InstanceRecord> FromResult(const pqxx::result& result) {
  std::vector<InstanceRecord> out;
  out.reserve(result.size());
  for (const auto& row : result) out.push_back(FromRow(row));
  return out;
}

}  // namespace

bool InstanceRecordRepository::Upsert(pqxx::work& tx, const InstanceRecord& r) {
  return UpsertAll(tx, {r}) > 0;
}

std::size_t InstanceRecordRepository::UpsertAll(pqxx::work& tx,
                                                const std::vector<InstanceRecord>& records) {
  if (records.empty()) return 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : records) {
    rows.push_back({{"deployment_id", r.deployment_id.Value()},
                    {"batch_index", r.batch_index.Value()},
                    {"host", r.host},
                    {"ip", r.ip},
                    {"status", std::string(events::Name(r.status))},
                    {"deployed_at_ms", r.deployed_at_ms ? nlohmann::json(*r.deployed_at_ms)
                                                        : nlohmann::json(nullptr)},
                    {"health_status", std::string(ToString(r.health))},
                    {"error_message", r.error_message},
                    {"version", r.version},
                    {"generation", r.generation.Value()},
                    {"attempts", r.attempts},
                    {"updated_at_ms", r.updated_at_ms}});
  }
  return static_cast<std::size_t>(tx.exec_params(kUpsert, rows.dump()).affected_rows());
}

std::optional<InstanceRecord> InstanceRecordRepository::Get(pqxx::work& tx,
                                                            const core::DeploymentId& deployment,
                                                            const std::string& host,
                                                            core::Generation generation) {
  const auto result = tx.exec_params(WithColumns(kSelectOne), deployment.Value(), host,
                                     static_cast<std::int64_t>(generation.Value()));
  if (result.empty()) return std::nullopt;
  return FromRow(result[0]);
}

std::vector<InstanceRecord> InstanceRecordRepository::ListBatch(
    pqxx::work& tx, const core::DeploymentId& deployment, core::BatchIndex batch,
    core::Generation generation) {
  return FromResult(tx.exec_params(WithColumns(kSelectBatch), deployment.Value(), batch.Value(),
                                   static_cast<std::int64_t>(generation.Value())));
}

std::vector<InstanceRecord> InstanceRecordRepository::ListDeployment(
    pqxx::work& tx, const core::DeploymentId& deployment) {
  return FromResult(tx.exec_params(WithColumns(kSelectDeployment), deployment.Value()));
}

std::vector<InstanceRecord> InstanceRecordRepository::ListInFlight(pqxx::work& tx, int limit) {
  return FromResult(tx.exec_params(WithColumns(kSelectInFlight), limit));
}

std::optional<std::uint64_t> InstanceRecordRepository::HighestGeneration(
    pqxx::work& tx, const core::DeploymentId& deployment) {
  const auto row = tx.exec_params1(kHighestGeneration, deployment.Value());
  if (row[0].is_null()) return std::nullopt;
  return row[0].as<std::uint64_t>();
}

void InstanceRecordRepository::ClaimHost(pqxx::work& tx, const std::string& host,
                                         const core::DeploymentId& deployment,
                                         core::Generation generation, std::int64_t now_ms) {
  tx.exec_params0(kClaimHost, host, deployment.Value(),
                  static_cast<std::int64_t>(generation.Value()), now_ms);
}

std::optional<core::DeploymentId> InstanceRecordRepository::HostOwner(pqxx::work& tx,
                                                                      const std::string& host) {
  const auto result = tx.exec_params(kHostOwner, host);
  if (result.empty()) return std::nullopt;
  return core::DeploymentId(result[0][0].as<std::string>());
}

std::optional<core::DeploymentId> InstanceRecordRepository::RevertRefusedBy(
    pqxx::work& tx, const std::string& host, const core::DeploymentId& deployment) {
  auto owner = HostOwner(tx, host);
  if (!owner || *owner == deployment) return std::nullopt;
  return owner;
}

}  // namespace sluice::executor
