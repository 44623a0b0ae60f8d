#!/usr/bin/env bash
# End-to-end: a release rolled out in canary batches to real hosts (network namespaces, or
# loopback ports where namespaces cannot be made), through the real services, Kafka, PostgreSQL
# and Redis. Run by ctest (label e2e) inside `scripts/stack.sh with`.
#
#   1. v1 everywhere, then v2 5% -> 25% -> 100% with pauses: succeeded, every host runs v2,
#      the executor's records match each host's real `current`.
#   2. a release whose sha256 is wrong: the agent refuses it, batch 1 fails, the deployment
#      fails, the host still runs v2.
#   3. a host whose health check fails: its batch fails, the deployment fails.
#   4. kill -9 of the executor, then of the planner, in the middle of a batch, both restarted:
#      the deployment finishes, no host deployed twice, records match the hosts.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=e2e
cd "$SLUICE_ROOT"

BUILD="${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/dev}"
export SLUICE_BUILD_DIR="$BUILD"
RUN_ID="e2e$(date +%s)$$"
WORK="$SLUICE_ROOT/var/e2e/$RUN_ID"
mkdir -p "$WORK/log" "$WORK/run"
SLUICE_CLI="$BUILD/cli/sluice"

fail() {
  sl_warn "FAILED: $*"
  for f in "$WORK"/log/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}

[[ -f var/local/stack.env ]] || fail "the local stack is not up (run it through 'scripts/stack.sh with -- ...')"
# shellcheck disable=SC1091
source var/local/stack.env
for b in services/rollout-planner/rollout-planner services/executor/executor \
  services/release-intake/release-intake agent/sluice-agent tools/demo-app/sluice-demo-app cli/sluice; do
  [[ -x "$BUILD/$b" ]] || fail "$BUILD/$b is not built"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT="$(free_port)"
PLANNER_PORT="$(free_port)"
EXECUTOR_PORT="$(free_port)"
API="http://127.0.0.1:$API_PORT"
PLANNER="http://127.0.0.1:$PLANNER_PORT"
EXECUTOR="http://127.0.0.1:$EXECUTOR_PORT"
APP="e2e-app-$RUN_ID"
ENV_NAME=production
SCHEMA_SUFFIX="$(echo "$RUN_ID" | tr -cd 'a-z0-9')"
export SLUICE_HOSTS_PREFIX=sx SLUICE_HOSTS_SUBNET=10.78.0 SLUICE_HOSTS_PORT_OFFSET=200
export SLUICE_HOSTS_LOAD_RATE=2
HOSTS_DIR="$SLUICE_ROOT/var/demo/$SLUICE_HOSTS_PREFIX"
ADMIN_TOKEN_FILE="$WORK/admin-token"
(umask 077 && echo "slc_e2e_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ADMIN_TOKEN_FILE")
AGENT_TOKEN_FILE="$SLUICE_ROOT/var/local/agent-token"

# name -> pid of the services this test started
declare -A PIDS=()

# start_service NAME BINARY PORT KEY=VALUE...: a clean environment (services refuse unknown
# SLUICE_* settings), the stack's addresses, this run's schema and consumer group.
start_service() {
  local name="$1" bin="$2" port="$3"
  shift 3
  env -i PATH="$PATH" HOME="${HOME:-/root}" \
    SLUICE_KAFKA_BROKERS="$SLUICE_KAFKA_BROKERS" SLUICE_PG_DSN="$SLUICE_PG_DSN" \
    SLUICE_REDIS_URL="$SLUICE_REDIS_URL" SLUICE_LOG_LEVEL=info \
    SLUICE_HTTP_ADDR="127.0.0.1:$port" SLUICE_PG_SCHEMA="e2e_${SCHEMA_SUFFIX}_${name//-/_}" \
    "$@" "$BUILD/$bin" >>"$WORK/log/$name.log" 2>&1 &
  PIDS[$name]=$!
  sl_wait_until 60 "$name ready" sl_http_ok "http://127.0.0.1:$port/readyz" ||
    fail "$name did not become ready"
}

start_planner() {
  start_service rollout-planner services/rollout-planner/rollout-planner "$PLANNER_PORT" \
    SLUICE_KAFKA_GROUP="rollout-planner-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest
}
start_executor() {
  start_service executor services/executor/executor "$EXECUTOR_PORT" \
    SLUICE_KAFKA_GROUP="executor-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_EXECUTOR_AGENT_TOKEN_FILE="$AGENT_TOKEN_FILE"
}
start_intake() {
  start_service release-intake services/release-intake/release-intake "$API_PORT" \
    SLUICE_ADMIN_TOKEN_FILE="$ADMIN_TOKEN_FILE" SLUICE_PLANNER_URL="$PLANNER" \
    SLUICE_EXECUTOR_URL="$EXECUTOR"
}
# Waits until the consumer group of `name` has its partitions (it starts at the topics' end).
wait_assigned() {
  sl_wait_until 30 "$1 partitions assigned" grep -q "consumer group $2 assigned" "$WORK/log/$1.log" ||
    fail "$1 got no partitions"
  sleep 1
}
kill9() {
  local name="$1"
  kill -KILL "${PIDS[$name]}" 2>/dev/null || true
  wait "${PIDS[$name]}" 2>/dev/null || true
  unset "PIDS[$name]"
  sl_log "killed $name with SIGKILL"
}

cleanup() {
  local rc=$?
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null || true; done
  bash scripts/artifacts.sh stop >/dev/null 2>&1 || true
  bash scripts/hosts.sh down --purge >/dev/null 2>&1 || true
  if ((rc == 0)); then rm -rf "$WORK"; else sl_warn "logs kept in $WORK/log"; fi
}
trap cleanup EXIT

sluice() { "$SLUICE_CLI" --api "$API" --token-file "$ADMIN_TOKEN_FILE" "$@"; }
api_get() { curl -fsS --max-time 5 -H "Authorization: Bearer $(cat "$ADMIN_TOKEN_FILE")" "$API$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- hosts, artifacts, services
bash scripts/hosts.sh down --purge >/dev/null 2>&1 || true
bash scripts/hosts.sh up 6 >"$WORK/log/hosts.log" 2>&1 || fail "hosts.sh up 6 failed: $(tail -n 5 "$WORK/log/hosts.log")"
grep -E 'mode|up in' "$WORK/log/hosts.log" | tail -n 2 || true
bash scripts/artifacts.sh serve >>"$WORK/log/hosts.log" 2>&1 || fail "artifacts server did not start"
for v in 1.0.0 2.0.0 3.0.0 4.0.0; do
  bash scripts/artifacts.sh build "$v" >/dev/null 2>>"$WORK/log/hosts.log" || fail "artifact $v not built"
done
# The e2e's spec: its own app name, a short health deadline so a sick host fails its batch fast.
sed -e "s/^app: .*/app: $APP/" -e 's/timeout: 20s}/timeout: 5s}/' \
  "$HOSTS_DIR/demo-app.yaml" >"$WORK/spec.yaml"
grep -q "app: $APP" "$WORK/spec.yaml" || fail "could not write the test's spec"

start_planner
start_executor
start_intake
wait_assigned rollout-planner "rollout-planner-$RUN_ID"
wait_assigned executor "executor-$RUN_ID"

sluice apply -f "$WORK/spec.yaml" || fail "spec not applied"

# release VERSION [SHA [ARTIFACT_VERSION]]: registers a release of $APP and prints its id.
release() {
  local v="$1" sha="${2:-}" artifact="${3:-$1}"
  [[ -n "$sha" ]] || sha="$(bash scripts/artifacts.sh sha256 "$v")"
  sluice --raw release create --app "$APP" --tag "v$v-$RUN_ID" --version "$v" \
    --artifact-url "$(bash scripts/artifacts.sh url "$artifact")" --sha256 "$sha" --created-by e2e |
    json 'd["id"]'
}
# deploy RELEASE_ID: requests a deployment and prints its id.
deploy() {
  sluice --raw deploy --release "$1" --env "$ENV_NAME" | json 'd["deployment_id"]'
}
# wait_final DEPLOYMENT TIMEOUT_S: prints the final status.
wait_final() {
  local id="$1" deadline=$((SECONDS + $2)) status=""
  while ((SECONDS < deadline)); do
    status="$(api_get "/v1/deployments/$id" 2>/dev/null | json 'd["status"]' 2>/dev/null || true)"
    case "$status" in succeeded | failed | aborted | rolled_back) echo "$status"; return 0 ;; esac
    sleep 0.5
  done
  echo "timeout(last: ${status:-none})"
}
# The version each host's agent reports as current, "host-1=2.0.0 host-2=..." in host order.
agent_versions() {
  python3 - "$HOSTS_DIR/hosts.json" "$AGENT_TOKEN_FILE" <<'PY'
import json, sys, urllib.request
hosts = json.load(open(sys.argv[1])); token = open(sys.argv[2]).read().strip()
out = []
for h in hosts:
    req = urllib.request.Request(h["agent_endpoint"] + "/v1/status", headers={"Authorization": "Bearer " + token})
    out.append("%s=%s" % (h["name"], json.load(urllib.request.urlopen(req, timeout=5)).get("current", "")))
print(" ".join(out))
PY
}
expect_versions() {
  local want="$1" got
  got="$(agent_versions)"
  [[ "$got" == "$want" ]] || fail "hosts run '$got', expected '$want'"
}
# The executor's newest record per host agrees with what the host runs.
records_match_hosts() {
  local id="$1"
  api_get "/v1/deployments/$id/instances" >"$WORK/instances.json" || fail "no instances for $id"
  python3 - "$WORK/instances.json" "$(agent_versions)" <<'PY' || fail "records do not match the hosts (see above)"
import json, sys
rows = json.load(open(sys.argv[1]))["instances"]
actual = dict(kv.split("=") for kv in sys.argv[2].split())
latest = {}
for r in rows:
    key = r["host"]
    if key not in latest or (r["generation"], r["updated_at"]) >= (latest[key]["generation"], latest[key]["updated_at"]):
        latest[key] = r
bad = [f'{h}: record {r["status"]} {r["version"]}, host runs {actual.get(h)}' for h, r in latest.items()
       if r["status"] == "succeeded" and r["version"] != actual.get(h)]
if not latest or bad:
    print("\n".join(bad) or "no records", file=sys.stderr); sys.exit(1)
PY
}
restarts_of() { grep -c " $2\$" "$SLUICE_ROOT/var/hosts-$SLUICE_HOSTS_PREFIX/h$1/state/restarts.log" 2>/dev/null || true; }

ALL6() { local v="$1"; echo "host-1=$v host-2=$v host-3=$v host-4=$v host-5=$v host-6=$v"; }

# ---- 1. v1 everywhere, then v2 5% -> 25% -> 100% with pauses
sl_log "1. v1 to every host, then v2 in canary batches"
r1="$(release 1.0.0)"
d1="$(deploy "$r1")"
[[ "$(wait_final "$d1" 120)" == succeeded ]] || fail "v1 deployment $d1 did not succeed"
expect_versions "$(ALL6 1.0.0)"
r2="$(release 2.0.0)"
d2="$(deploy "$r2")"
# The progress as an operator sees it; exit code 0 only when the deployment succeeded.
timeout 180 "$SLUICE_CLI" --api "$API" --token-file "$ADMIN_TOKEN_FILE" deployment watch "$d2" ||
  fail "v2 deployment $d2 did not succeed"
api_get "/v1/deployments/$d2" >"$WORK/d2.json"
python3 - "$WORK/d2.json" <<'PY' || fail "v2 batches are not 1 / 1 / 4 hosts"
import json, sys
d = json.load(open(sys.argv[1]))
sizes = [len(b["hosts"]) for b in d["batches"]]
assert d["status"] == "succeeded", d["status"]
assert sizes == [1, 1, 4], sizes
assert all(b["status"] == "succeeded" for b in d["batches"]), d["batches"]
PY
expect_versions "$(ALL6 2.0.0)"
records_match_hosts "$d2"
stable="$(curl -fsS "$PLANNER/v1/apps/$APP/environments/$ENV_NAME/stable" | json 'd["version"]')"
[[ "$stable" == 2.0.0 ]] || fail "the stable release of $APP/$ENV_NAME is '$stable', not 2.0.0"

# ---- 2. a wrong sha256: refused by the agent, batch 1 fails, nothing changes on the host
sl_log "2. a release whose sha256 does not match its artifact"
rbad="$(release 2.9.9 "$(printf '0%.0s' {1..64})" 3.0.0)"
dbad="$(deploy "$rbad")"
[[ "$(wait_final "$dbad" 120)" == failed ]] || fail "bad-checksum deployment $dbad did not fail"
api_get "/v1/deployments/$dbad/instances" | grep -q checksum_mismatch ||
  fail "no instance record of $dbad names checksum_mismatch"
expect_versions "$(ALL6 2.0.0)"

# ---- 3. a host whose health check fails fails its batch (tolerance 0) and the deployment
sl_log "3. host-2 fails its health check during v3"
bash scripts/hosts.sh unhealthy 2 on >/dev/null
r3="$(release 3.0.0)"
d3="$(deploy "$r3")"
[[ "$(wait_final "$d3" 180)" == failed ]] || fail "deployment $d3 with a sick host-2 did not fail"
api_get "/v1/deployments/$d3" >"$WORK/d3.json"
python3 - "$WORK/d3.json" <<'PY' || fail "v3 did not stop at batch 2"
import json, sys
d = json.load(open(sys.argv[1]))
st = [b["status"] for b in d["batches"]]
assert st[0] == "succeeded" and st[1] == "failed" and st[2] == "pending", st
assert d.get("failure_reason") == "batch_failed", d.get("failure_reason")
PY
v="$(agent_versions)"
[[ "$v" == "host-1=3.0.0 host-2=3.0.0 host-3=2.0.0 host-4=2.0.0 host-5=2.0.0 host-6=2.0.0" ]] ||
  fail "after the failed v3: $v (batch 3 must not have started)"
bash scripts/hosts.sh unhealthy 2 off >/dev/null

# ---- 4. kill -9 of the executor and of the planner in the middle of v4
sl_log "4. v4 while the executor and then the planner are killed with SIGKILL and restarted"
r4="$(release 4.0.0)"
d4="$(deploy "$r4")"
batch_running() {
  api_get "/v1/deployments/$d4" 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); b=d['batches'][$1]; sys.exit(0 if b['status']=='running' else 1)"
}
sl_wait_until 60 "v4 batch 2 running" batch_running 1 || fail "v4 batch 2 never ran"
kill9 executor
sleep 1
start_executor
sl_wait_until 90 "v4 batch 3 running" batch_running 2 || fail "v4 batch 3 never ran after the executor restart"
kill9 rollout-planner
sleep 1
start_planner
[[ "$(wait_final "$d4" 180)" == succeeded ]] || fail "v4 deployment $d4 did not finish after the restarts"
expect_versions "$(ALL6 4.0.0)"
records_match_hosts "$d4"
for i in 1 2 3 4 5 6; do
  n="$(restarts_of "$i" 4.0.0)"
  [[ "$n" == 1 ]] || fail "host-$i was deployed v4 $n times (expected once)"
done

sl_log "passed: canary to 6 hosts, bad checksum refused, sick host fails its batch, kill -9 survived"
