#!/usr/bin/env bash
# Renders the example incident charts (rollback-agent's testing/chart_examples.hpp) to PNG
# at the sizes chat and mail clients show, into docs/incident-charts/ for review. The PNGs are
# those the unit test rollback_chart_png_test makes and checks; this only points it at docs/.
#
#   scripts/incident-charts.sh        build (dev preset) and render
#
# Needs rsvg-convert (librsvg2-bin; scripts/install-deps.sh installs it).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=charts

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SLUICE_BUILD_DIR:-$ROOT/build/dev}"
OUT="$ROOT/docs/incident-charts"

sl_have rsvg-convert || sl_die "rsvg-convert is missing: run scripts/install-deps.sh (librsvg2-bin)"
cd "$ROOT"
[[ -f "$BUILD_DIR/build.ninja" ]] || cmake --preset dev >/dev/null
nice cmake --build "$BUILD_DIR" --target rollback_chart_png_test -j2 >/dev/null
mkdir -p "$OUT"
rm -f "$OUT"/incident-chart-*.png
SLUICE_CHART_PNG_DIR="$OUT" "$BUILD_DIR/services/rollback-agent/rollback_chart_png_test" --gtest_brief=1 >/dev/null ||
  sl_die "rollback_chart_png_test failed; run it for the details"
sl_log "$(find "$OUT" -name 'incident-chart-*.png' | wc -l) charts in ${OUT#"$ROOT"/}"
