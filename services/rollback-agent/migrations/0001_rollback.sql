-- The agent's own projection of each deployment (from the planner's and the executor's events):
-- batches, hosts and their versions, generation, stable release. `view` is the JSON form of
-- rollback::DeploymentView; the columns beside it are what other queries filter on.
CREATE TABLE rollback_deployments (
  deployment_id  text        PRIMARY KEY,
  app            text        NOT NULL DEFAULT '',
  env            text        NOT NULL DEFAULT '',
  release_id     text        NOT NULL DEFAULT '',
  version        text        NOT NULL DEFAULT '',
  planned        boolean     NOT NULL DEFAULT false,
  planned_at     timestamptz,
  status         text        NOT NULL DEFAULT 'running',
  view           jsonb       NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX rollback_deployments_app_env ON rollback_deployments (app, env, planned_at);

-- Every event of a deployment, for the incident timeline.
CREATE TABLE rollback_timeline (
  id             bigserial   PRIMARY KEY,
  deployment_id  text        NOT NULL,
  event_id       text        NOT NULL UNIQUE,
  at             timestamptz NOT NULL,
  kind           text        NOT NULL,
  actor          text        NOT NULL DEFAULT '',
  detail         text        NOT NULL DEFAULT ''
);
CREATE INDEX rollback_timeline_deployment ON rollback_timeline (deployment_id, at, id);

-- Every instance record the executor reported (the deploy log).
CREATE TABLE rollback_instance_log (
  id             bigserial   PRIMARY KEY,
  deployment_id  text        NOT NULL,
  at             timestamptz NOT NULL,
  host           text        NOT NULL,
  batch_index    integer     NOT NULL,
  status         text        NOT NULL,
  version        text        NOT NULL DEFAULT '',
  error          text        NOT NULL DEFAULT ''
);
CREATE INDEX rollback_instance_log_deployment ON rollback_instance_log (deployment_id, id);

-- One row per rollback. UNIQUE (deployment_id, from_generation) is the authority for "exactly
-- one rollback per incident": a second trigger of the same generation cannot insert.
-- `fence_token` is the Redis lease token of the writer (0 when Redis could not be reached).
CREATE TABLE rollbacks (
  rollback_id        text        PRIMARY KEY,
  deployment_id      text        NOT NULL,
  from_generation    bigint      NOT NULL,
  new_generation     bigint      NOT NULL,
  scope              text        NOT NULL CHECK (scope IN ('batches', 'deployment')),
  batches            jsonb       NOT NULL,
  hosts              jsonb       NOT NULL,
  target_version     text        NOT NULL,
  target_release_id  text        NOT NULL DEFAULT '',
  final_status       text        NOT NULL CHECK (final_status IN ('failed', 'rolled_back')),
  trigger_kind       text        NOT NULL,
  trigger_event_id   text        NOT NULL,
  trigger_actor      text        NOT NULL DEFAULT '',
  evidence           jsonb       NOT NULL DEFAULT '[]',
  why                text        NOT NULL DEFAULT '',
  status             text        NOT NULL CHECK (status IN ('reverting', 'waiting_retry',
                                                            'succeeded', 'failed')),
  progress           jsonb       NOT NULL,
  retry_at           timestamptz,
  timeout_at         timestamptz,
  fence_token        bigint      NOT NULL DEFAULT 0,
  started_at         timestamptz NOT NULL,
  finished_at        timestamptz,
  UNIQUE (deployment_id, from_generation)
);
CREATE INDEX rollbacks_open ON rollbacks (rollback_id) WHERE status IN ('reverting', 'waiting_retry');

-- Per deployment, the highest Redis fencing token that wrote a rollback: a writer whose token
-- is lower is stale and writes nothing.
CREATE TABLE rollback_fences (
  deployment_id  text        PRIMARY KEY,
  token          bigint      NOT NULL,
  updated_at     timestamptz NOT NULL
);

-- Every trigger and what was decided about it.
CREATE TABLE rollback_triggers (
  id             bigserial   PRIMARY KEY,
  deployment_id  text        NOT NULL,
  event_id       text        NOT NULL,
  kind           text        NOT NULL,
  actor          text        NOT NULL DEFAULT '',
  decision       text        NOT NULL CHECK (decision IN ('act', 'record')),
  reason         text        NOT NULL DEFAULT '',
  detail         text        NOT NULL DEFAULT '',
  rollback_id    text        NOT NULL DEFAULT '',
  received_at    timestamptz NOT NULL
);
CREATE INDEX rollback_triggers_deployment ON rollback_triggers (deployment_id, id);

-- Incident reports: a row is created 'pending' with the RollbackCompleted (durable), and a
-- worker fills in the report (it queries Prometheus outside any transaction) and publishes
-- IncidentReported in the transaction that marks it 'written'.
CREATE TABLE incidents (
  incident_id    text        PRIMARY KEY,
  rollback_id    text        NOT NULL UNIQUE,
  deployment_id  text        NOT NULL,
  status         text        NOT NULL CHECK (status IN ('pending', 'written')),
  summary        text        NOT NULL DEFAULT '',
  report         jsonb,
  attempts       integer     NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL,
  written_at     timestamptz
);
CREATE INDEX incidents_deployment ON incidents (deployment_id, created_at);
CREATE INDEX incidents_pending ON incidents (created_at) WHERE status = 'pending';
