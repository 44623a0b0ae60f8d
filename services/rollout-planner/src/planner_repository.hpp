#pragma once

// SQL of the rollout-planner: deployments, the app+env queue, stable releases, app specs, the
// timeline and pending traffic switches. Every function runs inside the caller's transaction.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/core/time_range.hpp>
#include <string>
#include <vector>

#include "list_cursor.hpp"
#include "planner_model.hpp"

namespace sluice::rollout_planner {

struct DeploymentRow {
  DeploymentContext ctx;
  Deployment state;
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kQueue;
  std::string requested_by;
  bool queued = false;
  std::string failure_reason;  // set with the status; also for deployments that never started
  std::string failure_detail;
  std::string rollback_id;  // of the rollback in progress or last completed
  std::optional<std::int64_t> slot_token;
  core::SystemTime created_at;
};

struct AppSpecRow {
  std::string app;
  std::uint64_t spec_version = 0;
  std::string spec_yaml;
  // As release-intake resolved it; nullopt for a row stored before the planner kept it.
  std::optional<events::v1::DeliverySpec> spec;
};

struct StableRelease {
  std::string app;
  std::string env;
  std::string release_id;
  std::string version;
  nlohmann::json artifact;
  std::string deployment_id;
  core::SystemTime updated_at;
  std::string live_group;  // blue-green: the group serving traffic; empty when unknown
};

// What RevokeStable did to the stable record of the deployment's app+env.
struct StableRevocation {
  enum class Kind {
    kNotStable,  // another release is stable: the record is untouched
    kRestored,   // the release stable before the deployment is the stable one again
    kCleared,    // no release was stable before it: the record is gone
  } kind = Kind::kNotStable;
  std::optional<StableRelease> restored;  // kRestored
};

struct TimelineEntry {
  core::SystemTime at;
  std::string kind;
  std::string detail;
  std::string actor;
  bool applied = true;
  std::string ignored_reason;
};

struct DeploymentFilter {
  std::optional<std::string> app;
  std::optional<std::string> env;
  std::optional<std::string> status;
  int limit = 50;
  std::optional<ListCursor> after;  // the page after this deployment; none: the first page
  core::TimeRange created;          // created_at in [since, until); combines with `after`
};

// A page of the list, newest first (created_at DESC, id DESC); `next` names its last
// deployment when a further page exists.
struct DeploymentPage {
  std::vector<DeploymentRow> rows;
  std::optional<ListCursor> next;
};

struct TrafficSwitchRow {
  std::string deployment_id;
  std::uint64_t generation = 0;
  std::string url;
  int attempts = 0;
};

nlohmann::json ArtifactToJson(const events::v1::Artifact& a);
events::v1::Artifact ArtifactFromJson(const nlohmann::json& j);

class PlannerRepository {
 public:
  // False when a deployment with this id exists already (nothing is written then).
  static bool InsertDeployment(pqxx::work& tx, const DeploymentRow& row, core::SystemTime now);
  static std::optional<DeploymentRow> LoadDeployment(pqxx::work& tx, const std::string& id,
                                                     bool for_update);
  // Writes the state and its mirrored columns, queued, failure detail, rollback id, token.
  static void SaveDeployment(pqxx::work& tx, const DeploymentRow& row, core::SystemTime now);

  // The active (running, paused, rolling_back) deployment of app+env, if any.
  static std::optional<std::string> ActiveDeployment(pqxx::work& tx, const std::string& app,
                                                     const std::string& env);
  // The oldest queued deployment of app+env, locked (SKIP LOCKED: another replica's pick is
  // left alone).
  static std::optional<std::string> OldestQueued(pqxx::work& tx, const std::string& app,
                                                 const std::string& env);
  // app+env pairs with a queued deployment and no active one.
  static std::vector<std::pair<std::string, std::string>> StalledQueues(pqxx::work& tx, int limit);

  // Keeps the highest spec_version; false when a newer or equal one is stored.
  static bool UpsertAppSpec(pqxx::work& tx, const std::string& app, std::uint64_t spec_version,
                            const std::string& spec_yaml, const std::string& sha256,
                            const events::v1::DeliverySpec& spec, const std::string& applied_by,
                            core::SystemTime now);
  static std::optional<AppSpecRow> LoadAppSpec(pqxx::work& tx, const std::string& app);

  // `live_group`: the blue-green group now serving traffic; empty keeps the recorded one.
  // Also appends the release to the stable history.
  static void UpsertStable(pqxx::work& tx, const DeploymentContext& ctx, core::SystemTime now,
                           const std::string& live_group = "");
  // Revokes the deployment's release in the stable history; when it is the stable one of its
  // app+env, the newest release not revoked becomes stable again (none: no stable release).
  static StableRevocation RevokeStable(pqxx::work& tx, const DeploymentContext& ctx,
                                       core::SystemTime now);
  static std::optional<StableRelease> LoadStable(pqxx::work& tx, const std::string& app,
                                                 const std::string& env);

  static void AddTimeline(pqxx::work& tx, const std::string& deployment_id,
                          const TimelineEntry& entry, const std::string& event_id);
  static std::vector<TimelineEntry> Timeline(pqxx::work& tx, const std::string& deployment_id);

  // Keyset paging: at most filter.limit rows after filter.after (no OFFSET).
  static DeploymentPage List(pqxx::work& tx, const DeploymentFilter& filter);

  static void InsertTrafficSwitch(pqxx::work& tx, const std::string& deployment_id,
                                  std::uint64_t generation, const std::string& url,
                                  core::SystemTime now);
  // Due switches, pushed `lease` into the future so no other worker takes them meanwhile.
  static std::vector<TrafficSwitchRow> ClaimTrafficSwitches(pqxx::work& tx, core::SystemTime now,
                                                            std::chrono::milliseconds lease,
                                                            int limit);
  static void RetryTrafficSwitch(pqxx::work& tx, const TrafficSwitchRow& row,
                                 core::SystemTime due_at, const std::string& error);
  static void DeleteTrafficSwitch(pqxx::work& tx, const TrafficSwitchRow& row);
};

}  // namespace sluice::rollout_planner
