-- The delivery spec as release-intake resolved it (sluice.v1.DeliverySpec, in its JSON mapping):
-- the planner plans from it and never parses the YAML text, which stays for people and audit.
-- '' in rows written before: such an app spec does not auto-deploy until it is applied again.
ALTER TABLE app_specs ADD COLUMN spec text NOT NULL DEFAULT '';
-- The deployment's environment of it (sluice.v1.DeliverySpec.Environment): the analysis
-- templates AnalysisRequested carries.
ALTER TABLE deployments ADD COLUMN env_spec text NOT NULL DEFAULT '';
