-- When the batch's last host switched (AnalysisRequested.switched_at): the analysis reads no
-- data from before it. NULL for a bake watch, for requests from older planners and for rows
-- written before; those read from started_at (when the request arrived).
ALTER TABLE analyses ADD COLUMN switched_at timestamptz;
