#!/bin/bash
# Healthy when the broker answers an ApiVersions (v0) request with error code 0.
set -eu
exec 3<>/dev/tcp/127.0.0.1/9092
printf '\x00\x00\x00\x16\x00\x12\x00\x00\x00\x00\x00\x07\x00\x0csluice-probe' >&3
resp="$(timeout 3 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')"
[[ "${resp:8:12}" == 000000070000 ]]
