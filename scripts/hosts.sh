#!/usr/bin/env bash
# Demo hosts: N "machines", each running sluice-agent, that the executor deploys the demo
# application to, with Prometheus scraping the applications and a load generator calling them.
#
#   bash scripts/hosts.sh up N            create N hosts (idempotent), start the agents and
#                                         the load; write hosts.json, the Prometheus file_sd
#                                         targets and the delivery spec
#   bash scripts/hosts.sh down [--purge]  stop load, apps and agents; remove the namespaces,
#                                         veths and bridge this script created (--purge also
#                                         removes the hosts' directories and generated files)
#   bash scripts/hosts.sh status          one line per host; exit 1 if an agent is down
#   bash scripts/hosts.sh exec I CMD...   run CMD on host I (in its namespace, with its DEMO_*
#                                         environment)
#   bash scripts/hosts.sh unhealthy I on|off   mark host I's application unhealthy (or not)
#
# Modes: "netns" (preferred): a bridge <prefix>br0 with <subnet>.1/24, namespaces
# <prefix>-h1..N joined to it by veth pairs, host i at <subnet>.(10+i), agent on :7070 and
# application on :8000 of that address. "loopback" when `ip netns add` fails (not root, no
# namespace support) or SLUICE_HOSTS_MODE=loopback: agents on 127.0.0.1:(17070+i), apps on
# 127.0.0.1:(18000+i).
#
# Env: SLUICE_HOSTS_PREFIX=sl (another prefix gives another, independent set of hosts:
#   own namespaces, bridge, directories, target file), SLUICE_HOSTS_SUBNET=10.77.0,
#   SLUICE_HOSTS_PORT_OFFSET=0 (added to the loopback ports), SLUICE_HOSTS_MODE=auto|loopback,
#   SLUICE_HOSTS_ENV=production, SLUICE_HOSTS_LOAD_RATE=5 (req/s per app; 0 = no load),
#   SLUICE_BUILD_DIR=build/dev (sluice-agent and sluice-demo-load come from there).
# Files: var/hosts/h<i>/{agent/,state/,agent.log,agent.pid} (agent root, the app's
# state dir), var/demo/{hosts.json,hosts.env,demo-app.yaml,app-addrs.txt},
# var/stack/prometheus/targets/demo-app.json, var/local/agent-token.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=hosts

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
PREFIX="${SLUICE_HOSTS_PREFIX:-sl}"
[[ "$PREFIX" =~ ^[a-z][a-z0-9]{0,7}$ ]] ||
  sl_die "SLUICE_HOSTS_PREFIX=$PREFIX: use 1-8 lowercase letters or digits, starting with a letter"
SUBNET="${SLUICE_HOSTS_SUBNET:-10.77.0}"
[[ "$SUBNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
  sl_die "SLUICE_HOSTS_SUBNET=$SUBNET: give the first three octets, e.g. 10.77.0"
PORT_OFFSET="${SLUICE_HOSTS_PORT_OFFSET:-0}"
[[ "$PORT_OFFSET" =~ ^[0-9]{1,4}$ ]] || sl_die "SLUICE_HOSTS_PORT_OFFSET=$PORT_OFFSET: a number 0-9999"
ENV_NAME="${SLUICE_HOSTS_ENV:-production}"
LOAD_RATE="${SLUICE_HOSTS_LOAD_RATE:-5}"
BUILD_DIR="${SLUICE_BUILD_DIR:-build/dev}"
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
AGENT_BIN="$BUILD_DIR/agent/sluice-agent"
LOAD_BIN="$BUILD_DIR/tools/demo-app/sluice-demo-load"
TOKEN_FILE="$VAR/local/agent-token"
TARGETS_DIR="$VAR/stack/prometheus/targets"

if [[ "$PREFIX" == sl ]]; then
  HOSTS_DIR="$VAR/hosts"
  DEMO_DIR="$VAR/demo"
  TARGETS_FILE="$TARGETS_DIR/demo-app.json"
  LOAD_NAME="demo-load"
else
  HOSTS_DIR="$VAR/hosts-$PREFIX"
  DEMO_DIR="$VAR/demo/$PREFIX"
  TARGETS_FILE="$TARGETS_DIR/demo-app-$PREFIX.json"
  LOAD_NAME="demo-load-$PREFIX"
fi
BRIDGE="${PREFIX}br0"
HOSTS_ENV="$DEMO_DIR/hosts.env"
# What this script created, one "kind name" a line: down removes these and nothing else.
CREATED="$HOSTS_DIR/created"
LOAD_PIDFILE="$RUN_DIR/$LOAD_NAME.pid"
LOAD_LOG="$LOG_DIR/$LOAD_NAME.log"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# ---------------------------------------------------------------------------
# Naming and addresses
# ---------------------------------------------------------------------------
ns_of() { echo "$PREFIX-h$1"; }
veth_of() { echo "$PREFIX-v$1"; }
host_dir() { echo "$HOSTS_DIR/h$1"; }
zone_of() {
  local zones=(zone-a zone-b zone-c)
  echo "${zones[$((($1 - 1) % 3))]}"
}

# Sets IP, AGENT_ADDR and APP_ADDR of host $1 for mode $2.
host_addrs() {
  local i="$1" mode="$2"
  if [[ "$mode" == netns ]]; then
    IP="$SUBNET.$((10 + i))"
    AGENT_ADDR="$IP:7070"
    APP_ADDR="$IP:8000"
  else
    IP=127.0.0.1
    AGENT_ADDR="$IP:$((17070 + PORT_OFFSET + i))"
    APP_ADDR="$IP:$((18000 + PORT_OFFSET + i))"
  fi
}

env_get() { [[ -f "$HOSTS_ENV" ]] && sed -n "s/^$1=//p" "$HOSTS_ENV" | head -n1; }

recorded() { [[ -f "$CREATED" ]] && grep -qx "$1 $2" "$CREATED"; }
record() {
  mkdir -p "$HOSTS_DIR"
  recorded "$1" "$2" || echo "$1 $2" >>"$CREATED"
}

link_exists() { ip link show "$1" >/dev/null 2>&1; }
netns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"; }

# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------
# Tries to create (or reuse our) first namespace; on failure prints why and returns 1.
netns_possible() {
  local ns err
  ns="$(ns_of 1)"
  if netns_exists "$ns"; then
    recorded netns "$ns" && return 0
    echo "namespace $ns exists and was not created by this script"
    return 1
  fi
  if ! err="$(ip netns add "$ns" 2>&1)"; then
    echo "ip netns add failed: ${err:-unknown error}"
    return 1
  fi
  record netns "$ns"
}

setup_bridge() {
  if link_exists "$BRIDGE"; then
    recorded bridge "$BRIDGE" || sl_die "bridge $BRIDGE exists and was not created by this script; set SLUICE_HOSTS_PREFIX"
  else
    ip link add "$BRIDGE" type bridge
    record bridge "$BRIDGE"
    sl_log "bridge $BRIDGE created"
  fi
  ip addr replace "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # dockerd (scripts/docker.sh) sets FORWARD's policy to DROP and loads br_netfilter, so frames
  # between two hosts on this bridge pass through that chain: accept what crosses the bridge.
  if command -v iptables >/dev/null 2>&1 && iptables -S FORWARD >/dev/null 2>&1; then
    iptables -C FORWARD -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BRIDGE" -j ACCEPT
    iptables -C FORWARD -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$BRIDGE" -j ACCEPT
    record forward "$BRIDGE"
  fi
}

setup_netns_host() {
  local i="$1" ns veth peer
  ns="$(ns_of "$i")"
  veth="$(veth_of "$i")"
  peer="$PREFIX-p$i"
  host_addrs "$i" netns
  if netns_exists "$ns"; then
    recorded netns "$ns" || sl_die "namespace $ns exists and was not created by this script"
  else
    ip netns add "$ns"
    record netns "$ns"
  fi
  if ! link_exists "$veth"; then
    ip link add "$veth" type veth peer name "$peer"
    record veth "$veth"
    ip link set "$peer" netns "$ns"
    ip -n "$ns" link set "$peer" name eth0
  else
    recorded veth "$veth" || sl_die "interface $veth exists and was not created by this script"
  fi
  ip link set "$veth" master "$BRIDGE"
  ip link set "$veth" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr replace "$IP/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------
# pid in FILE when alive and its command line holds MARKER.
pid_matching() {
  local pid
  pid="$(sl_read_pidfile "$1")"
  [[ -n "$pid" ]] || return 0
  if sl_pid_alive "$pid" && sl_pid_cmdline "$pid" | grep -q -- "$2"; then echo "$pid"; fi
}

stop_pid() {
  local pid="$1" what="$2" deadline
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + 10))
  while sl_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if sl_pid_alive "$pid"; then
    sl_warn "$what (pid $pid) still alive after 10s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  sl_log "$what stopped (pid $pid)"
}

ensure_token() {
  mkdir -p "$(dirname "$TOKEN_FILE")"
  if [[ ! -s "$TOKEN_FILE" ]]; then
    (umask 077 && openssl rand -hex 24 >"$TOKEN_FILE")
    sl_log "agent token written to $TOKEN_FILE"
  fi
  chmod 0600 "$TOKEN_FILE"
}

start_agent() {
  local i="$1" mode="$2" dir pid
  dir="$(host_dir "$i")"
  host_addrs "$i" "$mode"
  mkdir -p "$dir/agent" "$dir/state"
  pid="$(pid_matching "$dir/agent.pid" sluice-agent)"
  if [[ -n "$pid" ]]; then
    sl_log "host-$i: agent already running (pid $pid) on $AGENT_ADDR"
    return 0
  fi
  if sl_port_open "${AGENT_ADDR##*:}" "${AGENT_ADDR%:*}"; then
    sl_die "host-$i: $AGENT_ADDR is in use by $(sl_port_owner "${AGENT_ADDR##*:}")"
  fi
  local -a nsexec=()
  [[ "$mode" == netns ]] && nsexec=(ip netns exec "$(ns_of "$i")")
  printf '\n==== %s starting sluice-agent on %s ====\n' "$(date -u +%FT%TZ)" "$AGENT_ADDR" >>"$dir/agent.log"
  # A clean environment: the agent refuses SLUICE_* variables it does not know, and passes
  # its environment on to the restart and health commands (hence the DEMO_* variables).
  (
    cd "$dir"
    exec setsid "${nsexec[@]}" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME="${HOME:-/root}" LANG=C.UTF-8 \
      SLUICE_AGENT_ADDR="$AGENT_ADDR" SLUICE_AGENT_ROOT="$dir/agent" \
      SLUICE_AGENT_TOKEN_FILE="$TOKEN_FILE" \
      DEMO_APP_ADDR="$APP_ADDR" DEMO_APP_STATE_DIR="$dir/state" \
      "$AGENT_BIN" >>"$dir/agent.log" 2>&1 </dev/null
  ) &
  echo $! >"$dir/agent.pid"
}

wait_agent() {
  local i="$1" mode="$2" dir pid deadline
  dir="$(host_dir "$i")"
  host_addrs "$i" "$mode"
  deadline=$((SECONDS + 20))
  while :; do
    pid="$(sl_read_pidfile "$dir/agent.pid")"
    if ! sl_pid_alive "$pid"; then
      tail -n 20 "$dir/agent.log" >&2 || true
      sl_die "host-$i: sluice-agent exited during start-up; log $dir/agent.log"
    fi
    sl_http_ok "http://$AGENT_ADDR/healthz" 2>/dev/null && break
    ((SECONDS < deadline)) || sl_die "host-$i: sluice-agent not answering on $AGENT_ADDR after 20s; log $dir/agent.log"
    sleep 0.3
  done
  sl_pid_cmdline "$pid" | grep -q sluice-agent ||
    sl_die "host-$i: pid $pid is not sluice-agent ($(sl_pid_cmdline "$pid"))"
  sl_log "host-$i: agent up on http://$AGENT_ADDR (pid $pid), app address $APP_ADDR"
}

start_load() {
  local pid
  [[ "$LOAD_RATE" == 0 ]] && return 0
  pid="$(pid_matching "$LOAD_PIDFILE" sluice-demo-load)"
  if [[ -n "$pid" ]]; then
    stop_pid "$pid" "load generator"
  fi
  [[ -x "$LOAD_BIN" ]] || sl_die "$LOAD_BIN is missing; run: cmake --build $BUILD_DIR --target sluice-demo-load"
  printf '\n==== %s starting sluice-demo-load ====\n' "$(date -u +%FT%TZ)" >>"$LOAD_LOG"
  setsid "$LOAD_BIN" --targets-file "$DEMO_DIR/app-addrs.txt" --rate "$LOAD_RATE" \
    --timeout-ms 10000 >>"$LOAD_LOG" 2>&1 </dev/null &
  echo $! >"$LOAD_PIDFILE"
  sl_log "load: $LOAD_RATE req/s to each app (pid $!, log $LOAD_LOG)"
}

# ---------------------------------------------------------------------------
# Generated files
# ---------------------------------------------------------------------------
write_files() {
  local n="$1" mode="$2" i tmp
  mkdir -p "$DEMO_DIR" "$TARGETS_DIR"
  python3 - "$n" "$mode" "$DEMO_DIR" "$TARGETS_FILE" "$ENV_NAME" "$SUBNET" "$PORT_OFFSET" <<'PY'
import json, os, sys
n, mode, demo_dir, targets_file, env_name, subnet, offset = sys.argv[1:]
n, offset = int(n), int(offset)
zones = ["zone-a", "zone-b", "zone-c"]
hosts = []
for i in range(1, n + 1):
    if mode == "netns":
        ip = f"{subnet}.{10 + i}"
        agent, app = f"{ip}:7070", f"{ip}:8000"
    else:
        ip = "127.0.0.1"
        agent, app = f"{ip}:{17070 + offset + i}", f"{ip}:{18000 + offset + i}"
    hosts.append({"name": f"host-{i}", "address": ip, "agent_endpoint": f"http://{agent}",
                  "app_addr": app, "labels": {"zone": zones[(i - 1) % 3]}})

def write(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # Prometheus and the services never see a half-written file

write(os.path.join(demo_dir, "hosts.json"), json.dumps(hosts, indent=2) + "\n")
write(os.path.join(demo_dir, "app-addrs.txt"),
      "# Generated by scripts/hosts.sh: the demo applications.\n" +
      "".join(h["app_addr"] + "\n" for h in hosts))
write(targets_file, json.dumps(
    [{"targets": [h["app_addr"]],
      "labels": {"app": "demo-app", "env": env_name, "instance_name": h["name"]}}
     for h in hosts], indent=2) + "\n")

lines = [
    "# Delivery spec of demo-app over the demo hosts; generated by scripts/hosts.sh",
    f"# ({mode} mode), rewritten by every `hosts.sh up`.",
    "app: demo-app",
    "environments:",
    f"  {env_name}:",
    "    targets:",
    "      web:",
    "        hosts:",
]
for h in hosts:
    lines += [
        f"          - name: {h['name']}",
        f"            address: {h['address']}",
        f"            agentEndpoint: \"{h['agent_endpoint']}\"",
        f"            labels: {{zone: {h['labels']['zone']}}}",
    ]
lines += [
    "    strategy:",
    "      type: canary",
    "      steps:",
    "        - weight: 5%",
    "        - pause: 3s",
    "        - weight: 25%",
    "        - pause: 3s",
    "        - weight: 100%",
    "      maxParallel: 2",
    "      hostTimeout: 60s",
    "    service:",
    "      # Relative paths resolve in the release dir (bin/ of the release being deployed).",
    "      restartCommand: [\"bin/restart.sh\"]",
    "      restartTimeout: 30s",
    "      # Every host's application listens on its own address, so the check runs the",
    "      # release's binary on the host: it asks http://$DEMO_APP_ADDR/healthz.",
    "      health: {command: [\"bin/sluice-demo-app\", \"healthcheck\"], timeout: 20s}",
    "    policy:",
    "      concurrency: queue",
]
write(os.path.join(demo_dir, "demo-app.yaml"), "\n".join(lines) + "\n")
PY
  tmp="$HOSTS_ENV.tmp.$$"
  {
    echo "# Generated by scripts/hosts.sh."
    echo "MODE=$mode"
    echo "COUNT=$n"
    if [[ "$mode" == netns ]]; then
      echo "ARTIFACTS_ADDR=$SUBNET.1:8090"
    else
      echo "ARTIFACTS_ADDR=127.0.0.1:$((8090 + PORT_OFFSET))"
    fi
  } >"$tmp"
  mv -f "$tmp" "$HOSTS_ENV"
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
cmd_up() {
  local n="${1:-}" mode reason i
  [[ "$n" =~ ^[1-9][0-9]?$ ]] && ((n <= 50)) || sl_die "up: give the number of hosts, 1-50 (usage: hosts.sh up N)"
  [[ -x "$AGENT_BIN" ]] || sl_die "$AGENT_BIN is missing; run: cmake --build $BUILD_DIR --target sluice-agent"
  local old_count old_mode
  old_count="$(env_get COUNT || true)"
  old_mode="$(env_get MODE || true)"
  if [[ -n "$old_count" && "$old_count" != "$n" ]]; then
    sl_die "up: $old_count host(s) are up ($old_mode mode); run hosts.sh down first"
  fi
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$HOSTS_DIR"
  if [[ -n "$old_mode" ]]; then
    mode="$old_mode"
    reason="hosts already set up in this mode"
  elif [[ "${SLUICE_HOSTS_MODE:-auto}" == loopback ]]; then
    mode=loopback
    reason="SLUICE_HOSTS_MODE=loopback"
  elif [[ "${SLUICE_HOSTS_MODE:-auto}" != auto && "${SLUICE_HOSTS_MODE:-auto}" != netns ]]; then
    sl_die "SLUICE_HOSTS_MODE=$SLUICE_HOSTS_MODE: use auto, netns or loopback"
  elif ! sl_have ip; then
    mode=loopback
    reason="the ip command is missing"
  elif reason="$(netns_possible)"; then
    mode=netns
    reason="network namespaces are available"
  else
    [[ "${SLUICE_HOSTS_MODE:-auto}" == netns ]] && sl_die "SLUICE_HOSTS_MODE=netns but $reason"
    mode=loopback
  fi
  sl_log "mode: $mode ($reason)"
  ensure_token
  if [[ "$mode" == netns ]]; then
    setup_bridge
    for ((i = 1; i <= n; i++)); do setup_netns_host "$i"; done
  fi
  write_files "$n" "$mode"
  for ((i = 1; i <= n; i++)); do start_agent "$i" "$mode"; done
  for ((i = 1; i <= n; i++)); do wait_agent "$i" "$mode"; done
  start_load
  sl_log "$n host(s) up in $mode mode: $DEMO_DIR/hosts.json, spec $DEMO_DIR/demo-app.yaml, Prometheus targets $TARGETS_FILE"
  sl_log "artifacts for these hosts: bash scripts/artifacts.sh serve (address $(env_get ARTIFACTS_ADDR))"
}

cmd_down() {
  local purge=0 dir pid kind name ns
  [[ "${1:-}" == --purge ]] && purge=1
  pid="$(pid_matching "$LOAD_PIDFILE" sluice-demo-load)"
  stop_pid "$pid" "load generator"
  rm -f "$LOAD_PIDFILE"
  # Hide the targets first, so Prometheus does not record the stop as an outage.
  rm -f "$TARGETS_FILE"
  if [[ -d "$HOSTS_DIR" ]]; then
    for dir in "$HOSTS_DIR"/h*; do
      [[ -d "$dir" ]] || continue
      pid="$(pid_matching "$dir/state/app.pid" sluice-demo-app)"
      stop_pid "$pid" "$(basename "$dir"): demo-app"
      rm -f "$dir/state/app.pid"
      pid="$(pid_matching "$dir/agent.pid" sluice-agent)"
      stop_pid "$pid" "$(basename "$dir"): sluice-agent"
      rm -f "$dir/agent.pid"
    done
  fi
  if [[ -f "$CREATED" ]]; then
    # Anything still running inside our namespaces (an app whose pid file was lost) would
    # keep the namespace alive after `ip netns del`.
    while read -r kind name; do
      [[ "$kind" == netns ]] && netns_exists "$name" || continue
      for pid in $(ip netns pids "$name" 2>/dev/null); do
        stop_pid "$pid" "$name: leftover process $(sl_pid_cmdline "$pid" | cut -c1-60)"
      done
    done <"$CREATED"
    # Reverse order of creation: veths, namespaces, then the bridge.
    tac "$CREATED" | while read -r kind name; do
      case "$kind" in
        veth) link_exists "$name" && ip link del "$name" ;;
        netns) netns_exists "$name" && ip netns del "$name" ;;
        bridge) link_exists "$name" && ip link del "$name" ;;
        forward)
          iptables -D FORWARD -i "$name" -j ACCEPT 2>/dev/null || true
          iptables -D FORWARD -o "$name" -j ACCEPT 2>/dev/null || true
          ;;
      esac
      sl_log "removed $kind $name"
    done
    rm -f "$CREATED"
  fi
  rm -f "$HOSTS_ENV"
  if ((purge)); then
    rm -rf "$HOSTS_DIR"
    rm -f "$DEMO_DIR/hosts.json" "$DEMO_DIR/app-addrs.txt" "$DEMO_DIR/demo-app.yaml"
    sl_log "purged $HOSTS_DIR"
  fi
  sl_log "down"
}

cmd_status() {
  local n mode i dir rc=0 agent app pid
  n="$(env_get COUNT || true)"
  mode="$(env_get MODE || true)"
  if [[ -z "$n" ]]; then
    echo "no hosts (run: bash scripts/hosts.sh up N)"
    return 1
  fi
  echo "$n host(s), $mode mode, prefix $PREFIX"
  printf '%-8s %-24s %-6s %-22s %s\n' host agent state app "app health"
  for ((i = 1; i <= n; i++)); do
    dir="$(host_dir "$i")"
    host_addrs "$i" "$mode"
    pid="$(pid_matching "$dir/agent.pid" sluice-agent)"
    agent=down
    [[ -n "$pid" ]] && sl_http_ok "http://$AGENT_ADDR/healthz" 2>/dev/null && agent=up
    [[ "$agent" == up ]] || rc=1
    app="$(curl -sS --max-time 2 "http://$APP_ADDR/healthz" 2>/dev/null || echo "not answering")"
    printf '%-8s %-24s %-6s %-22s %s\n' "host-$i" "$AGENT_ADDR" "$agent" "$APP_ADDR" "$app"
  done
  pid="$(pid_matching "$LOAD_PIDFILE" sluice-demo-load)"
  if [[ -n "$pid" ]]; then echo "load: running (pid $pid)"; else echo "load: not running"; fi
  return "$rc"
}

cmd_exec() {
  local i="${1:-}" n mode dir
  [[ "$i" =~ ^[0-9]+$ ]] || sl_die "exec: usage: hosts.sh exec I CMD..."
  shift
  (($# > 0)) || sl_die "exec: no command"
  n="$(env_get COUNT || true)"
  mode="$(env_get MODE || true)"
  [[ -n "$n" ]] && ((i >= 1 && i <= n)) || sl_die "exec: host $i does not exist (${n:-0} host(s) up)"
  dir="$(host_dir "$i")"
  host_addrs "$i" "$mode"
  local -a nsexec=()
  [[ "$mode" == netns ]] && nsexec=(ip netns exec "$(ns_of "$i")")
  DEMO_APP_ADDR="$APP_ADDR" DEMO_APP_STATE_DIR="$dir/state" exec "${nsexec[@]}" "$@"
}

cmd_unhealthy() {
  local i="${1:-}" what="${2:-}" n dir
  n="$(env_get COUNT || true)"
  [[ "$i" =~ ^[0-9]+$ && -n "$n" ]] && ((i >= 1 && i <= n)) ||
    sl_die "unhealthy: host ${i:-?} does not exist (${n:-0} host(s) up)"
  dir="$(host_dir "$i")/state"
  mkdir -p "$dir"
  case "$what" in
    on) touch "$dir/unhealthy" && sl_log "host-$i: marked unhealthy ($dir/unhealthy)" ;;
    off) rm -f "$dir/unhealthy" && sl_log "host-$i: marked healthy" ;;
    *) sl_die "unhealthy: usage: hosts.sh unhealthy I on|off" ;;
  esac
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    exec) cmd_exec "$@" ;;
    unhealthy) cmd_unhealthy "$@" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
