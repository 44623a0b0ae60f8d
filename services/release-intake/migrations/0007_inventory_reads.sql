-- The hosts each inventory host group had when a deployment was requested (issue 19): what the
-- next request of the same app and environment is compared with, to report the hosts that left
-- (or joined) the inventory in between. One row per deployment request and inventory group.
CREATE TABLE inventory_reads (
  deployment_id  text        NOT NULL REFERENCES deployment_requests (deployment_id),
  app            text        NOT NULL,
  env            text        NOT NULL,
  host_group     text        NOT NULL,
  source         text        NOT NULL,  -- "file /path" or "url https://host/path"
  sha256         text        NOT NULL,  -- of the inventory document read
  hosts          jsonb       NOT NULL,  -- the group's host names, in plan order
  read_at        timestamptz NOT NULL,
  PRIMARY KEY (deployment_id, host_group)
);
CREATE INDEX inventory_reads_app_env ON inventory_reads (app, env, host_group, read_at DESC);
