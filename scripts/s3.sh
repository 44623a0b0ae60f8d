#!/usr/bin/env bash
# S3-compatible object storage on loopback for artifacts: SeaweedFS (Apache-2.0), built from
# source through the Go module proxy, run as one `weed server -s3` process (master, volume
# server, filer and S3 gateway), with one identity whose key is generated here and one bucket.
#
#   bash scripts/s3.sh build    build weed once (cached, see below)
#   bash scripts/s3.sh built    exit 0 when weed is built (nothing else)
#   bash scripts/s3.sh up       build if needed, start (idempotent), wait for S3, create the bucket
#   bash scripts/s3.sh down     stop the process our pid file names
#   bash scripts/s3.sh status   one line; exit 1 when it is down
#   bash scripts/s3.sh env      print (and write var/local/s3.env) the endpoint, bucket and the
#                               files holding the key
#   bash scripts/s3.sh put FILE [KEY]
#                               upload FILE to the bucket (KEY: its base name) and print the
#                               artifact's s3:// URL and sha256, as a CI step would
#
# The binary: ~/.cache/sluice/tools/seaweedfs-<version>/weed (SLUICE_TOOLS_CACHE_DIR), built
# once at nice 19 from github.com/seaweedfs/seaweedfs@<version> (the module's own go.mod and
# go.sum, since its replace directive rules out `go install pkg@version`); Go's caches in
# ~/.cache/sluice/go (SLUICE_GO_CACHE_DIR), shared with scripts/kube.sh.
# State: data under var/stack/s3/, the log var/log/s3.log (and weed's own under var/log/s3/),
# the pid var/run/s3.pid. The identity (access key id, secret, the S3 identity config) is made
# once, mode 0600: var/local/s3-access-key-id, var/local/s3-secret-access-key,
# var/local/s3-identities.json. Telemetry is off; nothing listens beyond SLUICE_S3_HOST but
# weed's gRPC local sockets, which it puts in /tmp itself.
#
# Ports (env): SLUICE_S3_PORT=27333 (S3 API) SLUICE_S3_MASTER_PORT=27334
#   SLUICE_S3_VOLUME_PORT=27335 SLUICE_S3_FILER_PORT=27336; each component's gRPC port is its
#   port + 10 (27343..27346). Bucket: SLUICE_S3_BUCKET=sluice-artifacts. Address:
#   SLUICE_S3_HOST=127.0.0.1 (every component binds it; the endpoint hosts download from, so
#   namespace hosts, scripts/hosts.sh, need the bridge address here, as scripts/artifacts.sh).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=s3

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
DATA_DIR="$VAR/stack/s3"
LOCAL_DIR="$VAR/local"
PIDFILE="$RUN_DIR/s3.pid"
LOG="$LOG_DIR/s3.log"
ENV_FILE="$LOCAL_DIR/s3.env"
KEY_ID_FILE="$LOCAL_DIR/s3-access-key-id"
SECRET_FILE="$LOCAL_DIR/s3-secret-access-key"
IDENTITIES="$LOCAL_DIR/s3-identities.json"
HOST="${SLUICE_S3_HOST:-127.0.0.1}"
REGION=us-east-1

S3_PORT="${SLUICE_S3_PORT:-27333}"
MASTER_PORT="${SLUICE_S3_MASTER_PORT:-27334}"
VOLUME_PORT="${SLUICE_S3_VOLUME_PORT:-27335}"
FILER_PORT="${SLUICE_S3_FILER_PORT:-27336}"
BUCKET="${SLUICE_S3_BUCKET:-sluice-artifacts}"
ENDPOINT="http://$HOST:$S3_PORT"

MODULE=github.com/seaweedfs/seaweedfs
VERSION="${SLUICE_S3_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
TOOLS_ROOT="${SLUICE_TOOLS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools}"
GO_CACHE_ROOT="${SLUICE_GO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/go}"
BIN_DIR="$TOOLS_ROOT/seaweedfs-$VERSION"
WEED="$BIN_DIR/weed"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

go_env() {
  env GOMODCACHE="$GO_CACHE_ROOT/mod" GOCACHE="$GO_CACHE_ROOT/build" GOFLAGS="-p=2 -buildvcs=false" "$@"
}

# ---------------------------------------------------------------------------
# Build (once per version)
# ---------------------------------------------------------------------------
built() { [[ -x "$WEED" && -f "$BIN_DIR/.complete" ]]; }

cmd_build() {
  built && return 0
  sl_have go || sl_die "go is not installed (scripts/install-deps.sh installs it)"
  mkdir -p "$BIN_DIR" "$LOG_DIR"
  # One build at a time, also across worktrees sharing the cache.
  exec 8>"$BIN_DIR/.lock"
  flock 8
  if built; then
    exec 8>&-
    return 0
  fi
  local log="$LOG_DIR/s3-build.log" start=$SECONDS dir
  sl_log "building SeaweedFS $VERSION (nice 19; log $log) ..."
  printf '\n==== %s SeaweedFS %s ====\n' "$(date -u +%FT%TZ)" "$VERSION" >>"$log"
  if ! dir="$(go_env go mod download -json "$MODULE@$VERSION" 2>>"$log" |
    awk -F'"' '$2 == "Dir" { print $4 }')" || [[ -z "$dir" ]]; then
    tail -n 15 "$log" >&2
    sl_die "fetching $MODULE@$VERSION from the Go module proxy failed (log $log)"
  fi
  # Built inside the module (read-only in the cache; the output goes elsewhere) so that its
  # go.mod, replace directive and go.sum apply.
  if ! (cd "$dir" && go_env nice -n 19 go build -ldflags="-s -w" -o "$BIN_DIR/weed.tmp" ./weed) >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    sl_die "building SeaweedFS failed (log $log)"
  fi
  mv "$BIN_DIR/weed.tmp" "$WEED"
  printf '%s %s\n' "$(date -u +%FT%TZ)" "$(go env GOVERSION)" >"$BIN_DIR/.complete"
  exec 8>&-
  sl_log "SeaweedFS built in $((SECONDS - start))s: $WEED ($("$WEED" version 2>/dev/null | head -n1))"
}

# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------
# Letters and digits only, so neither the JSON nor a curl config needs escaping.
random_word() { openssl rand -base64 64 | tr -dc 'A-Za-z0-9' | head -c "$1"; }

ensure_identity() {
  mkdir -p "$LOCAL_DIR"
  (
    umask 077
    [[ -s "$KEY_ID_FILE" ]] || printf 'SLUICE%s\n' "$(random_word 14 | tr 'a-z' 'A-Z')" >"$KEY_ID_FILE"
    [[ -s "$SECRET_FILE" ]] || printf '%s\n' "$(random_word 40)" >"$SECRET_FILE"
    local id secret
    id="$(head -n1 "$KEY_ID_FILE")"
    secret="$(head -n1 "$SECRET_FILE")"
    # The only identity: no anonymous access, so every read needs a signature.
    cat >"$IDENTITIES.tmp" <<EOF
{
  "identities": [
    {
      "name": "sluice",
      "credentials": [{"accessKey": "$id", "secretKey": "$secret"}],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
    mv "$IDENTITIES.tmp" "$IDENTITIES"
  )
  chmod 600 "$KEY_ID_FILE" "$SECRET_FILE" "$IDENTITIES"
}

# curl with a SigV4-signed request; the key goes through a config on stdin, not argv.
s3_curl() {
  printf 'user = "%s:%s"\n' "$(head -n1 "$KEY_ID_FILE")" "$(head -n1 "$SECRET_FILE")" |
    curl -K - --aws-sigv4 "aws:amz:$REGION:s3" -sS --max-time 10 "$@"
}

# ---------------------------------------------------------------------------
# Process
# ---------------------------------------------------------------------------
# The pid of our weed, when the pid file names a live process running our binary.
our_pid() {
  local pid
  pid="$(sl_read_pidfile "$PIDFILE")"
  [[ -n "$pid" ]] && sl_pid_alive "$pid" && [[ "$(sl_pid_cmdline "$pid")" == "$WEED "* ]] && echo "$pid"
}

s3_answers() {
  local code
  code="$(s3_curl -o /dev/null -w '%{http_code}' "$ENDPOINT/" 2>/dev/null || true)"
  [[ "$code" == 200 ]]
}

# Retried for a while: right after a restart the gateway answers before the filer takes writes.
create_bucket() {
  local code="" deadline=$((SECONDS + 60))
  while :; do
    code="$(s3_curl -o "$DATA_DIR/.bucket-answer" -w '%{http_code}' -X PUT "$ENDPOINT/$BUCKET" 2>/dev/null || true)"
    case "$code" in
      200)
        sl_log "bucket $BUCKET created"
        return 0
        ;;
      409) return 0 ;; # BucketAlreadyExists / BucketAlreadyOwnedByYou: made by an earlier up
    esac
    ((SECONDS < deadline)) || break
    sleep 1
  done
  sl_die "creating bucket $BUCKET: HTTP ${code:-no answer}: $(head -c 300 "$DATA_DIR/.bucket-answer" 2>/dev/null)"
}

cmd_up() {
  cmd_build
  ensure_identity
  mkdir -p "$RUN_DIR" "$LOG_DIR/s3" "$DATA_DIR/volume" "$DATA_DIR/master"
  local pid
  if pid="$(our_pid)"; then
    sl_log "already running (pid $pid)"
  else
    local port
    for port in "$S3_PORT" "$MASTER_PORT" "$VOLUME_PORT" "$FILER_PORT" \
      $((S3_PORT + 10)) $((MASTER_PORT + 10)) $((VOLUME_PORT + 10)) $((FILER_PORT + 10)); do
      if sl_port_open "$port" "$HOST"; then
        sl_die "port $port is in use by $(sl_port_owner "$port"); stop it or set SLUICE_S3_*_PORT"
      fi
    done
    sl_log "starting SeaweedFS on $ENDPOINT (log $LOG)"
    (
      cd "$DATA_DIR"
      exec "$WEED" -logdir="$LOG_DIR/s3" server \
        -ip="$HOST" -ip.bind="$HOST" \
        -dir="$DATA_DIR/volume" -volume.max=16 \
        -master.dir="$DATA_DIR/master" -master.port="$MASTER_PORT" \
        -master.port.grpc=$((MASTER_PORT + 10)) -master.volumeSizeLimitMB=64 \
        -master.telemetry=false \
        -volume.port="$VOLUME_PORT" -volume.port.grpc=$((VOLUME_PORT + 10)) \
        -volume.preStopSeconds=1 \
        -filer -filer.port="$FILER_PORT" -filer.port.grpc=$((FILER_PORT + 10)) \
        -filer.localSocket="$RUN_DIR/s3-filer.sock" \
        -s3 -s3.port="$S3_PORT" -s3.port.grpc=$((S3_PORT + 10)) \
        -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$IDENTITIES" -s3.localSocket="$RUN_DIR/s3-gateway.sock" \
        >>"$LOG" 2>&1 </dev/null
    ) &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  if ! sl_wait_until 90 "the S3 API at $ENDPOINT" s3_answers; then
    tail -n 20 "$LOG" >&2
    sl_die "SeaweedFS did not answer signed requests on $ENDPOINT (log $LOG)"
  fi
  create_bucket
  write_env
  sl_log "up: $ENDPOINT, bucket $BUCKET (pid $pid); settings in $ENV_FILE"
}

cmd_down() {
  local pid
  if ! pid="$(our_pid)"; then
    sl_log "not running"
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while sl_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if sl_pid_alive "$pid"; then
    sl_warn "pid $pid still running after 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  sl_log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid="$(our_pid)" && s3_answers; then
    echo "s3: up, pid $pid, $ENDPOINT, bucket $BUCKET"
  elif [[ -n "${pid:-}" ]]; then
    echo "s3: pid $pid running but $ENDPOINT does not answer"
    return 1
  else
    echo "s3: down"
    return 1
  fi
}

write_env() {
  mkdir -p "$LOCAL_DIR"
  cat >"$ENV_FILE" <<EOF
# Generated by scripts/s3.sh: the local S3-compatible store (SeaweedFS). source it.
export SLUICE_S3_ENDPOINT=$ENDPOINT
export SLUICE_S3_REGION=$REGION
export SLUICE_S3_BUCKET=$BUCKET
export SLUICE_S3_ACCESS_KEY_ID_FILE=$KEY_ID_FILE
export SLUICE_S3_SECRET_ACCESS_KEY_FILE=$SECRET_FILE
EOF
}

cmd_env() {
  [[ -s "$KEY_ID_FILE" ]] || sl_die "no identity yet: run 'bash scripts/s3.sh up' first"
  write_env
  cat "$ENV_FILE"
}

cmd_put() {
  local file="${1:-}" key="${2:-}"
  [[ -f "$file" ]] || sl_die "put: give a file to upload (bash scripts/s3.sh put FILE [KEY])"
  [[ -n "$key" ]] || key="$(basename "$file")"
  our_pid >/dev/null || sl_die "the store is not running: bash scripts/s3.sh up"
  local sha code encoded
  sha="$(sha256sum "$file" | cut -c1-64)"
  # The key's path, each byte but the unreserved ones and '/' percent-encoded.
  encoded="$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/~"))' "$key")"
  # S3 wants the payload's hash in x-amz-content-sha256; curl signs the header as given.
  code="$(s3_curl -o "$DATA_DIR/.put-answer" -w '%{http_code}' -X PUT \
    -H "x-amz-content-sha256: $sha" --data-binary "@$file" "$ENDPOINT/$BUCKET/$encoded")"
  [[ "$code" == 200 ]] || sl_die "PUT $key: HTTP $code: $(head -c 300 "$DATA_DIR/.put-answer")"
  printf 's3://%s/%s %s\n' "$BUCKET" "$key" "$sha"
}

case "${1:-}" in
  build) cmd_build ;;
  built) built ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  put)
    shift
    cmd_put "$@"
    ;;
  *) usage ;;
esac
