-- Console sessions: an API token turned into an HttpOnly cookie (POST /v1/sessions). Only the
-- SHA-256 of the cookie value is stored, so a read of this table cannot sign anyone in. A session
-- lives while its token does (revoking or expiring the token ends it), until `idle_until`
-- (pushed forward as it is used) and never past `expires_at`. The CSRF token is sent back on
-- every mutation in X-CSRF-Token.
CREATE TABLE console_sessions (
  id_hash      text        PRIMARY KEY,
  token_id     text        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  csrf_token   text        NOT NULL,
  created_at   timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
