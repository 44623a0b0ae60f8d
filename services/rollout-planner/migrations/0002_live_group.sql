-- Blue-green: the host group serving traffic after the last successful deployment of an
-- app+env ('' when unknown or not blue-green). The next blue-green deployment goes to the other.
ALTER TABLE stable_releases ADD COLUMN live_group text NOT NULL DEFAULT '';
