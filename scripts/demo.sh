#!/usr/bin/env bash
# make demo: the local stack and every service, six hosts (network namespaces on a private
# bridge, or loopback ports where namespaces cannot be made) each running sluice-agent and the
# demo application, and demo-app as a 4-replica Deployment in the local Kubernetes control
# plane (scripts/kube.sh: KWOK's fake nodes and kubelets, so no container runs; the pods'
# metrics come from tools/kube-exporter), all in one delivery spec. Three releases registered
# as CI would, v1 rolled out everywhere, v2 in canary batches 5% -> 25% -> 100% to hosts and
# pods judged on live metrics batch by batch, then a bad v3 (its pods fail half their requests,
# and host-2 once batch 2 runs it) caught and rolled back by itself, the incident report, and
# the notices it all caused. Leaves it all running. SLUICE_DEMO_KUBE=0: the hosts only.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=demo
cd "$SLUICE_ROOT"
BUILD="${SLUICE_BUILD_DIR:-build/dev}"
export SLUICE_BUILD_DIR="$BUILD"
SLUICE="$BUILD/cli/sluice"

KUBE="${SLUICE_DEMO_KUBE:-1}"
if [[ "$KUBE" == 1 ]]; then
  # The control plane is built from source once (~8 min on 2 cores, cached under
  # ~/.cache/sluice/kube), then starts in seconds.
  sl_log "The local Kubernetes control plane comes up with the stack (built once, then cached)."
  export SLUICE_STACK_KUBE=1
fi
bash scripts/up.sh
echo
sl_log "Six hosts, each with sluice-agent and the demo app (Prometheus scrapes them):"
bash scripts/hosts.sh up 6
bash scripts/artifacts.sh serve

# Versions are new on every run: a release's artifact never changes once registered.
stamp="$(date +%s)"
v1="1.0.$stamp"
v2="2.0.$stamp"
v3="3.0.$stamp"
IMAGE=sluice.local/demo/demo-app
release() {
  local v="$1" sha
  local -a image=()
  [[ "$KUBE" == 1 ]] && image=(--image "$IMAGE:$v")
  sha="$(bash scripts/artifacts.sh build "$v" 2>/dev/null)"
  "$SLUICE" --raw release create --app demo-app --tag "v$v" --version "$v" \
    --artifact-url "$(bash scripts/artifacts.sh url "$v")" --sha256 "$sha" --created-by demo-ci \
    "${image[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

SPEC=var/demo/demo-app.yaml
if [[ "$KUBE" == 1 ]]; then
  echo
  sl_log "demo-app as a 4-replica Deployment (namespace demo) in the local control plane. Its pods"
  sl_log "run on KWOK's fake nodes: scheduled, Running and Ready, but no container runs, so their"
  sl_log "metrics come from tools/kube-exporter, which exports the demo app's series for each"
  sl_log "real pod name it reads from the API server:"
  kubectl() { bash scripts/kube.sh kubectl "$@"; }
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: demo}
YAML
  kubectl -n demo delete deployment demo-app-canary --ignore-not-found >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo-app, namespace: demo, labels: {app: demo-app}}
spec:
  replicas: 4
  selector: {matchLabels: {app: demo-app}}
  template:
    metadata: {labels: {app: demo-app}}
    spec:
      containers: [{name: app, image: "$IMAGE:$v1"}]
YAML
  kubectl -n demo rollout status deployment/demo-app --timeout=90s >/dev/null
  kubectl -n demo get pods -l app=demo-app -o wide | sed 's/^/   /'
  exporter_pid="$(sl_read_pidfile var/run/kube-exporter.pid)"
  if [[ -n "$exporter_pid" ]] && sl_pid_alive "$exporter_pid" &&
    sl_pid_cmdline "$exporter_pid" | grep -q sluice-kube-exporter; then
    kill -TERM "$exporter_pid"
  fi
  # The pods of v3 fail half their requests (--bad-version): the bad release of this demo.
  setsid "$BUILD/tools/kube-exporter/sluice-kube-exporter" --kubeconfig var/local/kubeconfig \
    --namespace demo --selector app=demo-app --container app --bad-version "$v3" \
    --label app=demo-app --label env=production \
    --targets-file var/stack/prometheus/targets/demo-app-pods.json \
    >>var/log/kube-exporter.log 2>&1 </dev/null &
  echo $! >var/run/kube-exporter.pid
  sl_log "   kube-exporter (pid $!, log var/log/kube-exporter.log) exports their series to Prometheus"
  # The Deployment joins the hosts in the spec: one environment, batches across both by weight.
  python3 - "$SPEC" var/demo/demo-app-mixed.yaml <<'PY'
import sys
text = open(sys.argv[1]).read()
block = ("    kubernetes:\n      - name: demo-app-k8s\n        cluster: local\n"
         "        namespace: demo\n        kind: Deployment\n        workload: demo-app\n"
         "        container: app\n")
at = text.index("    strategy:\n")
open(sys.argv[2], "w").write(text[:at] + block + text[at:])
PY
  SPEC=var/demo/demo-app-mixed.yaml
fi

echo
sl_log "1. The delivery spec of demo-app (hosts, canary steps judged by the seed rule"
sl_log "   error_rate > 5% OR p95_latency > 500ms, bake watch, rollback policy) is applied:"
python3 scripts/spec-analysis.py "$SPEC" --app demo-app --window 20s >var/demo/demo-app-analysed.yaml
"$SLUICE" apply -f var/demo/demo-app-analysed.yaml

echo
sl_log "2. CI registers releases v$v1, v$v2 and v$v3 (artifact URL + sha256):"
r1="$(release "$v1")"
r2="$(release "$v2")"
r3="$(release "$v3")"
echo "   v$v1 -> release $r1"
echo "   v$v2 -> release $r2"
echo "   v$v3 -> release $r3"

echo
sl_log "3. What a deployment of v$v2 would do (dry run, nothing changes):"
"$SLUICE" plan --release "$r2" --env production

echo
sl_log "4. v$v1 to every host:"
"$SLUICE" deploy --release "$r1" --env production --wait

echo
sl_log "5. v$v2 in canary batches, 5% -> 25% -> 100%, each canary batch judged on live metrics:"
d2="$("$SLUICE" --raw deploy --release "$r2" --env production | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment_id"])')"
"$SLUICE" deployment watch "$d2" || true
echo
sl_log "   The analyses of v$v2 (one per canary batch, then the bake watch after 100%):"
"$SLUICE" analysis list --deployment "$d2" || true
echo
d3="$("$SLUICE" --raw deploy --release "$r3" --env production | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment_id"])')"
if [[ "$KUBE" == 1 ]]; then
  sl_log "6. v$v3: its pods fail half their requests (kube-exporter --bad-version): batch 1 (host-1"
  sl_log "   and the first canary pod) is judged on both, caught, and reverted on both."
  "$SLUICE" deployment watch "$d3" || true
else
  sl_log "6. v$v3: once batch 2 (host-2) runs it, host-2 starts failing half of its requests."
  batch2_analysing() {
    "$SLUICE" --raw deployment get "$d3" 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["batches"][1]["status"] == "analysing" else 1)'
  }
  sl_wait_until 120 "v$v3 batch 2 deployed and under analysis" batch2_analysing || sl_die "v$v3 never reached the analysis of batch 2; see var/log/"
  host2_app="$(python3 -c 'import json; print(json.load(open("var/demo/hosts.json"))[1]["app_addr"])')"
  curl -fsS -H 'Content-Type: application/json' -d '{"error_rate": 0.5}' "http://$host2_app/admin/faults" >/dev/null
  echo "   host-2 ($host2_app): error rate 50%"
  "$SLUICE" deployment watch "$d3" || true
fi
echo
sl_log "   Why (the failed analysis, with its evidence):"
"$SLUICE" analysis list --deployment "$d3" || true
echo
if [[ "$KUBE" == 1 ]]; then
  sl_log "7. What runs now: every host on v$v2 (host-1 reverted), the canary Deployment scaled away,"
  sl_log "   the stable Deployment's pods still on v$v2 (KWOK pods, their images):"
  kubectl -n demo get deployments -o custom-columns='DEPLOYMENT:.metadata.name,REPLICAS:.spec.replicas,IMAGE:.spec.template.spec.containers[0].image' | sed 's/^/   /'
  kubectl -n demo get pods -l app=demo-app -o custom-columns='POD:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase,IMAGE:.spec.containers[0].image' | sed 's/^/   /'
else
  sl_log "7. What each host runs now (the agents' own answer): host-2 (batch 2) is back on v$v2, host-1 keeps v$v3 (revert-batch)"
fi
python3 - var/demo/hosts.json var/local/agent-token <<'PY'
import json, sys, urllib.request
hosts = json.load(open(sys.argv[1])); token = open(sys.argv[2]).read().strip()
for h in hosts:
    req = urllib.request.Request(h["agent_endpoint"] + "/v1/status", headers={"Authorization": "Bearer " + token})
    s = json.load(urllib.request.urlopen(req, timeout=5))
    print("   %-8s %-12s current %-14s previous %-14s %s" % (h["name"], h["address"], s.get("current"), s.get("previous") or "-", s.get("health_status")))
PY
echo
sl_log "8. The incident report of the rollback:"
inc=""
for _ in $(seq 1 60); do
  inc="$("$SLUICE" --raw incident list --deployment "$d3" 2>/dev/null |
    python3 -c 'import json,sys; l=[i for i in json.load(sys.stdin)["incidents"] if i["status"] == "written"]; print(l[0]["incident_id"] if l else "")' 2>/dev/null || true)"
  [[ -n "$inc" ]] && break
  sleep 0.5
done
if [[ -n "$inc" ]]; then
  "$SLUICE" incident get "$inc" --markdown | sed 's/^/   /'
  "$SLUICE" incident chart "$inc" -o "var/demo/incident-$inc.svg" >/dev/null
  echo "   chart: var/demo/incident-$inc.svg"
else
  echo "   no incident yet (var/log/rollback-agent.log says why)"
fi
echo
sl_log "9. Notices it caused (captured locally in var/demo/captures, the latest of each):"
sleep 2
for ch in slack dingtalk wecom webhook email; do
  f="$(ls -t var/demo/captures/"$ch"-*.json 2>/dev/null | head -n 1 || true)"
  if [[ -n "$f" ]]; then
    echo "   --- $f"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); b=d.get("body", d); print("   " + json.dumps(b, ensure_ascii=False)[:400] + " ...")' "$f"
  else
    echo "   --- no $ch notice captured yet (var/log/notifier.log says why)"
  fi
done
cat <<MSG

Everything is still running:
  $SLUICE deployment list                 deployments so far
  $SLUICE deployment get ID               one deployment, its batches and timeline
  $SLUICE deployment instances ID         what the executor recorded per host
  bash scripts/hosts.sh status                  the hosts; 'hosts.sh exec 1 curl -s 10.77.0.11:8000/'
  Prometheus http://127.0.0.1:19090  query: sum by (version) (rate(demo_http_requests_total[1m]))
  bash scripts/kube.sh kubectl -n demo get deploy,pods   the Deployment (KWOK pods; metrics: kube-exporter)
  var/demo/captures/                            Slack / DingTalk / WeCom / webhook notices
  make down                                     stop everything
  $SLUICE incident list --deployment ID    incident reports of a deployment's rollbacks
MSG
