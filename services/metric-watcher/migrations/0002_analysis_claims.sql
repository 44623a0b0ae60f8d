-- The analyzer claims a due analysis in one transaction, queries Prometheus with none open, and
-- writes the result in a second transaction only while the claim is still its own: each claim
-- raises claim_token, and the write checks it (a claimer whose lease ran out writes nothing).
ALTER TABLE analyses ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;
