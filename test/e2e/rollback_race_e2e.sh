#!/usr/bin/env bash
# End-to-end: the next deployment requested the instant the previous one's canary analysis
# fails (issue 13, item 4: a revert must never land under a newer deployment). Real hosts
# (network namespaces, or loopback ports), the real planner, executor, metric-watcher,
# rollback-agent and release-intake, Kafka, PostgreSQL, Redis, and a Prometheus of this run's
# own. Run by ctest (label e2e) inside `scripts/stack.sh with`.
#
#   v1 (1.0.0) everywhere, the stable release. Then A: 6.0.0, a release whose application fails
#   80% of its requests, in canary batches judged on live metrics. A driver polls the watcher and
#   the planner every 50 ms and, the moment A's batch-1 analysis is Failed, requests B (2.0.0,
#   healthy) for the same app+env. Until A is final and its rollback done, sampled every
#   ~150 ms (B and the hosts read before A and its rollback, so a sample counts only when A was
#   still not done after it): A holds its app+env (rolling_back), B is absent or pending and
#   queued with no batch requested, no host runs 2.0.0. Then, from records that sampling
#   cannot miss:
#     - the planner had B before A's rollback completed (the race was on), and started it only
#       after (B's started_at, A's rollback_completed timeline entry); on Kafka, B's first
#       BatchRequested comes after A's RollbackCompleted;
#     - A ends failed (analysis_failed) at the rollback's generation, its rollback_started and
#       rollback_completed applied (none ignored as newer_deployment_active), one rollback,
#       succeeded, its revert refused on no host (host_owned_by_newer_deployment);
#     - host-1's restarts end 6.0.0, the revert to 1.0.0, 2.0.0: the revert did not land
#       under B; every host's last restart is 2.0.0;
#     - B succeeds; every host's real `current` is 2.0.0 and is the newest record of it;
#     - nothing of A or B, and nothing this run's consumers handled, is on
#       sluice.deadletter.v1 (the planner's RollbackStarted was dead-lettered in the original
#       bug), and no consumer of this run counted a dead letter.
set -euo pipefail
# shellcheck source=test/e2e/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for b in services/metric-watcher/metric-watcher services/rollback-agent/rollback-agent \
  tools/topic-dump/sluice-topic-dump; do
  [[ -x "$BUILD/$b" ]] || fail "$BUILD/$b is not built"
done
started_at=$SECONDS
V1=1.0.0 VA=6.0.0 VB=2.0.0
# Enough load that A's 5xx show in the first measurements of its batch-1 analysis: the race
# is with B's batch 1, on the same host.
export SLUICE_HOSTS_LOAD_RATE=5

# ---- hosts and artifacts: A's release fails half its requests from the start
bash scripts/hosts.sh down --purge >/dev/null 2>&1 || true
bash scripts/hosts.sh up 6 >"$WORK/log/hosts.log" 2>&1 || fail "hosts.sh up 6 failed: $(tail -n 5 "$WORK/log/hosts.log")"
bash scripts/artifacts.sh serve >>"$WORK/log/hosts.log" 2>&1 || fail "artifacts server did not start"
bash scripts/artifacts.sh build "$V1" >/dev/null 2>>"$WORK/log/hosts.log" || fail "artifact $V1 not built"
bash scripts/artifacts.sh build "$VB" >/dev/null 2>>"$WORK/log/hosts.log" || fail "artifact $VB not built"
bash scripts/artifacts.sh build "$VA" --error-rate 0.8 >/dev/null 2>>"$WORK/log/hosts.log" ||
  fail "artifact $VA not built"

start_own_prometheus

# ---- specs: v1 without analysis (fast); A and B judged on both canary batches, revert-batch
sed -e "s/^app: .*/app: $APP/" -e 's/pause: 3s/pause: 1s/' "$HOSTS_DIR/demo-app.yaml" >"$WORK/spec-v1.yaml"
grep -q "app: $APP" "$WORK/spec-v1.yaml" || fail "could not write the test's spec"
python3 scripts/spec-analysis.py "$HOSTS_DIR/demo-app.yaml" --app "$APP" --window 10s \
  --interval 2s --count 5 --inconclusive-limit 3 --bake 14s --pause 1s --health-timeout 5s \
  --on-canary-failure revert-batch >"$WORK/spec.yaml" || fail "could not write the test's spec"
grep -q "onCanaryFailure" "$WORK/spec.yaml" || fail "could not write the test's spec"

start_planner
start_executor
start_watcher
start_rollback_agent
start_intake
wait_assigned rollout-planner "rollout-planner-$RUN_ID"
wait_assigned executor "executor-$RUN_ID"
wait_assigned metric-watcher "metric-watcher-$RUN_ID"
wait_assigned rollback-agent "rollback-agent-$RUN_ID"

ALL6() { local v="$1"; echo "host-1=$v host-2=$v host-3=$v host-4=$v host-5=$v host-6=$v"; }

sl_log "v1 ($V1) to every host: the stable release A's revert goes back to"
sluice apply -f "$WORK/spec-v1.yaml" >/dev/null || fail "spec not applied"
r1="$(release "$V1")"
d1="$(deploy "$r1")"
[[ "$(wait_final "$d1" 120)" == succeeded ]] || fail "v1 deployment $d1 did not succeed"
expect_versions "$(ALL6 "$V1")"
sluice apply -f "$WORK/spec.yaml" >/dev/null || fail "the analysis spec was not applied"

sl_log "A ($VA, failing 80% of its requests) in canary batches; B ($VB) requested the instant A's analysis fails"
ra="$(release "$VA")"
rb="$(release "$VB")"
since_ms=$(($(date +%s%3N) - 1000))
da="$(deploy "$ra")"
python3 - "$da" "$rb" "$VB" >"$WORK/race.json" 2>"$WORK/log/race-driver.log" <<PY ||
import json, sys, time, urllib.request

A, RB, VB = sys.argv[1:4]
API, PLANNER, WATCHER, ROLLBACK = "$API", "$PLANNER", "$WATCHER", "$ROLLBACK"
ENV = "$ENV_NAME"
ADMIN = "Bearer " + open("$ADMIN_TOKEN_FILE").read().strip()
SERVICE = "Bearer " + open("$SERVICE_TOKEN_FILE").read().strip()
AGENT = "Bearer " + open("$AGENT_TOKEN_FILE").read().strip()
HOSTS = json.load(open("$HOSTS_DIR/hosts.json"))
FINAL = ("succeeded", "failed", "rolled_back", "aborted")

def get(url, auth):
    req = urllib.request.Request(url, headers={"Authorization": auth})
    return json.load(urllib.request.urlopen(req, timeout=5))

def log(msg):
    print("%.3f %s" % (time.time(), msg), file=sys.stderr, flush=True)

# 1. Wait for A's analysis to fail (the watcher's record, or the planner's reaction to it).
deadline = time.time() + 120
trigger = None
while trigger is None:
    if time.time() > deadline:
        sys.exit("A's analysis did not fail within 120 s")
    analyses = get(WATCHER + "/v1/analyses?deployment_id=" + A, SERVICE)["analyses"]
    if any(a["status"] == "Failed" for a in analyses):
        trigger = "watcher: analysis Failed"
        break
    status = get(PLANNER + "/v1/deployments/" + A, SERVICE)["status"]
    if status not in ("pending", "running", "paused"):
        if status == "succeeded":
            sys.exit("A succeeded: its analysis never failed")
        trigger = "planner: A " + status
        break
    time.sleep(0.05)
t_trigger = time.time()

# 2. Request B at once.
body = json.dumps({"release_id": RB, "env": ENV}).encode()
req = urllib.request.Request(API + "/v1/deployments", data=body, method="POST",
                             headers={"Authorization": ADMIN, "Content-Type": "application/json"})
B = json.load(urllib.request.urlopen(req, timeout=5))["deployment_id"]
t_requested = time.time()
log("trigger (%s), B %s requested %.0f ms later" % (trigger, B, 1000 * (t_requested - t_trigger)))

# 3. Until A is final and its rollback done: B must not start and no host may run B's version.
# B and the hosts are read first, A and its rollback last: both only move forward, so "not
# done" read after a sample means it was not done while that sample was taken.
def rollback_done():
    rbs = get(ROLLBACK + "/v1/rollbacks?deployment_id=" + A, SERVICE)["rollbacks"]
    return bool(rbs) and all(r["status"] in ("succeeded", "failed") for r in rbs)

violations, samples, a_statuses, b_statuses, b_seen = [], 0, [], [], []
deadline = time.time() + 150
while True:
    if time.time() > deadline:
        sys.exit("A's rollback was not done within 150 s of B's request")
    try:
        b = get(PLANNER + "/v1/deployments/" + B, SERVICE)
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        b = None  # DeploymentRequested not yet handled: B is not even pending
    hosts = {}
    for h in HOSTS:
        st = get(h["agent_endpoint"] + "/v1/status", AGENT)
        hosts[h["name"]] = st.get("current", "")
    a = get(PLANNER + "/v1/deployments/" + A, SERVICE)
    if a["status"] in FINAL and rollback_done():
        break
    samples += 1
    if not a_statuses or a_statuses[-1] != a["status"]:
        a_statuses.append(a["status"])
    bs = "absent" if b is None else "%s%s" % (b["status"], "/queued" if b.get("queued") else "")
    if not b_statuses or b_statuses[-1] != bs:
        b_statuses.append(bs)
        b_seen.append("%s at +%.2f s" % (bs, time.time() - t_requested))
    if b is not None:
        started = [x["index"] for x in b["batches"] if x["status"] != "pending"]
        if b["status"] != "pending" or not b.get("queued") or started:
            violations.append("A %s (rollback not done), B %s, B's batches %s not pending" % (
                a["status"], bs, started))
    on_b = sorted(n for n, v in hosts.items() if v == VB)
    if on_b:
        violations.append("A %s (rollback not done), hosts on B's version %s: %s" % (
            a["status"], VB, on_b))
    time.sleep(0.15)
t_a_final = time.time()
log("A %s and its rollback done %.2f s after B's request; %d samples, A %s, B %s, %d violations" % (
    a["status"], t_a_final - t_requested, samples, a_statuses, b_seen, len(violations)))
print(json.dumps({"b": B, "trigger": trigger, "request_ms": 1000 * (t_requested - t_trigger),
                  "samples": samples, "a_statuses": a_statuses, "b_statuses": b_statuses,
                  "violations": violations[:6], "violation_count": len(violations),
                  "a_final": a["status"],
                  "a_final_after_s": t_a_final - t_requested}))
PY
  fail "the race driver failed: $(tail -n 5 "$WORK/log/race-driver.log")"
cat "$WORK/log/race-driver.log" >&2
db="$(json 'd["b"]' <"$WORK/race.json")"
python3 - "$WORK/race.json" <<'PY' || fail "B started, or a host ran B's version, before A's rollback completed (see above)"
import json, sys
r = json.load(open(sys.argv[1]))
assert not r["violations"], "%d samples broke the hold, the first:\n%s" % (
    r["violation_count"], "\n".join(r["violations"]))
assert "rolling_back" in r["a_statuses"], f"A was never seen rolling_back: {r['a_statuses']}"
# B was requested at once (that the planner had it before A's rollback completed is checked
# below on the planner's own times, which sampling cannot miss).
assert r["request_ms"] < 1000, f"B was requested {r['request_ms']:.0f} ms after the failure"
PY

# ---- A: final, failed at the rollback's generation, its rollback applied once
rollbacks_of() { curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$ROLLBACK/v1/rollbacks?deployment_id=$1"; }
planner_get() { curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$PLANNER$1"; }
planner_get "/v1/deployments/$da" >"$WORK/a.json" || fail "A $da not served by the planner"
rollbacks_of "$da" >"$WORK/a-rollbacks.json" || fail "no rollbacks of A $da"
python3 - "$WORK/a.json" "$WORK/a-rollbacks.json" <<'PY' || fail "A did not end as a completed rollback says (see above)"
import json, sys
a = json.load(open(sys.argv[1]))
rb = json.load(open(sys.argv[2]))["rollbacks"]
tl = a["timeline"]
print("A's timeline:", [(t["kind"], t["applied"], t.get("ignored_reason", "")) for t in tl], file=sys.stderr)
assert a["status"] == "failed", a["status"]
assert a["failure_reason"] == "analysis_failed", a["failure_reason"]
# Batch 1 (host-1) failed, the others never started: B's batch 1 is the same host.
assert [b["status"] for b in a["batches"]] == ["failed", "pending", "pending"], \
    f'A failed elsewhere than in batch 1: {[b["status"] for b in a["batches"]]}'
h = a["batches"][0]["hosts"]
assert len(h) == 1 and "host-1" in json.dumps(h), h
assert len(rb) == 1 and rb[0]["status"] == "succeeded", rb
for kind in ("rollback_started", "rollback_completed"):
    rows = [t for t in tl if t["kind"] == kind]
    assert rows and all(t["applied"] for t in rows), f"{kind}: {rows}"
ignored = [t for t in tl if t.get("ignored_reason") == "newer_deployment_active"]
assert not ignored, ignored
assert a["generation"] >= 2, f"A stayed at generation {a['generation']}: its rollback never reached the planner"
PY

# ---- B: succeeds, started only after A's RollbackCompleted took effect
[[ "$(wait_final "$db" 150)" == succeeded ]] || fail "B $db did not succeed after A's rollback"
planner_get "/v1/deployments/$db" >"$WORK/b.json" || fail "B $db not served by the planner"
python3 - "$WORK/a.json" "$WORK/b.json" <<'PY' || fail "B started before A's rollback completed (see above)"
import json, sys
from datetime import datetime
def ms(v):
    if isinstance(v, (int, float)):
        return float(v)
    return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
done = [ms(t["at"]) for t in a["timeline"] if t["kind"] == "rollback_completed" and t["applied"]]
assert done, "A has no applied RollbackCompleted"
assert b["started_at"], "B has no started_at"
assert ms(b["started_at"]) >= min(done), f"B started at {b['started_at']}, A's rollback completed at {min(done)}"
# The race was on: the planner had B (pending, queued) before A's rollback completed.
assert ms(b["created_at"]) < min(done), "the planner got B only after A's rollback completed: no race"
print("the planner had B %.1f s before A's rollback completed, started it %.0f ms after" % (
    (min(done) - ms(b["created_at"])) / 1000, ms(b["started_at"]) - min(done)), file=sys.stderr)
PY
expect_versions "$(ALL6 "$VB")"
# The newest record of each host, over A and B, is what the host runs.
api_get "/v1/deployments/$da/instances" >"$WORK/a-instances.json" || fail "no instances for A"
api_get "/v1/deployments/$db/instances" >"$WORK/b-instances.json" || fail "no instances for B"
python3 - "$WORK/a-instances.json" "$WORK/b-instances.json" "$(agent_versions)" "$VB" <<'PY' ||
import json, sys
rows = json.load(open(sys.argv[1]))["instances"] + json.load(open(sys.argv[2]))["instances"]
actual = dict(kv.split("=") for kv in sys.argv[3].split())
latest = {}
for r in rows:
    if r["status"] != "succeeded":
        continue
    if r["host"] not in latest or r["updated_at"] >= latest[r["host"]]["updated_at"]:
        latest[r["host"]] = r
bad = [f'{h}: newest record {r["version"]} (generation {r["generation"]}), host runs {actual.get(h)}'
       for h, r in latest.items() if r["version"] != actual.get(h) or r["version"] != sys.argv[4]]
assert sorted(latest) == sorted(actual), (sorted(latest), sorted(actual))
assert not bad, "\n".join(bad)
PY
  fail "the hosts do not run what the records say (see above)"
# host-1 (batch 1 of both): A's version, then the revert, then B's; every host's last restart B's.
for i in 1 2 3 4 5 6; do
  last="$(tail -n 1 "$SLUICE_ROOT/var/hosts-$SLUICE_HOSTS_PREFIX/h$i/state/restarts.log" | cut -d' ' -f2)"
  [[ "$last" == "$VB" ]] || fail "host-$i's last restart is $last, not $VB"
done
seq1="$(cut -d' ' -f2 "$SLUICE_ROOT/var/hosts-$SLUICE_HOSTS_PREFIX/h1/state/restarts.log" | tr '\n' ' ')"
[[ "$seq1" == *"$VA $V1 $VB " ]] || fail "host-1's restarts are '$seq1': not $VA, its revert to $V1, then $VB"

# ---- what went over Kafka: B's first BatchRequested after A's RollbackCompleted, A's
# RollbackStarted once, nothing of this run dead-lettered
topic_dump "$since_ms" sluice.deployments.v1 sluice.rollbacks.v1 sluice.deadletter.v1 \
  >"$WORK/events.jsonl" 2>>"$WORK/log/topic-dump.log" || fail "could not read the topics: $(tail -n 3 "$WORK/log/topic-dump.log")"
python3 - "$WORK/events.jsonl" "$da" "$db" "$RUN_ID" <<'PY' || fail "the events show the race (see above)"
import json, sys
path, A, B, run = sys.argv[1:5]
rows = [json.loads(l) for l in open(path) if l.strip()]
def of(dep, kind):
    return [r for r in rows if r["topic"] != "sluice.deadletter.v1" and r.get("deployment_id") == dep
            and r.get("type") == "sluice.v1." + kind]
dead = [r for r in rows if r["topic"] == "sluice.deadletter.v1"
        and (r["key"] in (A, B) or r.get("deployment_id") in (A, B)
             or run in r["headers"].get("dlq_consumer_group", ""))]
assert not dead, "dead letters: " + "; ".join(
    f'{r.get("type")} of {r["key"]} from {r["headers"].get("dlq_consumer_group")}: {r["headers"].get("dlq_reason")}'
    for r in dead)
started = {r["event_id"] for r in of(A, "RollbackStarted")}
completed = of(A, "RollbackCompleted")
assert len(started) == 1, f"A's RollbackStarted: {len(started)} events"
assert completed, "no RollbackCompleted of A"
batches = of(B, "BatchRequested")
assert batches, "no BatchRequested of B"
first_b, done_a = min(r["timestamp_ms"] for r in batches), min(r["timestamp_ms"] for r in completed)
assert first_b >= done_a, f"B's first BatchRequested at {first_b}, {done_a - first_b} ms before A's RollbackCompleted"
print(f"Kafka: B's first BatchRequested {first_b - done_a} ms after A's RollbackCompleted; "
      f"{len(rows)} records read, no dead letter of this run", file=sys.stderr)
PY

# ---- nothing dead-lettered by this run's consumers, no revert refused on a newer deployment's host
for svc in rollout-planner executor rollback-agent metric-watcher; do
  case "$svc" in
    rollout-planner) url="$PLANNER" ;; executor) url="$EXECUTOR" ;;
    rollback-agent) url="$ROLLBACK" ;; metric-watcher) url="$WATCHER" ;;
  esac
  n="$(curl -fsS --max-time 5 "$url/metrics" | awk '/^sluice_consumer_messages_total\{/ && /outcome="dead_letter/ {s += $2} END {print s + 0}')"
  [[ "$n" == 0 ]] || fail "$svc dead-lettered $n message(s) during the race"
done
curl -fsS -H "$SERVICE_AUTH" --max-time 5 "$EXECUTOR/v1/deployments/$da/commands" >"$WORK/a-commands.json" ||
  fail "no executor commands of A"
python3 - "$WORK/a-commands.json" <<'PY' || fail "A's revert was refused on or skipped a host (see above)"
import json, sys
cmds = json.load(open(sys.argv[1]))["commands"]
reverts = [c for c in cmds if c["operation"] != "deploy"]
print("A's executor commands:", [(c["operation"], c["status"], c.get("reason", "")) for c in cmds], file=sys.stderr)
assert reverts, "no revert command"
bad = [c for c in cmds if "host_owned_by_newer_deployment" in json.dumps(c)]
assert not bad, bad
PY

sl_log "passed in $((SECONDS - started_at)) s: B queued behind A until A's rollback completed, no revert under B, every host on $VB as recorded"
