#!/usr/bin/env bash
# Release artifacts of the demo application, and a static file server the agents download
# them from.
#
#   bash scripts/artifacts.sh build VERSION [--error-rate X] [--latency-ms N]
#       var/demo/artifacts/demo-app-VERSION.tar.gz with bin/sluice-demo-app (from
#       $SLUICE_BUILD_DIR, default build/dev), bin/restart.sh, demo.json and VERSION; prints
#       its sha256 on stdout (the log goes to stderr). The archive is reproducible: the same
#       binary and options give the same sha256.
#   bash scripts/artifacts.sh serve [--addr HOST:PORT]   start the file server (idempotent)
#   bash scripts/artifacts.sh url VERSION                 the download URL of a version
#   bash scripts/artifacts.sh sha256 VERSION              the sha256 of a built version
#   bash scripts/artifacts.sh stop | status
#
# The default address is the one scripts/hosts.sh chose for the current hosts (the bridge
# address in namespace mode, so the agents inside the namespaces reach it), else
# 127.0.0.1:8090; SLUICE_ARTIFACTS_ADDR overrides it. SLUICE_HOSTS_PREFIX selects another
# set of hosts (and its own artifacts directory and pid file), as scripts/hosts.sh does.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=artifacts

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
PREFIX="${SLUICE_HOSTS_PREFIX:-sl}"
if [[ "$PREFIX" == sl ]]; then
  DEMO_DIR="$VAR/demo"
  NAME=artifacts
else
  DEMO_DIR="$VAR/demo/$PREFIX"
  NAME="artifacts-$PREFIX"
fi
ARTIFACTS_DIR="$DEMO_DIR/artifacts"
PIDFILE="$RUN_DIR/$NAME.pid"
ADDRFILE="$RUN_DIR/$NAME.addr"
LOGFILE="$LOG_DIR/$NAME.log"
BUILD_DIR="${SLUICE_BUILD_DIR:-build/dev}"
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
RESTART_SCRIPT="$ROOT/tools/demo-app/release/restart.sh"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# The versions the agent accepts (1.2.3, v1, 1.0.0-rc.1).
valid_version() {
  [[ "$1" =~ ^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$ ]]
}

archive_of() { echo "$ARTIFACTS_DIR/demo-app-$1.tar.gz"; }

default_addr() {
  if [[ -n "${SLUICE_ARTIFACTS_ADDR:-}" ]]; then
    echo "$SLUICE_ARTIFACTS_ADDR"
  elif [[ -f "$DEMO_DIR/hosts.env" ]] && grep -q '^ARTIFACTS_ADDR=' "$DEMO_DIR/hosts.env"; then
    sed -n 's/^ARTIFACTS_ADDR=//p' "$DEMO_DIR/hosts.env" | head -n1
  else
    echo "127.0.0.1:8090"
  fi
}

running_pid() {
  local pid
  pid="$(sl_read_pidfile "$PIDFILE")"
  [[ -n "$pid" ]] || return 0
  if sl_pid_alive "$pid" && sl_pid_cmdline "$pid" | grep -q "http.server"; then echo "$pid"; fi
}

# The address being served (the running server's), else the default.
current_addr() {
  if [[ -n "$(running_pid)" && -f "$ADDRFILE" ]]; then cat "$ADDRFILE"; else default_addr; fi
}

cmd_build() {
  local version="${1:-}"
  [[ -n "$version" ]] || sl_die "build: VERSION is missing (usage: artifacts.sh build VERSION)"
  shift
  valid_version "$version" || sl_die "build: '$version' is not a version the agent accepts (e.g. 1.2.3, v1)"
  local error_rate=0.0 latency_ms=20
  while (($# > 0)); do
    case "$1" in
      --error-rate) error_rate="${2:?--error-rate needs a value}"; shift 2 ;;
      --latency-ms) latency_ms="${2:?--latency-ms needs a value}"; shift 2 ;;
      *) sl_die "build: unknown option $1" ;;
    esac
  done
  python3 -c 'import sys; r=float(sys.argv[1]); sys.exit(0 if 0 <= r <= 1 else 1)' "$error_rate" 2>/dev/null ||
    sl_die "build: --error-rate must be a number from 0 to 1"
  [[ "$latency_ms" =~ ^[0-9]+$ ]] && ((latency_ms <= 60000)) ||
    sl_die "build: --latency-ms must be a whole number from 0 to 60000"
  local bin="$BUILD_DIR/tools/demo-app/sluice-demo-app"
  [[ -x "$bin" ]] || sl_die "build: $bin is missing; run: cmake --build $BUILD_DIR --target sluice-demo-app"
  [[ -f "$RESTART_SCRIPT" ]] || sl_die "build: $RESTART_SCRIPT is missing"

  local stage out tmp
  stage="$(mktemp -d)"
  STAGE="$stage"
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$stage/bin" "$ARTIFACTS_DIR"
  install -m 0755 "$bin" "$stage/bin/sluice-demo-app"
  install -m 0755 "$RESTART_SCRIPT" "$stage/bin/restart.sh"
  printf '{"error_rate": %s, "latency_ms": %s}\n' "$error_rate" "$latency_ms" >"$stage/demo.json"
  printf '%s\n' "$version" >"$stage/VERSION"
  chmod 0644 "$stage/demo.json" "$stage/VERSION"
  out="$(archive_of "$version")"
  tmp="$out.tmp.$$"
  # Reproducible: fixed order, times and owners, and no name or time in the gzip header.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - \
    bin/sluice-demo-app bin/restart.sh demo.json VERSION | gzip -n -9 >"$tmp"
  mv -f "$tmp" "$out"
  local sha
  sha="$(sha256sum "$out" | cut -d' ' -f1)"
  echo "$sha" >"$out.sha256"
  sl_log "built $out (error_rate $error_rate, latency_ms $latency_ms), sha256 $sha" >&2
  echo "$sha"
}

cmd_serve() {
  local addr
  addr="$(default_addr)"
  while (($# > 0)); do
    case "$1" in
      --addr) addr="${2:?--addr needs HOST:PORT}"; shift 2 ;;
      *) sl_die "serve: unknown option $1" ;;
    esac
  done
  [[ "$addr" =~ ^([0-9.]+):([0-9]+)$ ]] || sl_die "serve: --addr $addr is not IPv4:PORT"
  local host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}" pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    if [[ "$(cat "$ADDRFILE" 2>/dev/null)" == "$addr" ]]; then
      sl_log "already serving $ARTIFACTS_DIR on http://$addr (pid $pid)"
      return 0
    fi
    sl_log "serving on $(cat "$ADDRFILE" 2>/dev/null) (pid $pid); moving to $addr"
    cmd_stop
  fi
  if sl_port_open "$port" "$host"; then
    sl_die "serve: $addr is in use by $(sl_port_owner "$port"); choose another with --addr"
  fi
  mkdir -p "$ARTIFACTS_DIR" "$RUN_DIR" "$LOG_DIR"
  printf '\n==== %s serving %s on %s ====\n' "$(date -u +%FT%TZ)" "$ARTIFACTS_DIR" "$addr" >>"$LOGFILE"
  setsid python3 -m http.server --bind "$host" --directory "$ARTIFACTS_DIR" "$port" \
    >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  echo "$addr" >"$ADDRFILE"
  if ! sl_wait_until 15 "the artifact server on $addr" sl_port_open "$port" "$host"; then
    tail -n 20 "$LOGFILE" >&2 || true
    cmd_stop
    sl_die "serve: the file server did not start; log $LOGFILE"
  fi
  sl_log "serving $ARTIFACTS_DIR on http://$addr (pid $(running_pid))"
}

cmd_stop() {
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE" "$ADDRFILE"
    sl_log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while sl_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  sl_pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  rm -f "$PIDFILE" "$ADDRFILE"
  sl_log "stopped (pid $pid)"
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  case "$cmd" in
    build) cmd_build "$@" ;;
    serve | start) cmd_serve "$@" ;;
    url)
      [[ -n "${1:-}" ]] || sl_die "url: VERSION is missing"
      echo "http://$(current_addr)/demo-app-$1.tar.gz"
      ;;
    sha256)
      [[ -f "$(archive_of "${1:?VERSION is missing}").sha256" ]] || sl_die "sha256: version $1 is not built"
      cat "$(archive_of "$1").sha256"
      ;;
    stop) cmd_stop ;;
    status)
      local pid
      pid="$(running_pid)"
      if [[ -n "$pid" ]]; then
        echo "serving $ARTIFACTS_DIR on http://$(cat "$ADDRFILE") (pid $pid)"
      else
        echo "not running"
        return 1
      fi
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
