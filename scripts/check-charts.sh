#!/usr/bin/env bash
# Validates the deployment descriptors: `helm lint` and `helm template` for every
# chart under charts/, and `docker-compose config -q` for compose/docker-compose.yml.
#
# helm is built once from the Go module proxy into ~/.cache/sluice/tools/helm-<version>
# (outside the checkout, so fresh clones share it; SLUICE_TOOLS_DIR moves it;
# SLUICE_HELM_VERSION, default v3.16.4); a helm already on PATH is used as is.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=charts
cd "$SLUICE_ROOT"

HELM_VERSION="${SLUICE_HELM_VERSION:-v3.16.4}"
TOOLS_DIR="${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools/helm-$HELM_VERSION}"

find_helm() {
  if [[ -x "$TOOLS_DIR/helm" ]]; then
    echo "$TOOLS_DIR/helm"
  elif sl_have helm; then
    command -v helm
  fi
}

HELM="$(find_helm)"
if [[ -z "$HELM" ]]; then
  sl_have go || sl_die "go is missing (needed to build helm); run scripts/install-deps.sh"
  mkdir -p "$TOOLS_DIR"
  sl_log "building helm $HELM_VERSION into $TOOLS_DIR (once; takes a few minutes)"
  start=$SECONDS
  if ! GOBIN="$TOOLS_DIR" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    >"$TOOLS_DIR/helm-build.log" 2>&1; then
    tail -n 20 "$TOOLS_DIR/helm-build.log" >&2
    sl_die "building helm $HELM_VERSION failed (log $TOOLS_DIR/helm-build.log)"
  fi
  sl_log "helm built in $((SECONDS - start))s"
  HELM="$TOOLS_DIR/helm"
fi

failed=0
charts=0
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for chart in charts/*/; do
  [[ -f "$chart/Chart.yaml" ]] || continue
  chart="${chart%/}"
  name="$(basename "$chart")"
  charts=$((charts + 1))
  if ! "$HELM" lint --strict "$chart" >"$out/$name.lint" 2>&1; then
    cat "$out/$name.lint" >&2
    sl_warn "$chart: helm lint failed"
    failed=$((failed + 1))
    continue
  fi
  if ! "$HELM" template "$name" "$chart" >"$out/$name.yaml" 2>"$out/$name.err"; then
    cat "$out/$name.err" >&2
    sl_warn "$chart: helm template failed"
    failed=$((failed + 1))
    continue
  fi
  sl_log "$chart: lint + template ok ($(grep -c '^kind:' "$out/$name.yaml") objects)"
done

if [[ -f compose/docker-compose.yml ]]; then
  if ! sl_have docker-compose; then
    sl_warn "docker-compose is missing; run scripts/install-deps.sh"
    failed=$((failed + 1))
  elif docker-compose -f compose/docker-compose.yml config -q; then
    sl_log "compose/docker-compose.yml: config ok"
  else
    sl_warn "compose/docker-compose.yml: docker-compose config failed"
    failed=$((failed + 1))
  fi
fi

((charts > 0)) || sl_log "no charts under charts/"
if ((failed > 0)); then
  sl_die "$failed check(s) failed"
fi
sl_log "$charts chart(s) checked"
