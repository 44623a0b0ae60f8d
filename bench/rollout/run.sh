#!/usr/bin/env bash
# The rollout benchmarks (make bench runs them through scripts/bench.sh):
#
#   1. ansible  Sluice vs Ansible: the same 3-batch canary (5% / 25% / 100%, no pauses,
#               10 hosts at once) of the demo-app artifact to 50 hosts in network namespaces,
#               the same health check. Sluice: release-intake -> rollout-planner -> executor ->
#               sluice-agent. Ansible: ansible-playbook over SSH to an sshd in each namespace.
#   2. revert   RevertRequested (as the rollback-agent sends it) to the executor for 100 hosts
#               that run v2 with v1 installed: publish -> RevertCompleted.
#   3. scale    a 2,000-host canary against one simulated agent endpoint: CPU ms of
#               rollout-planner + executor per instance, events/s.
#
#   bash bench/rollout/run.sh [all|ansible|revert|scale]...     (default: all)
#
# Runs its own release-built services (own ports, PostgreSQL schemas and consumer groups,
# starting at the end of the topics), its own hosts (prefixes bra / brb, subnets 10.78.0 /
# 10.79.0), sshd and artifact server, and stops all of them by pid at the end. Every planner
# and executor on the broker acts on every deployment event, so it waits while another
# rollout-planner / executor runs: it creates /tmp/bench-needs-exclusive and goes on once
# /tmp/bench-exclusive-ok exists or the others are gone.
#
# Env: SLUICE_BENCH_BUILD_DIR (build/release), SLUICE_BENCH_ROLLOUT_HOSTS (50),
#   SLUICE_BENCH_REVERT_HOSTS (100, at most 100), SLUICE_BENCH_SCALE_HOSTS (2000),
#   SLUICE_BENCH_MAX_PARALLEL (10), SLUICE_BENCH_REVERT_PARALLEL (50),
#   SLUICE_BENCH_SCALE_PARALLEL (50), SLUICE_BENCH_EXCLUSIVE_WAIT (1800 s),
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
API_ADDR=127.0.0.1:18180
PLANNER_ADDR=127.0.0.1:18182
EXECUTOR_ADDR=127.0.0.1:18184
SIM_ADDR=127.0.0.1:18199
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
  if [[ ! -s "$ADMIN_TOKEN_FILE" ]]; then
    (umask 077 && echo "slc_bench$(openssl rand -hex 20)" >"$ADMIN_TOKEN_FILE")
  fi
}

# Other planners / executors share the topics: wait until they are gone or the exclusive
# run is granted.
foreign_services() {
  local pid mine p
  for pid in $(pgrep -x rollout-planner; pgrep -x executor); do
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
  sl_log "other rollout-planner / executor processes run ($others): waiting for $OK_FLAG (up to ${EXCLUSIVE_WAIT}s)"
  deadline=$((SECONDS + EXCLUSIVE_WAIT))
  while [[ ! -f "$OK_FLAG" && -n "$(foreign_services)" ]]; do
    ((SECONDS < deadline)) || sl_die "no exclusive run after ${EXCLUSIVE_WAIT}s; stop the other rollout-planner / executor"
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
    exec env SLUICE_LOG_LEVEL=warn "$@" "$bin" >>"$log" 2>&1 </dev/null
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
bench_revert() {
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
# 3. Control-plane cost at 2,000 hosts
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

begin, end = "<!-- rollout:begin -->", "<!-- rollout:end -->"
section = "\n".join([
    begin,
    f"Measured {day} at {commit} on {cores} cores ({cpu}), {mem_gib} GiB; release build; one rollout-planner, "
    "one executor and one release-intake of their own; the local stack (Kafka, PostgreSQL, Redis) on the "
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
  [[ " ${parts[*]} " == *" all "* ]] && parts=(ansible revert scale)
  local p
  for p in "${parts[@]}"; do
    case "$p" in ansible | revert | scale) ;; *) sl_die "unknown part '$p' (all, ansible, revert, scale)" ;; esac
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
