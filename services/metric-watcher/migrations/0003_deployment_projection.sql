-- The watcher keeps the shared projection of each deployment (libs/projection; see
-- docs/deployment-projection.md) instead of its own watched_deployments copy. `view` is the JSON
-- of projection::Deployment; app and env repeat it for the alert lookup's index. Beside it, two
-- facts of the watcher's own: when it first heard of the deployment (the newest of an app+env
-- wins an alert; a bake watch of an older one is superseded) and until when alerts still match
-- after the deployment ended (the alert window, or the bake watch's end).
CREATE TABLE deployment_projection (
  deployment_id  text        PRIMARY KEY,
  view           jsonb       NOT NULL,
  app            text        NOT NULL DEFAULT '',
  env            text        NOT NULL DEFAULT '',
  first_seen_at  timestamptz NOT NULL,
  active_until   timestamptz,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX deployment_projection_app_env ON deployment_projection (app, env);

INSERT INTO deployment_projection (deployment_id, view, app, env, first_seen_at, active_until,
                                   updated_at)
SELECT deployment_id,
       jsonb_build_object(
         'id', deployment_id, 'app', app, 'env', env, 'release_id', release_id,
         'version', version,
         'status', CASE status WHEN 'pending' THEN 'running' WHEN 'aborted' THEN 'failed'
                               ELSE status END,
         'generation', generation, 'rollback_generation', cancelled_generation,
         'rollback', CASE WHEN status = 'rolled_back' THEN 'done'
                          WHEN status = 'rolling_back' OR cancelled_generation > 0 THEN 'active'
                          ELSE 'none' END),
       app, env, started_at, active_until, updated_at
FROM watched_deployments;

DROP TABLE watched_deployments;
