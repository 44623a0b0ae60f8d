#!/usr/bin/env bash
# The container images of Sluice (Dockerfile) and of the compose stack's infrastructure
# (docker/infra/Dockerfile), built with the project's own engine (scripts/docker.sh).
#
#   bash scripts/images.sh build [NAME...]   build (default: all), tagged sluice/NAME:dev and
#                                            sluice/NAME:$VERSION
#   bash scripts/images.sh push              start the local registry (127.0.0.1:15000), push every
#                                            image, print NAME@sha256:DIGEST (also written to
#                                            var/images/digests.txt for the charts)
#   bash scripts/images.sh list              the image names
#
# Builds run under nice with JOBS (default 2) compiler jobs; BuildKit keeps ccache in a cache
# mount, so only a changed source recompiles. Timings go to var/images/timings.txt.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=images
cd "$SLUICE_ROOT"
eval "$(bash scripts/docker.sh env)"
export DOCKER_BUILDKIT=1
DOCKER=/usr/bin/docker
[[ -x "$DOCKER" ]] || DOCKER=docker

APP_IMAGES=(release-intake rollout-planner executor metric-watcher rollback-agent notifier
  sluice-agent sluice capture-server host)
INFRA_IMAGES=(kafka postgres redis prometheus alertmanager artifact-store)
OUT="$SLUICE_ROOT/var/images"
CACHE="${SLUICE_DOCKER_CACHE:-$HOME/.cache/sluice}"
MOTO_VERSION=5.2.6
REGISTRY="127.0.0.1:${SLUICE_REGISTRY_PORT:-15000}"
VERSION="$(sed -n 's/^project(sluice VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
REVISION="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
TAG="${SLUICE_IMAGE_TAG:-$VERSION-$REVISION}"
mkdir -p "$OUT"

is_infra() { local n; for n in "${INFRA_IMAGES[@]}"; do [[ "$n" == "$1" ]] && return 0; done; return 1; }

stage_infra_context() {
  local ctx="$OUT/infra-context" libs
  bash scripts/stack.sh fetch-kafka >&2
  libs="$(ls -d var/cache/kafka/*/libs | head -n1)"
  mkdir -p "$ctx"
  cp docker/infra/* docker/healthcheck.sh "$ctx/"
  # Hard links when on the same file system: no copy of the jars, and an unchanged context.
  rm -rf "$ctx/kafka-libs"
  cp -al "$libs" "$ctx/kafka-libs" 2>/dev/null || cp -a "$libs" "$ctx/kafka-libs"
  # The artifact store's wheels (moto's S3 server), fetched once with the host's pip.
  local wheels="$CACHE/wheels/moto-$MOTO_VERSION"
  if [[ ! -f "$wheels/.complete" ]]; then
    sl_log "fetching moto[s3,server]==$MOTO_VERSION wheels from PyPI into $wheels" >&2
    rm -rf "$wheels" && mkdir -p "$wheels"
    nice python3 -m pip download -q --only-binary=:all: -d "$wheels" "moto[s3,server]==$MOTO_VERSION" >&2 ||
      sl_die "pip download of moto failed"
    touch "$wheels/.complete"
  fi
  rm -rf "$ctx/moto-wheels"
  cp -al "$wheels" "$ctx/moto-wheels" 2>/dev/null || cp -a "$wheels" "$ctx/moto-wheels"
  echo "$ctx"
}

build_one() {
  local name="$1" start=$SECONDS ctx=. file=Dockerfile log="$OUT/build-$1.log"
  if is_infra "$name"; then
    ctx="$(stage_infra_context)"
    file="$ctx/Dockerfile"
  fi
  sl_log "building sluice/$name:$TAG (log $log)"
  if ! nice "$DOCKER" build --network host --progress plain --target "$name" -f "$file" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    --build-arg "JOBS=${JOBS:-2}" \
    -t "sluice/$name:dev" -t "sluice/$name:$TAG" "$ctx" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    sl_die "building $name failed (log $log)"
  fi
  printf '%s %s %ss\n' "$(date -u +%FT%TZ)" "$name" "$((SECONDS - start))" >>"$OUT/timings.txt"
  sl_log "sluice/$name:$TAG built in $((SECONDS - start))s"
}

case "${1:-}" in
  build)
    shift
    bash scripts/docker.sh up
    names=("$@")
    ((${#names[@]})) || names=("${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}")
    start=$SECONDS
    for n in "${names[@]}"; do build_one "$n"; done
    sl_log "${#names[@]} image(s) built in $((SECONDS - start))s"
    ;;
  push)
    bash scripts/docker.sh registry-up
    : >"$OUT/digests.txt.partial"
    for n in "${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}"; do
      "$DOCKER" tag "sluice/$n:$TAG" "$REGISTRY/sluice/$n:$TAG"
      digest="$("$DOCKER" push "$REGISTRY/sluice/$n:$TAG" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' | tail -n1)"
      [[ -n "$digest" ]] || sl_die "push of $n gave no digest"
      echo "$REGISTRY/sluice/$n@$digest" | tee -a "$OUT/digests.txt.partial"
    done
    mv "$OUT/digests.txt.partial" "$OUT/digests.txt"
    ;;
  list) printf '%s\n' "${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
