# shellcheck shell=bash
# Shared helpers for the Sluice shell scripts. Source it; it defines functions
# and SLUICE_ROOT (the repository root) and changes nothing else.

SLUICE_ROOT="${SLUICE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

# One line per step, prefixed so interleaved output stays readable.
sl_log() { printf '[%s] %s\n' "${SL_TAG:-sluice}" "$*"; }
sl_warn() { printf '[%s] WARNING: %s\n' "${SL_TAG:-sluice}" "$*" >&2; }
sl_die() {
  printf '[%s] ERROR: %s\n' "${SL_TAG:-sluice}" "$*" >&2
  exit 1
}

sl_have() { command -v "$1" >/dev/null 2>&1; }

# sl_pid_alive PID: the process exists (and is not a zombie).
sl_pid_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != "Z" ]]
}

# sl_pid_cmdline PID: the command line with spaces for NULs.
sl_pid_cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# sl_read_pidfile FILE: prints the pid named by FILE (empty when missing).
sl_read_pidfile() {
  if [[ -f "$1" ]]; then head -n1 "$1" | tr -dc '0-9'; fi
}

# sl_port_owner PORT: "pid N (cmd)" of the process listening on 127.0.0.1:PORT
# (or any address), empty when nothing listens.
sl_port_owner() {
  local port="$1" line pids p pid=""
  line="$(ss -H -ltnp "( sport = :$port )" 2>/dev/null | head -n1)"
  [[ -n "$line" ]] || return 0
  # Forked workers share the listening socket (PostgreSQL backends do): name
  # the one whose parent is not among them.
  pids="$(grep -o 'pid=[0-9]*' <<<"$line" | cut -d= -f2 | sort -un)"
  for p in $pids; do
    sl_pid_alive "$p" || continue
    if ! grep -qx "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" <<<"$pids"; then
      pid="$p"
      break
    fi
  done
  if [[ -n "$pid" ]]; then
    printf 'pid %s (%s)' "$pid" "$(sl_pid_cmdline "$pid" | cut -c1-80 | sed 's/ *$//')"
  else
    printf 'an unknown process'
  fi
}

# sl_port_open PORT [HOST]: a TCP connection to HOST:PORT succeeds.
sl_port_open() {
  local port="$1" host="${2:-127.0.0.1}"
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# sl_wait_until TIMEOUT_S DESCRIPTION CMD...: polls CMD every 0.5 s.
sl_wait_until() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      sl_warn "timed out after ${timeout}s waiting for ${what}"
      return 1
    fi
    sleep 0.5
  done
}

# sl_http_ok URL: GET returns 2xx.
sl_http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
