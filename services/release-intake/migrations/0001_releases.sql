-- Releases: one row per (app, version); the checksum pins the artifact.
CREATE TABLE releases (
  seq           bigserial   UNIQUE,
  id            text        PRIMARY KEY,
  app           text        NOT NULL,
  tag           text        NOT NULL,
  version       text        NOT NULL,
  artifact_url  text        NOT NULL,
  sha256        text        NOT NULL,
  artifact_kind text        NOT NULL,
  commit_sha    text,
  repo          text,
  created_by    text        NOT NULL,
  created_at    timestamptz NOT NULL,
  source        text        NOT NULL,
  UNIQUE (app, version)
);
CREATE INDEX releases_app_seq ON releases (app, seq DESC);

-- API tokens, stored as SHA-256 of the token (tokens are 256-bit random, so a plain hash is
-- enough); the token itself is shown once, when it is created.
CREATE TABLE api_tokens (
  id          text        PRIMARY KEY,
  name        text        NOT NULL UNIQUE,
  token_hash  text        NOT NULL UNIQUE,
  role        text        NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
  created_at  timestamptz NOT NULL,
  created_by  text        NOT NULL,
  revoked_at  timestamptz
);

-- Every mutating call, who made it, and what it changed.
CREATE TABLE audit_log (
  id          bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL,
  actor       text        NOT NULL,
  action      text        NOT NULL,
  target      text        NOT NULL,
  outcome     text        NOT NULL,
  trace_id    text        NOT NULL,
  detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- GitHub deliveries already handled (replay protection).
CREATE TABLE webhook_deliveries (
  delivery_id text        PRIMARY KEY,
  event       text        NOT NULL,
  received_at timestamptz NOT NULL,
  outcome     text        NOT NULL
);
