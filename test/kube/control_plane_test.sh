#!/usr/bin/env bash
# Proves the local Kubernetes control plane (scripts/kube.sh) does what the Kubernetes target
# driver's tests will lean on: the real scheduler binds pods to KWOK's fake nodes by zone, the
# real controllers roll a Deployment out through ReplicaSets and a StatefulSet by partition,
# and KWOK's test stages make a pod never ready (ProgressDeadlineExceeded) or ready late.
#
#   bash scripts/kube.sh with -- bash test/kube/control_plane_test.sh     (make kube)
#
# Everything happens in a namespace of its own, deleted at the end. Prints one line per
# check and "N passed, M failed"; exits 1 if any check failed.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=kube-test
cd "$SLUICE_ROOT"

# Always the local control plane's admin, never a KUBECONFIG of the caller's (a real cluster).
export KUBECONFIG="${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}/local/kubeconfig"
KUBECTL="$(bash scripts/kube.sh bin)/kubectl"
[[ -x "$KUBECTL" ]] || sl_die "$KUBECTL is not built: run bash scripts/kube.sh up"
bash scripts/kube.sh ready || sl_die "the control plane is not up: run bash scripts/kube.sh up (or make kube)"

NS="sluice-cp-test-$(date +%s)-$$"
IMAGE=registry.example.com/sluice/web
passed=0
failed=0
start=$SECONDS

k() { "$KUBECTL" -n "$NS" "$@"; }

ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$1"
}
not_ok() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  [[ -z "${2:-}" ]] || sed 's/^/       /' <<<"$2"
}
# check DESCRIPTION CMD...: passes when CMD succeeds; shows its output when it does not.
check() {
  local what="$1" out
  shift
  if out="$("$@" 2>&1)"; then ok "$what"; else not_ok "$what" "$(tail -n 6 <<<"$out")"; fi
}
# expect DESCRIPTION WANT GOT
expect() {
  if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2"$'\n'"got:  $3"; fi
}
# eventually TIMEOUT_S CMD...: CMD succeeds within the timeout (polled every 0.3 s).
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      "$@"
      return 1
    }
    sleep 0.3
  done
}

cleanup() { "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT

# A workload manifest: kind name replicas image [extra spec yaml] [extra pod labels yaml].
workload() {
  local kind="$1" name="$2" replicas="$3" image="$4" spec="${5:-}" labels="${6:-}"
  cat <<EOF
apiVersion: apps/v1
kind: $kind
metadata: {name: $name}
spec:
  replicas: $replicas
  selector: {matchLabels: {app: $name}}
$spec
  template:
    metadata:
      labels:
        app: $name
$labels
    spec:
      containers:
      - name: app
        image: $image
        readinessProbe: {httpGet: {path: /readyz, port: 8000}}
EOF
}

# ---------------------------------------------------------------------------
sl_log "namespace $NS on $("$KUBECTL" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
"$KUBECTL" create namespace "$NS" >/dev/null || sl_die "cannot create namespace $NS"
eventually 20 k get serviceaccount default >/dev/null || sl_die "no default service account in $NS"

# ---- the cluster: versions, nodes, identities
expect "the apiserver reports its real version" v1.34.4 \
  "$("$KUBECTL" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
expect "three KWOK nodes are Ready, one per zone" "kwok-node-0 True zone-a,kwok-node-1 True zone-b,kwok-node-2 True zone-c," \
  "$("$KUBECTL" get nodes -l type=kwok -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.metadata.labels.topology\.kubernetes\.io/zone},{end}')"
expect "the executor's kubeconfig authenticates as sluice-executor" sluice-executor \
  "$("$KUBECTL" --kubeconfig var/local/kubeconfig-executor auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1)"

# ---- Deployment: scheduled on the fake nodes, spread by zone, all Ready
workload Deployment web 4 "$IMAGE:v1" "  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}" |
  sed 's/^    spec:$/    spec:\n      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: topology.kubernetes.io\/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}/' |
  k apply -f - >/dev/null
check "a 4-replica Deployment rolls out (kubectl rollout status)" k rollout status deploy/web --timeout=30s
pods_web() {
  k get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.spec.containers[0].image}{"\n"}{end}'
}
expect "its 4 pods are bound to KWOK nodes, Running and Ready" 4 \
  "$(pods_web | awk '$2 ~ /^kwok-node-[0-2]$/ && $3 == "Running" && $4 == "True"' | wc -l)"
expect "the scheduler spread them over the three zones (maxSkew 1)" "1 1 2" \
  "$(pods_web | awk '{ n[$2]++ } END { for (z in n) print n[z] }' | sort -n | xargs)"

# ---- an image change rolls out through ReplicaSets
k set image deploy/web "app=$IMAGE:v2" >/dev/null
check "an image change rolls out (kubectl rollout status)" k rollout status deploy/web --timeout=30s
expect "the new ReplicaSet has the 4 ready pods, the old one none" "0 $IMAGE:v1,4 $IMAGE:v2," \
  "$(k get rs -l app=web -o jsonpath='{range .items[*]}{.status.readyReplicas} {.spec.template.spec.containers[0].image},{end}' |
    tr ',' '\n' | sed 's/^ /0 /' | sort -k2 | tr '\n' ',' | sed 's/^,//')"
expect "every pod runs the new image and is Ready" 4 \
  "$(pods_web | awk -v img="$IMAGE:v2" '$4 == "True" && $5 == img' | wc -l)"
expect "the Deployment is at revision 2" 2 \
  "$(k get deploy web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')"

# ---- StatefulSet: a partition updates only the pods at or above it
workload StatefulSet db 4 "$IMAGE:v1" "  serviceName: db
  podManagementPolicy: Parallel
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}" | k apply -f - >/dev/null
check "a 4-replica StatefulSet rolls out" k rollout status sts/db --timeout=30s
k set image sts/db "app=$IMAGE:v2" >/dev/null
check "its partitioned rollout completes (kubectl rollout status)" k rollout status sts/db --timeout=30s
# The predicates print what they saw, so a timeout shows it.
sts_updated() {
  local got
  got="$(k get sts db -o jsonpath='{.status.updatedReplicas}/{.status.readyReplicas}')"
  echo "updated/ready: $got"
  [[ "$got" == 2/4 ]]
}
check "status: 2 updated, 4 ready" eventually 20 sts_updated
expect "partition 2: db-2 and db-3 take the new image, db-0 and db-1 keep the old" \
  "db-0 $IMAGE:v1 True,db-1 $IMAGE:v1 True,db-2 $IMAGE:v2 True,db-3 $IMAGE:v2 True," \
  "$(k get pods -l app=db -o jsonpath='{range .items[*]}{.metadata.name} {.spec.containers[0].image} {.status.conditions[?(@.type=="Ready")].status},{end}' |
    tr ',' '\n' | sort | tr '\n' ',' | sed 's/^,//')"

# ---- a pod that never becomes ready: the rollout hits its progress deadline
workload Deployment stuck 1 "$IMAGE:v1" "  progressDeadlineSeconds: 3" '        kwok-test/never-ready: "true"' |
  k apply -f - >/dev/null
stuck_condition() {
  k get deploy stuck -o jsonpath='{.status.conditions[?(@.type=="Progressing")].status} {.status.conditions[?(@.type=="Progressing")].reason}'
}
deadline_exceeded() {
  local got
  got="$(stuck_condition)"
  echo "Progressing: $got"
  [[ "$got" == "False ProgressDeadlineExceeded" ]]
}
check "a never-ready pod makes the Deployment report ProgressDeadlineExceeded" eventually 30 deadline_exceeded
out="$(k rollout status deploy/stuck --timeout=10s 2>&1)"
rc=$?
if ((rc != 0)) && grep -q "exceeded its progress deadline" <<<"$out"; then
  ok "kubectl rollout status fails with the progress deadline"
else
  not_ok "kubectl rollout status fails with the progress deadline" "exit $rc: $out"
fi
expect "the pod is bound but not Ready" "kwok-node Pending " \
  "$(k get pods -l app=stuck -o jsonpath='{.items[0].spec.nodeName} {.items[0].status.phase} {.items[0].status.conditions[?(@.type=="Ready")].status}' |
    sed 's/kwok-node-[0-2]/kwok-node/')"

# ---- a pod that becomes ready after a delay
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: late
  annotations: {kwok-test/ready-delay: "3s"}
spec:
  containers: [{name: app, image: "$IMAGE:v1"}]
EOF
late_ready() {
  local got
  got="$(k get pod late -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
  echo "Ready: ${got:-none}"
  [[ "$got" == True ]]
}
check "a pod with kwok-test/ready-delay becomes Ready" eventually 20 late_ready
late_after="$(k get pod late -o json | python3 -c '
import datetime, json, sys
p = json.load(sys.stdin)
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
ready = [c for c in p["status"]["conditions"] if c["type"] == "Ready"][0]
print(int((t(ready["lastTransitionTime"]) - t(p["metadata"]["creationTimestamp"])).total_seconds()))')"
if [[ "$late_after" =~ ^[0-9]+$ ]] && ((late_after >= 2)); then
  ok "... not before its delay (Ready ${late_after}s after creation, delay 3s)"
else
  not_ok "... not before its delay" "Ready ${late_after}s after creation, delay 3s"
fi

sl_log "took $((SECONDS - start))s"
echo "$passed passed, $failed failed"
((failed == 0))
