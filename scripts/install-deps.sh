#!/usr/bin/env bash
# Installs what building, testing and running the local stack need, from
# Debian's packages (apt-get) and Maven Central (the Kafka broker jars).
# Idempotent and quiet when everything is there; one line per step otherwise.
#
#   scripts/install-deps.sh            packages + Kafka jars
#   scripts/install-deps.sh --no-kafka packages only
#
# Runs as root (or through sudo when it is available).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=deps

FETCH_KAFKA=1
for arg in "$@"; do
  case "$arg" in
    --no-kafka) FETCH_KAFKA=0 ;;
    -h | --help)
      sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) sl_die "unknown argument '$arg'" ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive

# clang + libclang-rt-14-dev (libFuzzer): the fuzz build (make fuzz, fuzz/). dpkg-dev:
# dpkg-shlibdeps, the Depends of the sluice-agent .deb (make deb, packaging/).
BUILD_PACKAGES=(
  cmake ninja-build g++ pkg-config make
  librdkafka-dev libpqxx-dev libhiredis-dev libspdlog-dev libfmt-dev
  libprotobuf-dev protobuf-compiler libcurl4-openssl-dev nlohmann-json3-dev
  libyaml-cpp-dev prometheus-cpp-dev libcli11-dev libcpp-httplib-dev libssl-dev
  libgtest-dev libgmock-dev libarchive-dev libssh-dev ccache
  clang libclang-rt-14-dev
  dpkg-dev
)
SERVER_PACKAGES=(postgresql-15 postgresql-client-15 redis-server redis-tools prometheus prometheus-alertmanager)
# librsvg2-bin: rsvg-convert renders the incident charts to PNG in rollback-agent's unit tests.
TOOL_PACKAGES=(maven clang-format clang-tidy python3 python3-yaml python3-jsonschema curl openssl docker-compose
  iproute2 util-linux tmux chromium librsvg2-bin)
# The images, the compose stack and the local registry (scripts/docker.sh runs dockerd itself,
# no systemd; debootstrap makes the debian:bookworm-slim base image from the Debian mirror;
# pip downloads the artifact store's wheels for its image).
CONTAINER_PACKAGES=(docker.io debootstrap docker-registry binutils python3-pip)
# Optional: the Ansible half of the rollout benchmark (bench/rollout/run.sh says so and skips
# it when they are missing); a failure to install them is a warning, not an error.
OPTIONAL_PACKAGES=(ansible openssh-server openssh-client)

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  sl_have sudo || sl_die "not root and no sudo: run this script as root"
  SUDO=(sudo -n)
fi

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${BUILD_PACKAGES[@]}" "${SERVER_PACKAGES[@]}" "${TOOL_PACKAGES[@]}" "${CONTAINER_PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
# A JDK 17 may already be there without Debian's default-jdk-headless. A JDK, not a JRE:
# scripts/stack.sh runs tools/kafka/SluiceKafkaAuth.java as a single-file program (the broker's
# SCRAM users and ACLs), which needs the jdk.compiler module.
if ! sl_have java || ! java --list-modules 2>/dev/null | grep -q '^jdk.compiler@'; then
  installed default-jdk-headless || missing+=(default-jdk-headless)
fi
# Go builds helm (make charts) and the local Kubernetes control plane (scripts/kube.sh, which
# needs Go 1.21 or newer: Debian 12's golang-go is 1.19, so install Go from go.dev/dl there) and
# the local S3 store (scripts/s3.sh builds SeaweedFS, whose go.mod asks for Go 1.26.6 or newer); a
# toolchain outside dpkg counts. kubectl is built with the control plane: Debian's
# kubernetes-client is 1.20, too far from the 1.34 API server.
sl_have go || installed golang-go || missing+=(golang-go)
# Node.js runs the console's browser tests (playwright-core drives Debian's chromium); a node
# outside dpkg (e.g. NodeSource's, which bundles npm) counts.
if ! sl_have node || ! sl_have npm; then
  installed nodejs || missing+=(nodejs)
  sl_have npm || installed npm || missing+=(npm)
fi

if ((${#missing[@]} > 0)); then
  sl_log "installing ${#missing[@]} packages: ${missing[*]}"
  # Package scripts would start postgresql and redis as system services on
  # their default ports; a policy-rc.d that answers 101 forbids that.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 0755 "$policy"
    created_policy=1
  fi
  cleanup_policy() {
    if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
  }
  trap cleanup_policy EXIT
  log="$(mktemp /tmp/sluice-apt.XXXXXX.log)"
  sl_log "apt-get update"
  if ! "${SUDO[@]}" apt-get update -q >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    sl_die "apt-get update failed (log $log)"
  fi
  sl_log "apt-get install"
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    sl_die "apt-get install failed (log $log)"
  fi
  cleanup_policy
  trap - EXIT
  rm -f "$log"
  sl_log "installed: ${missing[*]}"
fi

opt_missing=()
for pkg in "${OPTIONAL_PACKAGES[@]}"; do
  installed "$pkg" || opt_missing+=("$pkg")
done
if ((${#opt_missing[@]} > 0)); then
  sl_log "installing optional packages: ${opt_missing[*]}"
  # openssh-server must not start a system sshd on :22: policy-rc.d answers 101.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 0755 "$policy"
    created_policy=1
  fi
  log="$(mktemp /tmp/sluice-apt.XXXXXX.log)"
  if "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${opt_missing[@]}" >"$log" 2>&1 ||
    { "${SUDO[@]}" apt-get update -q >>"$log" 2>&1 &&
      "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${opt_missing[@]}" >>"$log" 2>&1; }; then
    sl_log "installed: ${opt_missing[*]}"
    rm -f "$log"
  else
    sl_warn "could not install ${opt_missing[*]} (log $log): the rollout benchmark will skip its Ansible half"
  fi
  if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
fi

# Whatever started a system PostgreSQL or Redis anyway (an older install, a
# package without policy-rc.d support) would sit on the default ports and
# confuse clients that fall back to them: stop the Debian services only.
stop_system_service() {
  local name="$1" pidfile="$2" pid
  pid="$(sl_read_pidfile "$pidfile")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then
    sl_log "stopping the system $name service (pid $pid, $pidfile); the stack runs its own"
    if sl_have service; then
      "${SUDO[@]}" service "$name" stop >/dev/null 2>&1 || "${SUDO[@]}" kill "$pid" || true
    else
      "${SUDO[@]}" kill "$pid" || true
    fi
  fi
}
stop_system_service redis-server /run/redis/redis-server.pid
for pidfile in /run/postgresql/*.pid; do
  [[ -e "$pidfile" ]] || continue
  pid="$(sl_read_pidfile "$pidfile")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then
    sl_log "stopping the system PostgreSQL cluster (pid $pid); the stack runs its own"
    "${SUDO[@]}" kill -INT "$pid" || true
  fi
done

# playwright-core for the console's browser tests (make console), from the npm registry at the
# version tools/console-test/package-lock.json pins; npm's cache lives in ~/.cache/sluice/npm.
# Skipped while node_modules matches the lock file.
CONSOLE_TEST="$SLUICE_ROOT/tools/console-test"
lock_sum="$(sha256sum "$CONSOLE_TEST/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$CONSOLE_TEST/node_modules/.sluice-lock-sha256" 2>/dev/null || true)" != "$lock_sum" ]]; then
  sl_log "npm ci in tools/console-test (playwright-core)"
  log="$(mktemp /tmp/sluice-npm.XXXXXX.log)"
  if ! (cd "$CONSOLE_TEST" && npm ci --no-audit --no-fund --cache "${HOME:-/root}/.cache/sluice/npm" >"$log" 2>&1); then
    tail -n 20 "$log" >&2
    sl_die "npm ci failed in tools/console-test (log $log)"
  fi
  echo "$lock_sum" >"$CONSOLE_TEST/node_modules/.sluice-lock-sha256"
  rm -f "$log"
fi

if ((FETCH_KAFKA)); then
  "$SLUICE_ROOT/scripts/stack.sh" fetch-kafka
fi
