#!/usr/bin/env bash
# make up: the local stack and every built service, in the background; prints what runs where.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=up
cd "$SLUICE_ROOT"
bash scripts/stack.sh up
bash scripts/services.sh up
echo
echo "Sluice is up:"
bash scripts/stack.sh status || true
bash scripts/services.sh status || true
cat <<MSG

  Public API     http://127.0.0.1:8080   (token: var/local/admin-token)
  Try            build/dev/cli/sluice release list
  Logs           var/log/<name>.log
  Stop it all    make down
MSG
