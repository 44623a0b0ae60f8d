-- Environments and promotion (src/promotion.hpp). What release-intake learns of each deployment
-- from the rollout-planner's and the metric-watcher's events (consumed with the inbox, so each
-- event counts once): whether it succeeded, failed (or was rolled back) and passed its bake
-- watch. A release goes into an environment with `promotion:` only once its newest deployment
-- in `promotion.from` passed.
CREATE TABLE env_deployments (
  deployment_id  text        PRIMARY KEY,
  app            text        NOT NULL,
  env            text        NOT NULL,
  release_id     text        NOT NULL,
  succeeded      boolean     NOT NULL DEFAULT false,
  failed         boolean     NOT NULL DEFAULT false,
  bake_expected  boolean     NOT NULL DEFAULT false,
  bake_passed    boolean     NOT NULL DEFAULT false,
  -- set once the promotions it triggers were requested (or found not to be wanted)
  promoted       boolean     NOT NULL DEFAULT false,
  seen_at        timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX env_deployments_release ON env_deployments (app, env, release_id, seen_at DESC);

-- The freeze switch of an environment (admins: PUT / DELETE
-- /v1/apps/{app}/environments/{env}/freeze). A row is a frozen environment.
CREATE TABLE env_freezes (
  app        text        NOT NULL,
  env        text        NOT NULL,
  reason     text        NOT NULL,
  frozen_by  text        NOT NULL,
  frozen_at  timestamptz NOT NULL,
  PRIMARY KEY (app, env)
);
