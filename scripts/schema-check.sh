#!/usr/bin/env bash
# Checks that the schemas only ever grew: sluice.v1 (the events) and sluice.agent.v1 (the
# executor <-> sluice-agent HTTP contract, JSON on the wire: a rename breaks it as surely as a
# renumbering). The working tree's descriptors are compared with those of every earlier commit
# that changed the schemas (HEAD~1's included), so a removal or renumbering anywhere in history
# since then is caught.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${SCHEMA_COMPAT:-build/dev/tools/schema-compat/schema-compat}
[ -x "$tool" ] || { echo "schema-check: $tool is not built; run 'make build' first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages=(sluice/v1 sluice/agent/v1)

describe() {  # describe <schemas-root> <out.pb>: every package that exists in that tree
  local files=()
  for p in "${packages[@]}"; do
    [ -d "$1/$p" ] && files+=("$1/$p"/*.proto)
  done
  protoc --include_imports --descriptor_set_out="$2" -I "$1" "${files[@]}"
}

describe schemas "$work/next.pb"
paths=("${packages[@]/#/schemas/}")
commits=$(git log --format=%H -- "${paths[@]}" 2>/dev/null || true)
if [ -z "$commits" ]; then
  echo "schema-check: no earlier schema version in git history; nothing to compare"
  exit 0
fi
checked=0
failed=0
for c in $commits; do
  dir="$work/$c"
  mkdir -p "$dir"
  git archive "$c" schemas/sluice | tar -x -C "$dir"
  describe "$dir/schemas" "$dir/prev.pb"
  if ! "$tool" "$dir/prev.pb" "$work/next.pb" > "$dir/report.txt"; then
    echo "schema-check: changes since ${c:0:10} are not additive:"
    sed 's/^/  /' "$dir/report.txt"
    failed=1
  fi
  checked=$((checked + 1))
done
if [ "$failed" -ne 0 ]; then
  echo "schema-check: FAILED. sluice.v1 and sluice.agent.v1 accept only additive changes (see schemas/sluice/v1/README.md)." >&2
  exit 1
fi
echo "schema-check: sluice.v1 and sluice.agent.v1 are additive against $checked earlier version(s)"
