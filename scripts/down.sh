#!/usr/bin/env bash
# make down: stops Sluice's services, then the local stack. Only what our pid files name.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"
bash scripts/hosts.sh down
bash scripts/artifacts.sh stop
bash scripts/services.sh down
bash scripts/stack.sh down
