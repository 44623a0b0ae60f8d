#!/usr/bin/env bash
# Checks every image `make images` built, without starting the stack:
#   - each binary in /usr/local/bin finds every shared library it loads (ldd inside the image),
#     and each DT_NEEDED entry (readelf, outside) is among them: a new dependency that the
#     runtime stage lacks fails here;
#   - the binaries are stripped (no .symtab), the image runs as uid 10001, has no compiler,
#     make or cmake, has the OCI labels, a HEALTHCHECK and tini as PID 1, and says where its
#     binaries come from (label sluice.binaries: source, or prebuilt with sluice.binaries.from);
#   - SIGTERM stops a service at once (docker stop of the capture server within 5 s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
eval "$(bash scripts/docker.sh env)"
DOCKER=/usr/bin/docker
[[ -x "$DOCKER" ]] || DOCKER=docker
TAG="${SLUICE_IMAGE_TAG:-dev}"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for name in release-intake rollout-planner executor metric-watcher rollback-agent notifier \
  sluice-agent sluice capture-server host; do
  img="sluice/$name:$TAG"
  "$DOCKER" image inspect "$img" >/dev/null 2>&1 || { fail "$img is not built (make images)"; continue; }
  # ldd inside the image: every library of every binary resolves.
  out="$("$DOCKER" run --rm --entrypoint /bin/bash "$img" -c '
    shopt -s nullglob
    for b in /usr/local/bin/* /usr/local/lib/sluice/*; do
      [[ -x "$b" && "$(head -c 4 "$b")" == $'"'"'\x7fELF'"'"' ]] || continue
      echo "== $b"; ldd "$b" || echo "ldd failed"
    done
    echo "== uid $(id -u)"
    for t in gcc g++ cc c++ make cmake ninja; do command -v "$t" && echo "build tool $t"; done; true')"
  grep -q '^== /' <<<"$out" || fail "$img: no binary found"
  if grep -qE 'not found|ldd failed' <<<"$out"; then
    fail "$img: libraries missing: $(grep -E '^== /|not found|ldd failed' <<<"$out" | tr '\n' ' ')"
  fi
  if grep -q '^build tool' <<<"$out"; then
    fail "$img has build tools: $(grep '^build tool' <<<"$out" | tr '\n' ' ')"
  fi
  # readelf outside: DT_NEEDED of each binary appears in its ldd output; stripped.
  cid="$("$DOCKER" create "$img")"
  for b in $(grep '^== /' <<<"$out" | cut -c4-); do
    "$DOCKER" cp "$cid:$b" "$tmp/bin" >/dev/null
    if readelf -S "$tmp/bin" | grep -q '\.symtab'; then fail "$img: $b is not stripped"; fi
    for lib in $(readelf -d "$tmp/bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      awk -v b="== $b" '$0 == b { on = 1; next } /^== / { on = 0 } on' <<<"$out" | grep -q "^[[:space:]]*$lib => /" ||
        fail "$img: $b needs $lib, not resolved in the image"
    done
    rm -f "$tmp/bin"
  done
  "$DOCKER" rm "$cid" >/dev/null
  # Configuration: user, labels, health check, init.
  cfg="$("$DOCKER" image inspect -f '{{.Config.User}}|{{index .Config.Labels "org.opencontainers.image.title"}}|{{index .Config.Labels "org.opencontainers.image.version"}}|{{index .Config.Labels "org.opencontainers.image.revision"}}|{{if .Config.Healthcheck}}{{index .Config.Healthcheck.Test 0}}{{end}}|{{index .Config.Entrypoint 0}}|{{index .Config.Labels "sluice.binaries"}}|{{index .Config.Labels "sluice.binaries.from"}}' "$img")"
  IFS='|' read -r user title version revision health init binaries from <<<"$cfg"
  [[ "$user" == 10001:10001 ]] || fail "$img runs as '$user', not 10001:10001"
  [[ "$title" == "sluice/$name" && -n "$version" && -n "$revision" ]] || fail "$img: OCI labels missing ($cfg)"
  [[ "$name" == sluice || "$health" == CMD ]] || fail "$img has no HEALTHCHECK"
  [[ "$init" == /usr/bin/tini ]] || fail "$img does not start under tini ($init)"
  grep -q '^== uid 10001$' <<<"$out" || fail "$img: processes do not run as uid 10001"
  case "$binaries" in
    source) ;;
    prebuilt) [[ -n "$from" ]] || fail "$img: prebuilt binaries, but no sluice.binaries.from label" ;;
    *) fail "$img: label sluice.binaries is '$binaries', not source or prebuilt" ;;
  esac
  echo "ok   $img ($(grep -c '^== /' <<<"$out") binaries, $binaries${from:+: $from})"
done

# SIGTERM stops a service at once.
cid="$("$DOCKER" run -d --rm "sluice/capture-server:$TAG")"
sleep 2
start=$(date +%s%N)
"$DOCKER" stop -t 10 "$cid" >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
((ms < 5000)) || fail "docker stop of the capture server took ${ms} ms"
echo "ok   SIGTERM: the capture server stopped in ${ms} ms"

if ((fails)); then
  echo "images: $fails failure(s)"
  exit 1
fi
echo "images: every image checked"
