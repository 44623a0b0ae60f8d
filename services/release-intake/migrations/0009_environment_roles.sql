-- Roles per environment (src/release.hpp: EnvGrants). A token holds its api_tokens.role
-- everywhere except in the environments granted here, where it holds the granted role instead.
-- Environments are named as in delivery specs, for every app. Admins manage the rows
-- (POST /v1/tokens "environments", PUT / DELETE /v1/tokens/{id}/environments/{env}).
CREATE TABLE api_token_grants (
  token_id    text        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  env         text        NOT NULL,
  role        text        NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
  granted_by  text        NOT NULL,
  granted_at  timestamptz NOT NULL,
  PRIMARY KEY (token_id, env)
);

-- An admin's override of the promotion gate (POST /v1/deployments "override": {"reason"}): the
-- reason given, and the refusal it went past (the gate's code: promotion_required,
-- promotion_pending, promotion_failed, environment_frozen, outside_window; NULL when the gate
-- would have let the release go anyway).
ALTER TABLE deployment_requests ADD COLUMN override_reason text,
                                ADD COLUMN overridden      text,
                                ADD COLUMN override_detail jsonb;
