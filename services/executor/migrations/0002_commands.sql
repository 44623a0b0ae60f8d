-- Commands accepted from BatchRequested / RevertRequested, worked off by the worker pool.
-- A command is claimed with FOR UPDATE SKIP LOCKED and held by a lease (lease_owner,
-- lease_until); `claim` grows with every claim, and every write of a worker carries the claim it
-- holds, so a worker whose lease ran out (and whose command was taken again) changes nothing.
CREATE TABLE executor_commands (
  id             bigserial   PRIMARY KEY,
  deployment_id  text        NOT NULL,
  batch_index    integer     NOT NULL CHECK (batch_index >= 0),
  generation     bigint      NOT NULL CHECK (generation >= 0),
  operation      text        NOT NULL CHECK (operation IN ('deploy', 'revert')),
  rollback_id    text        NOT NULL DEFAULT '',
  event_id       text        NOT NULL,
  app            text        NOT NULL DEFAULT '',
  env            text        NOT NULL DEFAULT '',
  artifact       jsonb       NOT NULL,
  targets        jsonb       NOT NULL,
  unresolved     jsonb       NOT NULL DEFAULT '[]',
  service        jsonb,
  policy         jsonb       NOT NULL,
  status         text        NOT NULL CHECK (status IN ('accepted', 'running', 'done', 'refused')),
  result         text        NOT NULL DEFAULT '',
  reason         text        NOT NULL DEFAULT '',
  claim          bigint      NOT NULL DEFAULT 0,
  lease_owner    text        NOT NULL DEFAULT '',
  lease_until    timestamptz,
  accepted_at    timestamptz NOT NULL,
  started_at     timestamptz,
  finished_at    timestamptz,
  updated_at     timestamptz NOT NULL
);

-- One live command per (deployment, batch, generation, operation): a re-sent command with a
-- new event id is a duplicate. Refused commands stay for the record and do not count.
CREATE UNIQUE INDEX executor_commands_unique
  ON executor_commands (deployment_id, batch_index, generation, operation)
  WHERE status <> 'refused';
-- What the workers look for.
CREATE INDEX executor_commands_open ON executor_commands (id)
  WHERE status IN ('accepted', 'running');
CREATE INDEX executor_commands_deployment ON executor_commands (deployment_id, id);

-- The highest generation accepted per deployment: a command with a lower one is stale, and a
-- running command whose generation is below it is cancelled.
CREATE TABLE executor_generations (
  deployment_id       text        PRIMARY KEY,
  highest_generation  bigint      NOT NULL,
  updated_at          timestamptz NOT NULL
);

-- Per host, the highest Redis fencing token (lock "sluice:host:<host>") that wrote a record.
-- A record write first raises this; a holder whose token is lower is stale and writes nothing.
CREATE TABLE executor_host_fences (
  host        text        PRIMARY KEY,
  token       bigint      NOT NULL,
  updated_at  timestamptz NOT NULL
);
