-- A tarball (or model) release that also goes to Kubernetes targets names the image they run,
-- optionally with its digest (sha256:<hex>); NULL for releases to VM hosts only.
ALTER TABLE releases ADD COLUMN image        text,
                     ADD COLUMN image_digest text;
