#!/usr/bin/env bash
# Argo Rollouts' controller (the anchor of `make bench`'s kube-canary part), built from its
# released source through the Go module proxy into the shared Go caches, like scripts/kube.sh
# builds the control plane. Its go.mod carries replace directives (k8s.io staging modules), so
# `go install pkg@version` refuses it: the module is downloaded, copied to a scratch directory
# and built there as the main module.
#
#   bash tools/kube/argo-rollouts.sh build   build once (cached); print the binary's path
#   bash tools/kube/argo-rollouts.sh crds    print the directory of its CRD manifests
#
# Binary: ~/.cache/sluice/argo-rollouts/<version>-<go version>/rollouts-controller.
# Env: SLUICE_ARGO_ROLLOUTS_VERSION (v1.8.3), SLUICE_GO_CACHE_DIR, SLUICE_ARGO_CACHE_DIR.
set -euo pipefail

VERSION="${SLUICE_ARGO_ROLLOUTS_VERSION:-v1.8.3}"
MODULE=github.com/argoproj/argo-rollouts
GO_CACHE_ROOT="${SLUICE_GO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/go}"
CACHE_ROOT="${SLUICE_ARGO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/argo-rollouts}"

go_env() {
  env GOMODCACHE="$GO_CACHE_ROOT/mod" GOCACHE="$GO_CACHE_ROOT/build" GOFLAGS="-p=2 -buildvcs=false" "$@"
}

module_dir() {
  go_env go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

cmd_build() {
  local out src
  out="$CACHE_ROOT/$VERSION-$(go env GOVERSION)"
  if [[ -x "$out/rollouts-controller" ]]; then
    echo "$out/rollouts-controller"
    return
  fi
  src="$(module_dir)"
  [[ -n "$src" && -d "$src" ]] || { echo "argo-rollouts: cannot download $MODULE@$VERSION" >&2; exit 1; }
  TMP_SRC="$(mktemp -d)"
  trap 'chmod -R u+w "$TMP_SRC" 2>/dev/null; rm -rf "$TMP_SRC"' EXIT
  cp -r "$src/." "$TMP_SRC/"
  chmod -R u+w "$TMP_SRC"
  mkdir -p "$out"
  echo "argo-rollouts: building rollouts-controller $VERSION (several minutes)" >&2
  (cd "$TMP_SRC" && go_env go build -ldflags="-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${VERSION#v}" -o "$out/rollouts-controller.tmp" ./cmd/rollouts-controller)
  mv "$out/rollouts-controller.tmp" "$out/rollouts-controller"
  echo "$out/rollouts-controller"
}

cmd_crds() { echo "$(module_dir)/manifests/crds"; }

case "${1:-}" in
  build) cmd_build ;;
  crds) cmd_crds ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
