#!/usr/bin/env bash
# The slow first builds that later tiers of `make test` need, started early in the background
# at the lowest CPU and I/O priority, so that they use the CPU the wait-bound tiers leave idle
# (integration, console, restore, compose and e2e mostly wait on services, timeouts and
# Docker) instead of running one after the other on a fresh machine:
#   - the S3-compatible artifact store (scripts/s3.sh build, SeaweedFS: ~6-8 min cold, cached in
#     ~/.cache/sluice/tools), which e2e uses (and integration, once it is built);
#   - the local Kubernetes control plane (scripts/kube.sh build: ~8-10 min cold, cached in
#     ~/.cache/sluice/kube), which e2e, kube, charts and helm use;
#   - the fuzz build (clang, ASan + UBSan, libFuzzer; build/fuzz: 6-8 min cold), which
#     fuzz-smoke uses.
# Both are no-ops when cached. The tiers that need them wait on the same locks (kube.sh build
# and fuzz.sh hold one), so they never build twice, and a background build that failed is run
# again, in the foreground, by the tier that needs it, which then shows its error.
#
#   bash scripts/prebuild.sh start    start the background build (idempotent)
#   bash scripts/prebuild.sh wait     wait for it; prints how each step ended
#   bash scripts/prebuild.sh stop     end it (by its pid) if it still runs
#
# Log var/log/prebuild.log, pid var/run/prebuild.pid. SLUICE_PREBUILD=off: start does nothing
# (each tier then builds what it needs itself, as before).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=prebuild
cd "$SLUICE_ROOT"

VAR="${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}"
PID_FILE="$VAR/run/prebuild.pid"
LOG="$VAR/log/prebuild.log"
mkdir -p "$VAR/run" "$VAR/log"

running() {
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# The body of the background job: each step on its own, so one failing does not stop the other.
run_steps() {
  local rc=0 start
  start=$SECONDS
  echo "s3 store (SeaweedFS): start $(date -u +%T)"
  if bash scripts/s3.sh build; then
    echo "s3 store (SeaweedFS): done in $((SECONDS - start)) s"
  else
    rc=1
    echo "s3 store (SeaweedFS): FAILED after $((SECONDS - start)) s (the e2e tier builds it again and shows why)"
  fi
  start=$SECONDS
  echo "kube control plane: start $(date -u +%T)"
  if bash scripts/kube.sh build; then
    echo "kube control plane: done in $((SECONDS - start)) s"
  else
    rc=1
    echo "kube control plane: FAILED after $((SECONDS - start)) s (the kube tiers build it again and show why)"
  fi
  start=$SECONDS
  echo "fuzz build: start $(date -u +%T)"
  if FUZZ_BUILD_ONLY=1 bash scripts/fuzz.sh; then
    echo "fuzz build: done in $((SECONDS - start)) s"
  else
    rc=1
    echo "fuzz build: FAILED after $((SECONDS - start)) s (fuzz-smoke builds it again and shows why)"
  fi
  return "$rc"
}

case "${1:-}" in
  start)
    if [[ "${SLUICE_PREBUILD:-on}" == off ]]; then
      sl_log "off (SLUICE_PREBUILD=off): each tier builds what it needs itself"
      exit 0
    fi
    if running; then
      sl_log "already running (pid $(cat "$PID_FILE"), log $LOG)"
      exit 0
    fi
    # nice 19 + idle I/O class: the foreground tiers keep the CPU and disk whenever they want
    # them. setsid: its own process group, so `stop` ends the whole tree by one pid.
    setsid nice -n 19 ionice -c 3 bash "$0" run >"$LOG" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    sl_log "started the S3 store, Kubernetes control plane and fuzz builds in the background (pid $!, nice 19, log $LOG); no-ops when cached"
    ;;
  run)
    run_steps
    ;;
  wait)
    if running; then
      sl_log "waiting for the background builds (pid $(cat "$PID_FILE"), log $LOG)"
      while running; do sleep 2; done
    fi
    if [[ -f "$LOG" ]]; then
      grep -E '^(s3 store \(SeaweedFS\)|kube control plane|fuzz build): (done|FAILED)' "$LOG" | sed "s/^/[$SL_TAG] /" || true
    fi
    rm -f "$PID_FILE"
    ;;
  stop)
    if running; then
      pid="$(cat "$PID_FILE")"
      sl_log "stopping the background builds (process group $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do running || break; sleep 0.5; done
      running && kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    ;;
  *)
    echo "usage: $0 start|wait|stop" >&2
    exit 2
    ;;
esac
