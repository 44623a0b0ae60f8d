#!/usr/bin/env bash
# The web console and the API contract against the local stack (ctest label "console", `make
# console`): starts its own rollout-planner, executor, metric-watcher, rollback-agent and
# release-intake (own PostgreSQL schemas, own Kafka consumer groups, free ports), then
#   1. test/console/openapi_conformance.py: every documented route answers as documented, and
#      no route is undocumented;
#   2. tools/console-test/console.test.mjs: the console in Debian's headless chromium, driven by
#      playwright-core (installed by scripts/install-deps.sh into tools/console-test/).
# Screenshots go to $SLUICE_CONSOLE_SHOTS (default: build/dev/test-logs/console); with
# SLUICE_CONSOLE_README_SHOT=1 the deployment page is also written to docs/console.png.
# Runs inside `scripts/stack.sh with` (make console) or under the shared test lock.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=console
cd "$SLUICE_ROOT"

BUILD="${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/dev}"
RUN_ID="console$(date +%s)$$"
WORK="$SLUICE_ROOT/var/console-test/$RUN_ID"
SHOTS="${SLUICE_CONSOLE_SHOTS:-$BUILD/test-logs/console}"
mkdir -p "$WORK/log" "$SHOTS"
declare -A PIDS=()

fail() {
  sl_warn "FAILED: $*"
  for f in "$WORK"/log/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}
cleanup() {
  local rc=$?
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null || true; done
  if ((rc == 0)); then rm -rf "$WORK"; else sl_warn "logs kept in $WORK/log"; fi
}
trap cleanup EXIT

[[ -f var/local/stack.env ]] || fail "the local stack is not up (run it through 'scripts/stack.sh with -- ...')"
# shellcheck disable=SC1091
source var/local/stack.env
for b in services/rollout-planner/rollout-planner services/executor/executor \
  services/metric-watcher/metric-watcher services/rollback-agent/rollback-agent \
  services/release-intake/release-intake; do
  [[ -x "$BUILD/$b" ]] || fail "$BUILD/$b is not built"
done
[[ -x /usr/bin/chromium ]] || fail "no /usr/bin/chromium: run scripts/install-deps.sh"
[[ -d tools/console-test/node_modules/playwright-core ]] ||
  fail "no playwright-core in tools/console-test: run scripts/install-deps.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret() { echo "$1$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
API_PORT="$(free_port)" PLANNER_PORT="$(free_port)" EXECUTOR_PORT="$(free_port)"
WATCHER_PORT="$(free_port)" ROLLBACK_PORT="$(free_port)"
API="http://127.0.0.1:$API_PORT"
(umask 077 && secret svc_console_ >"$WORK/service-token" && secret slc_console_ >"$WORK/admin-token" &&
  secret slam_console_ >"$WORK/alert-token")
LINK_KEY="c1:$(secret "")"
GITHUB_SECRET="$(secret gh_)"
SCHEMA_SUFFIX="$(echo "$RUN_ID" | tr -cd 'a-z0-9')"

start_service() {
  local name="$1" bin="$2" port="$3"
  shift 3
  env -i PATH="$PATH" HOME="${HOME:-/root}" \
    SLUICE_KAFKA_BROKERS="$SLUICE_KAFKA_BROKERS" SLUICE_PG_DSN="$SLUICE_PG_DSN" \
    SLUICE_REDIS_URL="$SLUICE_REDIS_URL" SLUICE_LOG_LEVEL=info \
    SLUICE_HTTP_ADDR="127.0.0.1:$port" SLUICE_PG_SCHEMA="con_${SCHEMA_SUFFIX}_${name//-/_}" \
    SLUICE_SERVICE_TOKEN_FILE="$WORK/service-token" \
    "$@" "$BUILD/$bin" >>"$WORK/log/$name.log" 2>&1 &
  PIDS[$name]=$!
  sl_wait_until 60 "$name ready" sl_http_ok "http://127.0.0.1:$port/readyz" || fail "$name did not become ready"
}
consumer() { echo "SLUICE_KAFKA_GROUP=$1-$RUN_ID SLUICE_KAFKA_START_OFFSET=latest"; }

t0=$SECONDS
# shellcheck disable=SC2046
start_service rollout-planner services/rollout-planner/rollout-planner "$PLANNER_PORT" $(consumer rollout-planner)
# shellcheck disable=SC2046
start_service executor services/executor/executor "$EXECUTOR_PORT" $(consumer executor) \
  SLUICE_EXECUTOR_AGENT_TOKEN_FILE="$WORK/service-token"
# shellcheck disable=SC2046
start_service metric-watcher services/metric-watcher/metric-watcher "$WATCHER_PORT" $(consumer metric-watcher) \
  SLUICE_PROMETHEUS_URL="${SLUICE_PROMETHEUS_URL:-http://127.0.0.1:19090}" \
  SLUICE_WATCHER_ALERT_TOKEN_FILE="$WORK/alert-token"
# shellcheck disable=SC2046
start_service rollback-agent services/rollback-agent/rollback-agent "$ROLLBACK_PORT" $(consumer rollback-agent) \
  SLUICE_PROMETHEUS_URL="${SLUICE_PROMETHEUS_URL:-http://127.0.0.1:19090}" SLUICE_PUBLIC_URL="$API"
start_service release-intake services/release-intake/release-intake "$API_PORT" \
  SLUICE_ADMIN_TOKEN_FILE="$WORK/admin-token" SLUICE_GITHUB_WEBHOOK_SECRET="$GITHUB_SECRET" \
  SLUICE_LINK_KEYS="$LINK_KEY" SLUICE_LINK_MAX_TTL=1d \
  SLUICE_PLANNER_URL="http://127.0.0.1:$PLANNER_PORT" SLUICE_EXECUTOR_URL="http://127.0.0.1:$EXECUTOR_PORT" \
  SLUICE_WATCHER_URL="http://127.0.0.1:$WATCHER_PORT" SLUICE_ROLLBACK_AGENT_URL="http://127.0.0.1:$ROLLBACK_PORT"
sl_wait_until 30 "planner partitions assigned" \
  grep -q "consumer group rollout-planner-$RUN_ID assigned" "$WORK/log/rollout-planner.log" ||
  fail "the rollout-planner got no partitions"
sl_log "services up in $((SECONDS - t0)) s"

# A spec whose deployments wait at an approval gate before their first batch: nothing reaches a
# host, so the pages show a deployment that holds still. The hosts' addresses are unroutable.
spec() {
  cat <<YAML
app: $1
environments:
  production:
    targets:
      web:
        hosts:
          - {name: web-1, address: 192.0.2.11, agentEndpoint: "http://192.0.2.11:7070"}
          - {name: web-2, address: 192.0.2.12, agentEndpoint: "http://192.0.2.12:7070"}
          - {name: web-3, address: 192.0.2.13, agentEndpoint: "http://192.0.2.13:7070"}
          - {name: web-4, address: 192.0.2.14, agentEndpoint: "http://192.0.2.14:7070"}
    strategy:
      type: canary
      steps:
        - approval: required
        - weight: 25%
        - pause: 1m
        - weight: 100%
    service:
      restartCommand: ["bin/restart.sh"]
      health: {command: ["bin/check"], timeout: 5s}
YAML
}
# App names of this run (the services' schemas are this run's own; the suffix keeps the events
# on the shared topics apart from other runs').
SHORT="$(printf '%s' "$SCHEMA_SUFFIX" | sha256sum | cut -c1-6)"
CONF_APP="conf-$SHORT" SHOP_APP="shop-$SHORT"
spec "$CONF_APP" >"$WORK/conformance.yaml"
spec "$SHOP_APP" >"$WORK/console.yaml"

common_env=(SLUICE_TEST_API="$API" SLUICE_TEST_ADMIN_TOKEN="$(cat "$WORK/admin-token")"
  SLUICE_TEST_LINK_KEY="$LINK_KEY" SLUICE_REPO_ROOT="$SLUICE_ROOT")
rc=0
t1=$SECONDS
sl_log "1. OpenAPI conformance"
env "${common_env[@]}" SLUICE_TEST_GITHUB_SECRET="$GITHUB_SECRET" SLUICE_TEST_APP="$CONF_APP" \
  SLUICE_TEST_SPEC="$WORK/conformance.yaml" python3 test/console/openapi_conformance.py || rc=1
sl_log "conformance: $((SECONDS - t1)) s"
t2=$SECONDS
sl_log "2. the console in chromium"
env "${common_env[@]}" SLUICE_TEST_APP="$SHOP_APP" SLUICE_TEST_SPEC="$WORK/console.yaml" \
  SLUICE_TEST_WATCHER_PG_DSN="$SLUICE_PG_DSN" SLUICE_TEST_WATCHER_SCHEMA="con_${SCHEMA_SUFFIX}_metric_watcher" \
  SLUICE_CONSOLE_SHOTS="$SHOTS" SLUICE_CONSOLE_README_SHOT="${SLUICE_CONSOLE_README_SHOT:-0}" \
  node tools/console-test/console.test.mjs || rc=1
sl_log "browser: $((SECONDS - t2)) s"
((rc == 0)) || fail "see above"
sl_log "passed in $((SECONDS - t0)) s"
