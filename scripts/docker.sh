#!/usr/bin/env bash
# The project's own Docker engine (Debian's docker.io: dockerd + containerd), no systemd needed,
# the base image made from Debian with debootstrap, and a local registry on loopback.
#
#   bash scripts/docker.sh up              start dockerd (idempotent) and import the base image
#   bash scripts/docker.sh down            stop the dockerd this script started (by its pid)
#   bash scripts/docker.sh status          exit 1 when dockerd does not answer
#   bash scripts/docker.sh with -- CMD...  up if down, run CMD, stop afterwards only what it started
#   bash scripts/docker.sh env             prints `export DOCKER_HOST=...` (eval it)
#   bash scripts/docker.sh base-image      debian:bookworm-slim from debootstrap (cached)
#   bash scripts/docker.sh registry-up | registry-down
#                                          Debian's docker-registry on 127.0.0.1:$SLUICE_REGISTRY_PORT
#
# Everything lives under ~/.cache/sluice (SLUICE_DOCKER_CACHE), so the image layers and the build
# cache survive between runs and between clones: docker/ (--data-root), rootfs tarball, registry/.
# The engine listens on its own socket (unix://$SLUICE_DOCKER_RUN/docker.sock), not the system's;
# its bridge is 10.88.0.1/24 and compose networks come from 10.79.0.0/16, clear of the demo
# hosts' 10.77.0.0/24 and the e2e hosts' 10.78.0.0/24 (scripts/hosts.sh also accepts its own
# bridge's traffic in FORWARD, whose policy dockerd sets to DROP). Open files:
# --default-ulimit nofile=20000:20000 (the machine's hard limit).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=docker

CACHE="${SLUICE_DOCKER_CACHE:-$HOME/.cache/sluice}"
DATA_ROOT="$CACHE/docker"
RUNDIR="${SLUICE_DOCKER_RUN:-/run/sluice-docker}"
SOCK="$RUNDIR/docker.sock"
PIDFILE="$RUNDIR/dockerd.pid"
LOG="$CACHE/docker.log"
BRIDGE_IP="${SLUICE_DOCKER_BIP:-10.88.0.1/24}"
POOL="${SLUICE_DOCKER_POOL:-10.79.0.0/16}"
BASE_TAG=debian:bookworm-slim
ROOTFS_TAR="$CACHE/debian-bookworm-minbase.tar"
REGISTRY_PORT="${SLUICE_REGISTRY_PORT:-15000}"
REGISTRY_DIR="$CACHE/registry"
REGISTRY_PIDFILE="$RUNDIR/registry.pid"
export DOCKER_HOST="unix://$SOCK"
# Debian's client matches the engine (a newer client elsewhere on PATH wants buildx for BuildKit).
DOCKER_BIN=/usr/bin/docker
[[ -x "$DOCKER_BIN" ]] || DOCKER_BIN=docker

dk() { "$DOCKER_BIN" "$@"; }

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

engine_ok() { [[ -S "$SOCK" ]] && dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# The Debian mirror apt is configured with (deb822 or one-line sources).
debian_mirror() {
  local m
  m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ { u=$2 } /^Suites:/ && / bookworm( |$)/ && u !~ /security/ { print u; exit }')"
  [[ -n "$m" ]] || m="$(grep -hE '^deb .* bookworm( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -v security | awk '{print $2; exit}')"
  echo "${m:-http://deb.debian.org/debian}"
}

base_image() {
  engine_ok || sl_die "dockerd is not running; bash scripts/docker.sh up"
  if dk image inspect "$BASE_TAG" >/dev/null 2>&1; then return 0; fi
  if [[ ! -s "$ROOTFS_TAR" ]]; then
    sl_have debootstrap || sl_die "debootstrap is missing; run scripts/install-deps.sh"
    local root mirror start=$SECONDS
    mirror="$(debian_mirror)"
    root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    sl_log "debootstrap --variant=minbase bookworm from $mirror (once; cached in $ROOTFS_TAR)"
    if ! nice debootstrap --variant=minbase bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
      tail -n 20 "$CACHE/debootstrap.log" >&2
      rm -rf "$root"
      sl_die "debootstrap failed (log $CACHE/debootstrap.log)"
    fi
    # Slim: no apt lists, docs or man pages (the stages that install packages fetch lists again).
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
      "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
    printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
      >"$root/etc/dpkg/dpkg.cfg.d/01-slim"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/01-slim"
    tar -C "$root" --numeric-owner -cf "$ROOTFS_TAR.partial" .
    mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
    rm -rf "$root"
    sl_log "rootfs made in $((SECONDS - start))s"
  fi
  dk import -c 'CMD ["bash"]' "$ROOTFS_TAR" "$BASE_TAG" >/dev/null
  sl_log "imported $BASE_TAG from $ROOTFS_TAR"
}

up() {
  mkdir -p "$CACHE" "$RUNDIR"
  if engine_ok; then
    base_image
    return 0
  fi
  sl_have dockerd || sl_die "dockerd is missing; run scripts/install-deps.sh"
  local pid
  pid="$(sl_read_pidfile "$PIDFILE")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then
    sl_die "dockerd (pid $pid) runs but does not answer on $SOCK; see $LOG"
  fi
  sl_log "starting dockerd (data $DATA_ROOT, socket $SOCK, log $LOG)"
  # setsid: the engine outlives the shell that started it (make targets, tests).
  setsid dockerd \
    --host "$DOCKER_HOST" \
    --data-root "$DATA_ROOT" \
    --exec-root "$RUNDIR/exec" \
    --pidfile "$PIDFILE" \
    --bip "$BRIDGE_IP" \
    --default-address-pool "base=$POOL,size=24" \
    --default-ulimit nofile=20000:20000 \
    --containerd-namespace sluice --containerd-plugins-namespace sluice-plugins \
    --log-level warn \
    >>"$LOG" 2>&1 </dev/null &
  echo $! >"$RUNDIR/started-by-script"
  if ! sl_wait_until 60 "dockerd on $SOCK" engine_ok; then
    tail -n 20 "$LOG" >&2
    sl_die "dockerd did not start"
  fi
  sl_log "dockerd $(dk version --format '{{.Server.Version}}') up (pid $(sl_read_pidfile "$PIDFILE"))"
  base_image
}

down() {
  registry_down
  local pid
  pid="$(sl_read_pidfile "$PIDFILE")"
  if [[ -z "$pid" ]] || ! sl_pid_alive "$pid"; then
    rm -f "$RUNDIR/started-by-script"
    sl_log "dockerd is not running"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 300); do
    sl_pid_alive "$pid" || break
    sleep 0.1
  done
  if sl_pid_alive "$pid"; then
    sl_warn "dockerd (pid $pid) still running after 30 s; killing it"
    kill -KILL "$pid" || true
  fi
  rm -f "$RUNDIR/started-by-script"
  sl_log "dockerd stopped"
}

registry_up() {
  local pid
  pid="$(sl_read_pidfile "$REGISTRY_PIDFILE")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then return 0; fi
  sl_have docker-registry || sl_die "docker-registry is missing; run scripts/install-deps.sh"
  mkdir -p "$REGISTRY_DIR" "$RUNDIR"
  cat >"$RUNDIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
EOF
  setsid docker-registry serve "$RUNDIR/registry.yml" >>"$CACHE/registry.log" 2>&1 </dev/null &
  echo $! >"$REGISTRY_PIDFILE"
  sl_wait_until 30 "registry on 127.0.0.1:$REGISTRY_PORT" sl_http_ok "http://127.0.0.1:$REGISTRY_PORT/v2/" ||
    { tail -n 20 "$CACHE/registry.log" >&2; sl_die "docker-registry did not start"; }
  sl_log "registry at 127.0.0.1:$REGISTRY_PORT (pid $(cat "$REGISTRY_PIDFILE"), storage $REGISTRY_DIR)"
}

registry_down() {
  local pid
  pid="$(sl_read_pidfile "$REGISTRY_PIDFILE")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then
    kill -TERM "$pid" || true
    sl_log "registry stopped"
  fi
  rm -f "$REGISTRY_PIDFILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status)
    if engine_ok; then
      echo "dockerd $(dk version --format '{{.Server.Version}}') up on $SOCK (pid $(sl_read_pidfile "$PIDFILE"))"
    else
      echo "dockerd down ($SOCK)"
      exit 1
    fi
    ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  base-image) base_image ;;
  registry-up) registry_up ;;
  registry-down) registry_down ;;
  with)
    shift
    [[ "${1:-}" == -- ]] && shift
    (($# > 0)) || usage
    started=0
    engine_ok || { up; started=1; }
    [[ $started == 1 ]] || base_image
    rc=0
    "$@" || rc=$?
    ((started)) && down
    exit $rc
    ;;
  *) usage ;;
esac
