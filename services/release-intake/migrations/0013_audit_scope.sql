-- The app and environment an audit entry is about, so GET /v1/audit can filter on them
-- (src/audit.hpp). NULL where the action has none (tokens, sessions, agents; a grant has an env only) or did not know it
-- (an operator command on a deployment release-intake has no request row of).
ALTER TABLE audit_log ADD COLUMN app text;
ALTER TABLE audit_log ADD COLUMN env text;

-- Entries written before these columns: their target says it for the app-scoped actions
-- ("app/env", "app", "app@version") and the grants ("token/env").
UPDATE audit_log SET app = split_part(target, '/', 1), env = split_part(target, '/', 2)
WHERE action IN ('deployment.request', 'deployment.override', 'deployment.start',
                 'deployment.abort', 'environment.freeze', 'environment.unfreeze',
                 'promotion.auto')
  AND target ~ '^[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$';
UPDATE audit_log SET env = split_part(target, '/', 2)
WHERE action IN ('token.grant', 'token.ungrant') AND target ~ '^[^/]+/[a-z][a-z0-9-]*$';
UPDATE audit_log SET app = target
WHERE action = 'app_spec.apply' AND target ~ '^[a-z][a-z0-9-]*$';
UPDATE audit_log SET app = split_part(target, '@', 1)
WHERE action = 'release.create' AND target ~ '^[a-z][a-z0-9-]*@';

-- Filtered pages walk the id index newest first; these serve the selective filters.
CREATE INDEX audit_log_actor ON audit_log (actor, id DESC);
CREATE INDEX audit_log_action ON audit_log (action, id DESC);
CREATE INDEX audit_log_app_env ON audit_log (app, env, id DESC) WHERE app IS NOT NULL;
