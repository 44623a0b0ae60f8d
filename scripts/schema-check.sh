#!/usr/bin/env bash
# Checks that schemas/sluice/v1 only ever grew: the working tree's descriptors are compared
# with those of every earlier commit that changed the schemas (HEAD~1's included), so a
# removal or renumbering anywhere in history since then is caught.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${SCHEMA_COMPAT:-build/dev/tools/schema-compat/schema-compat}
[ -x "$tool" ] || { echo "schema-check: $tool is not built; run 'make build' first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

describe() {  # describe <schemas-root> <out.pb>
  protoc --include_imports --descriptor_set_out="$2" -I "$1" "$1"/sluice/v1/*.proto
}

describe schemas "$work/next.pb"
commits=$(git log --format=%H -- schemas/sluice/v1 2>/dev/null || true)
if [ -z "$commits" ]; then
  echo "schema-check: no earlier schema version in git history; nothing to compare"
  exit 0
fi
checked=0
failed=0
for c in $commits; do
  dir="$work/$c"
  mkdir -p "$dir"
  git archive "$c" schemas/sluice/v1 | tar -x -C "$dir"
  describe "$dir/schemas" "$dir/prev.pb"
  if ! "$tool" "$dir/prev.pb" "$work/next.pb" > "$dir/report.txt"; then
    echo "schema-check: changes since ${c:0:10} are not additive:"
    sed 's/^/  /' "$dir/report.txt"
    failed=1
  fi
  checked=$((checked + 1))
done
if [ "$failed" -ne 0 ]; then
  echo "schema-check: FAILED. sluice.v1 accepts only additive changes (see schemas/sluice/v1/README.md)." >&2
  exit 1
fi
echo "schema-check: sluice.v1 is additive against $checked earlier version(s)"
