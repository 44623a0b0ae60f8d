-- The deployment whose deploy command last started on each host: the host runs (or is being
-- moved to) that deployment's version. A revert of any other deployment is refused on the host,
-- so an older deployment's rollback never switches a host that a newer deployment has taken
-- over. Written under the host's lease and fence, in the transaction that records the start.
CREATE TABLE executor_host_owners (
  host          text        PRIMARY KEY,
  deployment_id text        NOT NULL,
  generation    bigint      NOT NULL CHECK (generation >= 0),
  updated_at    timestamptz NOT NULL
);
