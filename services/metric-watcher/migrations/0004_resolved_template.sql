-- Numbered 4: 0002 and 0003 are taken by the analysis claims and the deployment projection.
-- The analysis template as release-intake resolved it (AnalysisRequested.resolved_template, the
-- JSON mapping of sluice.v1.AnalysisTemplate). The watcher no longer parses spec_yaml; '' in rows
-- written before, whose analyses end with template_missing when next stepped.
ALTER TABLE analyses ADD COLUMN resolved_template text NOT NULL DEFAULT '';
