#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY... load (ldd: the whole
# closure, not only DT_NEEDED), one a line, sorted. Fails when a library is not found or belongs
# to no package. The Dockerfile's runtime stages install exactly this list, and
# test/images/images_test.sh checks every image against readelf/ldd, so a new dependency
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
for lib in $libs; do
  pkg=""
  # usrmerge: dpkg may know a library under /lib or /usr/lib, by its link name or its target.
  for p in "$lib" "$(readlink -f "$lib")"; do
    for q in "$p" "${p#/usr}" "/usr$p"; do
      pkg="$(dpkg -S "$q" 2>/dev/null | head -n1 | cut -d: -f1)" && [[ -n "$pkg" ]] && break 2
    done
  done
  [[ -n "$pkg" ]] || { echo "no package holds $lib" >&2; exit 1; }
  echo "$pkg"
done | sort -u
