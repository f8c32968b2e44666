#!/usr/bin/env bash
# Bounded load through the gateway, for tests/systemd/boot-test.sh; runs inside the test machine
# (loopback only). Starts CLIENTS clients, each one request at a time (so at most CLIENTS
# requests are in flight), until DIR/stop exists or MAX_SECONDS (default 60) have passed:
#
#   load.sh DIR CLIENTS [BASE_URL]        BASE_URL default http://127.0.0.1 (the gateway, :80)
#
# Each client loops over: one curl process for GETs on every service (keep-alive between them),
# then a POST of a state through the API and the DELETE of it. Every request is one line in
# DIR/<client>.log: "<http code> <curl exit code> <seconds> <method> <url>". A request has
# failed when its curl exit code is not 0 or its status not 2xx. DIR/<client>.done marks a
# client that has stopped.
set -euo pipefail

dir=$1
clients=$2
base=${3:-http://127.0.0.1}
max_seconds=${MAX_SECONDS:-60}
format='%{http_code} %{exitcode} %{time_total} %{method} %{url}\n'
paths=(
  /airbnb-onepage/
  /airbnb-dynamic/number_odd_or_even/4
  /api/v1/status
  /api/v1/stats
  /
  /hbnb
  /static/styles/4-common.css
)

client() {
  local log=$dir/$1.log end=$((SECONDS + max_seconds)) gets=() p out id
  for p in "${paths[@]}"; do gets+=(-o /dev/null "$base$p"); done
  while [ ! -e "$dir/stop" ] && [ $SECONDS -lt $end ]; do
    curl -s --max-time 30 -w "$format" "${gets[@]}" >>"$log" || true
    out=$(curl -s --max-time 30 -X POST -H 'Content-Type: application/json' \
      -d '{"name":"systemd load"}' -w "\n$format" "$base/api/v1/states") || true
    echo "${out##*$'\n'}" >>"$log"
    id=$(jq -r '.id // empty' <<<"${out%$'\n'*}" 2>/dev/null) || id=
    if [ -n "$id" ]; then
      curl -s --max-time 30 -o /dev/null -X DELETE -w "$format" "$base/api/v1/states/$id" >>"$log" || true
    fi
  done
  : >"$dir/$1.done"
}

mkdir -p "$dir"
for n in $(seq 1 "$clients"); do
  client "$n" &
done
wait
