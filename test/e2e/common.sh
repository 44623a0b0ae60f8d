# Shared by the end-to-end scripts (sourced): paths, the services this run starts, and the
# helpers that ask the public API and the hosts' agents what is true.
# shellcheck shell=bash
# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=e2e
cd "$SLUICE_ROOT"

BUILD="${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/dev}"
export SLUICE_BUILD_DIR="$BUILD"
RUN_ID="e2e$(date +%s)$$"
WORK="$SLUICE_ROOT/var/e2e/$RUN_ID"
mkdir -p "$WORK/log" "$WORK/run"
touch "$WORK/started"  # test/e2e/secrets_in_logs.py reads the logs written since
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
WATCHER_PORT="$(free_port)"
ROLLBACK_PORT="$(free_port)"
WATCHER="http://127.0.0.1:$WATCHER_PORT"
ROLLBACK="http://127.0.0.1:$ROLLBACK_PORT"
# The Prometheus the analysis services read (rollback_e2e starts its own).
E2E_PROMETHEUS_URL="${SLUICE_PROMETHEUS_URL:-http://127.0.0.1:19090}"
ALERT_TOKEN_FILE="$WORK/alert-token"
(umask 077 && echo "slam_e2e_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ALERT_TOKEN_FILE")
APP="e2e-app-$RUN_ID"
ENV_NAME=production
SCHEMA_SUFFIX="$(echo "$RUN_ID" | tr -cd 'a-z0-9')"
export SLUICE_HOSTS_PREFIX=sx SLUICE_HOSTS_SUBNET=10.78.0 SLUICE_HOSTS_PORT_OFFSET=200
export SLUICE_HOSTS_LOAD_RATE=2
HOSTS_DIR="$SLUICE_ROOT/var/demo/$SLUICE_HOSTS_PREFIX"
# The token every internal API (planner, executor, watcher, rollback-agent, notifier) requires,
# and release-intake sends; this script's own calls to those APIs send it as $SERVICE_AUTH.
SERVICE_TOKEN_FILE="$WORK/service-token"
(umask 077 && echo "svc_e2e_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$SERVICE_TOKEN_FILE")
SERVICE_AUTH="Authorization: Bearer $(cat "$SERVICE_TOKEN_FILE")"
ADMIN_TOKEN_FILE="$WORK/admin-token"
(umask 077 && echo "slc_e2e_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ADMIN_TOKEN_FILE")
AGENT_TOKEN_FILE="$SLUICE_ROOT/var/local/agent-token"
# How this run submits its releases: http (`sluice release create`, POST /v1/releases) or kafka
# (SLUICE_E2E_SUBMIT=kafka: `sluice publish release`, an external producer process, on this
# run's own inbound topic, answered on its own results topic; docs/kafka-producers.md).
SUBMIT="${SLUICE_E2E_SUBMIT:-http}"
[[ $SUBMIT == http || $SUBMIT == kafka ]] || fail "SLUICE_E2E_SUBMIT=$SUBMIT: use http or kafka"
INTAKE_TOPIC="sluice.intake.$RUN_ID"
INTAKE_RESULTS_TOPIC="sluice.intake.results.$RUN_ID"

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
    SLUICE_SERVICE_TOKEN_FILE="$SERVICE_TOKEN_FILE" \
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
  local kafka=()
  # Submitting over Kafka: this run's own consumer groups and inbound topics, so that no other
  # release-intake on the broker takes its submissions (or its promotion events).
  [[ $SUBMIT == kafka ]] && kafka=(SLUICE_KAFKA_GROUP="release-intake-$RUN_ID"
    SLUICE_KAFKA_START_OFFSET=latest SLUICE_INTAKE_TOPICS="$INTAKE_TOPIC"
    SLUICE_INTAKE_RESULTS_TOPIC="$INTAKE_RESULTS_TOPIC")
  start_service release-intake services/release-intake/release-intake "$API_PORT" \
    SLUICE_ADMIN_TOKEN_FILE="$ADMIN_TOKEN_FILE" SLUICE_PLANNER_URL="$PLANNER" \
    SLUICE_EXECUTOR_URL="$EXECUTOR" SLUICE_WATCHER_URL="$WATCHER" \
    SLUICE_ROLLBACK_AGENT_URL="$ROLLBACK" "${kafka[@]}"
  if [[ $SUBMIT == kafka ]]; then
    wait_assigned release-intake "release-intake-$RUN_ID"
    wait_assigned release-intake "release-intake-$RUN_ID-promotion"
  fi
}
start_watcher() {
  start_service metric-watcher services/metric-watcher/metric-watcher "$WATCHER_PORT" \
    SLUICE_KAFKA_GROUP="metric-watcher-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_PROMETHEUS_URL="$E2E_PROMETHEUS_URL" SLUICE_WATCHER_ALERT_TOKEN_FILE="$ALERT_TOKEN_FILE"
}
start_rollback_agent() {
  start_service rollback-agent services/rollback-agent/rollback-agent "$ROLLBACK_PORT" \
    SLUICE_KAFKA_GROUP="rollback-agent-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_PROMETHEUS_URL="$E2E_PROMETHEUS_URL" SLUICE_PUBLIC_URL="$API"
}
# start_own_prometheus: a Prometheus of this run's own, scraping this run's hosts every second
# (app, env and instance_name labels as the analysis templates expect), for the watcher and
# the rollback-agent (E2E_PROMETHEUS_URL). Needs the hosts (scripts/hosts.sh up).
start_own_prometheus() {
  local port
  port="$(free_port)"
  E2E_PROMETHEUS_URL="http://127.0.0.1:$port"
  mkdir -p "$WORK/prom/data" "$WORK/prom/targets"
  python3 - "$HOSTS_DIR/hosts.json" "$APP" "$ENV_NAME" >"$WORK/prom/targets/hosts.json" <<'PY'
import json, sys
hosts = json.load(open(sys.argv[1]))
print(json.dumps([{"targets": [h["app_addr"]],
                   "labels": {"app": sys.argv[2], "env": sys.argv[3], "instance_name": h["name"]}}
                  for h in hosts]))
PY
  cat >"$WORK/prom/prometheus.yml" <<CONF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: e2e-hosts
    file_sd_configs: [{files: ["$WORK/prom/targets/*.json"], refresh_interval: 1s}]
CONF
  /usr/bin/prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
    --web.listen-address="127.0.0.1:$port" >>"$WORK/log/prometheus.log" 2>&1 &
  PIDS[prometheus]=$!
  sl_wait_until 60 "prometheus ready" sl_http_ok "$E2E_PROMETHEUS_URL/-/ready" || fail "prometheus did not start"
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
  # Before the logs go: no configured secret (this run's tokens included) in any of them.
  if ((rc == 0)) && ! python3 test/e2e/secrets_in_logs.py --since "$WORK/started" --root "$SLUICE_ROOT"; then
    rc=1
  fi
  if ((rc == 0)); then rm -rf "$WORK"; else sl_warn "logs kept in $WORK/log"; fi
  exit "$rc"
}
trap cleanup EXIT

sluice() { "$SLUICE_CLI" --api "$API" --token-file "$ADMIN_TOKEN_FILE" "$@"; }
api_get() { curl -fsS --max-time 5 -H "Authorization: Bearer $(cat "$ADMIN_TOKEN_FILE")" "$API$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# release VERSION [SHA [ARTIFACT_VERSION]]: registers a release of $APP and prints its id
# (through the API, or as a Kafka producer with SLUICE_E2E_SUBMIT=kafka).
release() {
  local v="$1" sha="${2:-}" artifact="${3:-$1}"
  [[ -n "$sha" ]] || sha="$(bash scripts/artifacts.sh sha256 "$v")"
  if [[ $SUBMIT == kafka ]]; then
    release_over_kafka "$v" "$sha" "$artifact"
    return
  fi
  sluice --raw release create --app "$APP" --tag "v$v-$RUN_ID" --version "$v" \
    --artifact-url "$(bash scripts/artifacts.sh url "$artifact")" --sha256 "$sha" --created-by e2e |
    json 'd["id"]'
}
# release_over_kafka VERSION SHA ARTIFACT_VERSION: `sluice publish release` (its own process,
# the CLI as a producer) on this run's inbound topic; the id from its answer on the results
# topic, and the release must say it came over Kafka (source "kafka").
release_over_kafka() {
  local out id src
  out="$(sluice publish release --app "$APP" --tag "v$1-$RUN_ID" --version "$1" \
    --artifact-url "$(bash scripts/artifacts.sh url "$3")" --sha256 "$2" --created-by e2e \
    --topic "$INTAKE_TOPIC" --results-topic "$INTAKE_RESULTS_TOPIC" --timeout 60s \
    2>>"$WORK/log/publish.log")" || fail "sluice publish release $1 was not accepted: $out"
  id="$(sed -n 's/^release \([0-9a-f-]*\) accepted (201).*/\1/p' <<<"$out")"
  [[ -n "$id" ]] || fail "sluice publish release $1: no release created in its answer: $out"
  src="$(api_get "/v1/releases/$id" | json 'd["source"]')" || fail "release $id not served by the API"
  [[ "$src" == kafka ]] || fail "release $id has source '$src', not kafka"
  echo "$id"
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
# topic_dump SINCE_MS TOPIC...: the records of the topics from that time on (Unix ms), one JSON
# line each (tools/topic-dump: topic, offset, timestamp_ms, key, headers, type, deployment_id).
topic_dump() {
  local since="$1" args=()
  shift
  for t in "$@"; do args+=(--topic "$t"); done
  "$BUILD/tools/topic-dump/sluice-topic-dump" --brokers "$SLUICE_KAFKA_BROKERS" --since-ms "$since" \
    --timeout-s 60 "${args[@]}"
}
restarts_of() { grep -c " $2\$" "$SLUICE_ROOT/var/hosts-$SLUICE_HOSTS_PREFIX/h$1/state/restarts.log" 2>/dev/null || true; }

