-- Enrolled host agents (src/agent_enrollment.hpp, src/agents_api.cpp). An admin creates a
-- one-time enrolment token (stored as its SHA-256, with an expiry, optionally bound to one host
-- name); the host spends it on POST /v1/agents/enroll and receives its own credential, which is
-- stored here as its SHA-256 only. Revoking a host keeps its row (revoked_at, revoked_by); a new
-- enrolment token may enrol the name again.
CREATE TABLE agent_enrollment_tokens (
  id          text        PRIMARY KEY,
  token_hash  text        NOT NULL UNIQUE,
  host_name   text,
  created_by  text        NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  used_by     text
);

CREATE TABLE agents (
  name             text        PRIMARY KEY,
  address          text        NOT NULL,
  labels           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  credential_hash  text        NOT NULL UNIQUE,
  enrollment_id    text        NOT NULL,
  enrolled_at      timestamptz NOT NULL,
  last_seen_at     timestamptz,
  revoked_at       timestamptz,
  revoked_by       text
);
