#include "command_repository.hpp"

namespace sluice::executor {
namespace {

using json = nlohmann::json;

constexpr const char* kLockGeneration = R"sql(
  SELECT highest_generation FROM executor_generations WHERE deployment_id = $1 FOR UPDATE)sql";
constexpr const char* kSelectGeneration = R"sql(
  SELECT highest_generation FROM executor_generations WHERE deployment_id = $1)sql";
constexpr const char* kRaiseGeneration = R"sql(
  INSERT INTO executor_generations (deployment_id, highest_generation, updated_at)
  VALUES ($1, $2, now())
  ON CONFLICT (deployment_id) DO UPDATE
    SET highest_generation = GREATEST(executor_generations.highest_generation,
                                      EXCLUDED.highest_generation),
        updated_at = now())sql";

constexpr const char* kInsert = R"sql(
  INSERT INTO executor_commands
    (deployment_id, batch_index, generation, operation, rollback_id, event_id, app, env,
     artifact, targets, unresolved, service, policy, status, reason, accepted_at, updated_at,
     finished_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11::jsonb, $12::jsonb,
          $13::jsonb, $14, $15, now(), now(),
          CASE WHEN $14 = 'refused' THEN now() END)
  ON CONFLICT (deployment_id, batch_index, generation, operation) WHERE status <> 'refused'
  DO NOTHING
  RETURNING id)sql";

constexpr const char* kCommandColumns = R"sql(
  c.id, c.deployment_id, c.batch_index, c.generation, c.operation, c.rollback_id, c.event_id,
  c.app, c.env, c.artifact::text, c.targets::text, c.unresolved::text, c.service::text,
  c.policy::text)sql";
constexpr const char* kRowColumns = R"sql(,
  c.status, c.result, c.reason, c.claim, c.lease_owner,
  (extract(epoch from c.accepted_at) * 1000)::bigint,
  (extract(epoch from c.started_at) * 1000)::bigint,
  (extract(epoch from c.finished_at) * 1000)::bigint)sql";

constexpr const char* kListLive = R"sql(
  SELECT {} FROM executor_commands c
  WHERE c.deployment_id = $1 AND c.status <> 'refused'
  ORDER BY c.id)sql";
constexpr const char* kListRows = R"sql(
  SELECT {} FROM executor_commands c
  WHERE c.deployment_id = $1
  ORDER BY c.id)sql";

// The oldest claimable command; an older open command of the same deployment goes first, so a
// revert never runs beside the batch it supersedes (that batch is cancelled and ends soon).
constexpr const char* kClaimNext = R"sql(
  WITH next AS (
    SELECT c.id FROM executor_commands c
    WHERE c.status IN ('accepted', 'running')
      AND (c.lease_until IS NULL OR c.lease_until < now())
      AND NOT EXISTS (SELECT 1 FROM executor_commands o
                      WHERE o.deployment_id = c.deployment_id AND o.id < c.id
                        AND o.status IN ('accepted', 'running'))
    ORDER BY c.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
  UPDATE executor_commands c
     SET status = 'running', claim = c.claim + 1, lease_owner = $1,
         lease_until = now() + $2::bigint * interval '1 millisecond',
         started_at = coalesce(c.started_at, now()), updated_at = now()
    FROM next
   WHERE c.id = next.id
  RETURNING {}, c.claim)sql";

constexpr const char* kRenew = R"sql(
  UPDATE executor_commands
     SET lease_until = now() + $3::bigint * interval '1 millisecond'
   WHERE id = $1 AND claim = $2 AND status = 'running')sql";
constexpr const char* kHolds = R"sql(
  SELECT 1 FROM executor_commands
  WHERE id = $1 AND claim = $2 AND status = 'running'
  FOR UPDATE)sql";
constexpr const char* kHoldsShared = R"sql(
  SELECT 1 FROM executor_commands
  WHERE id = $1 AND claim = $2 AND status = 'running'
  FOR SHARE)sql";
constexpr const char* kFinish = R"sql(
  UPDATE executor_commands
     SET status = 'done', result = $3, reason = $4, lease_until = NULL, finished_at = now(),
         updated_at = now()
   WHERE id = $1 AND claim = $2 AND status = 'running')sql";
constexpr const char* kRelease = R"sql(
  UPDATE executor_commands
     SET lease_until = now() + $3::bigint * interval '1 millisecond', updated_at = now()
   WHERE id = $1 AND claim = $2 AND status = 'running')sql";

// $1: a JSON object host -> token. Returns the hosts whose fence was raised.
constexpr const char* kAdvanceFence = R"sql(
  INSERT INTO executor_host_fences (host, token, updated_at)
  SELECT f.key, f.value::bigint, now() FROM jsonb_each_text($1::jsonb) AS f
  ON CONFLICT (host) DO UPDATE SET token = EXCLUDED.token, updated_at = now()
  WHERE executor_host_fences.token <= EXCLUDED.token
  RETURNING host)sql";

constexpr const char* kHostFence = R"sql(
  SELECT token FROM executor_host_fences WHERE host = $1)sql";

std::string With(const char* statement, const std::string& columns) {
  std::string s(statement);
  s.replace(s.find("{}"), 2, columns);
  return s;
}

json ParseJson(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return json::parse(f.as<std::string>(), nullptr, false);
}

Command FromRow(const pqxx::row& row) {
  Command c;
  c.id = row[0].as<std::int64_t>();
  c.deployment_id = core::DeploymentId(row[1].as<std::string>());
  c.batch_index = core::BatchIndex(row[2].as<std::uint32_t>());
  c.generation = core::Generation(row[3].as<std::uint64_t>());
  c.operation =
      row[4].as<std::string>() == "revert" ? BatchOperation::kRevert : BatchOperation::kDeploy;
  c.rollback_id = row[5].as<std::string>();
  c.event_id = row[6].as<std::string>();
  c.app = row[7].as<std::string>();
  c.env = row[8].as<std::string>();
  c.artifact = ArtifactFromJson(ParseJson(row[9]));
  TargetsFromJson(ParseJson(row[10]), c.targets, c.host_batches);
  c.unresolved = UnresolvedFromJson(ParseJson(row[11]));
  c.service = ServiceFromJson(ParseJson(row[12]));
  c.policy = PolicyFromJson(ParseJson(row[13]));
  return c;
}

std::optional<std::int64_t> OptionalMs(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::int64_t>();
}

std::optional<std::int64_t> Insert(pqxx::work& tx, const Command& c, std::string_view status,
                                   const std::string& reason) {
  const std::string service = ServiceToJson(c.service).dump();
  const char* service_param = c.service ? service.c_str() : nullptr;
  const auto result = tx.exec_params(
      kInsert, c.deployment_id.Value(), c.batch_index.Value(),
      static_cast<std::int64_t>(c.generation.Value()), std::string(ToString(c.operation)),
      c.rollback_id, c.event_id, c.app, c.env, ArtifactToJson(c.artifact).dump(),
      TargetsToJson(c.targets, c.host_batches).dump(), UnresolvedToJson(c.unresolved).dump(),
      service_param, PolicyToJson(c.policy).dump(), std::string(status), reason);
  if (result.empty()) return std::nullopt;
  return result[0][0].as<std::int64_t>();
}

}  // namespace

std::optional<std::uint64_t> CommandRepository::LockHighestGeneration(
    pqxx::work& tx, const core::DeploymentId& deployment) {
  const auto result = tx.exec_params(kLockGeneration, deployment.Value());
  if (result.empty()) return std::nullopt;
  return result[0][0].as<std::uint64_t>();
}

std::optional<std::uint64_t> CommandRepository::HighestGeneration(
    pqxx::work& tx, const core::DeploymentId& deployment) {
  const auto result = tx.exec_params(kSelectGeneration, deployment.Value());
  if (result.empty()) return std::nullopt;
  return result[0][0].as<std::uint64_t>();
}

void CommandRepository::RaiseGeneration(pqxx::work& tx, const core::DeploymentId& deployment,
                                        std::uint64_t generation) {
  tx.exec_params0(kRaiseGeneration, deployment.Value(), static_cast<std::int64_t>(generation));
}

std::optional<std::int64_t> CommandRepository::InsertAccepted(pqxx::work& tx,
                                                              const Command& command) {
  return Insert(tx, command, kCommandAccepted, "");
}

void CommandRepository::InsertRefused(pqxx::work& tx, const Command& command,
                                      const std::string& reason) {
  Insert(tx, command, kCommandRefused, reason);
}

std::vector<Command> CommandRepository::ListLive(pqxx::work& tx,
                                                 const core::DeploymentId& deployment) {
  std::vector<Command> out;
  for (const auto& row : tx.exec_params(With(kListLive, kCommandColumns), deployment.Value())) {
    out.push_back(FromRow(row));
  }
  return out;
}

std::vector<CommandRow> CommandRepository::ListRows(pqxx::work& tx,
                                                    const core::DeploymentId& deployment) {
  std::vector<CommandRow> out;
  const std::string columns = std::string(kCommandColumns) + kRowColumns;
  for (const auto& row : tx.exec_params(With(kListRows, columns), deployment.Value())) {
    CommandRow r;
    r.command = FromRow(row);
    r.status = row[14].as<std::string>();
    r.result = row[15].as<std::string>();
    r.reason = row[16].as<std::string>();
    r.claim = row[17].as<std::int64_t>();
    r.lease_owner = row[18].as<std::string>();
    r.accepted_at_ms = row[19].as<std::int64_t>();
    r.started_at_ms = OptionalMs(row[20]);
    r.finished_at_ms = OptionalMs(row[21]);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<ClaimedCommand> CommandRepository::ClaimNext(pqxx::work& tx, const std::string& owner,
                                                           std::chrono::milliseconds lease) {
  const auto result = tx.exec_params(With(kClaimNext, kCommandColumns), owner,
                                     static_cast<std::int64_t>(lease.count()));
  if (result.empty()) return std::nullopt;
  ClaimedCommand c;
  c.command = FromRow(result[0]);
  c.claim = result[0][14].as<std::int64_t>();
  c.resumed = c.claim > 1;
  return c;
}

bool CommandRepository::Renew(pqxx::work& tx, std::int64_t id, std::int64_t claim,
                              std::chrono::milliseconds lease) {
  return tx.exec_params(kRenew, id, claim, static_cast<std::int64_t>(lease.count()))
             .affected_rows() > 0;
}

bool CommandRepository::Holds(pqxx::work& tx, std::int64_t id, std::int64_t claim) {
  return !tx.exec_params(kHolds, id, claim).empty();
}

bool CommandRepository::HoldsShared(pqxx::work& tx, std::int64_t id, std::int64_t claim) {
  return !tx.exec_params(kHoldsShared, id, claim).empty();
}

bool CommandRepository::Finish(pqxx::work& tx, std::int64_t id, std::int64_t claim,
                               const std::string& result, const std::string& reason) {
  return tx.exec_params(kFinish, id, claim, result, reason).affected_rows() > 0;
}

bool CommandRepository::Release(pqxx::work& tx, std::int64_t id, std::int64_t claim,
                                std::chrono::milliseconds delay) {
  return tx.exec_params(kRelease, id, claim, static_cast<std::int64_t>(delay.count()))
             .affected_rows() > 0;
}

bool CommandRepository::AdvanceHostFence(pqxx::work& tx, const std::string& host,
                                         std::int64_t token) {
  return AdvanceHostFences(tx, {{host, token}}).contains(host);
}

std::optional<std::int64_t> CommandRepository::HostFence(pqxx::work& tx, const std::string& host) {
  const auto rows = tx.exec_params(kHostFence, host);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::int64_t>();
}

std::set<std::string> CommandRepository::AdvanceHostFences(
    pqxx::work& tx, const std::map<std::string, std::int64_t>& tokens) {
  std::set<std::string> raised;
  if (tokens.empty()) return raised;
  nlohmann::json fences = nlohmann::json::object();
  for (const auto& [host, token] : tokens) fences[host] = token;
  for (const auto& row : tx.exec_params(kAdvanceFence, fences.dump())) {
    raised.insert(row[0].as<std::string>());
  }
  return raised;
}

}  // namespace sluice::executor
