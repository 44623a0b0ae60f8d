#!/bin/sh
# Restart command of the demo application, run by sluice-agent (without a shell, in its own
# process group) after it switched the `current` link to this release:
#   stops the previous app of this host (pid file in $DEMO_APP_STATE_DIR), starts this
#   release's binary detached (its own session, output to $DEMO_APP_STATE_DIR/app.log), waits
#   until it listens, and appends "<time> <version>" to $DEMO_APP_STATE_DIR/restarts.log.
# Environment: DEMO_APP_STATE_DIR (required), DEMO_APP_ADDR (passed on to the app),
# SLUICE_RELEASE_VERSION (set by the agent; else the VERSION file).
set -eu

state="${DEMO_APP_STATE_DIR:?DEMO_APP_STATE_DIR is not set}"
# This release's directory, with the links resolved: the app must keep running from it
# after `current` moves on.
release="$(cd -P "$(dirname "$0")/.." && pwd -P)"
version="${SLUICE_RELEASE_VERSION:-$(head -n1 "$release/VERSION" 2>/dev/null || echo unknown)}"
stop_wait="${DEMO_APP_STOP_WAIT:-10}"
start_wait="${DEMO_APP_START_WAIT:-15}"
mkdir -p "$state"
pidfile="$state/app.pid"

log() { echo "$(date -u +%FT%TZ) restart.sh: $*"; }

# Prints the pid in the pid file when that process is alive and is the demo app.
app_pid() {
  [ -f "$pidfile" ] || return 0
  p="$(tr -dc '0-9' <"$pidfile")"
  [ -n "$p" ] || return 0
  if kill -0 "$p" 2>/dev/null && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q sluice-demo-app; then
    echo "$p"
  fi
}

# True while process $1 runs. An exited process stays visible to kill -0 until its parent
# reaps it, and the app's parent is whatever adopted it (init reaps on its own schedule): a
# zombie (state Z) has stopped.
running() {
  kill -0 "$1" 2>/dev/null || return 1
  pstate="$(sed -n 's/^[^)]*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)"
  [ -n "$pstate" ] && [ "$pstate" != Z ]
}

old="$(app_pid)"
if [ -n "$old" ]; then
  log "stopping pid $old"
  kill -TERM "$old" 2>/dev/null || true
  i=0
  while running "$old"; do
    i=$((i + 1))
    if [ "$i" -gt $((stop_wait * 10)) ]; then
      log "pid $old still alive after ${stop_wait}s; SIGKILL"
      kill -KILL "$old" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
fi
rm -f "$pidfile"

log "starting $version from $release"
# setsid: the agent kills the restart command's process group when it overruns; the app
# must outlive this script.
SLUICE_RELEASE_VERSION="$version" DEMO_APP_STATE_DIR="$state" \
  setsid "$release/bin/sluice-demo-app" >>"$state/app.log" 2>&1 </dev/null &
child=$!

# The app writes its pid file once its port is bound.
i=0
while :; do
  if [ -n "$(app_pid)" ]; then break; fi
  if ! kill -0 "$child" 2>/dev/null; then
    log "the app exited during start-up; last lines of $state/app.log:"
    tail -n 20 "$state/app.log" || true
    exit 1
  fi
  i=$((i + 1))
  if [ "$i" -gt $((start_wait * 10)) ]; then
    log "the app is not listening after ${start_wait}s"
    exit 1
  fi
  sleep 0.1
done

echo "$(date -u +%FT%TZ) $version" >>"$state/restarts.log"
log "started $version (pid $(app_pid))"
