-- The notifier keeps the shared projection of each deployment (libs/projection; see
-- docs/deployment-projection.md) instead of its own context columns. `view` is the JSON of
-- projection::Deployment. The remembered names move over; the rest fills from later events.
CREATE TABLE deployment_projection (
  deployment_id  text        PRIMARY KEY,
  view           jsonb       NOT NULL,
  updated_at     timestamptz NOT NULL
);

INSERT INTO deployment_projection (deployment_id, view, updated_at)
SELECT deployment_id,
       jsonb_build_object('id', deployment_id, 'app', app, 'env', env, 'release_id', release_id,
                          'version', version, 'stable_version', stable_version),
       updated_at
FROM deployment_context;

DROP TABLE deployment_context;
