#!/usr/bin/env bash
# Integration test of the demo hosts: scripts/hosts.sh up 2 with the real sluice-agent, a v1
# artifact built and served by scripts/artifacts.sh, deployed to both agents over their API;
# the apps answer with their version, expose request metrics, Prometheus (the local stack)
# scrapes them, faults turn into 500s and failing health, and hosts.sh down leaves nothing.
#
# Needs: root (network namespaces; otherwise the loopback mode is used), Prometheus of the
# local stack on 127.0.0.1:19090, and sluice-agent, sluice-demo-app, sluice-demo-load built
# in $SLUICE_BUILD_DIR. Its hosts, bridge, files and ports carry a random prefix, so it runs
# beside a demo. SLUICE_HOSTS_MODE=loopback runs it in the loopback mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
export SLUICE_BUILD_DIR="${SLUICE_BUILD_DIR:-$ROOT/build/dev}"
PROMETHEUS="${SLUICE_PROMETHEUS_URL:-http://127.0.0.1:19090}"

suffix="$(tr -dc 'a-z0-9' </dev/urandom | head -c 5 || true)"
export SLUICE_HOSTS_PREFIX="it$suffix"
# A /24 that no interface of this machine uses.
while :; do
  SLUICE_HOSTS_SUBNET="10.$((100 + RANDOM % 100)).$((RANDOM % 250))"
  ip -4 addr 2>/dev/null | grep -q "inet $SLUICE_HOSTS_SUBNET\." || break
done
export SLUICE_HOSTS_SUBNET
export SLUICE_HOSTS_PORT_OFFSET="$((2000 + RANDOM % 5000))"
unset SLUICE_ARTIFACTS_ADDR

HOSTS=(bash "$ROOT/scripts/hosts.sh")
ARTIFACTS=(bash "$ROOT/scripts/artifacts.sh")
DEMO_DIR="$ROOT/var/demo/$SLUICE_HOSTS_PREFIX"
HOSTS_DIR="$ROOT/var/hosts-$SLUICE_HOSTS_PREFIX"
step() { printf '\n=== %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "--- agent and app logs (last lines) ---" >&2
    tail -n 15 "$HOSTS_DIR"/h*/agent.log "$HOSTS_DIR"/h*/state/app.log \
      "$HOSTS_DIR"/h*/agent/logs/*.log 2>/dev/null >&2 || true
  fi
  "${HOSTS[@]}" down --purge >/dev/null 2>&1 || echo "cleanup: hosts.sh down failed" >&2
  "${ARTIFACTS[@]}" stop >/dev/null 2>&1 || true
  rm -rf "$DEMO_DIR"
  exit "$rc"
}
trap cleanup EXIT

for bin in agent/sluice-agent tools/demo-app/sluice-demo-app tools/demo-app/sluice-demo-load; do
  [[ -x "$SLUICE_BUILD_DIR/$bin" ]] ||
    fail "$SLUICE_BUILD_DIR/$bin is not built (cmake --build $SLUICE_BUILD_DIR --target $(basename "$bin"))"
done
curl -fsS --max-time 3 -o /dev/null "$PROMETHEUS/-/ready" ||
  fail "Prometheus is not answering on $PROMETHEUS; start the stack: bash scripts/stack.sh up"

step "hosts.sh up 2 (prefix $SLUICE_HOSTS_PREFIX)"
"${HOSTS[@]}" up 2
mode="$(sed -n 's/^MODE=//p' "$DEMO_DIR/hosts.env")"
[[ "$mode" == netns || "$mode" == loopback ]] || fail "hosts.env names no mode"
if [[ "$(id -u)" == 0 && "${SLUICE_HOSTS_MODE:-auto}" != loopback ]]; then
  [[ "$mode" == netns ]] || fail "running as root but the hosts are in $mode mode"
  ip netns list | grep -q "^$SLUICE_HOSTS_PREFIX-h2" || fail "namespace $SLUICE_HOSTS_PREFIX-h2 missing"
fi
mapfile -t agents < <(python3 -c 'import json,sys; [print(h["agent_endpoint"]) for h in json.load(open(sys.argv[1]))]' "$DEMO_DIR/hosts.json")
mapfile -t apps < <(python3 -c 'import json,sys; [print(h["app_addr"]) for h in json.load(open(sys.argv[1]))]' "$DEMO_DIR/hosts.json")
((${#agents[@]} == 2 && ${#apps[@]} == 2)) || fail "hosts.json does not list 2 hosts"
grep -q "restartCommand: \[\"bin/restart.sh\"\]" "$DEMO_DIR/demo-app.yaml" || fail "the spec has no restart command"
grep -q "name: host-2" "$DEMO_DIR/demo-app.yaml" || fail "the spec does not list host-2"

step "a second up is a no-op"
out="$("${HOSTS[@]}" up 2)"
[[ "$(grep -c "agent already running" <<<"$out")" == 2 ]] || fail "the second up did not find both agents running: $out"

step "build and serve demo-app v1"
sha="$("${ARTIFACTS[@]}" build v1)"
[[ "$sha" =~ ^[0-9a-f]{64}$ ]] || fail "artifacts.sh build printed '$sha', not a sha256"
[[ "$("${ARTIFACTS[@]}" build v1 2>/dev/null)" == "$sha" ]] || fail "rebuilding v1 changed its sha256"
tar -tzf "$DEMO_DIR/artifacts/demo-app-v1.tar.gz" | sort | tr '\n' ' ' |
  grep -qx "VERSION bin/restart.sh bin/sluice-demo-app demo.json " || fail "unexpected archive contents"
"${ARTIFACTS[@]}" serve
token="$(cat "$ROOT/var/local/agent-token")"
[[ "$(stat -c %a "$ROOT/var/local/agent-token")" == 600 ]] || fail "the agent token file is not 0600"

deploy() {  # AGENT_ENDPOINT [VERSION SHA GENERATION] -> the agent's answer
  local version="${2:-v1}" sha256="${3:-$sha}" generation="${4:-1}"
  curl -sS --max-time 60 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"version\":\"$version\",\"artifact_url\":\"$("${ARTIFACTS[@]}" url "$version")\",
         \"sha256\":\"$sha256\",\"generation\":$generation,
         \"service\":{\"restart_command\":[\"bin/restart.sh\"],\"restart_timeout\":\"30s\",
         \"health\":{\"command\":[\"bin/sluice-demo-app\",\"healthcheck\"],\"timeout\":\"20s\"}}}" \
    "$1/v1/deploy"
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

step "deploy v1 to both agents"
for a in "${agents[@]}"; do
  out="$(deploy "$a")"
  [[ "$(json_field "$out" result)" == succeeded ]] || fail "deploy to $a: $out"
done

step "each app answers with its version and counts its requests"
for i in 1 2; do
  app="${apps[i - 1]}"
  body="$(curl -sS --max-time 5 "http://$app/")"
  [[ "$body" == "demo-app v1" ]] || fail "GET http://$app/ answered '$body'"
  curl -sS --max-time 5 "http://$app/metrics" | grep -Eq '^demo_http_requests_total\{[^}]*version="v1"[^}]*\} [1-9]' ||
    fail "http://$app/metrics has no demo_http_requests_total{version=\"v1\"}"
  curl -sS --max-time 5 "http://$app/metrics" | grep -q '^process_resident_memory_bytes [1-9]' ||
    fail "http://$app/metrics has no process_resident_memory_bytes"
  log="$HOSTS_DIR/h$i/state/restarts.log"
  [[ "$(wc -l <"$log")" == 1 ]] && grep -q ' v1$' "$log" || fail "$log should hold one v1 line"
done

step "a repeated deploy is unchanged and does not restart"
out="$(deploy "${agents[0]}")"
[[ "$(json_field "$out" result)" == unchanged ]] || fail "second deploy: $out"
[[ "$(wc -l <"$HOSTS_DIR/h1/state/restarts.log")" == 1 ]] || fail "the app was restarted"

step "upgrade host-1 to v2: the old process stops, the new one answers"
sha2="$("${ARTIFACTS[@]}" build v2 --latency-ms 10)"
old_pid="$(cat "$HOSTS_DIR/h1/state/app.pid")"
out="$(deploy "${agents[0]}" v2 "$sha2" 2)"
[[ "$(json_field "$out" result)" == succeeded ]] || fail "deploy v2: $out"
body="$(curl -sS --max-time 5 "http://${apps[0]}/")"
[[ "$body" == "demo-app v2" ]] || fail "after the upgrade GET / answered '$body'"
if kill -0 "$old_pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$old_pid/stat")" != Z ]]; then
  fail "the v1 process $old_pid still runs after the upgrade"
fi
[[ "$(wc -l <"$HOSTS_DIR/h1/state/restarts.log")" == 2 ]] && tail -n1 "$HOSTS_DIR/h1/state/restarts.log" | grep -q ' v2$' ||
  fail "restarts.log should end with a v2 line"
[[ "$(json_field "$(curl -sS "http://${apps[0]}/admin/faults")" latency_ms)" == 10 ]] ||
  fail "v2's demo.json latency is not in effect"

step "Prometheus scrapes both apps (up == 1 within 30 s)"
prom_up() {  # INSTANCE -> 0 when up{app="demo-app",instance=...} == 1
  curl -sS --max-time 3 "$PROMETHEUS/api/v1/query" \
    --data-urlencode "query=up{app=\"demo-app\",instance=\"$1\",instance_name=~\"host-[12]\"}" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r and r[0]["value"][1]=="1" else 1)'
}
for app in "${apps[@]}"; do
  deadline=$((SECONDS + 30))
  until prom_up "$app"; do
    ((SECONDS < deadline)) || fail "Prometheus does not report up{app=\"demo-app\",instance=\"$app\"} == 1 after 30s"
    sleep 1
  done
  echo "scraped: $app"
done

step "the load generator calls the apps"
before="$(curl -sS "http://${apps[1]}/metrics" | awk '/^demo_http_requests_total\{code="200"/ {print $2}')"
sleep 2
after="$(curl -sS "http://${apps[1]}/metrics" | awk '/^demo_http_requests_total\{code="200"/ {print $2}')"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) >= 4 else 1)' "$before" "$after" ||
  fail "host-2 served $before -> $after requests in 2 s; the load (5/s) is not reaching it"

step "faults: error_rate 1 gives 500s, error_rate 0 gives 200s again"
app="${apps[0]}"
post_faults() {
  curl -sS --max-time 5 -H 'Content-Type: application/json' -d "$2" "http://$1/admin/faults"
}
out="$(post_faults "$app" '{"error_rate":1.0,"latency_ms":5}')"
[[ "$(json_field "$out" error_rate)" == 1.0 ]] || fail "POST /admin/faults answered $out"
for _ in 1 2 3; do
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$app/")"
  [[ "$code" == 500 ]] || fail "GET / answered $code with error_rate 1"
done
curl -sS "http://$app/metrics" | grep -Eq '^demo_http_requests_total\{code="500",version="v2"\} [1-9]' ||
  fail "the 500s are not counted"
[[ "$(json_field "$(curl -sS "http://$app/admin/faults")" latency_ms)" == 5 ]] || fail "GET /admin/faults"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"error_rate":2}' "http://$app/admin/faults")"
[[ "$code" == 400 ]] || fail "error_rate 2 was answered $code, not 400"
post_faults "$app" '{"error_rate":0}' >/dev/null
code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://$app/")"
[[ "$code" == 200 ]] || fail "GET / answered $code with error_rate 0"

step "health: fault healthy=false and the marker file"
post_faults "$app" '{"healthy":false}' >/dev/null
code="$(curl -sS -o /dev/null -w '%{http_code}' "http://$app/healthz")"
[[ "$code" == 503 ]] || fail "/healthz answered $code with healthy=false"
post_faults "$app" '{"healthy":true}' >/dev/null
"${HOSTS[@]}" unhealthy 2 on
code="$(curl -sS -o /dev/null -w '%{http_code}' "http://${apps[1]}/healthz")"
[[ "$code" == 503 ]] || fail "/healthz of host-2 answered $code with the marker file"
"${HOSTS[@]}" exec 2 "$HOSTS_DIR/h2/agent/current/bin/sluice-demo-app" healthcheck >/dev/null 2>&1 &&
  fail "healthcheck on host-2 passed while it is marked unhealthy" || true
"${HOSTS[@]}" unhealthy 2 off
code="$(curl -sS -o /dev/null -w '%{http_code}' "http://${apps[1]}/healthz")"
[[ "$code" == 200 ]] || fail "/healthz of host-2 answered $code after the marker was removed"

step "hosts.sh down leaves no process, namespace or interface behind"
app_pids="$(cat "$HOSTS_DIR"/h*/state/app.pid "$HOSTS_DIR"/h*/agent.pid | tr '\n' ' ')"
"${HOSTS[@]}" down
for p in $app_pids; do
  if kill -0 "$p" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]]; then
    fail "pid $p is still running after down"
  fi
done
if ip netns list 2>/dev/null | grep -q "^$SLUICE_HOSTS_PREFIX-"; then fail "namespaces left"; fi
if ip link show "${SLUICE_HOSTS_PREFIX}br0" >/dev/null 2>&1; then fail "bridge left"; fi
[[ ! -e "$ROOT/var/stack/prometheus/targets/demo-app-$SLUICE_HOSTS_PREFIX.json" ]] || fail "targets file left"
"${HOSTS[@]}" down >/dev/null || fail "a second down failed"

echo
echo "PASS"
