-- The environment's rollback policy for a failed canary, announced in DeploymentPlanned
-- (the rollback-agent reverts the batch or the whole deployment accordingly).
ALTER TABLE deployments ADD COLUMN on_canary_failure text NOT NULL DEFAULT 'revert-batch'
  CHECK (on_canary_failure IN ('revert-batch', 'revert-all'));

-- Every release that became the stable one of an app+env, oldest first. When a deployment that
-- became stable is rolled back (a bake-watch breach, an operator), its row is revoked and the
-- stable record goes back to the newest row not revoked, so neither the next rollback nor the
-- next deployment's baseline points at a release that failed.
CREATE TABLE stable_release_history (
  id               bigserial PRIMARY KEY,
  app              text NOT NULL,
  env              text NOT NULL,
  release_id       text NOT NULL,
  version          text NOT NULL,
  artifact         jsonb NOT NULL DEFAULT '{}',
  deployment_id    text NOT NULL,
  live_group       text NOT NULL DEFAULT '',
  became_stable_at timestamptz NOT NULL,
  revoked_at       timestamptz
);
CREATE INDEX stable_release_history_by_app_env ON stable_release_history (app, env, id DESC);
CREATE INDEX stable_release_history_by_deployment ON stable_release_history (deployment_id);

-- The records made before the history existed start it.
INSERT INTO stable_release_history (app, env, release_id, version, artifact, deployment_id,
                                    live_group, became_stable_at)
SELECT app, env, release_id, version, artifact, deployment_id, live_group, updated_at
FROM stable_releases ORDER BY updated_at;
