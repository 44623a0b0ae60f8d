-- The answer given to each submission of the Kafka inbound topic (sluice.intake.v1), by its
-- submission id, so a retried record gets the same answer again (the inbox makes it a duplicate;
-- this is what it is answered with). `result` is the sluice.v1.IntakeResult in its JSON form.
CREATE TABLE intake_answers (
  submission_id text        PRIMARY KEY,
  content_type  text        NOT NULL,
  result        jsonb       NOT NULL,
  answered_at   timestamptz NOT NULL
);
