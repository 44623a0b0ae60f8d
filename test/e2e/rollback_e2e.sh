#!/usr/bin/env bash
# End-to-end: canary batches judged on live metrics, and automatic rollback. Real hosts
# (network namespaces, or loopback ports), the real services, Kafka, PostgreSQL, Redis, and a
# Prometheus + Alertmanager of this run's own (scraping every second, alerting to this run's
# metric-watcher). Run by ctest (label e2e) inside `scripts/stack.sh with`; as rollback_e2e_kafka
# with SLUICE_E2E_SUBMIT=kafka, every release submitted over Kafka (`sluice publish release`).
#
#   1. v1: every batch's analysis passes (threshold rules on error rate and p95 latency).
#   2. v3 whose batch-2 host starts failing 50% of its requests: the batch-2 analysis fails
#      with the evidence (host, resolved query, threshold, value); the rollback-agent reverts
#      only batch 2 (onCanaryFailure: revert-batch); the deployment ends failed; an incident is
#      written (JSON, Markdown, SVG chart). Two Alertmanager webhooks for the same breach, sent
#      at once (and the real alert, when it fires before the revert ends its series): exactly
#      one rollback. Each notice (analysis failed, rollback started / completed, incident) reaches
#      Slack, DingTalk, WeCom, a webhook and e-mail (capture stand-ins) exactly once.
#   3. v4 healthy to 100%, then a breach during the bake watch: every host back to the last
#      stable release (v1), the deployment ends rolled_back, the stable record stays v1.
#   4. v5 paused by an operator, rolled back by the operator while the rollback-agent is
#      killed with SIGKILL and restarted: the rollback completes, once.
#   4b. (rollback_e2e_kafka) v6 succeeds; an external alert sent with `sluice publish alert`
#      during its bake watch rolls every host back to v1, once.
#   5. the real alert chain with every deployment over: host-1's errors fire the rule in this
#      run's Prometheus, the real Alertmanager posts it, the watcher records it.
set -euo pipefail
# shellcheck source=test/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for b in services/metric-watcher/metric-watcher services/rollback-agent/rollback-agent; do
  [[ -x "$BUILD/$b" ]] || fail "$BUILD/$b is not built"
done

# ---- hosts and artifacts
bash scripts/hosts.sh down --purge >/dev/null 2>&1 || true
bash scripts/hosts.sh up 6 >"$WORK/log/hosts.log" 2>&1 || fail "hosts.sh up 6 failed: $(tail -n 5 "$WORK/log/hosts.log")"
bash scripts/artifacts.sh serve >>"$WORK/log/hosts.log" 2>&1 || fail "artifacts server did not start"
for v in 1.0.0 3.0.0 4.0.0 5.0.0 6.0.0; do
  bash scripts/artifacts.sh build "$v" >/dev/null 2>>"$WORK/log/hosts.log" || fail "artifact $v not built"
done

# ---- this run's Prometheus and Alertmanager
PROM_PORT="$(free_port)"
AM_PORT="$(free_port)"
E2E_PROMETHEUS_URL="http://127.0.0.1:$PROM_PORT"
mkdir -p "$WORK/prom/data" "$WORK/prom/targets" "$WORK/am/data"
python3 - "$HOSTS_DIR/hosts.json" "$APP" "$ENV_NAME" >"$WORK/prom/targets/hosts.json" <<'PY'
import json, sys
hosts = json.load(open(sys.argv[1]))
print(json.dumps([{"targets": [h["app_addr"]],
                   "labels": {"app": sys.argv[2], "env": sys.argv[3], "instance_name": h["name"]}}
                  for h in hosts]))
PY
cat >"$WORK/prom/rules.yml" <<RULES
groups:
  - name: e2e
    rules:
      - alert: E2eHighErrorRate
        expr: |
          sum by (app, env, version, instance_name) (rate(demo_http_requests_total{app="$APP",code=~"5.."}[10s]))
            / sum by (app, env, version, instance_name) (rate(demo_http_requests_total{app="$APP"}[10s])) > 0.05
        # Per version, so an alert of a release on its way out never matches the next one. for:
        # after the analysis's first measurement (one 10s rate window after the switch), so a
        # breach's analysis fails first; the alert may then join that rollback or not (the
        # revert ~10 s later ends its series), so the chain is checked at the end (step 5).
        for: 15s
        labels: {severity: critical}
        annotations:
          summary: "5xx share {{ \$value }} on {{ \$labels.instance_name }}"
          value: "{{ \$value }}"
          threshold: "0.05"
RULES
cat >"$WORK/prom/prometheus.yml" <<CONF
global: {scrape_interval: 1s, evaluation_interval: 1s}
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AM_PORT"]}]}]
rule_files: ["$WORK/prom/rules.yml"]
scrape_configs:
  - job_name: e2e-hosts
    file_sd_configs: [{files: ["$WORK/prom/targets/*.json"], refresh_interval: 1s}]
CONF
cat >"$WORK/am/alertmanager.yml" <<CONF
route: {receiver: watcher, group_by: [alertname, app, env, instance_name], group_wait: 1s, group_interval: 2s, repeat_interval: 1h}
receivers:
  - name: watcher
    webhook_configs:
      - url: "$WATCHER/v1/alerts/alertmanager"
        send_resolved: true
        http_config: {authorization: {type: Bearer, credentials_file: "$ALERT_TOKEN_FILE"}}
CONF
/usr/bin/prometheus-alertmanager --config.file="$WORK/am/alertmanager.yml" --storage.path="$WORK/am/data" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >>"$WORK/log/alertmanager.log" 2>&1 &
PIDS[alertmanager]=$!
/usr/bin/prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >>"$WORK/log/prometheus.log" 2>&1 &
PIDS[prometheus]=$!
sl_wait_until 60 "prometheus ready" sl_http_ok "$E2E_PROMETHEUS_URL/-/ready" || fail "prometheus did not start"
sl_wait_until 30 "alertmanager ready" sl_http_ok "http://127.0.0.1:$AM_PORT/-/ready" || fail "alertmanager did not start"

# ---- the notifier, to this run's capture server (Slack, DingTalk, WeCom, webhook and SMTP
# stand-ins that check each message as the real service does)
CAPTURE_PORT="$(free_port)"
SMTP_PORT="$(free_port)"
CAPTURES="$WORK/captures"
mkdir -p "$CAPTURES"
for f in dingtalk-secret webhook-secret smtp-password; do
  (umask 077 && echo "e2e_${f}_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/$f")
done
"$BUILD/tools/capture-server/sluice-capture-server" --addr "127.0.0.1:$CAPTURE_PORT" --dir "$CAPTURES" \
  --dingtalk-secret-file "$WORK/dingtalk-secret" --webhook-secret-file "$WORK/webhook-secret" \
  --smtp-addr "127.0.0.1:$SMTP_PORT" --smtp-user sluice-e2e --smtp-password-file "$WORK/smtp-password" \
  >>"$WORK/log/capture-server.log" 2>&1 &
PIDS[capture-server]=$!
sl_wait_until 30 "capture server ready" sl_http_ok "http://127.0.0.1:$CAPTURE_PORT/captures" ||
  fail "the capture server did not start"
cat >"$WORK/notifier.yaml" <<CONF
settings: {dedupe_window: 10m, max_attempts: 4, backoff_base: 1s, backoff_max: 5s}
channels:
  slack: {type: slack, url_env: SLUICE_E2E_SLACK_URL}
  dingtalk: {type: dingtalk, url_env: SLUICE_E2E_DINGTALK_URL, secret_env: SLUICE_E2E_DINGTALK_SECRET, format: markdown}
  wecom: {type: wecom, url_env: SLUICE_E2E_WECOM_URL, format: markdown}
  webhook: {type: webhook, url_env: SLUICE_E2E_WEBHOOK_URL, secret_env: SLUICE_E2E_WEBHOOK_SECRET}
  email:
    type: email
    smtp_url: smtp://127.0.0.1:$SMTP_PORT
    starttls: false
    from: "Sluice e2e <sluice@e2e.sluice.local>"
    to: [oncall@e2e.sluice.local]
    username_env: SLUICE_E2E_SMTP_USER
    password_env: SLUICE_E2E_SMTP_PASSWORD
routes:
  - name: e2e
    match: {apps: [$APP]}
    channels: [slack, dingtalk, wecom, webhook, email]
CONF
start_notifier() {
  local c="http://127.0.0.1:$CAPTURE_PORT"
  start_service notifier services/notifier/notifier "$(free_port)" \
    SLUICE_KAFKA_GROUP="notifier-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest \
    SLUICE_NOTIFIER_CONFIG="$WORK/notifier.yaml" SLUICE_CONSOLE_URL="$API/console" \
    SLUICE_E2E_SLACK_URL="$c/slack/services/T000/B000/e2e" \
    SLUICE_E2E_DINGTALK_URL="$c/dingtalk/robot/send?access_token=e2e" \
    SLUICE_E2E_DINGTALK_SECRET_FILE="$WORK/dingtalk-secret" \
    SLUICE_E2E_WECOM_URL="$c/wecom/cgi-bin/webhook/send?key=e2e" \
    SLUICE_E2E_WEBHOOK_URL="$c/webhook/e2e" SLUICE_E2E_WEBHOOK_SECRET_FILE="$WORK/webhook-secret" \
    SLUICE_E2E_SMTP_USER=sluice-e2e SLUICE_E2E_SMTP_PASSWORD_FILE="$WORK/smtp-password"
}
# notices_of DEPLOYMENT KIND: checks that every channel got exactly one notice of that kind for
# the deployment (the webhook's notification.kind names it; the other channels carry its title).
notices_of() {
  python3 - "$CAPTURES" "$1" "$2" <<'PY'
import glob, json, os, sys, time
root, dep, kind = sys.argv[1:4]
deadline = time.time() + 30
while True:
    caps = {}
    for f in glob.glob(os.path.join(root, "*.json")):
        try:
            caps[f] = json.load(open(f))
        except ValueError:
            continue  # being written
    hooks = [c for f, c in caps.items() if os.path.basename(f).startswith("webhook-")
             and c["notification"]["deployment_id"] == dep and c["notification"]["kind"] == kind]
    problems = []
    if len(hooks) != 1:
        problems.append(f"webhook: {len(hooks)} {kind} notices")
    else:
        # DingTalk and WeCom speak Chinese by default: the title's emoji marks the kind.
        mark = hooks[0]["title"].split()[0]
        for ch in ("slack", "dingtalk", "wecom", "email"):
            n = sum(1 for f, c in caps.items() if os.path.basename(f).startswith(ch + "-")
                    and dep in json.dumps(c, ensure_ascii=False)
                    and mark in json.dumps(c, ensure_ascii=False))
            if n != 1:
                problems.append(f"{ch}: {n} notices marked {mark} for {dep}")
    if not problems:
        print(hooks[0]["title"])
        sys.exit(0)
    if time.time() > deadline:
        print("; ".join(problems), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.5)
PY
}

# ---- the spec: batches 1 / 1 / 4, both canary batches judged, a bake watch, revert-batch
python3 scripts/spec-analysis.py "$HOSTS_DIR/demo-app.yaml" --app "$APP" --window 10s \
  --interval 2s --count 4 --inconclusive-limit 3 --bake 40s --pause 2s --health-timeout 5s \
  --on-canary-failure revert-batch >"$WORK/spec.yaml" || fail "could not write the test's spec"
grep -q "onCanaryFailure" "$WORK/spec.yaml" || fail "could not write the test's spec"

start_planner
start_executor
start_watcher
start_rollback_agent
start_notifier
start_intake
wait_assigned rollout-planner "rollout-planner-$RUN_ID"
wait_assigned executor "executor-$RUN_ID"
wait_assigned metric-watcher "metric-watcher-$RUN_ID"
wait_assigned rollback-agent "rollback-agent-$RUN_ID"
wait_assigned notifier "notifier-$RUN_ID"
sluice apply -f "$WORK/spec.yaml" || fail "spec not applied"

ALL6() { local v="$1"; echo "host-1=$v host-2=$v host-3=$v host-4=$v host-5=$v host-6=$v"; }
# fault I JSON: changes how host-I's application answers (its admin API).
fault() {
  local addr
  addr="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])-1]['app_addr'])" "$HOSTS_DIR/hosts.json" "$1")"
  curl -fsS --max-time 3 -H 'Content-Type: application/json' -d "$2" "http://$addr/admin/faults" >/dev/null ||
    fail "could not set faults on host-$1 ($addr)"
}
batch_status() {
  api_get "/v1/deployments/$1" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['batches'][$2]['status'])" 2>/dev/null || true
}
batch_is() { [[ "$(batch_status "$1" "$2")" == "$3" ]]; }
analyses_of() { curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$WATCHER/v1/analyses?deployment_id=$1"; }
rollbacks_of() { curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$ROLLBACK/v1/rollbacks?deployment_id=$1"; }
# Every rollback of the deployment succeeded (and there is at least one).
rollback_succeeded() {
  rollbacks_of "$1" | python3 -c "import json,sys; r=json.load(sys.stdin)['rollbacks']; sys.exit(0 if r and all(x['status'] == 'succeeded' for x in r) else 1)"
}
incident_ids_of() {
  curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$ROLLBACK/v1/incidents?deployment_id=$1" |
    python3 -c "import json,sys; print(' '.join(i['incident_id'] for i in json.load(sys.stdin)['incidents']))"
}

# ---- 1. v1: every canary batch judged and passed
sl_log "1. v1: each canary batch's analysis passes"
r1="$(release 1.0.0)"
d1="$(deploy "$r1")"
[[ "$(wait_final "$d1" 150)" == succeeded ]] || fail "v1 deployment $d1 did not succeed"
expect_versions "$(ALL6 1.0.0)"
analyses_of "$d1" >"$WORK/a1.json" || fail "no analyses for $d1"
python3 - "$WORK/a1.json" <<'PY' || fail "v1's analyses did not all pass (see above)"
import json, sys
rows = [a for a in json.load(open(sys.argv[1]))["analyses"] if not a.get("bake_watch")]
assert len(rows) == 2, f"expected 2 batch analyses, got {len(rows)}: {rows}"
assert all(a["status"] == "Successful" for a in rows), [a["status"] for a in rows]
PY

# ---- 2. bad v3: host-2 (batch 2) starts failing; batch 2 alone is reverted
sl_log "2. v3 with a failing batch-2 host: caught in batch 2, that batch reverted"
r3="$(release 3.0.0)"
d3="$(deploy "$r3")"
# A person following it: `sluice deployment watch` on the event stream (GET /v1/events).
sluice deployment watch "$d3" --timeout 300s >"$WORK/log/watch-v3.log" 2>&1 &
PIDS[watch_v3]=$!
sl_wait_until 90 "v3 batch 2 deployed" batch_is "$d3" 1 analysing || fail "v3 batch 2 never reached its analysis"
fault 2 '{"error_rate": 0.5}'
breach_at=$SECONDS
analysis_failed() {
  analyses_of "$1" | python3 -c "import json,sys; sys.exit(0 if any(a['status'] == 'Failed' for a in json.load(sys.stdin)['analyses']) else 1)"
}
sl_wait_until 60 "v3 batch 2's analysis failed" analysis_failed "$d3" ||
  fail "v3 batch 2's analysis did not fail within 60 s of the fault"
sl_log "breach to a failed analysis: $((SECONDS - breach_at)) s"
# Then two webhooks for the same breach at once, as a flapping Alertmanager pair would send
# them: they join the rollback the failed analysis started, they do not start another.
payload="$(python3 - "$APP" "$ENV_NAME" <<'PY'
import json, sys
print(json.dumps({"version": "4", "status": "firing", "receiver": "watcher", "groupKey": "e2e",
  "alerts": [{"status": "firing", "fingerprint": "e2e0000000000001", "startsAt": "2026-01-01T00:00:00Z",
    "labels": {"alertname": "E2eManual", "app": sys.argv[1], "env": sys.argv[2], "version": "3.0.0",
               "instance_name": "host-2", "severity": "critical"},
    "annotations": {"summary": "5xx share 0.5 on host-2", "value": "0.5", "threshold": "0.05"}}]}))
PY
)"
curl_pids=()
for _ in 1 2; do
  curl -fsS --max-time 5 -H "Authorization: Bearer $(cat "$ALERT_TOKEN_FILE")" -H 'Content-Type: application/json' \
    -d "$payload" "$WATCHER/v1/alerts/alertmanager" >/dev/null &
  curl_pids+=($!)
done
wait "${curl_pids[@]}" || fail "the watcher refused an Alertmanager webhook"
# The planner marks the deployment rolling_back when the analysis fails (it keeps its app+env
# until the revert is done); the rollback-agent reverts batch 2. Done when the rollback has
# succeeded and the deployment is failed.
sl_wait_until 120 "v3's rollback succeeded" rollback_succeeded "$d3" ||
  fail "the rollback of v3 did not succeed within 120 s"
[[ "$(wait_final "$d3" 60)" == failed ]] || fail "v3 deployment $d3 did not end failed"
watch_rc=0
wait "${PIDS[watch_v3]}" || watch_rc=$?
unset 'PIDS[watch_v3]'
# The watch printed the transitions as they came (only the stream gives them) and the final
# status, and exited 2 (not succeeded).
((watch_rc == 2)) || fail "sluice deployment watch exited $watch_rc, not 2 (log $WORK/log/watch-v3.log)"
grep -q "^deployment $d3 failed" "$WORK/log/watch-v3.log" ||
  fail "sluice deployment watch did not show the failed status (log $WORK/log/watch-v3.log)"
transitions="$(grep -cE '^  [0-9]{2}:[0-9]{2}:[0-9]{2}  ' "$WORK/log/watch-v3.log" || true)"
((transitions >= 3)) || fail "sluice deployment watch printed $transitions transitions (log $WORK/log/watch-v3.log)"
sl_log "sluice deployment watch followed v3 on its event stream: $transitions transitions, exit 2"
sl_log "breach to hosts reverted: $((SECONDS - breach_at)) s"
v="$(agent_versions)"
[[ "$v" == "host-1=3.0.0 host-2=1.0.0 host-3=1.0.0 host-4=1.0.0 host-5=1.0.0 host-6=1.0.0" ]] ||
  fail "after the v3 rollback hosts run: $v (only host-2, batch 2, should be back on 1.0.0)"
records_match_hosts "$d3"
analyses_of "$d3" >"$WORK/a3.json"
python3 - "$WORK/a3.json" <<'PY' || fail "the failed analysis lacks its evidence (see above)"
import json, sys
rows = json.load(open(sys.argv[1]))["analyses"]
failed = [a for a in rows if a["status"] == "Failed"]
assert len(failed) == 1, [(a["batch_index"], a["status"]) for a in rows]
a = failed[0]
assert a["batch_index"] == 1, a["batch_index"]
ev = a["evidence"][0]
assert ev["affected_instances"] == ["host-2"], ev
assert ev["threshold"] == 0.05 and ev["observed"] > 0.05, ev
assert 'instance_name=~"host\\\\-2"' in ev["query"] or 'instance_name=~"host-2"' in ev["query"], ev["query"]
PY
rollbacks_of "$d3" >"$WORK/rb3.json"
python3 - "$WORK/rb3.json" <<'PY' || fail "not exactly one rollback for v3 (see above)"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["rollbacks"]) == 1, d["rollbacks"]
assert len(d["triggers"]) >= 2, d["triggers"]   # the analysis and the alert webhooks
PY
inc="$(incident_ids_of "$d3")"
[[ -n "$inc" && "$inc" != *" "* ]] || fail "expected one incident for $d3, got '$inc'"
sl_wait_until 30 "incident $inc written" bash -c "curl -fsS -H '$SERVICE_AUTH' '$ROLLBACK/v1/incidents/$inc' >/dev/null" ||
  fail "incident $inc was not written within 30 s"
api_get "/v1/incidents/$inc" >"$WORK/inc3.json" || fail "incident $inc not served by the public API"
curl -fsS -H "$SERVICE_AUTH" "$ROLLBACK/v1/incidents/$inc?format=markdown" >"$WORK/inc3.md" || fail "no Markdown incident"
curl -fsS -H "$SERVICE_AUTH" "$ROLLBACK/v1/incidents/$inc/chart.svg" >"$WORK/inc3.svg" || fail "no incident chart"
grep -q "host-2" "$WORK/inc3.md" || fail "the incident report does not name host-2"
python3 -c "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])" "$WORK/inc3.svg" || fail "the chart is not well-formed SVG"
# People were told once per channel, however many triggers: the failed analysis, the
# deployment failing, the rollback starting and ending, the incident report.
for kind in analysis_failed deployment_failed rollback_started rollback_completed incident_reported; do
  title="$(notices_of "$d3" "$kind")" || fail "notices of $kind for v3 are not one per channel (see above)"
  sl_log "notified on every channel: $title"
done
grep -l "host-2" "$CAPTURES"/email-*.json >/dev/null || fail "no e-mail names host-2"


# ---- 3. v4 to 100%, then a breach during the bake watch: everything back to v1
sl_log "3. v4 succeeds, then breaches during its bake watch: every host back to 1.0.0"
r4="$(release 4.0.0)"
d4="$(deploy "$r4")"
[[ "$(wait_final "$d4" 150)" == succeeded ]] || fail "v4 deployment $d4 did not succeed"
expect_versions "$(ALL6 4.0.0)"
fault 3 '{"error_rate": 0.6}'
fault 5 '{"error_rate": 0.6}'
sl_wait_until 90 "v4 rolled back" bash -c "[[ \$(curl -fsS -H '$SERVICE_AUTH' '$PLANNER/v1/deployments/$d4' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])') == rolled_back ]]" ||
  fail "v4 was not rolled back after its bake-watch breach"
expect_versions "$(ALL6 1.0.0)"
stable="$(curl -fsS -H "$SERVICE_AUTH" "$PLANNER/v1/apps/$APP/environments/$ENV_NAME/stable" | json 'd["version"]')"
[[ "$stable" == 1.0.0 ]] || fail "after the v4 rollback the stable release is '$stable', not 1.0.0"
[[ -n "$(incident_ids_of "$d4")" ]] || fail "no incident for the v4 rollback"

# ---- 4. operator rollback during a pause, rollback-agent killed and restarted meanwhile
sl_log "4. v5 paused by an operator, rolled back by the operator; rollback-agent kill -9"
r5="$(release 5.0.0)"
d5="$(deploy "$r5")"
sl_wait_until 60 "v5 batch 1 done" batch_is "$d5" 0 succeeded || fail "v5 batch 1 never succeeded"
sluice deployment pause "$d5" --reason "e2e: hold" >/dev/null || fail "pause refused"
kill9 rollback-agent
sluice deployment rollback "$d5" --reason "e2e: operator rollback" >/dev/null || fail "rollback refused"
sleep 1
start_rollback_agent
[[ "$(wait_final "$d5" 90)" == rolled_back ]] || fail "v5 was not rolled back by the operator"
expect_versions "$(ALL6 1.0.0)"
rollbacks_of "$d5" | python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d['rollbacks'])==1, d" ||
  fail "the operator rollback of v5 happened more than once"

# ---- 4b. (submitting over Kafka only) an external alert over Kafka during v6's bake watch:
# `sluice publish alert` (an outside monitor, as a producer) -> release-intake -> the watcher
# matches it to the active deployment -> AlertRaised -> every host back to 1.0.0, once.
if [[ $SUBMIT == kafka ]]; then
  sl_log "4b. v6 succeeds; an external alert about it over Kafka rolls it back to 1.0.0"
  r6="$(release 6.0.0)"
  d6="$(deploy "$r6")"
  [[ "$(wait_final "$d6" 150)" == succeeded ]] || fail "v6 deployment $d6 did not succeed"
  expect_versions "$(ALL6 6.0.0)"
  out="$(sluice publish alert --app "$APP" --env "$ENV_NAME" --alertname E2eExternalCheckout \
    --severity critical --summary "e2e: checkout errors seen by an outside monitor" \
    --topic "$INTAKE_TOPIC" --results-topic "$INTAKE_RESULTS_TOPIC" --timeout 60s \
    2>>"$WORK/log/publish.log")" || fail "sluice publish alert was not accepted: $out"
  grep -q "accepted (202)" <<<"$out" || fail "sluice publish alert: not forwarded: $out"
  sl_wait_until 90 "v6 rolled back" bash -c "[[ \$(curl -fsS -H '$SERVICE_AUTH' '$PLANNER/v1/deployments/$d6' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])') == rolled_back ]]" ||
    fail "v6 was not rolled back after the external alert over Kafka"
  expect_versions "$(ALL6 1.0.0)"
  rollbacks_of "$d6" | python3 -c "
import json, sys
d = json.load(sys.stdin)
assert len(d['rollbacks']) == 1, d
assert 'E2eExternalCheckout' in json.dumps(d['rollbacks'][0]), d" ||
    fail "the external alert did not start exactly one rollback of v6, naming the alert"
fi

# ---- 5. the real alert chain, with every deployment over (nothing for it to race): host-1's
# 5xx fire the rule in this run's Prometheus, Alertmanager posts it, the watcher records it
# (no deployment of host-1's version is active, so it raises nothing).
sl_log "5. the real alert chain: host-1's errors through Prometheus and Alertmanager to the watcher"
fault 1 '{"error_rate": 0.5}'
alert_on_host1() {
  curl -fsS -H "$SERVICE_AUTH" "$WATCHER/v1/alerts?app=$APP" | python3 -c '
import json, sys
sys.exit(0 if any(a["name"] == "E2eHighErrorRate" and a["labels"].get("instance_name") == "host-1"
                  and a["status"] == "firing" for a in json.load(sys.stdin)["alerts"]) else 1)'
}
sl_wait_until 75 "the alert on host-1 reached the watcher" alert_on_host1 ||
  fail "the E2eHighErrorRate alert on host-1 never reached the metric-watcher through Alertmanager"
fault 1 '{"error_rate": 0}'

sl_log "passed: batches judged, batch 2 reverted alone, bake-watch breach rolled back, one rollback per incident, operator rollback across a kill -9,$([[ $SUBMIT == kafka ]] && echo " a rollback from an external alert over Kafka,") the real alert chain"
