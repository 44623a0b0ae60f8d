#!/usr/bin/env bash
# make down: stops Sluice's services, then the local stack. Only what our pid files name.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SLUICE_ROOT"
bash scripts/hosts.sh down
# make demo's exporter of the Deployment's pods (tools/kube-exporter), and its scrape target.
pid="$(sl_read_pidfile var/run/kube-exporter.pid)"
if [[ -n "$pid" ]] && sl_pid_alive "$pid" && sl_pid_cmdline "$pid" | grep -q sluice-kube-exporter; then
  kill -TERM "$pid" && sl_log "kube-exporter stopped (pid $pid)"
fi
rm -f var/run/kube-exporter.pid
bash scripts/artifacts.sh stop
bash scripts/services.sh down
bash scripts/stack.sh down
