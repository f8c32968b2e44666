#!/usr/bin/env bash
# Starts the whole stack on this machine: every service on its course port and the gateway on
# :80 (GATEWAY_PORT to change it), on the embedded SQLite database unless DATABASE_URL says
# otherwise. Each log line is prefixed with its service's name; Ctrl-C stops everything cleanly;
# if any service cannot start or dies, everything is stopped and the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

# name:port of every service that exists so far, in start order; the gateway comes last.
SERVICES=(hello-service:5000 number-service:5001 api-service:5002 web-dynamic:5003 db-backup:5004)
GATEWAY_PORT=${GATEWAY_PORT:-80}
PROFILE=${PROFILE:-release}

run cargo build --profile "$PROFILE" --bins
bin_dir=target/$PROFILE
[ "$PROFILE" = dev ] && bin_dir=target/debug

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "stopping: ${pids[*]:-nothing}" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

# Polls GET /readyz with bash's /dev/tcp (no curl needed), for at most 30 seconds.
wait_ready() {
  local name=$1 port=$2 pid=$3 deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $name exited during start-up (see its lines above)" >&2
      [ "$name" = gateway ] && echo "hint: port $port may need root; try GATEWAY_PORT=8080 $0" >&2
      return 1
    fi
    if exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
      printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
      if head -n1 <&3 | grep -q ' 200 '; then exec 3<&- 3>&-; return 0; fi
      exec 3<&- 3>&-
    fi
    sleep 0.2
  done
  echo "error: $name did not become ready on port $port within 30 s" >&2
  return 1
}

start() {
  local name=$1 port=$2
  shift 2
  echo "starting $name on port $port" >&2
  env PORT="$port" LOG_FORMAT="${LOG_FORMAT:-pretty}" "$@" "$bin_dir/$name" \
    > >(sed -u "s/^/[$name] /") 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_ready "$name" "$port" "$pid"
}

for entry in "${SERVICES[@]}"; do
  start "${entry%%:*}" "${entry##*:}"
done
start gateway "$GATEWAY_PORT"
echo "stack ready: gateway on http://127.0.0.1:$GATEWAY_PORT/ (Ctrl-C stops everything)" >&2

# Any service exiting on its own is a failure: stop the others and say so.
set +e
wait -n "${pids[@]}"
status=$?
echo "error: a service exited (status $status); stopping the stack" >&2
exit 1
