#!/usr/bin/env bash
# Which binary goes into which image, in one place:
#
#   docker/stage-binaries.sh targets            the CMake targets the images need
#   docker/stage-binaries.sh BUILD_DIR OUT_DIR  OUT_DIR/<image>/bin: stripped copies of the image's
#                                               binaries from the CMake build BUILD_DIR;
#                                               OUT_DIR/<image>/packages: the Debian packages of the
#                                               libraries they load (docker/runtime-packages.sh)
#
# The Dockerfile's build stage stages its Release build with it; `scripts/images.sh build --from
# DIR` stages a host build (build/dev in the compose tier of `make test`) for the Dockerfile's
# prebuilt stage. The host must then be Debian bookworm like the images' base, so that the
# package lists hold there too (test/compose/images_test.sh checks every image with ldd).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# image: binaries (the demo host's binaries: sluice-agent and the demo application's).
IMAGES=(
  "release-intake: release-intake"
  "rollout-planner: rollout-planner"
  "executor: executor"
  "metric-watcher: metric-watcher"
  "rollback-agent: rollback-agent"
  "notifier: notifier"
  "sluice-agent: sluice-agent"
  "sluice: sluice"
  "capture-server: sluice-capture-server"
  "host: sluice-agent sluice-demo-app sluice-demo-load"
)

if [[ "${1:-}" == targets ]]; then
  for line in "${IMAGES[@]}"; do printf '%s\n' ${line#*:}; done | sort -u | tr '\n' ' '
  echo
  exit 0
fi
(($# == 2)) || { sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
build="$1" out="$2"
[[ -d "$build" ]] || { echo "stage-binaries: no build directory $build" >&2; exit 1; }

for line in "${IMAGES[@]}"; do
  name="${line%%:*}"
  rm -rf "${out:?}/$name"
  mkdir -p "$out/$name/bin"
  for f in ${line#*:}; do
    src="$(find "$build" -type f -name "$f" -perm -u+x -not -path '*/CMakeFiles/*' | sort | head -n1)"
    [[ -n "$src" ]] || { echo "stage-binaries: $f is not built in $build" >&2; exit 1; }
    install -m 0755 "$src" "$out/$name/bin/$f"
  done
  strip --strip-unneeded "$out/$name"/bin/*
  "$here/runtime-packages.sh" "$out/$name"/bin/* >"$out/$name/packages"
  echo "$name: $(tr '\n' ' ' <"$out/$name/packages")"
done
