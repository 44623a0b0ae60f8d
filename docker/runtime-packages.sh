#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY... load (ldd: the whole
# closure, not only DT_NEEDED), one a line, sorted. Fails when a library is not found or belongs
# to no package. The Dockerfile's runtime stages install exactly this list, and
# test/compose/images_test.sh checks every image against readelf/ldd, so a new dependency
# cannot be forgotten.
set -euo pipefail
(($# > 0)) || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs="$(for bin in "$@"; do
  out="$(ldd "$bin")" || { echo "ldd $bin failed" >&2; exit 1; }
  if grep -q 'not found' <<<"$out"; then
    echo "$bin: $(grep 'not found' <<<"$out")" >&2
    exit 1
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
done | sort -u)"
# One dpkg -S over every candidate name (a call reads the whole file database: one per library
# would take minutes). usrmerge: dpkg may know a library under /lib or /usr/lib, by its link
# name or its target.
declare -A cands=()
all=()
for lib in $libs; do
  c=()
  for p in "$lib" "$(readlink -f "$lib")"; do
    for q in "$p" "${p#/usr}" "/usr$p"; do c+=("$q"); done
  done
  cands[$lib]="${c[*]}"
  all+=("${c[@]}")
done
declare -A owner=()
while IFS= read -r line; do
  # "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" (or "pkg1, pkg2: path" for shared paths)
  pkg="${line%%: /*}" path="/${line#*: /}"
  pkg="${pkg%%,*}"
  [[ -n "${owner[$path]:-}" ]] || owner[$path]="${pkg%%:*}"
done < <(dpkg -S "${all[@]}" 2>/dev/null || true)
for lib in $libs; do
  pkg=""
  for q in ${cands[$lib]}; do
    pkg="${owner[$q]:-}" && [[ -n "$pkg" ]] && break
  done
  [[ -n "$pkg" ]] || { echo "no package holds $lib" >&2; exit 1; }
  echo "$pkg"
done | sort -u
