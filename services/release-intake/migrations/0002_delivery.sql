-- Delivery specs: every applied version of an app's spec, 1..n per app. A version never changes.
CREATE TABLE app_specs (
  app         text        NOT NULL,
  version     bigint      NOT NULL CHECK (version >= 1),
  sha256      text        NOT NULL,
  yaml        text        NOT NULL,
  applied_by  text        NOT NULL,
  applied_at  timestamptz NOT NULL,
  PRIMARY KEY (app, version)
);

-- Deployments requested through POST /v1/deployments. The rollout-planner owns deployments;
-- this is the request as it was made (who, which release, which spec version) and the
-- Idempotency-Key it was made with.
CREATE TABLE deployment_requests (
  deployment_id    text        PRIMARY KEY,
  release_id       text        NOT NULL REFERENCES releases (id),
  app              text        NOT NULL,
  env              text        NOT NULL,
  spec_version     bigint      NOT NULL,
  requested_by     text        NOT NULL,
  requested_at     timestamptz NOT NULL,
  idempotency_key  text        UNIQUE,
  request_sha256   text        NOT NULL
);
CREATE INDEX deployment_requests_app_env ON deployment_requests (app, env, requested_at DESC);
