-- One row per host per command (deploy batch or revert) of a deployment. A command is
-- identified by its generation: a revert or a re-issued batch carries a newer one, so the
-- rows of an older command stay as they were.
CREATE TABLE instance_deployment_records (
  deployment_id  text        NOT NULL,
  batch_index    integer     NOT NULL CHECK (batch_index >= 0),
  host           text        NOT NULL,
  ip             text        NOT NULL DEFAULT '',
  status         text        NOT NULL
                 CHECK (status IN ('pending', 'deploying', 'succeeded', 'failed', 'reverting',
                                   'reverted')),
  deployed_at    timestamptz,
  health_status  text        NOT NULL DEFAULT 'unknown'
                 CHECK (health_status IN ('unknown', 'healthy', 'unhealthy')),
  error_message  text        NOT NULL DEFAULT '',
  version        text        NOT NULL,
  generation     bigint      NOT NULL CHECK (generation >= 0),
  attempts       integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (deployment_id, host, generation)
);

-- A batch's rows, for its result and for resuming it.
CREATE INDEX instance_deployment_records_batch
  ON instance_deployment_records (deployment_id, batch_index, generation);
-- Rows still in flight, read by a restarted executor.
CREATE INDEX instance_deployment_records_in_flight
  ON instance_deployment_records (updated_at)
  WHERE status IN ('pending', 'deploying', 'reverting');
