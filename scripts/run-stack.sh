#!/usr/bin/env bash
# Starts the whole stack on this machine: every service on its course port and the gateway on
# :80 (GATEWAY_PORT; the services' ports: HELLO_PORT ... BACKUP_PORT), on the embedded SQLite
# database unless DATABASE_URL says otherwise. Each log line is prefixed with its service's
# name; Ctrl-C stops everything cleanly; if any service cannot start or dies, everything is
# stopped and the script fails.
# Each process writes its pid file under run/ (RUN_DIR), so scripts/hbnb-ctl can reload, upgrade
# or restart it while the stack runs, e.g. `scripts/hbnb-ctl restart run/api-service.pid:5002`.
# `--demo` (or DEMO_DATA=1): an empty database gets the demo data set (11 states, 32 cities, 47
# amenities, 30 users, 154 places, 718 reviews); a database holding anything is left as it is.
# Metrics: every service's /metrics on its port, the gateway's on 127.0.0.1:9180 (METRICS_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

# name:port of every service that exists so far, in start order; the gateway comes last.
for arg in "$@"; do
  case $arg in
    --demo) export DEMO_DATA=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $arg (only --demo)" >&2; exit 2 ;;
  esac
done

# Ports: the course's, or HELLO_PORT, NUMBER_PORT, API_PORT, WEB_PORT, BACKUP_PORT, GATEWAY_PORT
# (the names docker-compose.yml uses); the gateway is pointed at the services' ports.
HELLO_PORT=${HELLO_PORT:-5000} NUMBER_PORT=${NUMBER_PORT:-5001} API_PORT=${API_PORT:-5002}
WEB_PORT=${WEB_PORT:-5003} BACKUP_PORT=${BACKUP_PORT:-5004}
SERVICES=(hello-service:$HELLO_PORT number-service:$NUMBER_PORT api-service:$API_PORT
  web-dynamic:$WEB_PORT db-backup:$BACKUP_PORT)
GATEWAY_PORT=${GATEWAY_PORT:-80}
PROFILE=${PROFILE:-release}
RUN_DIR=${RUN_DIR:-run}
mkdir -p "$RUN_DIR"

# What the build needs: cargo, and a C compiler (ring and the bundled SQLite compile C code).
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found on PATH (install Rust with rustup: https://rustup.rs)" >&2
  if [ "$(id -u)" -eq 0 ]; then
    echo "hint: as root (sudo), PATH is not your user's: run 'sudo env PATH=\"\$PATH\" $0 $*'," >&2
    echo "      or run as your user on a port above 1023: 'GATEWAY_PORT=8080 $0 $*'" >&2
  fi
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "error: no C compiler (cc) found; install one: sudo apt-get install -y build-essential" >&2
  exit 1
fi
run cargo build --profile "$PROFILE" --bins
bin_dir=target/$PROFILE
[ "$PROFILE" = dev ] && bin_dir=target/debug

pids=()
names=()
# The pid serving as service $1 now: after an upgrade (hbnb-ctl) its pid file names the successor.
current_pid() {
  local index=$1 pid
  read -r pid 2>/dev/null <"$RUN_DIR/${names[$index]}.pid" || pid=${pids[$index]}
  echo "$pid"
}
stop_all() {
  trap - INT TERM EXIT
  local index current=()
  for index in "${!pids[@]}"; do current+=("$(current_pid "$index")"); done
  echo "stopping: ${current[*]:-nothing}" >&2
  for pid in "${current[@]}" "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
  # Successors of upgrades are not our children: wait for them too, within their shutdown limit.
  local deadline=$((SECONDS + 15))
  for pid in "${current[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  done
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
    # In a group: `exec 3<>... 2>/dev/null` alone would send the script's stderr to /dev/null for good.
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
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
  # The prefixer ignores Ctrl-C (it reaches the whole process group) and ends when its service
  # closes the pipe, so the service's last lines (graceful shutdown) are still shown.
  rm -f "$RUN_DIR/$name.pid"
  env PORT="$port" LOG_FORMAT="${LOG_FORMAT:-pretty}" PID_FILE="$RUN_DIR/$name.pid" "$@" "$bin_dir/$name" \
    > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  local pid=$!
  pids+=("$pid")
  names+=("$name")
  wait_ready "$name" "$port" "$pid"
}

for entry in "${SERVICES[@]}"; do
  start "${entry%%:*}" "${entry##*:}"
done
# The gateway serves /static/ itself (the course's Nginx `alias`), from the same folder.
# HTTPS: TLS_CERT and TLS_KEY (PEM) in the environment turn it on, on TLS_PORT (default 443, e.g.
# TLS_PORT=8443 without root); HTTPS_REDIRECT=1, ACME_DIR, RATE_LIMIT and the other gateway
# settings pass through the same way (docs/configuration.md).
start gateway "$GATEWAY_PORT" STATIC_DIR="${STATIC_DIR:-web-dynamic/static}" \
  HELLO_UPSTREAM="${HELLO_UPSTREAM:-http://127.0.0.1:$HELLO_PORT}" \
  NUMBER_UPSTREAM="${NUMBER_UPSTREAM:-http://127.0.0.1:$NUMBER_PORT}" \
  API_UPSTREAM="${API_UPSTREAM:-http://127.0.0.1:$API_PORT}" \
  WEB_UPSTREAM="${WEB_UPSTREAM:-http://127.0.0.1:$WEB_PORT}"
echo "stack ready: gateway on http://127.0.0.1:$GATEWAY_PORT/ (Ctrl-C stops everything)" >&2

# Any service exiting on its own is a failure: stop the others and say so. A process that handed
# over to a successor (hbnb-ctl upgrade/restart) is not: its pid file names the live successor.
# Polled, because successors are not children of this script.
while true; do
  for index in "${!pids[@]}"; do
    if ! kill -0 "$(current_pid "$index")" 2>/dev/null; then
      echo "error: ${names[$index]} exited; stopping the stack" >&2
      exit 1
    fi
  done
  sleep 1
done
