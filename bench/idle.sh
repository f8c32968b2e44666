#!/usr/bin/env bash
# Memory of idle keep-alive connections: CONNECTIONS clients each send one request through the
# gateway and stay connected; the gateway's RSS at rest, with them open (6 s after the last
# answer), and after they close
# (TRIM wait included); the same for Debian's nginx (task 2 config + upstream keep-alive) in
# the same run. Both proxy to one hello-service. Loopback only.
#
# Env: CONNECTIONS (5000), SKIP_BUILD=1 (use target/release as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

CONNECTIONS=${CONNECTIONS:-5000}
if ! command -v nginx >/dev/null; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light
fi
[ "${SKIP_BUILD:-0}" = 1 ] || run cargo build --release -p hello-service -p gateway
ulimit -n $((CONNECTIONS * 3 + 1024)) 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  local deadline=$((SECONDS + 20))
  until curl -fs "$1" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "error: $1 never answered" >&2; exit 1; }
    sleep 0.1
  done
}
rss_kib() { local total=0 pid; for pid in "$@"; do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"))); done; echo "$total"; }

hello_port=$(free_port); gateway_port=$(free_port); nginx_port=$(free_port)
HOST=127.0.0.1 PORT=$hello_port LOG_FORMAT=json RUST_LOG=warn target/release/hello-service >"$work/hello.log" 2>&1 &
pids+=($!)
# As nginx runs here: idle connections kept 75 s (its keepalive_timeout), no per-client limit
# (the gateway's default MAX_CONNECTIONS_PER_IP of 512 would answer the rest 503).
HOST=127.0.0.1 PORT=$gateway_port LOG_FORMAT=json RUST_LOG=warn KEEPALIVE_TIMEOUT=75s \
  MAX_CONNECTIONS_PER_IP=$((CONNECTIONS * 2)) HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
  target/release/gateway >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=($gateway_pid)
cat >"$work/nginx.conf" <<CONF
worker_processes 2;
worker_rlimit_nofile $((CONNECTIONS * 3));
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections $((CONNECTIONS * 3)); }
http {
  access_log $work/nginx-access.log;
  upstream hello { server 127.0.0.1:$hello_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port default_server;
    location /airbnb-onepage/ {
      proxy_pass http://hello/airbnb-onepage/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
run nginx -c "$work/nginx.conf"
wait_http "http://127.0.0.1:$gateway_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$nginx_port/airbnb-onepage/"
nginx_pids=("$(cat "$work/nginx.pid")" $(pgrep -P "$(cat "$work/nginx.pid")"))

# Opens the connections, says "open", waits for a line on stdin, closes them, says "closed".
cat >"$work/idle.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
request = b"GET /airbnb-onepage/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for s in sockets:
    s.sendall(request)
for s in sockets:
    s.settimeout(20)
    data = b""
    while b"Hello HBNB!" not in data:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("a connection was closed before its answer: " + data.decode(errors="replace")[:200])
        data += chunk
print("open", flush=True)
sys.stdin.readline()
for s in sockets:
    s.close()
print("closed", flush=True)
PY

measure() { # $1 name, $2 port, then pids
  local name=$1 port=$2; shift 2
  local rest open after
  rest=$(rss_kib "$@")
  coproc IDLE { python3 "$work/idle.py" "$port" "$CONNECTIONS"; }
  read -r _ <&"${IDLE[0]}"
  # Idle for a few seconds, as idle connections are: memory the burst of their first requests
  # used and freed may be handed back meanwhile (the gateway looks every 2 s).
  sleep 6
  open=$(rss_kib "$@")
  echo >&"${IDLE[1]}"
  read -r _ <&"${IDLE[0]}"
  wait "$IDLE_PID" 2>/dev/null || true
  # The gateway hands freed memory back within a few seconds of a wave of closes.
  sleep 12
  after=$(rss_kib "$@")
  printf '| %s | %d | %d | %d |\n' "$name" $((rest / 1024)) $((open / 1024)) $((after / 1024)) >>"$work/table.md"
  eval "${name}_open=$open; ${name}_rest=$rest; ${name}_after=$after"
}
measure gateway "$gateway_port" "$gateway_pid"
measure nginx "$nginx_port" "${nginx_pids[@]}"

echo
echo "bench/idle.sh: $CONNECTIONS idle keep-alive connections, RSS in MiB (nginx: master + 2 workers)"
echo
echo "| proxy | at rest | $CONNECTIONS open | after they closed |"
echo "|---|---:|---:|---:|"
cat "$work/table.md"
awk -v g="$gateway_open" -v n="$nginx_open" 'BEGIN {printf "\ngateway / nginx with the connections open: %.2fx (target <= 2.0)\n", g / n}'
awk -v a="$gateway_after" -v r="$gateway_rest" 'BEGIN {printf "gateway after they closed: %+.1f MiB over rest (target <= 10)\n", (a - r) / 1024}'
