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
# shellcheck source=test/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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
stable="$(curl -fsS -H "$SERVICE_AUTH" "$PLANNER/v1/apps/$APP/environments/$ENV_NAME/stable" | json 'd["version"]')"
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
# Batch $1 has started (running, or already done: on a loaded machine a one-host batch can come
# and go between two polls). The kills then land mid-deployment either way.
batch_running() {
  api_get "/v1/deployments/$d4" 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); b=d['batches'][$1]; sys.exit(0 if b['status'] in ('running','succeeded') else 1)"
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
