-- What the notifier remembers about each deployment (most events carry only its id).
CREATE TABLE deployment_context (
  deployment_id  text PRIMARY KEY,
  app            text NOT NULL DEFAULT '',
  env            text NOT NULL DEFAULT '',
  release_id     text NOT NULL DEFAULT '',
  version        text NOT NULL DEFAULT '',
  stable_version text NOT NULL DEFAULT '',
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, route, channel): the durable queue of notices and their record.
CREATE TABLE deliveries (
  id               bigserial PRIMARY KEY,
  notification_id  text NOT NULL UNIQUE,
  event_id         text NOT NULL,
  event_kind       text NOT NULL,
  deployment_id    text NOT NULL DEFAULT '',
  route            text NOT NULL,
  channel          text NOT NULL,
  channel_type     text NOT NULL,
  incident_key     text NOT NULL DEFAULT '',
  notification     jsonb NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'suppressed')),
  attempts         integer NOT NULL DEFAULT 0,
  due_at           timestamptz NOT NULL,
  last_status_code integer,
  last_response    text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  UNIQUE (event_id, channel, route)
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status = 'pending';
CREATE INDEX deliveries_incident ON deliveries (incident_key, channel, route, created_at)
  WHERE incident_key <> '';
CREATE INDEX deliveries_status ON deliveries (status, id);
