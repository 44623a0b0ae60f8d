#!/usr/bin/env bash
# The umbrella chart (charts/sluice) on the local Kubernetes control plane (KWOK makes the
# pods Ready without running them; the images are referenced, never pulled):
#
#   bash scripts/kube.sh with -- bash test/helm/umbrella_test.sh     (make helm)
#
# In a fresh namespace: the prometheus-operator CRDs (scripts/prometheus-crds.sh), the two
# Secrets the values name, then
#   - every object each values file renders is accepted by `kubectl apply --dry-run=server`;
#   - `helm install --wait` of values-prod.yaml under a release name that is not "sluice":
#     the six Deployments Available, their pods Ready and spread over the three zones, the
#     URLs between the services naming Services that exist, PDB / NetworkPolicy /
#     ServiceMonitor / PrometheusRule / HPA / Ingress / base-backup CronJob created;
#   - a second release beside it (values-dev.yaml) wires to its own services;
#   - `helm upgrade --wait` with one changed value (the planner's log level) rolls that
#     Deployment through a new ReplicaSet and leaves the other five on theirs;
#   - `helm uninstall --wait` leaves nothing behind in the namespace (every namespaced
#     resource type listed, the test's own Secrets and what Kubernetes puts in every
#     namespace excepted).
# Prints one line per check and "N passed, M failed"; exits 1 if any failed.
# The images: by digest from var/images/digests.txt when `make images` wrote it
# (SLUICE_IMAGE_DIGESTS), else SLUICE_IMAGE_REGISTRY (default 127.0.0.1:15000, the local
# registry of `make images`) and SLUICE_IMAGE_TAG (default dev).
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=helm-test
cd "$SLUICE_ROOT"

export KUBECONFIG="${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}/local/kubeconfig"
BIN="$(bash scripts/kube.sh bin)"
KUBECTL="$BIN/kubectl"
HELM="$BIN/helm"
[[ -x "$KUBECTL" && -x "$HELM" ]] || sl_die "kubectl / helm are not built: run bash scripts/kube.sh up"
# Asked of the API server itself (not kube.sh's pid files), so a control plane started from
# another checkout serves as well.
"$KUBECTL" get --raw=/readyz >/dev/null 2>&1 ||
  sl_die "the control plane at $("$KUBECTL" config view --minify -o jsonpath='{.clusters[0].cluster.server}') does not answer: run bash scripts/kube.sh up (or make helm)"

NS="sluice-helm-test-$(date +%s)-$$"
REL=canary
REGISTRY="${SLUICE_IMAGE_REGISTRY:-127.0.0.1:15000}"
TAG="${SLUICE_IMAGE_TAG:-dev}"
SERVICES=(release-intake rollout-planner executor metric-watcher rollback-agent notifier)
CHART=charts/sluice
VALUES=(-f "$CHART/values-prod.yaml" --set "global.sluice.image.registry=$REGISTRY" --set "global.sluice.image.tag=$TAG")
# The digests `make images` pushed (lines registry/sluice/<service>@sha256:...), when there are:
# each service then pinned by digest, as a release would.
DIGESTS="${SLUICE_IMAGE_DIGESTS:-${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}/images/digests.txt}"
pinned=0
if [[ -s "$DIGESTS" ]]; then
  for s in "${SERVICES[@]}"; do
    line="$(grep -E "/sluice/$s@sha256:[0-9a-f]{64}$" "$DIGESTS" | tail -n 1)"
    [[ -n "$line" ]] || continue
    VALUES+=(--set "$s.image.registry=${line%%/sluice/*}" --set "$s.image.digest=${line##*@}")
    pinned=$((pinned + 1))
  done
fi
passed=0
failed=0
start=$SECONDS
tmp="$(mktemp -d)"

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
check() {
  local what="$1" out
  shift
  if out="$("$@" 2>&1)"; then ok "$what"; else not_ok "$what" "$(tail -n 8 <<<"$out")"; fi
}
expect() {
  if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2"$'\n'"got:  $3"; fi
}
eventually() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      "$@"
      return 1
    }
    sleep 0.5
  done
}

cleanup() {
  "$HELM" uninstall "$REL" -n "$NS" >/dev/null 2>&1 || true
  "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
sl_log "namespace $NS, release $REL, images $REGISTRY/sluice/<service>:$TAG"
check "the ServiceMonitor and PrometheusRule CRDs are installed (prometheus-operator module)" \
  bash scripts/prometheus-crds.sh install
"$KUBECTL" create namespace "$NS" >/dev/null || sl_die "cannot create namespace $NS"
eventually 20 k get serviceaccount default >/dev/null || sl_die "no default service account in $NS"
# The Secrets the values name (global.sluice.existingSecret, serviceToken, prod's Redis URL).
k create secret generic sluice --from-literal=pg-dsn=postgresql://sluice:pw@postgres:5432/sluice \
  --from-literal=admin-token="$(openssl rand -hex 24)" --from-literal=agent-token="$(openssl rand -hex 24)" \
  --from-literal=alert-token="$(openssl rand -hex 16)" >/dev/null
k create secret generic sluice-service-token --from-literal=token="$(openssl rand -hex 24)" >/dev/null
k create secret generic sluice-redis --from-literal=redis-url=redis://:pw@redis:6379/0 >/dev/null
k label secret sluice sluice-service-token sluice-redis sluice.dev/test-fixture=true >/dev/null
check "helm dependency update charts/sluice (file:// charts, no network)" "$HELM" dependency update --skip-refresh "$CHART"

# ---- every rendered object, each values file, accepted by the API server
for values in values.yaml values-dev.yaml values-staging.yaml values-prod.yaml; do
  "$HELM" template "$REL" "$CHART" -n "$NS" -f "$CHART/$values" >"$tmp/$values" 2>"$tmp/err" ||
    { not_ok "$values renders" "$(cat "$tmp/err")"; continue; }
  n="$(grep -c '^kind:' "$tmp/$values")"
  check "$values: all $n objects accepted by kubectl apply --dry-run=server" \
    k apply --dry-run=server -f "$tmp/$values"
done

# ---- install
t0=$SECONDS
check "helm install --wait (values-prod.yaml, release \"$REL\")" \
  "$HELM" install "$REL" "$CHART" -n "$NS" "${VALUES[@]}" --wait --timeout 5m
sl_log "installed in $((SECONDS - t0))s"
deploys() { k get deploy -l app.kubernetes.io/part-of=sluice -o jsonpath='{range .items[*]}{.metadata.name} {.status.availableReplicas}/{.spec.replicas}{"\n"}{end}' | sort; }
want=""
for s in "${SERVICES[@]}"; do want+="$REL-$s 3/3"$'\n'; done
want="$(sort <<<"${want%$'\n'}")"
all_available() {
  local got
  got="$(deploys)"
  echo "$got"
  [[ "$got" == "$want" ]]
}
# release-intake has no replicas field (its HPA owns the count): it starts at 1 and the HPA
# controller raises it to minReplicas (3) within its sync period, metrics or not.
check "six Deployments <release>-<service>, 3 of 3 available each (release-intake's by its HPA)" eventually 90 all_available
pods() {
  k get pods -l app.kubernetes.io/part-of=sluice -o jsonpath='{range .items[*]}{.metadata.labels.app\.kubernetes\.io/name} {.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.spec.containers[0].image}{"\n"}{end}'
}
pods >"$tmp/pods"
expect "18 pods Ready on the KWOK nodes" 18 "$(awk '$2 ~ /^kwok-node-/ && $3 == "True"' "$tmp/pods" | wc -l)"
expect "each service's 3 replicas on 3 different nodes (one per zone: topology spread)" 6 \
  "$(awk '{ print $1, $2 }' "$tmp/pods" | sort -u | awk '{ n[$1]++ } END { for (s in n) if (n[s] == 3) c++; print c + 0 }')"
if ((pinned == 6)); then
  expect "the pods reference the images by the digests of $DIGESTS" 18 \
    "$(awk 'NR == FNR { want[$1] = 1; next } ($4 in want)' "$DIGESTS" "$tmp/pods" | wc -l)"
else
  expect "the pods reference the images of the local registry ($REGISTRY, tag $TAG; no $DIGESTS)" 18 \
    "$(awk -v p="$REGISTRY/sluice/" -v t=":$TAG" 'index($4, p) == 1 && substr($4, length($4) - length(t) + 1) == t' "$tmp/pods" | wc -l)"
fi
for kind in poddisruptionbudget networkpolicy servicemonitor prometheusrule; do
  expect "a $kind per service" 6 "$(k get "$kind" -l app.kubernetes.io/instance="$REL" -o name | wc -l)"
done
expect "the base-backup CronJob and the WAL archiving ConfigMap" "$REL-postgres-base-backup $REL-postgres-archiving" \
  "$(k get cronjob -o jsonpath='{.items[*].metadata.name}') $(k get configmap "$REL-postgres-archiving" -o jsonpath='{.metadata.name}')"
expect "an HPA for release-intake" "$REL-release-intake" "$(k get hpa -o jsonpath='{.items[*].spec.scaleTargetRef.name}')"
expect "Ingresses for the public API and the GitHub webhook" "$REL-release-intake-api $REL-release-intake-webhook" \
  "$(k get ingress -o jsonpath='{.items[*].metadata.name}')"
# The wiring: the URLs release-intake and the rollback-agent call name Services of this release.
wiring() {
  local cm url host missing=""
  for cm in "$REL-release-intake:SLUICE_PLANNER_URL" "$REL-release-intake:SLUICE_EXECUTOR_URL"; do
    url="$(k get configmap "${cm%%:*}" -o jsonpath="{.data.${cm##*:}}")"
    host="${url#http://}"
    host="${host%%:*}"
    k get service "$host" >/dev/null 2>&1 || missing+=" ${cm##*:}=$url"
    echo "${cm##*:}=$url"
  done
  [[ -z "$missing" ]]
}
check "release-intake's planner and executor URLs name Services of this release" wiring

# ---- a second release beside it (values-dev.yaml): its own names, its own wiring
check "a second release \"second\" installs beside it in the same namespace (values-dev.yaml)" \
  "$HELM" install second "$CHART" -n "$NS" -f "$CHART/values-dev.yaml" --wait --timeout 3m
expect "... its release-intake calls its own planner and executor" \
  "http://second-rollout-planner:8082 http://second-executor:8084" \
  "$(k get configmap second-release-intake -o jsonpath='{.data.SLUICE_PLANNER_URL} {.data.SLUICE_EXECUTOR_URL}')"
expect "... its six Deployments at one replica each, the first release's untouched" "6 6" \
  "$(k get deploy -l app.kubernetes.io/instance=second -o jsonpath='{range .items[*]}{.status.availableReplicas}{"\n"}{end}' | grep -c '^1$') $(k get deploy -l app.kubernetes.io/instance="$REL" -o jsonpath='{range .items[*]}{.status.availableReplicas}{"\n"}{end}' | grep -c '^3$')"
check "... and uninstalls on its own" "$HELM" uninstall second -n "$NS" --wait --timeout 2m

# ---- upgrade with one changed value: that Deployment rolls through a new ReplicaSet
rs_of() { k get rs -l "app.kubernetes.io/name=$1,app.kubernetes.io/instance=$REL" -o jsonpath='{range .items[*]}{.metadata.name}={.status.replicas}{" "}{end}'; }
declare -A before
for s in "${SERVICES[@]}"; do before[$s]="$(rs_of "$s")"; done
t0=$SECONDS
check "helm upgrade --wait with rollout-planner.config.SLUICE_LOG_LEVEL=debug" \
  "$HELM" upgrade "$REL" "$CHART" -n "$NS" "${VALUES[@]}" --set rollout-planner.config.SLUICE_LOG_LEVEL=debug --wait --timeout 5m
sl_log "upgraded in $((SECONDS - t0))s"
new_rs_ready() {
  local rs
  rs="$(rs_of rollout-planner)"
  echo "ReplicaSets: $rs"
  # Two ReplicaSets: the old one scaled to 0, the new one at 3.
  [[ "$(wc -w <<<"$rs")" == 2 ]] && [[ "$rs" == *"=3 "* ]] && [[ "$rs" == *"=0 "* ]]
}
check "the planner rolled: a new ReplicaSet at 3, the old one at 0" eventually 60 new_rs_ready
expect "its pods run with the new setting" debug \
  "$(k get configmap "$REL-rollout-planner" -o jsonpath='{.data.SLUICE_LOG_LEVEL}')"
unchanged=0
for s in "${SERVICES[@]}"; do
  [[ "$s" == rollout-planner ]] && continue
  [[ "$(rs_of "$s")" == "${before[$s]}" ]] && unchanged=$((unchanged + 1))
done
expect "the five other Deployments kept their ReplicaSets" 5 "$unchanged"
expect "the release is at revision 2" 2 "$("$HELM" history "$REL" -n "$NS" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["revision"])')"

# ---- uninstall: nothing left
check "helm uninstall --wait" "$HELM" uninstall "$REL" -n "$NS" --wait --timeout 2m
leftovers() {
  local types t out=""
  types="$("$KUBECTL" api-resources --verbs=list --namespaced -o name | grep -v -x -e events -e events.events.k8s.io)"
  for t in $types; do
    out+="$(k get "$t" -o name 2>/dev/null)"$'\n'
  done
  # What every namespace has, and this test's own Secrets.
  out="$(grep -v -x -e '' -e configmap/kube-root-ca.crt -e serviceaccount/default \
    -e secret/sluice -e secret/sluice-service-token -e secret/sluice-redis <<<"$out" || true)"
  echo "left: ${out:-nothing}"
  [[ -z "$out" ]]
}
check "nothing of the release is left in the namespace (every namespaced type listed)" eventually 60 leftovers
expect "helm lists no release in the namespace" "" "$("$HELM" list -n "$NS" -a -q)"

sl_log "$passed passed, $failed failed in $((SECONDS - start))s"
((failed == 0))
