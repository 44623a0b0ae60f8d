#!/bin/bash
# HEALTHCHECK of the images without curl: GET http://127.0.0.1:PORT/PATH, healthy on a 2xx.
#   sluice-healthcheck PORT PATH
set -eu
exec 3<>"/dev/tcp/127.0.0.1/$1"
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
read -r -t 3 _ status _ <&3
[[ "$status" == 2?? ]]
