# The steps the executor's ssh driver runs on an agentless host (the same as sluice-agent's).
# Sent as it is on stdin to `sh -s -- OPERATION ARG...`: the script is fixed text, and every
# value of a spec reaches it as a positional argument (quoted by the executor's ShellQuote, one
# word each), never as part of a shell line. Output: `sluice:key=value` lines on stdout, read by
# the executor (ParseStepReport); everything the tools and the service's commands print goes to
# stderr. Needs a POSIX sh, GNU coreutils (mv -T, readlink -f, timeout, sha256sum), tar, flock
# and curl or wget on the host.
#
#   status  ROOT
#   deploy  ROOT KEEP VERSION URL SHA256 DEPLOYMENT GENERATION DOWNLOAD_TIMEOUT_S SERVICE...
#   revert  ROOT KEEP VERSION DEPLOYMENT GENERATION SERVICE...
# SERVICE: RESTART_TIMEOUT_S HEALTH_TIMEOUT_S HEALTH_URL N_RESTART RESTART_ARG... N_HEALTH
# HEALTH_ARG... (N_RESTART 0 on a revert: the service of the last deploy, kept on the host).
# DEPLOYMENT is "~" when the command names none.
set -u
umask 022

say() { printf 'sluice:%s=%s\n' "$1" "$2"; }

report_state() {
  say current "$(current_version)"
  say previous "$ST_PREV"
  say health "$ST_HEALTH"
  printf '%s' "$ST_INSTALLED" | while read -r v s; do say installed "$v"; done
  say highest_generation "$(highest_generation)"
}

# finish RESULT REASON MESSAGE [retryable]
finish() {
  say result "$1"
  say reason "$2"
  say message "$3"
  [ "${4:-}" = retryable ] && say retryable 1
  report_state
  exit 0
}

refuse() { finish failed "$1" "$2"; }

current_version() {
  link=$(readlink "$ROOT/current" 2>/dev/null) || return 0
  printf '%s' "${link#releases/}"
}

load_state() {
  ST_PREV='' ST_OWNER='~' ST_HEALTH=unknown ST_GENS='' ST_INSTALLED=''
  [ -f "$SD/state" ] || return 0
  while read -r k a b; do
    case $k in
      previous) ST_PREV=$a ;;
      owner) ST_OWNER=$a ;;
      health) ST_HEALTH=$a ;;
      gen) ST_GENS="$ST_GENS$a $b
" ;;
      installed) ST_INSTALLED="$ST_INSTALLED$a $b
" ;;
    esac
  done <"$SD/state"
}

save_state() {
  {
    printf 'previous %s\nowner %s\nhealth %s\n' "$ST_PREV" "$ST_OWNER" "$ST_HEALTH"
    printf '%s' "$ST_GENS" | tail -n 256 | while read -r d g; do printf 'gen %s %s\n' "$d" "$g"; done
    printf '%s' "$ST_INSTALLED" | while read -r v s; do printf 'installed %s %s\n' "$v" "$s"; done
  } >"$SD/state.tmp" && mv -f "$SD/state.tmp" "$SD/state" || refuse install_failed "cannot write $SD/state"
}

generation_of() {
  printf '%s' "$ST_GENS" | while read -r d g; do
    if [ "$d" = "$1" ]; then printf '%s' "$g"; break; fi
  done
}

highest_generation() {
  printf '%s' "$ST_GENS" | { h=0; while read -r d g; do [ "$g" -gt "$h" ] && h=$g; done; printf '%s' "$h"; }
}

# The fencing rule: an older generation of the same deployment is refused; the same one is the
# executor's retry.
fence() {
  seen=$(generation_of "$DEP")
  if [ -n "$seen" ] && [ "$GEN" -lt "$seen" ]; then
    finish stale stale_generation "generation $GEN of deployment $DEP is older than $seen, seen here"
  fi
  rest=$(printf '%s' "$ST_GENS" | while read -r d g; do [ "$d" = "$DEP" ] || printf '%s %s\n' "$d" "$g"; done)
  ST_GENS="${rest:+$rest
}$DEP $GEN
"
}

installed_sha() {
  printf '%s' "$ST_INSTALLED" | while read -r v s; do
    if [ "$v" = "$1" ]; then printf '%s' "$s"; break; fi
  done
}

forget_installed() {
  rest=$(printf '%s' "$ST_INSTALLED" | while read -r v s; do [ "$v" = "$1" ] || printf '%s %s\n' "$v" "$s"; done)
  ST_INSTALLED="${rest:+$rest
}"
}

lock() {
  mkdir -p "$ROOT/releases" "$SD/tmp" || refuse install_failed "cannot create $ROOT"
  exec 9>"$SD/lock" || refuse install_failed "cannot open $SD/lock"
  flock -w 30 9 || finish failed operation_in_progress "another operation holds $SD/lock" retryable
}

# Reads the service words into variables; N_RESTART 0 loads the ones kept by the last deploy.
read_service() {
  RESTART_TIMEOUT=$1 HEALTH_TIMEOUT=$2 HEALTH_URL=$3
  shift 3
  n=$1
  shift
  if [ "$n" -eq 0 ]; then
    [ -f "$SD/restart.args" ] || refuse install_failed "no service kept from a deploy: send one"
    shift
    SERVICE_KEPT=1
    return 0
  fi
  SERVICE_KEPT=0
  : >"$SD/restart.args.tmp"
  i=0
  while [ "$i" -lt "$n" ]; do printf '%s\0' "$1" >>"$SD/restart.args.tmp"; shift; i=$((i + 1)); done
  : >"$SD/health.args.tmp"
  n=$1
  shift
  i=0
  while [ "$i" -lt "$n" ]; do printf '%s\0' "$1" >>"$SD/health.args.tmp"; shift; i=$((i + 1)); done
  printf '%s\0' "$RESTART_TIMEOUT" "$HEALTH_TIMEOUT" "$HEALTH_URL" >"$SD/service.tmp"
}

# Makes the service just read the one kept for later reverts (after the fence let it in).
keep_service() {
  [ "$SERVICE_KEPT" = 1 ] && return 0
  mv -f "$SD/restart.args.tmp" "$SD/restart.args" && mv -f "$SD/health.args.tmp" "$SD/health.args" &&
    mv -f "$SD/service.tmp" "$SD/service" || refuse install_failed "cannot keep the service in $SD"
  SERVICE_KEPT=1
}

# run_args FILE TIMEOUT: runs the NUL-separated argv in FILE, without a shell, in the release.
run_args() {
  [ -s "$1" ] || return 0
  (cd "$ROOT/current" && SLUICE_RELEASE_VERSION=$VERSION SLUICE_RELEASE_DIR=$ROOT/current \
    xargs -0 -x timeout "$2" <"$1" >&2 2>&1)
}

health_ok() {
  if [ -s "$SD/health.args" ]; then
    run_args "$SD/health.args" "$1" </dev/null
  else
    url=$(tr '\0' '\n' <"$SD/service" | sed -n 3p)
    curl -fsS -o /dev/null --max-time "$1" "$url" </dev/null >&2 2>&1
  fi
}

restart_and_check() {
  keep_service
  rt=$(tr '\0' '\n' <"$SD/service" | sed -n 1p)
  ht=$(tr '\0' '\n' <"$SD/service" | sed -n 2p)
  if ! run_args "$SD/restart.args" "$rt" </dev/null; then
    ST_HEALTH=unhealthy
    save_state
    refuse restart_failed "version $VERSION is current but the restart command failed"
  fi
  end=$(($(date +%s) + ht))
  while :; do
    now=$(date +%s)
    left=$((end - now))
    [ "$left" -lt 1 ] && left=1
    if health_ok "$left"; then
      ST_HEALTH=healthy
      return 0
    fi
    [ "$(date +%s)" -ge "$end" ] && break
    sleep 1
  done
  ST_HEALTH=unhealthy
  save_state
  refuse health_check_failed "version $VERSION is current but its health check failed within ${ht}s"
}

switch_to() {
  rm -f "$ROOT/.current.tmp"
  ln -s "releases/$1" "$ROOT/.current.tmp" && mv -fT "$ROOT/.current.tmp" "$ROOT/current" ||
    refuse install_failed "cannot switch $ROOT/current to $1"
  cur=$CURRENT
  [ "$cur" != "$1" ] && ST_PREV=$cur
  CURRENT=$1
  ST_HEALTH=unknown
  save_state
}

download() {
  f=$SD/tmp/artifact.$$
  rm -f "$f"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --proto =http,https --max-time "$DOWNLOAD_TIMEOUT" -o "$f" "$URL" </dev/null >&2 2>&1
  else
    wget -q -T "$DOWNLOAD_TIMEOUT" -O "$f" "$URL" </dev/null >&2 2>&1
  fi || {
    rm -f "$f"
    finish failed download_failed "cannot download $URL" retryable
  }
  got=$(sha256sum "$f" | cut -d' ' -f1)
  if [ "$got" != "$SHA" ]; then
    rm -f "$f"
    refuse checksum_mismatch "artifact $URL has sha256 $got, expected $SHA"
  fi
}

# Unpacks into a fresh directory and refuses absolute names, '..' components, links that point
# out of the release, and anything but files, directories and links.
unpack() {
  stage=$SD/tmp/stage.$$
  rm -rf "$stage"
  mkdir "$stage" || refuse install_failed "cannot create $stage"
  names=$(tar -tzf "$f" </dev/null) || { rm -rf "$stage" "$f"; refuse unsafe_archive "not a gzip tar archive"; }
  if printf '%s\n' "$names" | grep -Eq '^/|(^|/)\.\.(/|$)'; then
    rm -rf "$stage" "$f"
    refuse unsafe_archive "an entry has an absolute path or a '..' component"
  fi
  tar -xzf "$f" -C "$stage" --no-same-owner </dev/null >&2 2>&1 || {
    rm -rf "$stage" "$f"
    refuse unsafe_archive "the archive does not unpack"
  }
  rm -f "$f"
  real=$(cd "$stage" && pwd -P)
  bad=$(find "$stage" ! -type f ! -type d ! -type l -print | head -n 1)
  [ -z "$bad" ] && bad=$(find "$stage" -type l -exec sh -c '
    root=$1; shift
    for l do
      t=$(readlink -f -- "$l") || { echo x; continue; }
      case $t in "$root" | "$root"/*) ;; *) echo x ;; esac
    done' sluice-check "$real" {} + </dev/null | head -n 1)
  if [ -n "$bad" ]; then
    rm -rf "$stage"
    refuse unsafe_archive "an entry is a link out of the release or a special file"
  fi
  rm -rf "$ROOT/releases/$VERSION"
  mv "$stage" "$ROOT/releases/$VERSION" || refuse install_failed "cannot move the release into place"
  forget_installed "$VERSION"
  ST_INSTALLED="$ST_INSTALLED$VERSION $SHA
"
  save_state
}

# At most KEEP installed versions, oldest first, never the current or the previous one.
prune() {
  count=$(printf '%s' "$ST_INSTALLED" | grep -c .)
  for v in $(printf '%s' "$ST_INSTALLED" | cut -d' ' -f1); do
    [ "$count" -le "$KEEP" ] && break
    [ "$v" = "$CURRENT" ] || [ "$v" = "$ST_PREV" ] && continue
    rm -rf "$ROOT/releases/$v"
    forget_installed "$v"
    count=$((count - 1))
  done
}

op_deploy() {
  KEEP=$1 VERSION=$2 URL=$3 SHA=$4 DEP=$5 GEN=$6 DOWNLOAD_TIMEOUT=$7
  shift 7
  lock
  load_state
  CURRENT=$(current_version)
  fence
  ST_OWNER=$DEP
  read_service "$@"
  save_state
  have=$(installed_sha "$VERSION")
  [ -d "$ROOT/releases/$VERSION" ] || have=''
  if [ -n "$have" ] && [ "$have" != "$SHA" ]; then
    refuse version_conflict "version $VERSION is installed with sha256 $have"
  fi
  if [ -n "$have" ] && [ "$CURRENT" = "$VERSION" ] && [ "$ST_HEALTH" = healthy ]; then
    keep_service
    finish unchanged '' "version $VERSION is current and healthy"
  fi
  if [ -z "$have" ]; then
    download
    unpack
  fi
  switch_to "$VERSION"
  keep_service
  restart_and_check
  prune
  save_state
  finish succeeded '' "version $VERSION is current and healthy"
}

op_revert() {
  KEEP=$1 VERSION=$2 DEP=$3 GEN=$4
  shift 4
  lock
  load_state
  CURRENT=$(current_version)
  fence
  if [ "$DEP" != '~' ] && [ "$ST_OWNER" != '~' ] && [ "$ST_OWNER" != "$DEP" ]; then
    refuse host_owned_by_newer_deployment "deployment $ST_OWNER deployed this host after $DEP"
  fi
  read_service "$@"
  save_state
  if [ -z "$(installed_sha "$VERSION")" ] || [ ! -d "$ROOT/releases/$VERSION" ]; then
    refuse not_installed "version $VERSION is not installed"
  fi
  switch_to "$VERSION"
  keep_service
  restart_and_check
  save_state
  finish succeeded '' "version $VERSION is current and healthy"
}

main() {
  op=$1 ROOT=$2
  shift 2
  SD=$ROOT/.sluice
  case $op in
    status)
      load_state
      say result status
      report_state
      ;;
    deploy) op_deploy "$@" ;;
    revert) op_revert "$@" ;;
    *) say result failed; say reason invalid_field; say message "unknown operation" ;;
  esac
}

main "$@"
exit 0
