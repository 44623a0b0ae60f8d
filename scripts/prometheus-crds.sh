#!/usr/bin/env bash
# The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, for the charts'
# metrics.serviceMonitor / metrics.prometheusRule on the local control plane.
#
#   bash scripts/prometheus-crds.sh fetch     print the directory holding the two CRD files
#   bash scripts/prometheus-crds.sh install   apply them (server-side, idempotent) with the
#                                             local control plane's admin kubeconfig
#
# The files come from the prometheus-operator Go module (example/prometheus-operator-crd/),
# downloaded through the Go module proxy (checksummed by go.sum's database like any module),
# cached in ~/.cache/sluice/crds/prometheus-operator-<version> (SLUICE_CRD_CACHE_DIR; Go's
# module cache in ~/.cache/sluice/go, shared with scripts/kube.sh).
# SLUICE_PROMETHEUS_OPERATOR_VERSION, default v0.85.0.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=crds
cd "$SLUICE_ROOT"

VERSION="${SLUICE_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
MODULE=github.com/prometheus-operator/prometheus-operator
CACHE="${SLUICE_CRD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/crds}/prometheus-operator-$VERSION"
GO_CACHE_ROOT="${SLUICE_GO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/go}"
FILES=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml)

fetch() {
  local f have=1
  for f in "${FILES[@]}"; do [[ -s "$CACHE/$f" ]] || have=0; done
  if ((have == 0)); then
    sl_have go || sl_die "go is missing (the CRDs come from the Go module proxy); run scripts/install-deps.sh"
    sl_log "downloading $MODULE@$VERSION through the Go module proxy (once; cached in $CACHE)" >&2
    local dir
    dir="$(cd /tmp && GOMODCACHE="$GO_CACHE_ROOT/mod" GOFLAGS=-modcacherw go mod download -json "$MODULE@$VERSION" |
      python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')" ||
      sl_die "go mod download $MODULE@$VERSION failed"
    mkdir -p "$CACHE"
    for f in "${FILES[@]}"; do
      [[ -s "$dir/example/prometheus-operator-crd/$f" ]] || sl_die "$MODULE@$VERSION has no example/prometheus-operator-crd/$f"
      cp "$dir/example/prometheus-operator-crd/$f" "$CACHE/$f.tmp"
      mv "$CACHE/$f.tmp" "$CACHE/$f"
    done
  fi
  echo "$CACHE"
}

install_crds() {
  local dir kubectl f
  dir="$(fetch)"
  kubectl="$(bash scripts/kube.sh bin)/kubectl"
  [[ -x "$kubectl" ]] || sl_die "kubectl is not built: run bash scripts/kube.sh up"
  for f in "${FILES[@]}"; do
    # Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
    "$kubectl" --kubeconfig "${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}/local/kubeconfig" apply --server-side \
      --force-conflicts --field-manager=sluice-crds -f "$dir/$f" >/dev/null
  done
  for f in servicemonitors prometheusrules; do
    "$kubectl" --kubeconfig "${SLUICE_VAR_DIR:-$SLUICE_ROOT/var}/local/kubeconfig" wait --for=condition=Established \
      --timeout=30s "crd/$f.monitoring.coreos.com" >/dev/null
  done
  sl_log "ServiceMonitor and PrometheusRule CRDs of prometheus-operator $VERSION installed"
}

case "${1:-}" in
  fetch) fetch ;;
  install) install_crds ;;
  *)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
    exit 2
    ;;
esac
