-- API tokens expire (optionally) and can be revoked by an admin; when each was last used, and
-- who revoked it, is kept for GET /v1/tokens.
ALTER TABLE api_tokens ADD COLUMN expires_at   timestamptz,
                       ADD COLUMN last_used_at timestamptz,
                       ADD COLUMN revoked_by   text;

-- GitHub release events already turned into a release, by "<repository id>/<release id>/<action>".
-- The webhook's HMAC covers the body but not X-GitHub-Delivery, so a signed body re-sent under a
-- new delivery id is refused by this key.
CREATE TABLE github_release_events (
  event_key   text        PRIMARY KEY,
  delivery_id text        NOT NULL,
  accepted_at timestamptz NOT NULL
);
