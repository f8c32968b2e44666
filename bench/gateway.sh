#!/usr/bin/env bash
# Gateway benchmark: requests/s and latency for GET /airbnb-onepage/ served
#   1. by hello-service directly,
#   2. through our gateway,
#   3. through Debian's nginx configured as the course's task 2 (plus upstream keep-alive),
#   4. through a second gateway with metrics off (METRICS_PORT=off records nothing), alternated
#      with the first (metrics on, scraped every second) METRICS_ROUNDS times (default 3): the
#      cost of metrics on the hot path as the ratio of their throughputs,
# all in one run, with wrk on core 0 and proxy + backend sharing core 1 (so the figures compare
# the proxies, not the scheduler). Also reports CPU seconds per 100k requests for each proxy.
# Loopback only; each case runs DURATION seconds (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light
fi
run cargo build --release -p hello-service -p gateway

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  local deadline=$((SECONDS + 20))
  until python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "error: $1 never answered" >&2; exit 1; }
    sleep 0.1
  done
}
# utime+stime in clock ticks of a process and its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

hello_port=$(free_port); gateway_port=$(free_port); nginx_port=$(free_port)
metrics_port=$(free_port); bare_port=$(free_port)
HOST=127.0.0.1 PORT=$hello_port WORKERS=1 LOG_FORMAT=json taskset -c 1 target/release/hello-service >"$work/hello.log" 2>&1 &
pids+=($!)
HOST=127.0.0.1 PORT=$gateway_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
  METRICS_PORT=$metrics_port taskset -c 1 target/release/gateway >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=($gateway_pid)
HOST=127.0.0.1 PORT=$bare_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
  METRICS_PORT=off taskset -c 1 target/release/gateway >"$work/gateway-bare.log" 2>&1 &
bare_pid=$!
pids+=($bare_pid)

cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $work/nginx-access.log;
  upstream hello { server 127.0.0.1:$hello_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port default_server;
    add_header X-Served-By \$hostname;
    location /airbnb-onepage/ {
      proxy_pass http://hello/airbnb-onepage/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
run taskset -c 1 nginx -c "$work/nginx.conf"
wait_http "http://127.0.0.1:$hello_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$gateway_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$nginx_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$bare_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$metrics_port/metrics"
# A scraper, as Prometheus would be (every second: 15 times its default rate).
( while sleep 1; do python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1).read()" \
    "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; done ) &
pids+=($!)
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

declare -A rps p50 p99 cpu
bench() {
  local name=$1 port=$2 pid=${3:-}
  local before=0 after=0
  taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d2s "http://127.0.0.1:$port/airbnb-onepage/" >/dev/null # warm-up
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  local out
  out=$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/airbnb-onepage/")
  [ -n "$pid" ] && after=$(cpu_ticks "$pid")
  echo "$out" >&2
  local requests
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps[$name]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50[$name]=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99[$name]=$(echo "$out" | awk '$1=="99%" {print $2}')
  if [ -n "$pid" ]; then
    cpu[$name]=$(awk -v t=$((after - before)) -v r="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz / r * 100000}')
  else
    cpu[$name]="-"
  fi
  if echo "$out" | grep -q "Non-2xx"; then echo "error: $name answered non-2xx" >&2; exit 1; fi
}

echo "== hello-service direct" >&2; bench hello "$hello_port"
echo "== gateway" >&2; bench gateway "$gateway_port" "$gateway_pid"
echo "== nginx" >&2; bench nginx "$nginx_port" "$nginx_worker"

# Metrics on vs off, alternated so that a slower phase of the machine hits both alike.
METRICS_ROUNDS=${METRICS_ROUNDS:-3}
on_total=0; off_total=0
for round in $(seq "$METRICS_ROUNDS"); do
  echo "== gateway, metrics on (round $round)" >&2; bench "on$round" "$gateway_port" "$gateway_pid"
  echo "== gateway, metrics off (round $round)" >&2; bench "off$round" "$bare_port" "$bare_pid"
  on_total=$(awk -v a="$on_total" -v b="${rps[on$round]}" 'BEGIN {print a + b}')
  off_total=$(awk -v a="$off_total" -v b="${rps[off$round]}" 'BEGIN {print a + b}')
done
requests_total=$(python3 -c "import urllib.request,sys,re; t=urllib.request.urlopen(sys.argv[1]).read().decode(); print(int(sum(float(l.split()[-1]) for l in t.splitlines() if l.startswith('http_requests_total{'))))" \
  "http://127.0.0.1:$metrics_port/metrics")

printf '\n| case | requests/s | p50 | p99 | proxy CPU s / 100k req |\n|---|---|---|---|---|\n'
names="hello gateway nginx"
for round in $(seq "$METRICS_ROUNDS"); do names="$names on$round off$round"; done
for name in $names; do
  printf '| %s | %s | %s | %s | %s |\n' "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" "${cpu[$name]}"
done
awk -v g="${rps[gateway]}" -v n="${rps[nginx]}" 'BEGIN {printf "\ngateway/nginx throughput: %.2fx\n", g / n}'
awk -v on="$on_total" -v off="$off_total" -v n="$METRICS_ROUNDS" \
  'BEGIN {printf "gateway metrics on/off throughput: %.3f (mean %.0f vs %.0f req/s over %d rounds)\n", on / off, on / n, off / n, n}'
echo "requests counted by the metrics-on gateway's http_requests_total: $requests_total"
