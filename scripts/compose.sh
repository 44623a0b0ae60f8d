#!/usr/bin/env bash
# The compose stack (compose/docker-compose.yml) on the project's own engine (scripts/docker.sh).
#
#   bash scripts/compose.sh up [infra|full]   start (default: full), wait until every container is
#                                             healthy and the API answers; builds missing images
#   bash scripts/compose.sh down              stop and remove the containers, networks and volumes
#   bash scripts/compose.sh ps | logs [SERVICE]
#   bash scripts/compose.sh cli ARGS...       the sluice CLI (its image) against the stack's API
#   bash scripts/compose.sh artifact VERSION [--error-rate X]
#                                             a release of the demo application, packed from the
#                                             host image's binary and stored in the artifact store;
#                                             prints "URL SHA256"
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=compose
cd "$SLUICE_ROOT"
eval "$(bash scripts/docker.sh env)"
DOCKER=/usr/bin/docker
[[ -x "$DOCKER" ]] || DOCKER=docker
PROJECT="${SLUICE_COMPOSE_PROJECT:-sluice}"
FILE=compose/docker-compose.yml
set -a
# shellcheck disable=SC1091
source compose/.env
set +a
API="http://127.0.0.1:$SLUICE_COMPOSE_API_PORT"
STORE="http://127.0.0.1:$SLUICE_COMPOSE_ARTIFACTS_PORT"
BUCKET=sluice-artifacts
# moto's server takes any AWS signature (a development store): a well-formed header is enough.
S3_AUTH="Authorization: AWS4-HMAC-SHA256 Credential=sluice/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
WORK="$SLUICE_ROOT/var/compose"

dc() { docker-compose -p "$PROJECT" -f "$FILE" "$@"; }

# Every container of the project is running and, where it has a health check, healthy.
all_healthy() {
  local ids id state
  ids="$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
  [[ -n "$ids" ]] || return 1
  for id in $ids; do
    state="$("$DOCKER" inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
    case "$state" in "running healthy" | "running none") ;; *) return 1 ;; esac
  done
}

unhealthy_report() {
  "$DOCKER" ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}\t{{.Status}}' >&2
}

up() {
  local profile="${1:-full}" start=$SECONDS missing=() n
  bash scripts/docker.sh up
  for n in $(bash scripts/images.sh list); do
    [[ "$profile" == infra && ! "$n" =~ ^(kafka|postgres|redis|prometheus|alertmanager|artifact-store)$ ]] && continue
    "$DOCKER" image inspect "sluice/$n:$SLUICE_IMAGE_TAG" >/dev/null 2>&1 || missing+=("$n")
  done
  if ((${#missing[@]})); then
    sl_log "images missing: ${missing[*]}; building them (make images)"
    bash scripts/images.sh build "${missing[@]}"
  fi
  sl_log "docker-compose --profile $profile up -d (project $PROJECT)"
  dc --profile "$profile" up -d --remove-orphans >"$WORK.up.log" 2>&1 || {
    tail -n 20 "$WORK.up.log" >&2
    unhealthy_report
    sl_die "docker-compose up failed"
  }
  local deadline=$((SECONDS + 300)) exited
  until all_healthy; do
    # A container that exited, or crashes and restarts, while its dependencies are healthy will
    # not become healthy: say so now.
    exited="$("$DOCKER" ps -a --filter "label=com.docker.compose.project=$PROJECT" --filter status=exited --filter status=restarting --format '{{.Names}}')"
    if [[ -n "$exited" ]] || ((SECONDS >= deadline)); then
      unhealthy_report
      for n in $exited; do
        sl_warn "$n exited; its last log lines:"
        "$DOCKER" logs --tail 15 "$n" >&2 || true
      done
      sl_die "the stack did not become healthy"
    fi
    sleep 2
  done
  if [[ "$profile" == full ]]; then
    sl_wait_until 60 "release-intake at $API/readyz" sl_http_ok "$API/readyz" || sl_die "the API does not answer"
  fi
  # The bucket, readable without credentials (the agents download with a plain GET + Range).
  curl -fsS -o /dev/null -X PUT -H "$S3_AUTH" "$STORE/$BUCKET" &&
    curl -fsS -o /dev/null -X PUT -H "$S3_AUTH" -H 'Content-Type: application/json' \
      --data-binary "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::$BUCKET/*\"}]}" \
      "$STORE/$BUCKET?policy" || sl_die "could not create the bucket $BUCKET"
  sl_log "up ($profile) in $((SECONDS - start))s: API $API, Prometheus http://127.0.0.1:$SLUICE_COMPOSE_PROMETHEUS_PORT," \
    "captures http://127.0.0.1:$SLUICE_COMPOSE_CAPTURE_PORT/captures, artifacts $STORE/$BUCKET"
}

cli() {
  "$DOCKER" run --rm -i --network host -e "SLUICE_API_URL=$API" -e "SLUICE_TOKEN=$SLUICE_ADMIN_TOKEN" \
    -v "$SLUICE_ROOT/compose:/compose:ro" "sluice/sluice:$SLUICE_IMAGE_TAG" "$@"
}

artifact() {
  local v="$1" bin id out url sha
  shift
  bin="$WORK/bin/tools/demo-app"
  # The demo application's binary of the host image (same libraries as the hosts), once per image.
  if [[ ! -x "$bin/sluice-demo-app" ]] ||
    [[ "$(cat "$WORK/bin/.image" 2>/dev/null)" != "$("$DOCKER" image inspect -f '{{.Id}}' "sluice/host:$SLUICE_IMAGE_TAG")" ]]; then
    mkdir -p "$bin"
    id="$("$DOCKER" create "sluice/host:$SLUICE_IMAGE_TAG")"
    "$DOCKER" cp "$id:/usr/local/lib/sluice/sluice-demo-app" "$bin/sluice-demo-app"
    "$DOCKER" rm "$id" >/dev/null
    "$DOCKER" image inspect -f '{{.Id}}' "sluice/host:$SLUICE_IMAGE_TAG" >"$WORK/bin/.image"
  fi
  sha="$(SLUICE_BUILD_DIR="$WORK/bin" SLUICE_HOSTS_PREFIX=cmp bash scripts/artifacts.sh build "$v" "$@" 2>/dev/null)"
  out="$SLUICE_ROOT/var/demo/cmp/artifacts/demo-app-$v.tar.gz"
  [[ -s "$out" ]] || sl_die "artifact $v was not built"
  curl -fsS -o /dev/null -H "$S3_AUTH" -T "$out" "$STORE/$BUCKET/demo-app-$v.tar.gz" ||
    sl_die "upload of $out failed"
  url="http://artifact-store:9000/$BUCKET/demo-app-$v.tar.gz"
  echo "$url $sha"
}

mkdir -p "$WORK"
case "${1:-}" in
  up) shift; up "$@" ;;
  down)
    if bash scripts/docker.sh status >/dev/null 2>&1; then
      dc --profile full down -v --remove-orphans --timeout 20
    else
      sl_log "dockerd is not running: nothing to stop"
    fi
    ;;
  ps) dc --profile full ps ;;
  logs) shift; dc --profile full logs --no-color "$@" ;;
  cli) shift; cli "$@" ;;
  artifact) shift; artifact "$@" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
