#pragma once

// The executor's SQL over executor_commands, executor_generations and executor_host_fences.
// Every statement is a named constant in command_repository.cpp. Functions take the caller's
// transaction. Lease times are the database's clock (now()), shared by every replica.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

#include "command.hpp"

namespace sluice::executor {

// A stored command with its bookkeeping.
struct CommandRow {
  Command command;
  std::string status;  // kCommand*
  std::string result;  // kResult* once done
  std::string reason;
  std::int64_t claim = 0;
  std::string lease_owner;
  std::int64_t accepted_at_ms = 0;
  std::optional<std::int64_t> started_at_ms;
  std::optional<std::int64_t> finished_at_ms;
};

// A command a worker holds: every write it makes carries `claim`.
struct ClaimedCommand {
  Command command;
  std::int64_t claim = 0;
  bool resumed = false;  // it had been claimed before (a crashed or stopped worker's command)
};

class CommandRepository {
 public:
  // The highest generation accepted for the deployment, locking its row until the transaction
  // ends (handlers of one deployment serialise here).
  static std::optional<std::uint64_t> LockHighestGeneration(pqxx::work& tx,
                                                            const core::DeploymentId& deployment);
  // The highest generation accepted for the deployment, without a lock.
  static std::optional<std::uint64_t> HighestGeneration(pqxx::work& tx,
                                                        const core::DeploymentId& deployment);
  static void RaiseGeneration(pqxx::work& tx, const core::DeploymentId& deployment,
                              std::uint64_t generation);

  // Inserts an accepted command; its id on success, nullopt when a live command of the same
  // (deployment, batch, generation, operation) exists already.
  static std::optional<std::int64_t> InsertAccepted(pqxx::work& tx, const Command& command);
  // Records a refused command (status refused, the reason), for the record only.
  static void InsertRefused(pqxx::work& tx, const Command& command, const std::string& reason);

  // The deployment's commands, refused ones excluded, oldest first.
  static std::vector<Command> ListLive(pqxx::work& tx, const core::DeploymentId& deployment);
  // Every command of the deployment with its bookkeeping, oldest first.
  static std::vector<CommandRow> ListRows(pqxx::work& tx, const core::DeploymentId& deployment);

  // Claims the oldest open command whose lease is free or expired and that no older open
  // command of the same deployment precedes (a deployment's commands run in order), with
  // FOR UPDATE SKIP LOCKED. nullopt when there is none.
  static std::optional<ClaimedCommand> ClaimNext(pqxx::work& tx, const std::string& owner,
                                                 std::chrono::milliseconds lease);
  // Extends the lease; false when the claim was lost (taken again after it expired).
  static bool Renew(pqxx::work& tx, std::int64_t id, std::int64_t claim,
                    std::chrono::milliseconds lease);
  // True while this claim still holds the command (locks its row until the transaction ends).
  static bool Holds(pqxx::work& tx, std::int64_t id, std::int64_t claim);
  // The same check with a share lock: a claim taken again (an UPDATE of the row) waits for the
  // transaction, yet the per-host writes of one run (host started, results) no longer queue
  // behind each other: 50 hosts starting at once held the row lock one after another.
  static bool HoldsShared(pqxx::work& tx, std::int64_t id, std::int64_t claim);
  // Marks the command done with its result; false when the claim was lost.
  static bool Finish(pqxx::work& tx, std::int64_t id, std::int64_t claim, const std::string& result,
                     const std::string& reason);
  // Gives the command back: it stays open and can be claimed again after `delay` (zero on
  // shutdown; a pause when hosts could not be driven, so the retry does not spin).
  static bool Release(pqxx::work& tx, std::int64_t id, std::int64_t claim,
                      std::chrono::milliseconds delay);

  // Raises the host's fence to `token`; false when a holder with a higher token has written
  // already (this holder is stale and must write nothing).
  static bool AdvanceHostFence(pqxx::work& tx, const std::string& host, std::int64_t token);
  // The host's fence: the highest token that wrote for it.
  static std::optional<std::int64_t> HostFence(pqxx::work& tx, const std::string& host);
  // The same for many hosts in one statement (host -> token, a host once); returns the hosts
  // whose fence was raised: the others have a newer holder.
  static std::set<std::string> AdvanceHostFences(pqxx::work& tx,
                                                 const std::map<std::string, std::int64_t>& tokens);
};

}  // namespace sluice::executor
