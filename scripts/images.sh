#!/usr/bin/env bash
# The container images of Sluice (Dockerfile) and of the compose stack's infrastructure
# (docker/infra/Dockerfile), built with the project's own engine (scripts/docker.sh).
#
#   bash scripts/images.sh build [--from DIR|source] [NAME...]
#                                            build (default: all), tagged sluice/NAME:dev and
#                                            sluice/NAME:$VERSION-$REVISION. The binaries:
#                                            `source` (default) compiles the tree in the
#                                            Dockerfile's build stage (Release); --from DIR takes
#                                            them from the CMake build DIR on this host (built
#                                            first if stale; e.g. build/dev, which the compose
#                                            tier of `make test` uses: no second compile; debug
#                                            binaries, stripped: for tests, not for shipping).
#                                            SLUICE_IMAGES_FROM sets the default of --from.
#   bash scripts/images.sh push              start the local registry (127.0.0.1:15000), push every
#                                            image (only images built from source: it refuses
#                                            prebuilt ones), print NAME@sha256:DIGEST (also written to
#                                            var/images/digests.txt, and as Helm values
#                                            `images.<name>.{repository,digest}` in
#                                            var/images/digests.yaml, for the charts)
#   bash scripts/images.sh list              the image names
#
# Builds run under nice with JOBS (default 2) compiler jobs; BuildKit keeps ccache in a cache
# mount, so only a changed source recompiles. Timings go to var/images/timings.txt. A build from
# source leaves $CACHE/images-source.ok (.ci/run builds the images from source again after
# `make test` when it is there: the BuildKit cache is warm).
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
# The commit's time, not the build's: the same commit gives the same labels.
CREATED="$(git log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)"
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

# The context of the Dockerfile's prebuilt stage, from the CMake build $1: out/<image>/{bin,
# packages} (docker/stage-binaries.sh: stripped copies, their packages) and docker/healthcheck.sh.
# A context of its own, not the repository's: the build stage's `COPY . .` never sees it.
PREBUILT="$OUT/prebuilt"
stage_prebuilt() {
  local dir="$1" type start=$SECONDS
  [[ -f "$dir/CMakeCache.txt" ]] || sl_die "--from $dir: not a CMake build directory (make build makes build/dev)"
  # The binaries and their package lists hold in the images only when the host is what the
  # images are: Debian bookworm.
  # shellcheck disable=SC1091
  [[ "$(. /etc/os-release && echo "${ID:-}-${VERSION_CODENAME:-}")" == debian-bookworm ]] ||
    sl_die "--from $dir: this host is not Debian bookworm like the images; build them from source (--from source)"
  type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$dir/CMakeCache.txt")"
  # Up to date: nothing to do (the build tier of `make test` built them); else the current tree.
  nice cmake --build "$dir" -j"${JOBS:-2}" --target $(docker/stage-binaries.sh targets) >"$OUT/prebuilt-build.log" 2>&1 || {
    tail -n 30 "$OUT/prebuilt-build.log" >&2
    sl_die "building the images' binaries in $dir failed (log $OUT/prebuilt-build.log)"
  }
  rm -rf "$PREBUILT.partial"
  mkdir -p "$PREBUILT.partial/docker"
  docker/stage-binaries.sh "$dir" "$PREBUILT.partial/out" >"$OUT/prebuilt-stage.log" ||
    sl_die "staging the binaries of $dir failed (log $OUT/prebuilt-stage.log)"
  cp docker/healthcheck.sh "$PREBUILT.partial/docker/"
  rm -rf "$PREBUILT" && mv "$PREBUILT.partial" "$PREBUILT"
  BINARIES_FROM="$(realpath --relative-to="$SLUICE_ROOT" "$dir") (${type:-no build type}, stripped), built on the host: for tests, not for shipping"
  sl_log "binaries from $dir (${type:-no build type} build of this tree, stripped copies) staged in $((SECONDS - start))s"
}

build_one() {
  local name="$1" start=$SECONDS ctx=. file=Dockerfile log="$OUT/build-$1.log" args=()
  if is_infra "$name"; then
    ctx="$(stage_infra_context)"
    file="$ctx/Dockerfile"
  elif [[ "$FROM" != source ]]; then
    ctx="$PREBUILT"
    args=(--build-arg SLUICE_BINARIES=prebuilt --build-arg "BINARIES_FROM=$BINARIES_FROM")
  fi
  sl_log "building sluice/$name:$TAG (log $log)"
  if ! nice "$DOCKER" build --network host --progress plain --target "$name" -f "$file" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED" \
    --build-arg "JOBS=${JOBS:-2}" "${args[@]}" \
    -t "sluice/$name:dev" -t "sluice/$name:$TAG" "$ctx" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    sl_die "building $name failed (log $log)"
  fi
  printf '%s %s %ss %s\n' "$(date -u +%FT%TZ)" "$name" "$((SECONDS - start))" \
    "$(is_infra "$name" && echo infra || echo "binaries:$FROM")" >>"$OUT/timings.txt"
  sl_log "sluice/$name:$TAG built in $((SECONDS - start))s"
}

case "${1:-}" in
  build)
    shift
    FROM="${SLUICE_IMAGES_FROM:-source}"
    if [[ "${1:-}" == --from ]]; then
      (($# >= 2)) || sl_die "--from needs a build directory or 'source'"
      FROM="$2"
      shift 2
    fi
    bash scripts/docker.sh up
    names=("$@")
    ((${#names[@]})) || names=("${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}")
    start=$SECONDS
    apps=0
    for n in "${names[@]}"; do is_infra "$n" || apps=1; done
    if [[ "$FROM" != source ]] && ((apps)); then
      stage_prebuilt "$FROM"
      sl_log "the Sluice images hold the binaries of $BINARIES_FROM"
    elif ((apps)); then
      sl_log "the Sluice images hold binaries compiled from source in the Dockerfile's build stage (Release)"
    fi
    for n in "${names[@]}"; do build_one "$n"; done
    # The BuildKit cache now holds the source build (see .ci/run).
    if [[ "$FROM" == source ]] && ((apps)); then date -u +%FT%TZ >"$CACHE/images-source.ok"; fi
    sl_log "${#names[@]} image(s) built in $((SECONDS - start))s"
    ;;
  push)
    for n in "${APP_IMAGES[@]}"; do
      from="$("$DOCKER" image inspect -f '{{index .Config.Labels "sluice.binaries"}}' "sluice/$n:$TAG" 2>/dev/null)" ||
        sl_die "sluice/$n:$TAG is not built (bash scripts/images.sh build)"
      [[ "$from" == source ]] ||
        sl_die "sluice/$n:$TAG holds prebuilt binaries ($from), not for shipping: bash scripts/images.sh build --from source"
    done
    bash scripts/docker.sh registry-up
    : >"$OUT/digests.txt.partial"
    printf '# Generated by scripts/images.sh push: the images in the local registry, by digest.\nimages:\n' \
      >"$OUT/digests.yaml.partial"
    for n in "${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}"; do
      "$DOCKER" tag "sluice/$n:$TAG" "$REGISTRY/sluice/$n:$TAG"
      digest="$("$DOCKER" push "$REGISTRY/sluice/$n:$TAG" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p' | tail -n1)"
      [[ -n "$digest" ]] || sl_die "push of $n gave no digest"
      echo "$REGISTRY/sluice/$n@$digest" | tee -a "$OUT/digests.txt.partial"
      printf '  %s: {repository: %s/sluice/%s, digest: "%s"}\n' "$n" "$REGISTRY" "$n" "$digest" >>"$OUT/digests.yaml.partial"
    done
    mv "$OUT/digests.txt.partial" "$OUT/digests.txt"
    mv "$OUT/digests.yaml.partial" "$OUT/digests.yaml"
    ;;
  list) printf '%s\n' "${APP_IMAGES[@]}" "${INFRA_IMAGES[@]}" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 2 ;;
esac
