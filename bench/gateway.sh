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
# BEFORE_GATEWAY=path: a gateway binary of an earlier build (bench/before-after.sh makes one),
# alternated with this one (as it runs by default, metrics on) BEFORE_ROUNDS times (default 3):
# this build's throughput and CPU as a ratio of the earlier one's.
# Unix-socket upstreams: a second hello-service on a Unix socket (BIND=unix:...), with a gateway
# (HELLO_UPSTREAM=unix:...) and nginx (`server unix:...`) in front of it: gateway-unix and
# nginx-unix, beside the TCP upstream's rows, and the gateway's unix/TCP ratio.
# New plain connections (`Connection: close`, as health checkers and HTTP/1.0 clients send):
# gateway-close and nginx-close.
# TLS cases (TLS=0 skips them), gateway vs nginx with the same certificate (EC P-256, made here)
# and `listen ... ssl http2`: HTTPS with HTTP/1.1 keep-alive (wrk), h2 (h2load, 32 connections x
# 8 streams), and handshakes per second (wrk with `Connection: close`: a new TLS connection per
# request). Loopback only; each case runs DURATION seconds (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
TLS=${TLS:-1}
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null || ! command -v h2load >/dev/null; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx nghttp2-client
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
gateway_tls_port=$(free_port); nginx_tls_port=$(free_port)
gateway_unix_port=$(free_port); nginx_unix_port=$(free_port); unix_metrics_port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
HOST=127.0.0.1 PORT=$hello_port WORKERS=1 LOG_FORMAT=json taskset -c 1 target/release/hello-service >"$work/hello.log" 2>&1 &
pids+=($!)
# Mode 666, and the work folder passable (711): nginx's worker runs as nobody here (started by
# root with no `user` directive).
chmod 711 "$work"
BIND=unix:$work/hello.sock SOCKET_MODE=666 WORKERS=1 LOG_FORMAT=json taskset -c 1 target/release/hello-service >"$work/hello-unix.log" 2>&1 &
pids+=($!)
HOST=127.0.0.1 PORT=$gateway_unix_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=unix:$work/hello.sock METRICS_PORT=$unix_metrics_port \
  taskset -c 1 target/release/gateway >"$work/gateway-unix.log" 2>&1 &
gateway_unix_pid=$!
pids+=($gateway_unix_pid)
HOST=127.0.0.1 PORT=$gateway_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
  METRICS_PORT=$metrics_port TLS_CERT="$work/cert.pem" TLS_KEY="$work/key.pem" TLS_PORT=$gateway_tls_port \
  taskset -c 1 target/release/gateway >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=($gateway_pid)
HOST=127.0.0.1 PORT=$bare_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
  METRICS_PORT=off taskset -c 1 target/release/gateway >"$work/gateway-bare.log" 2>&1 &
bare_pid=$!
pids+=($bare_pid)
if [ -n "${BEFORE_GATEWAY:-}" ]; then
  before_port=$(free_port); before_metrics_port=$(free_port)
  # As this build's gateway runs in the comparison: its defaults, metrics on.
  HOST=127.0.0.1 PORT=$before_port WORKERS=1 LOG_FORMAT=json HELLO_UPSTREAM=http://127.0.0.1:$hello_port \
    METRICS_PORT=$before_metrics_port taskset -c 1 "$BEFORE_GATEWAY" >"$work/gateway-before.log" 2>&1 &
  before_pid=$!
  pids+=($before_pid)
  wait_http "http://127.0.0.1:$before_port/airbnb-onepage/"
fi

cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $work/nginx-access.log;
  # Nginx closes a connection after 1,000 requests by default (h2 too: h2load does not reconnect);
  # the gateway never does.
  keepalive_requests 1000000;
  upstream hello { server 127.0.0.1:$hello_port; keepalive 64; }
  upstream hello_unix { server unix:$work/hello.sock; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port default_server;
    listen 127.0.0.1:$nginx_tls_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    add_header X-Served-By \$hostname;
    location /airbnb-onepage/ {
      proxy_pass http://hello/airbnb-onepage/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:$nginx_unix_port;
    add_header X-Served-By \$hostname;
    location /airbnb-onepage/ {
      proxy_pass http://hello_unix/airbnb-onepage/;
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
wait_http "http://127.0.0.1:$gateway_unix_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$nginx_unix_port/airbnb-onepage/"
wait_http "http://127.0.0.1:$metrics_port/metrics"
# A scraper, as Prometheus would be (every second: 15 times its default rate).
( while sleep 1; do python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1).read()" \
    "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; done ) &
pids+=($!)
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

declare -A rps p50 p99 cpu
# bench NAME PORT [PID] [close]: wrk over plain HTTP (keep-alive, or a new connection per request).
bench() {
  local name=$1 port=$2 pid=${3:-} close=${4:-}
  local before=0 after=0
  local args=(-t1 -c"$CONNECTIONS")
  [ -n "$close" ] && args+=(-H "Connection: close")
  taskset -c 0 wrk "${args[@]}" -d2s "http://127.0.0.1:$port/airbnb-onepage/" >/dev/null # warm-up
  [ -n "$pid" ] && before=$(cpu_ticks "$pid")
  local out
  out=$(taskset -c 0 wrk "${args[@]}" -d"${DURATION}s" --latency "http://127.0.0.1:$port/airbnb-onepage/")
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

# wrk over HTTPS (HTTP/1.1 keep-alive, or a new connection per request with `close`).
bench_https() {
  local name=$1 port=$2 pid=$3 close=${4:-}
  local args=(-t1 -c"$CONNECTIONS")
  [ -n "$close" ] && args+=(-H "Connection: close")
  taskset -c 0 wrk "${args[@]}" -d2s "https://127.0.0.1:$port/airbnb-onepage/" >/dev/null
  local before after out requests
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 wrk "${args[@]}" -d"${DURATION}s" --latency "https://127.0.0.1:$port/airbnb-onepage/")
  after=$(cpu_ticks "$pid")
  echo "$out" >&2
  if echo "$out" | grep -qE "Non-2xx|Socket errors"; then echo "error: $name: errors" >&2; exit 1; fi
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  rps[$name]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50[$name]=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99[$name]=$(echo "$out" | awk '$1=="99%" {print $2}')
  cpu[$name]=$(awk -v t=$((after - before)) -v r="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz / r * 100000}')
}
# h2load over TLS (ALPN h2), latencies from its per-request log.
bench_h2() {
  local name=$1 port=$2 pid=$3
  local args=(-t1 -c"$CONNECTIONS" -m8)
  taskset -c 0 h2load "${args[@]}" -D2 "https://127.0.0.1:$port/airbnb-onepage/" >/dev/null
  local before after out requests
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 0 h2load "${args[@]}" -D"$DURATION" --log-file="$work/$name.h2log" "https://127.0.0.1:$port/airbnb-onepage/")
  after=$(cpu_ticks "$pid")
  echo "$out" >&2
  echo "$out" | grep -q "Application protocol: h2" || { echo "error: $name: not h2" >&2; exit 1; }
  echo "$out" | grep -qE "0 failed, 0 errored" || { echo "error: $name: failures" >&2; exit 1; }
  requests=$(awk '$2 == 200' "$work/$name.h2log" | wc -l)
  rps[$name]=$(echo "$out" | awk '/^finished in/ {print $4}')
  p50[$name]=$(awk '{print $3}' "$work/$name.h2log" | sort -n | awk '{a[NR]=$1} END {printf "%.2fms", a[int(NR*0.50)]/1000}')
  p99[$name]=$(awk '{print $3}' "$work/$name.h2log" | sort -n | awk '{a[NR]=$1} END {printf "%.2fms", a[int(NR*0.99)]/1000}')
  cpu[$name]=$(awk -v t=$((after - before)) -v r="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz / r * 100000}')
}

echo "== hello-service direct" >&2; bench hello "$hello_port"
echo "== gateway" >&2; bench gateway "$gateway_port" "$gateway_pid"
echo "== nginx" >&2; bench nginx "$nginx_port" "$nginx_worker"

echo "== gateway, Unix-socket upstream" >&2; bench gateway-unix "$gateway_unix_port" "$gateway_unix_pid"
echo "== nginx, Unix-socket upstream" >&2; bench nginx-unix "$nginx_unix_port" "$nginx_worker"
echo "== gateway, new connection per request" >&2; bench gateway-close "$gateway_port" "$gateway_pid" close
echo "== nginx, new connection per request" >&2; bench nginx-close "$nginx_port" "$nginx_worker" close

cases=(hello gateway nginx gateway-unix nginx-unix gateway-close nginx-close)
if [ "$TLS" = 1 ]; then
  wait_tls() {
    local deadline=$((SECONDS + 20))
    until curl -skf -o /dev/null "https://127.0.0.1:$1/airbnb-onepage/"; do
      [ $SECONDS -lt $deadline ] || { echo "error: HTTPS on $1 never answered" >&2; exit 1; }
      sleep 0.1
    done
  }
  wait_tls "$gateway_tls_port"; wait_tls "$nginx_tls_port"
  echo "== gateway HTTPS (HTTP/1.1 keep-alive)" >&2; bench_https gateway-https "$gateway_tls_port" "$gateway_pid"
  echo "== nginx HTTPS (HTTP/1.1 keep-alive)" >&2; bench_https nginx-https "$nginx_tls_port" "$nginx_worker"
  echo "== gateway h2" >&2; bench_h2 gateway-h2 "$gateway_tls_port" "$gateway_pid"
  echo "== nginx h2" >&2; bench_h2 nginx-h2 "$nginx_tls_port" "$nginx_worker"
  echo "== gateway handshakes (new TLS connection per request)" >&2; bench_https gateway-handshake "$gateway_tls_port" "$gateway_pid" close
  echo "== nginx handshakes (new TLS connection per request)" >&2; bench_https nginx-handshake "$nginx_tls_port" "$nginx_worker" close
  cases+=(gateway-https nginx-https gateway-h2 nginx-h2 gateway-handshake nginx-handshake)
fi

# Metrics on vs off, alternated so that a slower phase of the machine hits both alike.
METRICS_ROUNDS=${METRICS_ROUNDS:-3}
on_total=0; off_total=0
for round in $(seq "$METRICS_ROUNDS"); do
  echo "== gateway, metrics on (round $round)" >&2; bench "on$round" "$gateway_port" "$gateway_pid"
  echo "== gateway, metrics off (round $round)" >&2; bench "off$round" "$bare_port" "$bare_pid"
  on_total=$(awk -v a="$on_total" -v b="${rps[on$round]}" 'BEGIN {print a + b}')
  off_total=$(awk -v a="$off_total" -v b="${rps[off$round]}" 'BEGIN {print a + b}')
  cases+=("on$round" "off$round")
done
# This build vs an earlier one, alternated the same way.
if [ -n "${BEFORE_GATEWAY:-}" ]; then
  BEFORE_ROUNDS=${BEFORE_ROUNDS:-3}
  now_total=0; then_total=0; now_cpu=0; then_cpu=0
  for round in $(seq "$BEFORE_ROUNDS"); do
    echo "== gateway, this build (round $round)" >&2; bench "now$round" "$gateway_port" "$gateway_pid"
    echo "== gateway, $BEFORE_GATEWAY (round $round)" >&2; bench "before$round" "$before_port" "$before_pid"
    now_total=$(awk -v a="$now_total" -v b="${rps[now$round]}" 'BEGIN {print a + b}')
    then_total=$(awk -v a="$then_total" -v b="${rps[before$round]}" 'BEGIN {print a + b}')
    now_cpu=$(awk -v a="$now_cpu" -v b="${cpu[now$round]}" 'BEGIN {print a + b}')
    then_cpu=$(awk -v a="$then_cpu" -v b="${cpu[before$round]}" 'BEGIN {print a + b}')
    cases+=("now$round" "before$round")
  done
fi
requests_total=$(python3 -c "import urllib.request,sys,re; t=urllib.request.urlopen(sys.argv[1]).read().decode(); print(int(sum(float(l.split()[-1]) for l in t.splitlines() if l.startswith('http_requests_total{'))))" \
  "http://127.0.0.1:$metrics_port/metrics")

printf '\n| case | requests/s | p50 | p99 | proxy CPU s / 100k req |\n|---|---|---|---|---|\n'
for name in "${cases[@]}"; do
  printf '| %s | %s | %s | %s | %s |\n' "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" "${cpu[$name]}"
done
awk -v g="${rps[gateway]}" -v n="${rps[nginx]}" -v gc="${cpu[gateway]}" -v nc="${cpu[nginx]}" \
  'BEGIN {printf "\ngateway/nginx throughput: %.2fx, CPU per request %.2fx\n", g / n, gc / nc}'
awk -v g="${rps[gateway-unix]}" -v n="${rps[nginx-unix]}" -v gc="${cpu[gateway-unix]}" -v nc="${cpu[nginx-unix]}" \
  'BEGIN {printf "gateway/nginx over a Unix-socket upstream: throughput %.2fx, CPU per request %.2fx\n", g / n, gc / nc}'
awk -v u="${rps[gateway-unix]}" -v t="${rps[gateway]}" -v uc="${cpu[gateway-unix]}" -v tc="${cpu[gateway]}" \
  'BEGIN {printf "gateway Unix-socket/TCP upstream: throughput %.2fx, CPU per request %.2fx\n", u / t, uc / tc}'
awk -v g="${rps[gateway-close]}" -v n="${rps[nginx-close]}" -v gc="${cpu[gateway-close]}" -v nc="${cpu[nginx-close]}" \
  'BEGIN {printf "gateway/nginx, new connection per request: throughput %.2fx, CPU per request %.2fx\n", g / n, gc / nc}'
if [ "$TLS" = 1 ]; then
  for kind in https h2 handshake; do
    awk -v k="$kind" -v g="${rps[gateway-$kind]}" -v n="${rps[nginx-$kind]}" 'BEGIN {printf "gateway/nginx %s throughput: %.2fx\n", k, g / n}'
  done
fi
awk -v on="$on_total" -v off="$off_total" -v n="$METRICS_ROUNDS" \
  'BEGIN {printf "gateway metrics on/off throughput: %.3f (mean %.0f vs %.0f req/s over %d rounds)\n", on / off, on / n, off / n, n}'
if [ -n "${BEFORE_GATEWAY:-}" ]; then
  awk -v a="$now_total" -v b="$then_total" -v ca="$now_cpu" -v cb="$then_cpu" -v n="$BEFORE_ROUNDS" \
    'BEGIN {printf "gateway this build / before: throughput %.3f (mean %.0f vs %.0f req/s), CPU per request %.3f, over %d rounds\n", a / b, a / n, b / n, ca / cb, n}'
fi
echo "requests counted by the metrics-on gateway's http_requests_total: $requests_total"
