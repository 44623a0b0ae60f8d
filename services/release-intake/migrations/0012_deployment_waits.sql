-- Deployments requested outside every deployment window of their environment
-- (src/promotion_waits.hpp): accepted and stored here with the DeploymentRequested they publish
-- once a window opens (a durable timer of the sluice.pg timers table, kind
-- "deployment_window", wakes each at its next opening; the gate is checked again then).
-- state: waiting, started (published to the planner), aborted (by an operator).
CREATE TABLE deployment_waits (
  deployment_id  text        PRIMARY KEY,
  app            text        NOT NULL,
  env            text        NOT NULL,
  state          text        NOT NULL CHECK (state IN ('waiting', 'started', 'aborted')),
  -- why it waits: the gate's error {code, message, field, detail, next}
  reason         jsonb       NOT NULL,
  -- sluice.v1.DeploymentRequested, serialised: what the planner is sent when it starts
  requested      bytea       NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX deployment_waits_waiting ON deployment_waits (app, env) WHERE state = 'waiting';
