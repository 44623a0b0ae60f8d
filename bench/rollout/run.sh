#!/usr/bin/env bash
# The rollout benchmarks (make bench runs them through scripts/bench.sh):
#
#   1. ansible  Sluice vs Ansible: the same 3-batch canary (5% / 25% / 100%, no pauses,
#               10 hosts at once) of the demo-app artifact to 50 hosts in network namespaces,
#               the same health check. Sluice: release-intake -> rollout-planner -> executor ->
#               sluice-agent. Ansible: ansible-playbook over SSH to an sshd in each namespace.
#   2. revert   RevertRequested (as the rollback-agent sends it) to the executor for 100 hosts
#               that run v2 with v1 installed: publish -> RevertCompleted.
#   3. breach   the whole automatic path on the same 100 hosts: 4.0.0 at 100% under a bake
#               watch (interval 1 s), every application starts failing; from the breach being
#               visible in Prometheus to RevertRequested and to RollbackCompleted (every host
#               back on the stable 3.0.0): metric-watcher -> rollback-agent -> rollout-planner
#               -> executor -> sluice-agent, with a Prometheus, load and services of its own.
#   4. scale    a 2,000-host canary against one simulated agent endpoint: CPU ms of
#               rollout-planner + executor per instance, events/s.
#
#   bash bench/rollout/run.sh [all|ansible|revert|breach|scale]...     (default: all)
#
# Runs its own release-built services (own ports, PostgreSQL schemas and consumer groups,
# starting at the end of the topics), its own hosts (prefixes bra / brb, subnets 10.78.0 /
# 10.79.0), sshd and artifact server, and stops all of them by pid at the end. Every planner,
# executor and rollback-agent on the broker acts on every deployment event, so it waits while
# another one runs: it creates /tmp/bench-needs-exclusive and goes on once
# /tmp/bench-exclusive-ok exists or the others are gone.
#
# Env: SLUICE_BENCH_BUILD_DIR (build/release), SLUICE_BENCH_ROLLOUT_HOSTS (50),
#   SLUICE_BENCH_REVERT_HOSTS (100, at most 100), SLUICE_BENCH_SCALE_HOSTS (2000),
#   SLUICE_BENCH_MAX_PARALLEL (10), SLUICE_BENCH_REVERT_PARALLEL (50),
#   SLUICE_BENCH_SCALE_PARALLEL (50), SLUICE_BENCH_BREACH_LOAD_RATE (2 req/s per application),
#   SLUICE_BENCH_EXCLUSIVE_WAIT (1800 s),
#   SLUICE_BENCH_WRITE=1 (write the figures between the rollout markers of BENCHMARKS.md).
# Figures: printed, and kept in var/bench/rollout/figures.env; logs in var/bench/rollout/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=bench-rollout
cd "$SLUICE_ROOT"

BUILD="${SLUICE_BENCH_BUILD_DIR:-build/release}"
[[ "$BUILD" == /* ]] || BUILD="$SLUICE_ROOT/$BUILD"
ROLLOUT_HOSTS="${SLUICE_BENCH_ROLLOUT_HOSTS:-50}"
REVERT_HOSTS="${SLUICE_BENCH_REVERT_HOSTS:-100}"
SCALE_HOSTS="${SLUICE_BENCH_SCALE_HOSTS:-2000}"
MAX_PARALLEL="${SLUICE_BENCH_MAX_PARALLEL:-10}"
REVERT_PARALLEL="${SLUICE_BENCH_REVERT_PARALLEL:-50}"
SCALE_PARALLEL="${SLUICE_BENCH_SCALE_PARALLEL:-50}"
BREACH_LOAD_RATE="${SLUICE_BENCH_BREACH_LOAD_RATE:-2}"
EXCLUSIVE_WAIT="${SLUICE_BENCH_EXCLUSIVE_WAIT:-1800}"
WRITE="${SLUICE_BENCH_WRITE:-1}"
((ROLLOUT_HOSTS >= 1 && ROLLOUT_HOSTS <= 50)) || sl_die "SLUICE_BENCH_ROLLOUT_HOSTS: 1-50"
((REVERT_HOSTS >= 1 && REVERT_HOSTS <= 100)) || sl_die "SLUICE_BENCH_REVERT_HOSTS: 1-100"
((SCALE_HOSTS >= 1 && SCALE_HOSTS <= 20000)) || sl_die "SLUICE_BENCH_SCALE_HOSTS: 1-20000"

WORK="$SLUICE_ROOT/var/bench/rollout"
RUN="$WORK/run"
SSH_DIR="$WORK/ssh"
FIGURES="$WORK/figures.env"
TOOL="$BUILD/bench/rollout-bench"
CLI="$BUILD/cli/sluice"
AGENT_TOKEN_FILE="$SLUICE_ROOT/var/local/agent-token"
ADMIN_TOKEN_FILE="$WORK/admin-token"
# The token the internal APIs require and release-intake sends them (every service gets it).
SERVICE_TOKEN_FILE="$WORK/service-token"
API_ADDR=127.0.0.1:18180
PLANNER_ADDR=127.0.0.1:18182
EXECUTOR_ADDR=127.0.0.1:18184
SIM_ADDR=127.0.0.1:18199
WATCHER_ADDR=127.0.0.1:18181
ROLLBACK_ADDR=127.0.0.1:18185
PROM_ADDR=127.0.0.1:18190
SET_A=bra
SUBNET_A=10.78.0
SET_B=brb
SUBNET_B=10.79.0
ARTIFACTS_ADDR="$SUBNET_A.1:8090"
RUN_ID="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NEEDS_FLAG=/tmp/bench-needs-exclusive
OK_FLAG=/tmp/bench-exclusive-ok

mkdir -p "$WORK" "$RUN" "$SSH_DIR"
: >"$FIGURES"

figure() {
  printf '%s=%s\n' "$1" "$2" >>"$FIGURES"
  sl_log "figure $1 = $2"
}

# ---------------------------------------------------------------------------
# Clean-up: everything this script started, by pid, in reverse order.
# ---------------------------------------------------------------------------
SETS_UP=()
SERVICE_PIDS=()
SSHD_UP=0
SIM_PID=""
ARTIFACTS_UP=0
MADE_FLAG=0
REVERT_HOSTS_READY=0

stop_pid() {
  local pid="$1" what="$2"
  [[ -n "$pid" ]] && sl_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    sl_pid_alive "$pid" || break
    sleep 0.1
  done
  if sl_pid_alive "$pid"; then
    sl_warn "$what (pid $pid) still alive after 15 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

stop_sshd() {
  local f
  for f in "$SSH_DIR"/sshd-*.pid; do
    [[ -f "$f" ]] || continue
    stop_pid "$(sl_read_pidfile "$f")" "sshd $(basename "$f" .pid)"
    rm -f "$f"
  done
  SSHD_UP=0
}

stop_services() {
  local i
  for ((i = ${#SERVICE_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${SERVICE_PIDS[$i]}" "service"
  done
  SERVICE_PIDS=()
  stop_pid "$SIM_PID" "sim-agent"
  SIM_PID=""
}

cleanup() {
  local rc=$?
  set +e
  stop_services
  ((SSHD_UP)) && stop_sshd
  ((ARTIFACTS_UP)) && SLUICE_HOSTS_PREFIX=$SET_A bash scripts/artifacts.sh stop >/dev/null
  local s
  for s in "${SETS_UP[@]}"; do
    SLUICE_HOSTS_PREFIX="$s" SLUICE_BUILD_DIR="$BUILD" bash scripts/hosts.sh down --purge >"$WORK/hosts-$s-down.log" 2>&1 ||
      sl_warn "hosts.sh down for $s failed; see $WORK/hosts-$s-down.log"
  done
  ((MADE_FLAG)) && rm -f "$NEEDS_FLAG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------
preflight() {
  local bin
  for bin in "$TOOL" "$CLI" "$BUILD/agent/sluice-agent" "$BUILD/tools/demo-app/sluice-demo-app" \
    "$BUILD/services/rollout-planner/rollout-planner" "$BUILD/services/executor/executor" \
    "$BUILD/services/release-intake/release-intake"; do
    [[ -x "$bin" ]] || sl_die "$bin is missing; build: cmake --build $BUILD --target rollout-bench sluice sluice-agent sluice-demo-app rollout-planner executor release-intake"
  done
  bash scripts/stack.sh status >/dev/null 2>&1 || sl_die "the local stack is not up (make stack-up)"
  [[ -f var/local/stack.env ]] || sl_die "var/local/stack.env is missing (make stack-up)"
  [[ "$(id -u)" == 0 ]] || sl_die "network namespaces need root"
  [[ -s "$AGENT_TOKEN_FILE" ]] || (umask 077 && openssl rand -hex 24 >"$AGENT_TOKEN_FILE")
  [[ -s "$SERVICE_TOKEN_FILE" ]] || (umask 077 && openssl rand -hex 24 >"$SERVICE_TOKEN_FILE")
  if [[ ! -s "$ADMIN_TOKEN_FILE" ]]; then
    (umask 077 && echo "slc_bench$(openssl rand -hex 20)" >"$ADMIN_TOKEN_FILE")
  fi
}

# Other planners / executors / rollback-agents share the topics: wait until they are gone or the
# exclusive run is granted.
foreign_services() {
  local pid mine p
  for pid in $(pgrep -x rollout-planner; pgrep -x executor; pgrep -x rollback-agent); do
    mine=0
    for p in "${SERVICE_PIDS[@]}"; do [[ "$p" == "$pid" ]] && mine=1; done
    ((mine)) || echo "$pid"
  done
}

await_exclusive() {
  local others deadline
  others="$(foreign_services | tr '\n' ' ')"
  [[ -z "${others// /}" ]] && return 0
  [[ -f "$OK_FLAG" ]] && {
    sl_log "exclusive run granted ($OK_FLAG); other planner/executor pids: $others"
    return 0
  }
  touch "$NEEDS_FLAG"
  MADE_FLAG=1
  sl_log "other rollout-planner / executor / rollback-agent processes run ($others): waiting for $OK_FLAG (up to ${EXCLUSIVE_WAIT}s)"
  deadline=$((SECONDS + EXCLUSIVE_WAIT))
  while [[ ! -f "$OK_FLAG" && -n "$(foreign_services)" ]]; do
    ((SECONDS < deadline)) || sl_die "no exclusive run after ${EXCLUSIVE_WAIT}s; stop the other rollout-planner / executor / rollback-agent"
    sleep 2
  done
  sl_log "exclusive run granted"
}

# ---------------------------------------------------------------------------
# Services (release build, own ports / schemas / groups)
# ---------------------------------------------------------------------------
start_service() {
  local name="$1" bin="$2" url="$3" log="$WORK/$1.log" pid
  shift 3
  if sl_port_open "${url##*:}" 127.0.0.1; then
    sl_die "$url is in use by $(sl_port_owner "${url##*:}")"
  fi
  (
    for v in $(compgen -e | grep '^SLUICE_' || true); do unset "$v"; done
    set -a
    # shellcheck disable=SC1091
    source var/local/stack.env
    set +a
    exec env SLUICE_LOG_LEVEL=warn SLUICE_SERVICE_TOKEN_FILE="$SERVICE_TOKEN_FILE" "$@" "$bin" >>"$log" 2>&1 </dev/null
  ) &
  pid=$!
  SERVICE_PIDS+=("$pid")
  if ! sl_wait_until 60 "$name" sl_http_ok "$url/readyz"; then
    tail -n 20 "$log" >&2
    sl_die "$name did not become ready; log $log"
  fi
  sl_log "$name ready on $url (pid $pid, log $log)"
  echo "$pid" >"$RUN/$name.pid"
}

PLANNER_PID=""
EXECUTOR_PID=""
start_services() {
  await_exclusive
  local group="bench-$RUN_ID"
  printf '\n==== %s run %s ====\n' "$(date -u +%FT%TZ)" "$RUN_ID" | tee -a "$WORK/rollout-planner.log" "$WORK/executor.log" "$WORK/release-intake.log" >/dev/null
  start_service rollout-planner "$BUILD/services/rollout-planner/rollout-planner" "http://$PLANNER_ADDR" \
    SLUICE_HTTP_ADDR=$PLANNER_ADDR SLUICE_PG_SCHEMA=bench_rollout_planner \
    SLUICE_KAFKA_GROUP="rollout-planner-$group" SLUICE_KAFKA_START_OFFSET=latest
  PLANNER_PID="${SERVICE_PIDS[-1]}"
  start_service executor "$BUILD/services/executor/executor" "http://$EXECUTOR_ADDR" \
    SLUICE_HTTP_ADDR=$EXECUTOR_ADDR SLUICE_PG_SCHEMA=bench_executor \
    SLUICE_KAFKA_GROUP="executor-$group" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_EXECUTOR_AGENT_TOKEN_FILE="$AGENT_TOKEN_FILE" SLUICE_EXECUTOR_LOCK_PREFIX="bench:$RUN_ID:host:" \
    SLUICE_EXECUTOR_REVERT_MAX_PARALLEL="$REVERT_PARALLEL" SLUICE_PG_POOL_SIZE=24
  EXECUTOR_PID="${SERVICE_PIDS[-1]}"
  start_service release-intake "$BUILD/services/release-intake/release-intake" "http://$API_ADDR" \
    SLUICE_HTTP_ADDR=$API_ADDR SLUICE_PG_SCHEMA=bench_release_intake \
    SLUICE_ADMIN_TOKEN_FILE="$ADMIN_TOKEN_FILE" SLUICE_HTTP_MAX_BODY_BYTES=4194304 \
    SLUICE_PLANNER_URL="http://$PLANNER_ADDR" SLUICE_EXECUTOR_URL="http://$EXECUTOR_ADDR"
}

cli() { "$CLI" --api "http://$API_ADDR" --token-file "$ADMIN_TOKEN_FILE" "$@"; }

# Creates a release and prints its id: $1 app, $2 version, $3 url, $4 sha256.
create_release() {
  cli --raw release create --app "$1" --tag "v$2" --version "$2" --artifact-url "$3" \
    --sha256 "$4" --created-by bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# Runs `rollout-bench rollout` for release $1; figures go to $WORK/rollout-$2.out.
measure_rollout() {
  local release="$1" tag="$2"
  "$TOOL" rollout --api "http://$API_ADDR" --token-file "$ADMIN_TOKEN_FILE" --release "$release" \
    --env production --pid "$PLANNER_PID" --pid "$EXECUTOR_PID" --timeout 900 \
    >"$WORK/rollout-$tag.out" 2>>"$WORK/rollout-bench.log" || {
    cat "$WORK/rollout-$tag.out" >&2
    sl_die "rollout $tag did not succeed (figures $WORK/rollout-$tag.out)"
  }
  cat "$WORK/rollout-$tag.out"
}

value_of() { sed -n "s/^$1=//p" "$2" | head -n1; }

# ---------------------------------------------------------------------------
# Hosts
# ---------------------------------------------------------------------------
hosts_up() {
  local set="$1" subnet="$2" n="$3"
  SETS_UP+=("$set")
  SLUICE_HOSTS_PREFIX="$set" SLUICE_HOSTS_SUBNET="$subnet" SLUICE_HOSTS_LOAD_RATE=0 \
    SLUICE_HOSTS_MODE=netns SLUICE_BUILD_DIR="$BUILD" bash scripts/hosts.sh up "$n" \
    >"$WORK/hosts-$set.log" 2>&1 || {
    tail -n 20 "$WORK/hosts-$set.log" >&2
    sl_die "hosts.sh up $n ($set) failed; log $WORK/hosts-$set.log"
  }
  sl_log "$n hosts up ($set, $subnet.0/24)"
}

ensure_artifacts() {
  local v
  for v in "$@"; do
    SLUICE_HOSTS_PREFIX=$SET_A SLUICE_BUILD_DIR="$BUILD" bash scripts/artifacts.sh build "$v" \
      >/dev/null 2>>"$WORK/artifacts.log"
  done
  if ((!ARTIFACTS_UP)); then
    SLUICE_HOSTS_PREFIX=$SET_A bash scripts/artifacts.sh serve --addr "$ARTIFACTS_ADDR" >>"$WORK/artifacts.log" 2>&1 ||
      sl_die "the artifact server did not start; log $WORK/artifacts.log"
    ARTIFACTS_UP=1
  fi
}
artifact_url() { echo "http://$ARTIFACTS_ADDR/demo-app-$1.tar.gz"; }
artifact_sha() { SLUICE_HOSTS_PREFIX=$SET_A bash scripts/artifacts.sh sha256 "$1"; }

# Delivery spec over hosts.json ($1) for app $2: canary 5/25/100, no pauses, no analysis.
write_spec() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
hosts_file, app, parallel, out = sys.argv[1:]
hosts = json.load(open(hosts_file))
lines = [f"app: {app}", "environments:", "  production:", "    targets:", "      web:", "        hosts:"]
for h in hosts:
    lines.append(f"          - {{name: {h['name']}, address: {h['address']}, "
                 f"agentEndpoint: \"{h['agent_endpoint']}\"}}")
lines += [
    "    strategy:",
    "      type: canary",
    "      steps:",
    "        - {weight: 5%, analysis: none}",
    "        - {weight: 25%, analysis: none}",
    "        - {weight: 100%, analysis: none}",
    f"      maxParallel: {parallel}",
    "      hostTimeout: 60s",
    "    service:",
    "      restartCommand: [\"bin/restart.sh\"]",
    "      restartTimeout: 30s",
    "      health: {command: [\"bin/sluice-demo-app\", \"healthcheck\"], timeout: 20s}",
    "    policy: {concurrency: queue}",
]
open(out, "w").write("\n".join(lines) + "\n")
PY
}

# Every app of hosts.json ($1) answers /healthz with version $2.
check_versions() {
  python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
hosts, want = json.load(open(sys.argv[1])), sys.argv[2]
bad = []
for h in hosts:
    try:
        with urllib.request.urlopen(f"http://{h['app_addr']}/healthz", timeout=3) as r:
            got = json.load(r).get("version")
    except Exception as e:  # noqa: BLE001 - any failure is a wrong host
        got = f"error {e}"
    if got != want:
        bad.append(f"{h['name']}: {got}")
print(f"{len(hosts) - len(bad)}/{len(hosts)} hosts answer version {want}")
if bad:
    print("wrong: " + ", ".join(bad[:10]))
    sys.exit(1)
PY
}

# ---------------------------------------------------------------------------
# 1. Sluice vs Ansible
# ---------------------------------------------------------------------------
ansible_available() {
  sl_have ansible-playbook && [[ -x /usr/sbin/sshd ]] && sl_have ssh-keygen
}

start_sshd() {
  local hosts_json="$1" set="$2" i ip
  local keydir="$SSH_DIR"
  [[ -f "$keydir/host_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$keydir/host_ed25519"
  [[ -f "$keydir/id_ed25519" ]] || ssh-keygen -q -t ed25519 -N '' -f "$keydir/id_ed25519"
  cp "$keydir/id_ed25519.pub" "$keydir/authorized_keys"
  chmod 700 "$keydir"
  chmod 600 "$keydir/authorized_keys" "$keydir/host_ed25519" "$keydir/id_ed25519"
  mkdir -p /run/sshd
  mkdir -p -m 700 /tmp/.bench-ansible
  cat >"$keydir/sshd_config" <<EOF
# sshd of the rollout benchmark's hosts: root by key only, one address per namespace.
HostKey $keydir/host_ed25519
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $keydir/authorized_keys
StrictModes no
UsePAM no
PrintMotd no
MaxStartups 200
MaxSessions 50
AcceptEnv LANG
Subsystem sftp internal-sftp
EOF
  SSHD_UP=1
  i=0
  for ip in $(python3 -c 'import json,sys; print(" ".join(h["address"] for h in json.load(open(sys.argv[1]))))' "$hosts_json"); do
    i=$((i + 1))
    ip netns exec "$set-h$i" /usr/sbin/sshd -f "$keydir/sshd_config" -o "ListenAddress=$ip:22" \
      -o "PidFile=$keydir/sshd-$i.pid" -E "$keydir/sshd-$i.log"
  done
  for ((j = 1; j <= i; j++)); do
    sl_wait_until 10 "sshd $j" test -s "$keydir/sshd-$j.pid" || sl_die "sshd $j did not start; log $keydir/sshd-$j.log"
  done
  sl_log "sshd up in $i namespaces (root by key only)"
}

write_ansible() {
  local hosts_json="$1" dir="$WORK/ansible" hosts_dir="$2"
  mkdir -p "$dir"
  python3 - "$hosts_json" "$dir/inventory.ini" "$hosts_dir" <<'PY'
import json, sys
hosts, out, hosts_dir = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
with open(out, "w") as f:
    f.write("[web]\n")
    for i, h in enumerate(hosts, 1):
        f.write(f"{h['name']} ansible_host={h['address']} demo_app_addr={h['app_addr']} "
                f"host_dir={hosts_dir}/h{i}\n")
PY
  cat >"$dir/ansible.cfg" <<EOF
[defaults]
inventory = $dir/inventory.ini
forks = $MAX_PARALLEL
host_key_checking = False
gathering = explicit
interpreter_python = /usr/bin/python3
remote_user = root
private_key_file = $SSH_DIR/id_ed25519
local_tmp = $dir/tmp
remote_tmp = /tmp/.bench-ansible
retry_files_enabled = False
stdout_callback = default

[ssh_connection]
pipelining = True
control_path_dir = /tmp/sl-bench-cp
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no
EOF
  cp bench/rollout/canary.yml "$dir/canary.yml"
}

bench_ansible() {
  local n="$ROLLOUT_HOSTS" hosts_json="var/demo/$SET_A/hosts.json" app="bench-ab-$RUN_ID"
  hosts_up "$SET_A" "$SUBNET_A" "$n"
  ensure_artifacts 1.0.0 2.0.0
  write_spec "$hosts_json" "$app" "$MAX_PARALLEL" "$WORK/$app.yaml"
  cli apply -f "$WORK/$app.yaml" >/dev/null

  local r1 r2
  r1="$(create_release "$app" 1.0.0 "$(artifact_url 1.0.0)" "$(artifact_sha 1.0.0)")"
  r2="$(create_release "$app" 2.0.0 "$(artifact_url 2.0.0)" "$(artifact_sha 2.0.0)")"
  sl_log "Sluice: first install of 1.0.0 on $n hosts (warm-up: every host then runs an app)"
  measure_rollout "$r1" first >/dev/null
  figure sluice_first_install_s "$(value_of wall_s "$WORK/rollout-first.out")"
  check_versions "$hosts_json" 1.0.0
  sl_log "Sluice: canary 5/25/100 of 2.0.0 on $n hosts, maxParallel $MAX_PARALLEL"
  measure_rollout "$r2" sluice
  check_versions "$hosts_json" 2.0.0
  figure sluice_canary_s "$(value_of wall_s "$WORK/rollout-sluice.out")"
  figure sluice_canary_hosts "$n"

  if ! ansible_available; then
    sl_warn "ansible-playbook or sshd is missing (scripts/install-deps.sh installs them): the Ansible half is skipped"
    figure ansible_canary_s skipped
    return 0
  fi
  start_sshd "$hosts_json" "$SET_A"
  write_ansible "$hosts_json" "$SLUICE_ROOT/var/hosts-$SET_A"
  local sha t0 t1
  sha="$(artifact_sha 2.0.0)"
  sl_log "Ansible: the same canary of 2.0.0 (serial 5%/25%/100%, forks $MAX_PARALLEL) over SSH"
  t0="$(date +%s.%N)"
  if ! ANSIBLE_CONFIG="$WORK/ansible/ansible.cfg" ansible-playbook "$WORK/ansible/canary.yml" \
    -e "version=2.0.0" -e "artifact_url=$(artifact_url 2.0.0)" -e "artifact_sha256=$sha" \
    >"$WORK/ansible.log" 2>&1; then
    tail -n 30 "$WORK/ansible.log" >&2
    sl_die "ansible-playbook failed; log $WORK/ansible.log"
  fi
  t1="$(date +%s.%N)"
  check_versions "$hosts_json" 2.0.0
  figure ansible_canary_s "$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
  grep -E '^PLAY RECAP' -A3 "$WORK/ansible.log" | head -n 4 || true
  stop_sshd
}

# ---------------------------------------------------------------------------
# 2. Revert of 100 hosts
# ---------------------------------------------------------------------------
# Up to 100 hosts (two namespace sets of 50) in $WORK/revert-hosts.json; fewer when memory
# is short. Used by the revert and the breach benchmarks.
revert_hosts_up() {
  ((REVERT_HOSTS_READY)) && return 0
  local n="$REVERT_HOSTS" na nb avail_mb
  na=$((n > 50 ? 50 : n))
  nb=$((n - na))
  avail_mb="$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)"
  # An agent and a demo app take about 25 MiB together; keep 2 GiB for everything else.
  if ((avail_mb < n * 25 + 2048)); then
    local fit=$(((avail_mb - 2048) / 25))
    sl_warn "$avail_mb MiB available: $n hosts do not fit, reverting $fit"
    n="$fit"
    na=$((n > 50 ? 50 : n))
    nb=$((n - na))
  fi
  [[ " ${SETS_UP[*]} " == *" $SET_A "* ]] || hosts_up "$SET_A" "$SUBNET_A" "$na"
  if ((nb > 0)); then
    hosts_up "$SET_B" "$SUBNET_B" "$nb"
    # The second set reaches the artifact server on the first set's bridge through the host.
    for ((i = 1; i <= nb; i++)); do ip -n "$SET_B-h$i" route replace default via "$SUBNET_B.1"; done
  fi
  ensure_artifacts 3.0.0 4.0.0
  python3 - "var/demo/$SET_A/hosts.json" "var/demo/$SET_B/hosts.json" "$na" "$nb" "$WORK/revert-hosts.json" <<'PY'
import json, os, sys
a, b, na, nb, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
hosts = [dict(h, name=f"a-{h['name']}") for h in json.load(open(a))[:na]]
if nb:
    hosts += [dict(h, name=f"b-{h['name']}") for h in json.load(open(b))[:nb]]
json.dump(hosts, open(out, "w"), indent=1)
PY
  REVERT_HOSTS_READY=1
}

bench_revert() {
  revert_hosts_up
  local n
  n="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/revert-hosts.json")"
  sl_log "revert: install 3.0.0 then 4.0.0 on $n hosts, then RevertRequested back to 3.0.0 (executor max parallel $REVERT_PARALLEL)"
  if ! "$TOOL" revert --hosts-file "$WORK/revert-hosts.json" --max-parallel 25 \
    --from "3.0.0,$(artifact_url 3.0.0),$(artifact_sha 3.0.0)" \
    --to "4.0.0,$(artifact_url 4.0.0),$(artifact_sha 4.0.0)" --timeout 600 \
    >"$WORK/revert.out" 2>>"$WORK/rollout-bench.log"; then
    cat "$WORK/revert.out" >&2
    sl_die "the revert benchmark failed (figures $WORK/revert.out)"
  fi
  cat "$WORK/revert.out"
  check_versions "$WORK/revert-hosts.json" 3.0.0
  figure revert_hosts "$(value_of hosts "$WORK/revert.out")"
  figure revert_s "$(value_of revert_s "$WORK/revert.out")"
  figure revert_parallel "$REVERT_PARALLEL"
}

# ---------------------------------------------------------------------------
# 3. Breach -> every host back on the stable release, the whole automatic path
# ---------------------------------------------------------------------------
# Its own Prometheus (scraping the applications every second), a load generator, a
# metric-watcher and a rollback-agent next to the planner and the executor. 3.0.0 is rolled out
# and becomes the stable release; 4.0.0 goes to 100% with a bake watch (threshold rule on the
# 5xx share, interval 1 s); then every application starts failing 60% of its requests.
# Measured from the moment the rule's query shows the breach to RevertRequested and to
# RollbackCompleted, and every host is checked to answer 3.0.0.
bench_breach() {
  local bin
  for bin in "$BUILD/services/metric-watcher/metric-watcher" "$BUILD/services/rollback-agent/rollback-agent" \
    "$BUILD/tools/demo-app/sluice-demo-load"; do
    [[ -x "$bin" ]] || sl_die "$bin is missing; build: cmake --build $BUILD"
  done
  revert_hosts_up
  local hosts_json="$WORK/revert-hosts.json" app="bench-breach-$RUN_ID" prom="$WORK/prometheus" n
  n="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$hosts_json")"

  # Prometheus of this part: the applications, labelled as the delivery spec names them.
  local first_pid=${#SERVICE_PIDS[@]}
  rm -rf "$prom"
  mkdir -p "$prom/data" "$prom/targets"
  python3 - "$hosts_json" "$app" "$prom/targets/hosts.json" "$WORK/breach-apps.txt" <<'PY'
import json, sys
hosts, app, targets, apps = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
json.dump([{"targets": [h["app_addr"]], "labels": {"app": app, "env": "production", "instance_name": h["name"]}}
           for h in hosts], open(targets, "w"))
open(apps, "w").write("".join(h["app_addr"] + "\n" for h in hosts))
PY
  cat >"$prom/prometheus.yml" <<YML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: bench-hosts
    file_sd_configs: [{files: ["$prom/targets/*.json"], refresh_interval: 1s}]
YML
  if sl_port_open "${PROM_ADDR##*:}" 127.0.0.1; then sl_die "$PROM_ADDR is in use by $(sl_port_owner "${PROM_ADDR##*:}")"; fi
  /usr/bin/prometheus --config.file="$prom/prometheus.yml" --storage.tsdb.path="$prom/data" \
    --web.listen-address="$PROM_ADDR" >>"$WORK/prometheus.log" 2>&1 </dev/null &
  SERVICE_PIDS+=($!)
  sl_wait_until 60 "prometheus" sl_http_ok "http://$PROM_ADDR/-/ready" || sl_die "prometheus did not start; log $WORK/prometheus.log"
  "$BUILD/tools/demo-app/sluice-demo-load" --targets-file "$WORK/breach-apps.txt" --rate "$BREACH_LOAD_RATE" \
    --timeout-ms 10000 >>"$WORK/demo-load.log" 2>&1 </dev/null &
  SERVICE_PIDS+=($!)
  sl_log "breach: prometheus on $PROM_ADDR (scrape 1 s), load $BREACH_LOAD_RATE req/s on each of $n applications"

  local token_file="$WORK/alert-token" group="bench-$RUN_ID"
  [[ -s "$token_file" ]] || (umask 077 && openssl rand -hex 24 >"$token_file")
  start_service metric-watcher "$BUILD/services/metric-watcher/metric-watcher" "http://$WATCHER_ADDR" \
    SLUICE_HTTP_ADDR=$WATCHER_ADDR SLUICE_PG_SCHEMA=bench_metric_watcher \
    SLUICE_KAFKA_GROUP="metric-watcher-$group" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_PROMETHEUS_URL="http://$PROM_ADDR" SLUICE_WATCHER_ALERT_TOKEN_FILE="$token_file"
  start_service rollback-agent "$BUILD/services/rollback-agent/rollback-agent" "http://$ROLLBACK_ADDR" \
    SLUICE_HTTP_ADDR=$ROLLBACK_ADDR SLUICE_PG_SCHEMA=bench_rollback_agent \
    SLUICE_KAFKA_GROUP="rollback-agent-$group" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_PROMETHEUS_URL="http://$PROM_ADDR" SLUICE_PUBLIC_URL="http://$API_ADDR" \
    SLUICE_ROLLBACK_LOCK_PREFIX="bench:$RUN_ID:rollback:"

  # The rule, as a user would write it; the bench polls the same query resolved for 4.0.0.
  local sel='app="{{app}}",version="{{version}}",instance_name=~"{{instances}}"'
  local err="(sum by (instance_name) (rate(demo_http_requests_total{$sel,code=~\"5..\"}[5s])) or sum by (instance_name) (rate(demo_http_requests_total{$sel}[5s])) * 0) / sum by (instance_name) (rate(demo_http_requests_total{$sel}[5s]))"
  write_spec "$hosts_json" "$app" "$REVERT_PARALLEL" "$WORK/$app.yaml"
  cat >>"$WORK/$app.yaml" <<YML
    analysis:
      bakeWatch: {template: bake, duration: 5m}
      templates:
        bake:
          interval: 1s
          count: 3
          failureLimit: 0
          inconclusiveLimit: 30
          metrics:
            error_rate:
              query: '$err'
          rules:
            - name: errors
              failWhen: "error_rate > 5%"
              severity: critical
    rollback:
      onCanaryFailure: revert-all
YML
  cli apply -f "$WORK/$app.yaml" >/dev/null
  local r3 r4 d4 query
  r3="$(create_release "$app" 3.0.0 "$(artifact_url 3.0.0)" "$(artifact_sha 3.0.0)")"
  r4="$(create_release "$app" 4.0.0 "$(artifact_url 4.0.0)" "$(artifact_sha 4.0.0)")"
  sl_log "breach: 3.0.0 to $n hosts (becomes the stable release)"
  measure_rollout "$r3" breach-stable >/dev/null
  check_versions "$hosts_json" 3.0.0
  sl_log "breach: 4.0.0 to $n hosts, then a bake watch judging it every second"
  measure_rollout "$r4" breach-new >/dev/null
  check_versions "$hosts_json" 4.0.0
  d4="$(value_of deployment_id "$WORK/rollout-breach-new.out")"
  query="${err//\{\{app\}\}/$app}"
  query="${query//\{\{version\}\}/4.0.0}"
  query="${query//\{\{instances\}\}/.+}"
  # Healthy 4.0.0 traffic in the query's window before the fault.
  sleep 6
  sl_log "breach: every application of 4.0.0 now fails 60% of its requests"
  if ! "$TOOL" breach --deployment-id "$d4" --prometheus "http://$PROM_ADDR" --query "$query" \
    --threshold 0.05 --apps-file "$WORK/breach-apps.txt" --fault '{"error_rate": 0.6}' --timeout 300 \
    >"$WORK/breach.out" 2>>"$WORK/rollout-bench.log"; then
    cat "$WORK/breach.out" >&2
    sl_die "the breach benchmark failed (figures $WORK/breach.out; logs in $WORK)"
  fi
  cat "$WORK/breach.out"
  check_versions "$hosts_json" 3.0.0
  figure breach_hosts "$n"
  figure breach_load_rate "$BREACH_LOAD_RATE"
  figure breach_fault_to_visible_ms "$(value_of fault_to_visible_ms "$WORK/breach.out")"
  figure breach_to_analysis_failed_ms "$(value_of visible_to_AnalysisFailed_ms "$WORK/breach.out")"
  figure breach_to_revert_requested_ms "$(value_of visible_to_RevertRequested_ms "$WORK/breach.out")"
  figure breach_to_revert_completed_ms "$(value_of visible_to_RevertCompleted_ms "$WORK/breach.out")"
  figure breach_to_rollback_completed_ms "$(value_of visible_to_RollbackCompleted_ms "$WORK/breach.out")"
  # The scale part measures the planner and the executor alone.
  local i
  for ((i = ${#SERVICE_PIDS[@]} - 1; i >= first_pid; i--)); do stop_pid "${SERVICE_PIDS[$i]}" "breach part"; done
  SERVICE_PIDS=("${SERVICE_PIDS[@]:0:first_pid}")
}

# ---------------------------------------------------------------------------
# 4. Control-plane cost at 2,000 hosts
# ---------------------------------------------------------------------------
bench_scale() {
  local n="$SCALE_HOSTS" app="bench-scale-$RUN_ID"
  if sl_port_open "${SIM_ADDR##*:}" 127.0.0.1; then sl_die "$SIM_ADDR is in use by $(sl_port_owner "${SIM_ADDR##*:}")"; fi
  "$TOOL" sim-agent --addr "$SIM_ADDR" --token-file "$AGENT_TOKEN_FILE" --threads 64 \
    >>"$WORK/sim-agent.log" 2>&1 </dev/null &
  SIM_PID=$!
  sl_wait_until 10 "the simulated agent" sl_http_ok "http://$SIM_ADDR/healthz" || sl_die "sim-agent did not start; log $WORK/sim-agent.log"
  python3 - "$n" "$SIM_ADDR" "$WORK/scale-hosts.json" <<'PY'
import json, sys
n, addr, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
json.dump([{"name": f"sim-{i}", "address": "127.0.0.1", "agent_endpoint": f"http://{addr}/h/sim-{i}"}
           for i in range(1, n + 1)], open(out, "w"))
PY
  write_spec "$WORK/scale-hosts.json" "$app" "$SCALE_PARALLEL" "$WORK/$app.yaml"
  cli apply -f "$WORK/$app.yaml" >/dev/null
  local r
  r="$(create_release "$app" 5.0.0 "http://$SIM_ADDR/artifacts/5.0.0.tar.gz" "$(printf '%064d' 5)")"
  sl_log "scale: canary 5/25/100 of $n hosts against one simulated agent (maxParallel $SCALE_PARALLEL)"
  measure_rollout "$r" scale
  local cpu wall
  cpu="$(value_of cpu_ms_total "$WORK/rollout-scale.out")"
  wall="$(value_of wall_s "$WORK/rollout-scale.out")"
  figure scale_hosts "$n"
  figure scale_wall_s "$wall"
  figure scale_cpu_planner_ms "$(value_of "cpu_ms_pid_$PLANNER_PID" "$WORK/rollout-scale.out")"
  figure scale_cpu_executor_ms "$(value_of "cpu_ms_pid_$EXECUTOR_PID" "$WORK/rollout-scale.out")"
  figure scale_cpu_ms_per_instance "$(python3 -c "print(f'{$cpu / $n:.3f}')")"
  figure scale_events "$(value_of events "$WORK/rollout-scale.out")"
  figure scale_events_per_s "$(value_of events_per_s "$WORK/rollout-scale.out")"
  figure scale_instances_per_s "$(python3 -c "print(f'{$n / $wall:.1f}')")"
  figure scale_parallel "$SCALE_PARALLEL"
  stop_pid "$SIM_PID" sim-agent
  SIM_PID=""
}

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
write_markdown() {
  python3 - "$FIGURES" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import re, subprocess, sys, datetime
figs = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
commit = sys.argv[2]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
mem_gib = round(int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1048576)
day = datetime.date.today().isoformat()

def f(key, fmt="{}"):
    v = figs.get(key)
    if v is None or v == "skipped":
        return v or "not run"
    try:
        return fmt.format(float(v))
    except ValueError:
        return v

def met(ok):
    return "**met**" if ok else "**not met**"

rows = []
s, a = figs.get("sluice_canary_s"), figs.get("ansible_canary_s")
if s and a and a != "skipped":
    ratio = float(s) / float(a)
    rows.append(f"| Sluice vs Ansible, {figs.get('sluice_canary_hosts')} hosts, canary 5/25/100, 10 at once | "
                f"Sluice {float(s):.1f} s, Ansible {float(a):.1f} s, ratio {ratio:.2f} | ≤ 0.25 × Ansible | {met(ratio <= 0.25)} |")
elif s:
    rows.append(f"| Sluice vs Ansible | Sluice {float(s):.1f} s; Ansible {a or 'not run'} | ≤ 0.25 × Ansible | not measured |")
if "revert_s" in figs:
    rs = float(figs["revert_s"])
    rows.append(f"| Revert of {figs.get('revert_hosts')} hosts (RevertRequested → RevertCompleted) | "
                f"{rs:.2f} s | ≤ 5 s | {met(rs <= 5)} |")
if "breach_to_rollback_completed_ms" in figs:
    rr = float(figs["breach_to_revert_requested_ms"])
    within = "one run, within" if rr <= 2000 else "one run, **above**"
    rows.append(f"| Breach visible in Prometheus → RevertRequested, {figs.get('breach_hosts')} hosts, bake watch "
                f"at interval 1 s | {rr:.0f} ms | p99 ≤ 1 s + one interval (2 s); the p99 is the analysis "
                f"benchmark's | {within} |")
    rows.append(f"| Breach visible in Prometheus → all {figs.get('breach_hosts')} hosts back on the stable "
                f"release (RollbackCompleted) | {float(figs['breach_to_rollback_completed_ms']) / 1000:.2f} s | "
                "wall time (no target) | |")
if "scale_cpu_ms_per_instance" in figs:
    c = float(figs["scale_cpu_ms_per_instance"])
    rows.append(f"| Control-plane CPU, {figs.get('scale_hosts')}-host canary (planner + executor) | "
                f"{c:.2f} ms per instance | ≤ 1 ms per instance | {met(c <= 1)} |")

detail = []
if "sluice_canary_s" in figs:
    detail.append(f"- Sluice: first install of 1.0.0 on the same hosts {f('sluice_first_install_s', '{:.1f}')} s "
                  f"(not compared); the timed run is the upgrade to 2.0.0, request → DeploymentSucceeded "
                  f"on Kafka, {f('sluice_canary_s', '{:.2f}')} s.")
if a and a != "skipped":
    detail.append(f"- Ansible: `ansible-playbook` wall time of the same upgrade, {f('ansible_canary_s', '{:.2f}')} s "
                  "(forks 10, SSH pipelining, ControlPersist; batches 2/12/36 by Ansible's rounding of "
                  "`serial`, Sluice's 3/10/37).")
if "scale_wall_s" in figs:
    detail.append(f"- 2,000 hosts: {f('scale_wall_s', '{:.1f}')} s wall ({f('scale_instances_per_s', '{:.0f}')} "
                  f"instances/s at maxParallel {figs.get('scale_parallel')}); CPU rollout-planner "
                  f"{f('scale_cpu_planner_ms', '{:.0f}')} ms + executor {f('scale_cpu_executor_ms', '{:.0f}')} ms; "
                  f"{f('scale_events', '{:.0f}')} events of the deployment on Kafka, "
                  f"{f('scale_events_per_s', '{:.0f}')} events/s.")
if "revert_s" in figs:
    detail.append(f"- Revert: {figs.get('revert_hosts')} real sluice-agents (two namespace sets of 50) with "
                  f"3.0.0 installed and 4.0.0 current; the executor reverts {figs.get('revert_parallel')} hosts "
                  "at once (SLUICE_EXECUTOR_REVERT_MAX_PARALLEL, the default); each revert switches the link, restarts the app "
                  "and runs its health command.")

if "breach_to_rollback_completed_ms" in figs:
    detail.append(f"- Breach: {figs.get('breach_hosts')} real hosts run 4.0.0 (3.0.0 is the stable release) "
                  "under a bake watch (rule `error_rate > 5%` over a 5 s rate, interval 1 s, Prometheus "
                  f"scraping every second, {figs.get('breach_load_rate')} requests/s on each application); then every application fails "
                  f"60% of its requests. Fault → visible in Prometheus {f('breach_fault_to_visible_ms', '{:.0f}')} ms; "
                  f"from visible: AnalysisFailed {f('breach_to_analysis_failed_ms', '{:.0f}')} ms, "
                  f"RevertRequested {f('breach_to_revert_requested_ms', '{:.0f}')} ms, RevertCompleted "
                  f"{f('breach_to_revert_completed_ms', '{:.0f}')} ms, RollbackCompleted "
                  f"{f('breach_to_rollback_completed_ms', '{:.0f}')} ms; every host then answers 3.0.0. "
                  "The revert inside it is slower than the revert alone above: the same 2 cores also run the "
                  "load on 100 applications, their scrapes every second, the metric-watcher and the "
                  "rollback-agent (CPU at 100% during the revert, over 100 runnable tasks at its peak). "
                  "One run: a percentile needs many runs of 100 hosts (the analysis benchmark gives p50 / p99 "
                  "of the first half).")

begin, end = "<!-- rollout:begin -->", "<!-- rollout:end -->"
section = "\n".join([
    begin,
    f"Measured {day} at {commit} on {cores} cores ({cpu}), {mem_gib} GiB; release build; one rollout-planner, "
    "one executor and one release-intake of their own (and for the breach a metric-watcher, a rollback-agent "
    "and a Prometheus); the local stack (Kafka, PostgreSQL, Redis) on the "
    "same machine; hosts are network namespaces on the same machine (`bash bench/rollout/run.sh`).",
    "",
    "| benchmark | measured | target | |",
    "|---|---|---|---|",
    *rows,
    "",
    *detail,
    end,
])
path = "BENCHMARKS.md"
text = open(path).read()
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## Rollouts\n\n" + section + "\n"
open(path, "w").write(text)
print(section)
PY
}

main() {
  local parts=("$@")
  ((${#parts[@]} > 0)) || parts=(all)
  [[ " ${parts[*]} " == *" all "* ]] && parts=(ansible revert breach scale)
  local p
  for p in "${parts[@]}"; do
    case "$p" in ansible | revert | breach | scale) ;; *) sl_die "unknown part '$p' (all, ansible, revert, breach, scale)" ;; esac
  done
  preflight
  start_services
  for p in "${parts[@]}"; do "bench_$p"; done
  sl_log "figures ($FIGURES):"
  cat "$FIGURES"
  if [[ "$WRITE" == 1 ]]; then
    write_markdown
    sl_log "figures written to BENCHMARKS.md"
  fi
}

main "$@"
