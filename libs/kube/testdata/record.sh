#!/usr/bin/env bash
# Records the API answers the unit tests of libs/kube read, from the local control plane:
#
#   bash scripts/kube.sh with -- bash libs/kube/testdata/record.sh [OUT_DIR]
#
# Deployment and StatefulSet objects caught mid-rollout, complete, and past their progress
# deadline, their pods, and the Status bodies of 401/403/404/409/422. managedFields are
# dropped (noise). Pod, ReplicaSet and revision names are random: after re-recording, update
# the names the tests expect (rollout_status_test.cpp). The snapshots mid-rollout are timed
# with KWOK's stages (kwok-test/ready-delay, kwok-test/never-ready), so they are stable.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
OUT="${1:-$ROOT/libs/kube/testdata}"  # another directory: a dry run
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
PKI="$VAR/stack/kube/pki"
KUBECTL="$(bash "$ROOT/scripts/kube.sh" bin)/kubectl"
export KUBECONFIG="$VAR/local/kubeconfig"
API="$("$KUBECTL" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
NS="rec"
token_of() { awk -F, -v uid="uid-$1" '$3 == uid { print $1; exit }' "$PKI/tokens.csv"; }
k() { "$KUBECTL" -n "$NS" "$@"; }
save() { jq 'walk(if type == "object" then del(.managedFields) else . end)' >"$OUT/$1"; }
api() {  # api TOKEN METHOD PATH [CONTENT-TYPE BODY]
  curl -sS --cacert "$PKI/ca.crt" -H "Authorization: Bearer $1" -X "$2" \
    ${4:+-H "Content-Type: $4"} ${5:+--data-binary "$5"} "$API$3"
}

"$KUBECTL" delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
"$KUBECTL" create namespace "$NS" >/dev/null
until k get serviceaccount default >/dev/null 2>&1; do sleep 0.3; done
trap '"$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT

k apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  progressDeadlineSeconds: 30
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example.com/web:1}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 0}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: registry.example.com/db:1}]
EOF
k rollout status deploy/web --timeout=60s >/dev/null
k rollout status sts/db --timeout=60s >/dev/null
k get deploy web -o json | save deployment_complete.json

# A new image whose pods become ready only after 20 s: caught with 1 of 3 updated.
k patch deploy web --type merge -p '{"spec":{"template":{"metadata":{"annotations":{"kwok-test/ready-delay":"20s"}},"spec":{"containers":[{"name":"web","image":"registry.example.com/web:2"}]}}}}' >/dev/null
sleep 3
k get deploy web -o json | save deployment_progressing.json
k get pods -l app=web -o json | save pods_progressing.json

# StatefulSet: partition 2 (one pod updated, done), then partition 1 with a slow new revision.
k patch sts db --type merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}},"template":{"spec":{"containers":[{"name":"db","image":"registry.example.com/db:2"}]}}}}' >/dev/null
k rollout status sts/db --timeout=60s >/dev/null
sleep 2
k get sts db -o json | save statefulset_partition_done.json
k patch sts db --type merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}},"template":{"metadata":{"annotations":{"kwok-test/ready-delay":"30s"}},"spec":{"containers":[{"name":"db","image":"registry.example.com/db:3"}]}}}}' >/dev/null

# Pods that never become ready, past a 5 s progress deadline.
k apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 2
  progressDeadlineSeconds: 5
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck, kwok-test/never-ready: "yes"}}
    spec:
      containers: [{name: app, image: registry.example.com/stuck:1}]
EOF
sleep 4
k get sts db -o json | save statefulset_partition_progressing.json
k get pods -l app=db -o json | save pods_statefulset_progressing.json
until [[ "$(k get deploy stuck -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason}')" == ProgressDeadlineExceeded ]]; do
  sleep 0.5
done
k get deploy stuck -o json | save deployment_deadline_exceeded.json
k get pods -l app=stuck -o json | save pods_deadline_exceeded.json

# Status bodies.
ADMIN="$(token_of admin)"
EXECUTOR="$(token_of executor)"
api "$ADMIN" GET "/apis/apps/v1/namespaces/$NS/deployments/nope" | save status_404.json
api "$EXECUTOR" PATCH "/apis/apps/v1/namespaces/$NS/deployments/web" application/merge-patch+json '{}' | save status_403.json
api bogus GET /api/v1/namespaces | save status_401.json
stale="$(jq -c '.status = {} | del(.metadata.managedFields)' "$OUT/deployment_complete.json")"
api "$ADMIN" PUT "/apis/apps/v1/namespaces/$NS/deployments/web" application/json "$stale" | save status_409_conflict.json
api "$ADMIN" POST /api/v1/namespaces application/json "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NS\"}}" | save status_409_exists.json
api "$ADMIN" PATCH "/apis/apps/v1/namespaces/$NS/deployments/web" application/merge-patch+json \
  '{"spec":{"replicas":-1,"template":{"spec":{"containers":[{"name":"web","image":""}]}}}}' | save status_422.json
echo "recorded into $OUT"
