-- The latest delivery spec of each application (from AppSpecApplied; the highest version wins).
CREATE TABLE app_specs (
  app          text PRIMARY KEY,
  spec_version bigint NOT NULL,
  spec_yaml    text NOT NULL,
  sha256       text NOT NULL DEFAULT '',
  applied_by   text NOT NULL DEFAULT '',
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per deployment. `state` is the state machine's Deployment (JSON) and the authority;
-- status, phase, generation and current_batch repeat it for queries and indexes.
CREATE TABLE deployments (
  id                    text PRIMARY KEY,
  release_id            text NOT NULL,
  app                   text NOT NULL,
  env                   text NOT NULL,
  version               text NOT NULL DEFAULT '',
  artifact              jsonb NOT NULL DEFAULT '{}',
  spec_version          bigint NOT NULL DEFAULT 0,
  spec_yaml             text NOT NULL DEFAULT '',
  strategy              text NOT NULL DEFAULT '',
  service               jsonb,
  concurrency           text NOT NULL DEFAULT 'queue' CHECK (concurrency IN ('queue', 'reject')),
  status                text NOT NULL CHECK (status IN ('pending', 'running', 'paused', 'succeeded',
                                                        'failed', 'rolling_back', 'rolled_back',
                                                        'aborted')),
  phase                 text NOT NULL,
  state                 jsonb NOT NULL,
  batches               jsonb NOT NULL DEFAULT '[]',
  generation            bigint NOT NULL DEFAULT 1,
  current_batch         integer NOT NULL DEFAULT 0,
  requested_by          text NOT NULL DEFAULT '',
  queued                boolean NOT NULL DEFAULT false,
  stable_release_id     text NOT NULL DEFAULT '',
  stable_version_before text NOT NULL DEFAULT '',
  failure_reason        text NOT NULL DEFAULT '',
  failure_detail        text NOT NULL DEFAULT '',
  pause_reason          text NOT NULL DEFAULT '',
  rollback_id           text NOT NULL DEFAULT '',
  slot_token            bigint,
  created_at            timestamptz NOT NULL,
  started_at            timestamptz,
  finished_at           timestamptz,
  updated_at            timestamptz NOT NULL
);
-- The authority on concurrency: at most one active deployment per app+env.
CREATE UNIQUE INDEX deployments_one_active ON deployments (app, env)
  WHERE status IN ('running', 'paused', 'rolling_back');
-- The queue of each app+env, first requested first.
CREATE INDEX deployments_queue ON deployments (app, env, created_at, id)
  WHERE status = 'pending' AND queued;
CREATE INDEX deployments_listing ON deployments (created_at DESC, id DESC);
CREATE INDEX deployments_app_env ON deployments (app, env, created_at DESC);

-- The release running on each app+env after its last successful deployment.
CREATE TABLE stable_releases (
  app           text NOT NULL,
  env           text NOT NULL,
  release_id    text NOT NULL,
  version       text NOT NULL,
  artifact      jsonb NOT NULL DEFAULT '{}',
  deployment_id text NOT NULL,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (app, env)
);

-- The timeline of each deployment: every input, applied or ignored (with the reason).
CREATE TABLE deployment_events (
  id            bigserial PRIMARY KEY,
  deployment_id text NOT NULL,
  at            timestamptz NOT NULL,
  kind          text NOT NULL,
  detail        text NOT NULL DEFAULT '',
  actor         text NOT NULL DEFAULT '',
  applied       boolean NOT NULL,
  ignored_reason text NOT NULL DEFAULT '',
  event_id      text NOT NULL DEFAULT ''
);
CREATE INDEX deployment_events_by_deployment ON deployment_events (deployment_id, id);

-- Blue-green traffic switches waiting for their hook call (made outside any transaction).
CREATE TABLE traffic_switches (
  deployment_id text NOT NULL,
  generation    bigint NOT NULL,
  url           text NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  due_at        timestamptz NOT NULL,
  last_error    text NOT NULL DEFAULT '',
  PRIMARY KEY (deployment_id, generation)
);
CREATE INDEX traffic_switches_due ON traffic_switches (due_at);
