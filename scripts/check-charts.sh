#!/usr/bin/env bash
# Validates the deployment descriptors without a cluster:
# - the generated parts of the charts are up to date (scripts/charts.py all --check: the shared
#   templates synced, values.schema.json and the README values tables made from values.yaml);
# - `helm lint --strict` and `helm template` for every chart under charts/ (the umbrella
#   charts/sluice after `helm dependency update`, with each of its values-*.yaml);
# - test/helm/render_checks.py: wiring by release name, probes, PDBs, spread, NetworkPolicies,
#   Ingresses, Secrets only by reference, the schemas refusing bad values, and the rendered
#   alert rules through `promtool check rules` and `promtool test rules`;
# - `docker-compose config -q` for compose/docker-compose.yml.
#
# helm: the one scripts/kube.sh builds (v3.19) when it is built; otherwise built once from the
# Go module proxy into ~/.cache/sluice/tools/helm-<version> (outside the checkout, so fresh
# clones share it; SLUICE_TOOLS_DIR moves it; SLUICE_HELM_VERSION, default v3.19.0); else a
# helm already on PATH.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=charts
cd "$SLUICE_ROOT"

HELM_VERSION="${SLUICE_HELM_VERSION:-v3.19.0}"  # kube.sh's version: its build then reuses the Go build cache
TOOLS_DIR="${SLUICE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tools/helm-$HELM_VERSION}"

find_helm() {
  local kube_bin
  kube_bin="$(bash scripts/kube.sh bin 2>/dev/null || true)"
  if [[ -n "$kube_bin" && -x "$kube_bin/helm" && -f "$kube_bin/.complete" ]]; then
    echo "$kube_bin/helm"
  elif [[ -x "$TOOLS_DIR/helm" ]]; then
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

if python3 scripts/charts.py all --check; then
  sl_log "charts/: shared templates, schemas and values tables up to date"
else
  sl_warn "generated chart files are out of date: run python3 scripts/charts.py all"
  failed=$((failed + 1))
fi
# The umbrella's dependencies: the service charts, packaged from file:// (no network).
if [[ -f charts/sluice/Chart.yaml ]] && ! "$HELM" dependency update --skip-refresh charts/sluice >"$out/deps.log" 2>&1; then
  cat "$out/deps.log" >&2
  sl_warn "charts/sluice: helm dependency update failed"
  failed=$((failed + 1))
fi

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
  for values in "$chart"/values-*.yaml; do
    [[ -f "$values" ]] || continue
    if ! "$HELM" lint --strict "$chart" -f "$values" >"$out/$name.lint" 2>&1 ||
      ! "$HELM" template "$name" "$chart" -f "$values" >"$out/$name.yaml" 2>"$out/$name.err"; then
      cat "$out/$name.lint" "$out/$name.err" >&2 2>/dev/null || true
      sl_warn "$values: helm lint or template failed"
      failed=$((failed + 1))
      continue
    fi
    sl_log "$values: lint + template ok ($(grep -c '^kind:' "$out/$name.yaml") objects)"
  done
done

if [[ -f charts/sluice/Chart.yaml ]]; then
  if python3 test/helm/render_checks.py "$HELM" >"$out/render.log" 2>&1; then
    sl_log "test/helm/render_checks.py: $(tail -n 1 "$out/render.log")"
  else
    grep -v '^ok ' "$out/render.log" >&2
    sl_warn "test/helm/render_checks.py failed"
    failed=$((failed + 1))
  fi
fi

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
