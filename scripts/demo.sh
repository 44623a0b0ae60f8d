#!/usr/bin/env bash
# make demo: the local stack and the services, a release registered as CI would register it,
# and its ReleaseCreated event read back from Kafka. Leaves everything running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=demo
cd "$SLUICE_ROOT"
SLUICE=build/dev/cli/sluice

bash scripts/up.sh
# shellcheck disable=SC1091
source var/local/stack.env

# A real artifact: a small tarball with its sha256, as a CI job would publish.
mkdir -p var/demo/artifacts
version="1.0.$(date +%s)"
workdir="$(mktemp -d)"
mkdir -p "$workdir/demo-app-$version"
printf '#!/bin/sh\necho "demo-app %s"\n' "$version" >"$workdir/demo-app-$version/run.sh"
tar -czf "var/demo/artifacts/demo-app-$version.tar.gz" -C "$workdir" "demo-app-$version"
rm -rf "$workdir"
sha="$(sha256sum "var/demo/artifacts/demo-app-$version.tar.gz" | cut -d' ' -f1)"

echo
sl_log "1. CI registers release v$version of demo-app (POST /v1/releases):"
release_json="$("$SLUICE" --raw release create --app demo-app --tag "v$version" \
  --artifact-url "http://127.0.0.1:8090/artifacts/demo-app-$version.tar.gz" \
  --sha256 "$sha" --created-by demo-ci)"
echo "$release_json" | python3 -m json.tool
release_id="$(echo "$release_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

echo
sl_log "2. The same request again is idempotent (same release, no second event):"
"$SLUICE" --raw release create --app demo-app --tag "v$version" \
  --artifact-url "http://127.0.0.1:8090/artifacts/demo-app-$version.tar.gz" \
  --sha256 "$sha" --created-by demo-ci | python3 -c 'import json,sys; r=json.load(sys.stdin); print("   id", r["id"])'

echo
sl_log "3. A bad request is refused with the field named:"
"$SLUICE" release create --app demo-app --tag "v$version" --artifact-url "ftp://nowhere/x" \
  --sha256 "$sha" || true

echo
sl_log "4. ReleaseCreated, read back from Kafka topic sluice.releases.v1 (CloudEvents headers + envelope):"
"$SLUICE" events tail --topic sluice.releases.v1 --match "$release_id" --max 1 --timeout 30s \
  | python3 -m json.tool

cat <<MSG

The stack and release-intake are still running:
  build/dev/cli/sluice release list          the releases so far
  build/dev/cli/sluice events tail --max 5   events on sluice.releases.v1
  curl -s -H "Authorization: Bearer \$(cat var/local/admin-token)" http://127.0.0.1:8080/v1/releases
  make down                                  stop everything
MSG
