-- What the metric-watcher knows about each deployment: enough to match an Alertmanager alert
-- to it (app, env, version) and to refuse analyses of a generation that was rolled back.
CREATE TABLE watched_deployments (
  deployment_id        text PRIMARY KEY,
  app                  text NOT NULL DEFAULT '',
  env                  text NOT NULL DEFAULT '',
  version              text NOT NULL DEFAULT '',
  release_id           text NOT NULL DEFAULT '',
  status               text NOT NULL,  -- pending running paused succeeded failed rolling_back ...
  generation           bigint NOT NULL DEFAULT 0,
  cancelled_generation bigint NOT NULL DEFAULT 0,  -- analyses below it are cancelled
  started_at           timestamptz NOT NULL,
  active_until         timestamptz,  -- after success: alerts still match until then
  updated_at           timestamptz NOT NULL
);
CREATE INDEX watched_deployments_app_env ON watched_deployments (app, env);

-- One analysis run (a batch judged, or the bake watch after 100%).
CREATE TABLE analyses (
  id                 text PRIMARY KEY,  -- analysis_id of AnalysisRequested, or a new UUID
  deployment_id      text NOT NULL,
  batch_index        integer NOT NULL DEFAULT 0,
  generation         bigint NOT NULL DEFAULT 0,
  app                text NOT NULL,
  env                text NOT NULL,
  version            text NOT NULL DEFAULT '',
  baseline_version   text NOT NULL DEFAULT '',
  release_id         text NOT NULL DEFAULT '',
  template_name      text NOT NULL,
  bake_watch         boolean NOT NULL DEFAULT false,
  instances          jsonb NOT NULL DEFAULT '[]',
  baseline_instances jsonb NOT NULL DEFAULT '[]',
  spec_yaml          text NOT NULL DEFAULT '',
  status             text NOT NULL,  -- Running Successful Failed Error Inconclusive Cancelled
  started_at         timestamptz NOT NULL,
  ends_at            timestamptz,  -- bake watch: when watching ends
  next_due_at        timestamptz,  -- earliest due measurement while Running
  finished_at        timestamptz,
  reason             text NOT NULL DEFAULT '',
  evidence           jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX analyses_deployment ON analyses (deployment_id, started_at);
CREATE INDEX analyses_due ON analyses (next_due_at) WHERE status = 'Running';

-- The limits bookkeeping of each rule (and of the judge, rule = 'judge') of an analysis: the
-- durable schedule of its next measurement.
CREATE TABLE analysis_rules (
  analysis_id  text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  rule         text NOT NULL,
  kind         text NOT NULL CHECK (kind IN ('threshold', 'judge')),
  progress     jsonb NOT NULL,
  outcome      text NOT NULL,
  next_due_at  timestamptz,  -- null once the rule is decided
  PRIMARY KEY (analysis_id, rule)
);

CREATE TABLE measurements (
  id          bigserial PRIMARY KEY,
  analysis_id text NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
  rule        text NOT NULL,
  taken_at    timestamptz NOT NULL,
  queries     jsonb NOT NULL,  -- metric -> resolved PromQL
  "values"    jsonb NOT NULL,  -- metric -> [{instance, value}] (judge: per-metric statistics)
  metric      text NOT NULL DEFAULT '',
  observed    double precision,
  threshold   double precision,
  comparator  text NOT NULL DEFAULT '',
  affected    jsonb NOT NULL DEFAULT '[]',
  verdict     text NOT NULL,
  message     text NOT NULL DEFAULT ''
);
CREATE INDEX measurements_analysis ON measurements (analysis_id, rule, id);

-- Every Alertmanager alert received; (fingerprint, starts_at) identifies one firing, so a
-- repeated webhook never raises it twice.
CREATE TABLE alerts (
  id            bigserial PRIMARY KEY,
  fingerprint   text NOT NULL,
  starts_at     timestamptz NOT NULL,
  alert_name    text NOT NULL DEFAULT '',
  deployment_id text NOT NULL DEFAULT '',
  status        text NOT NULL CHECK (status IN ('firing', 'resolved')),
  labels        jsonb NOT NULL,
  annotations   jsonb NOT NULL DEFAULT '{}',
  raised        boolean NOT NULL DEFAULT false,
  alert_id      text NOT NULL DEFAULT '',  -- AlertRaised.alert_id when raised
  reason        text NOT NULL DEFAULT '',
  received_at   timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  UNIQUE (fingerprint, starts_at)
);
