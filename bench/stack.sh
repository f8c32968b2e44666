#!/usr/bin/env bash
# The whole stack under load, as a new user runs it: release binaries started plainly (logs to
# files), the data set of a seeding script (SEED, not in this repository) loaded through the
# API, then wrk through the gateway for every case of the performance brief, ROUNDS interleaved
# rounds of DURATION seconds each, median reported. Beside it, in the same run, Debian's nginx serves the same static folder (`alias`).
# "ceiling" = GET /airbnb-onepage/ through the gateway in the same run; every other case is given
# as a share of it, since this machine is shared and noisy. Memory: every binary's PSS at rest,
# after seeding, after a burst of user creations, and after the load.
#
# Env: ENGINES ("sqlite postgres"), DURATION (6), ROUNDS (3), CONNECTIONS (32), THREADS (2),
#      TEST_DATABASE_URL (PostgreSQL admin URL; scripts/start-postgres.sh starts one),
#      BURST_SECONDS (10), BURST_CONNECTIONS (64), SKIP_BUILD=1 (use the binaries as they are),
#      ONLY (an extended regex: run only the cases whose names match it, and the ceiling).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

ENGINES=${ENGINES:-sqlite postgres}
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
BURST_SECONDS=${BURST_SECONDS:-10}
BURST_CONNECTIONS=${BURST_CONNECTIONS:-64}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://hbnb:hbnb@127.0.0.1:5432/postgres}
SEED=${SEED:-../shared/bench/seed.py}
bin=target/release
static_dir=$PWD/web-dynamic/static

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light
fi
[ "${SKIP_BUILD:-0}" = 1 ] || run cargo build --release --bins
# PostgreSQL durable, as users run it (scripts/start-postgres.sh turns fsync off for the tests;
# they turn it off again when they start it): every commit waits for the disk, as SQLite's do.
postgres_durable() {
  local setting
  for setting in fsync synchronous_commit full_page_writes; do
    psql "$ADMIN_URL" -qc "ALTER SYSTEM RESET $setting" >/dev/null
  done
  psql "$ADMIN_URL" -qAtc "SELECT pg_reload_conf()" >/dev/null
  echo "PostgreSQL: fsync=$(psql "$ADMIN_URL" -qAtc 'SHOW fsync'), synchronous_commit=$(psql "$ADMIN_URL" -qAtc 'SHOW synchronous_commit')" >&2
}
case " $ENGINES " in *" postgres "*) run env PG_DURABLE=1 scripts/start-postgres.sh; postgres_durable ;; esac

work=$(mktemp -d)
pids=()
pgdb=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$pgdb" ] && psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # $1 name, $2 port, $3 pid
  local deadline=$((SECONDS + 60))
  until curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$3" 2>/dev/null; then
      echo "error: $1 did not become ready; its log:" >&2; tail -20 "$work/$1.log" >&2; exit 1
    fi
    sleep 0.1
  done
}
declare -A port pid
start() { # $1 binary, then VAR=value...
  local name=$1; shift
  port[$name]=$(free_port)
  env HOST=127.0.0.1 PORT="${port[$name]}" LOG_FORMAT=json RUST_LOG=info "$@" "$bin/$name" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
  pids+=("${pid[$name]}")
  wait_ready "$name" "${port[$name]}" "${pid[$name]}"
}
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
BINARIES=(hello-service number-service api-service web-dynamic db-backup gateway)
declare -A memory
record_memory() { # $1 engine, $2 moment
  local total=0 name line="| $1 | $2 |"
  for name in "${BINARIES[@]}"; do
    local pss rss; pss=$(pss_kib "${pid[$name]}"); rss=$(rss_kib "${pid[$name]}")
    total=$((total + pss))
    line+=" $((rss / 1024)) / $((pss / 1024)) |"
  done
  memory[$1:$2]=$total
  echo "$line **$((total / 1024))** |" >>"$work/memory.md"
}

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
      latency:percentile(99) / 1000, summary.requests, errors))
end
LUA
cat >"$work/search.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$work/cycle.lua" <<'LUA'
-- POST /api/v1/states, then DELETE each state created. wrk runs one Lua state per thread for
-- all of that thread's connections, so the ids wait in a queue: every state created is deleted
-- (but the last few), and the table does not grow from one round to the next.
local created = {}
request = function()
  local id = table.remove(created, 1)
  if id then
    return wrk.format("DELETE", "/api/v1/states/" .. id)
  end
  return wrk.format("POST", "/api/v1/states", {["Content-Type"] = "application/json"}, '{"name": "cycle"}')
end
response = function(status, headers, body)
  if status == 201 then
    table.insert(created, string.match(body, '"id"%s*:%s*"([0-9a-f%-]+)"'))
  end
end
LUA
cat >"$work/signup.lua" <<'LUA'
-- POST /api/v1/users with a new email each time; counts 201s and 503s.
local n = 0
local tag = tostring(math.random(1, 1e9))
request = function()
  n = n + 1
  return wrk.format("POST", "/api/v1/users", {["Content-Type"] = "application/json"},
    string.format('{"email": "burst-%s-%d@example.com", "password": "pw"}', tag, n))
end
LUA

# case name | path | lua script | target share of the ceiling (sqlite) | target (postgres)
CASES=(
  "hello (ceiling)|/airbnb-onepage/||-|-"
  "GET /api/v1/states|/api/v1/states||0.5|0.3"
  "GET /api/v1/states/<id>|/api/v1/states/STATE||0.5|0.3"
  "GET /api/v1/states/<id>/cities|/api/v1/states/STATE/cities||0.5|0.3"
  "GET /api/v1/places/<id>/reviews|/api/v1/places/PLACE/reviews||0.5|0.3"
  "POST /api/v1/places_search {}|/api/v1/places_search|search.lua|0.08|0.08"
  "POST + DELETE a state|/|cycle.lua|0.3|0.3"
  "GET /2-hbnb/|/2-hbnb/||0.08|0.08"
  "GET /static/styles/8-places.css|/static/styles/8-places.css||nginx|nginx"
  "nginx: same file (alias)|NGINX/static/styles/8-places.css||-|-"
)

if [ -n "${ONLY:-}" ]; then
  selected=()
  for entry in "${CASES[@]}"; do
    name=${entry%%|*}
    if [ "$name" = "hello (ceiling)" ] || grep -qE -- "$ONLY" <<<"$name"; then selected+=("$entry"); fi
  done
  CASES=("${selected[@]}")
fi

wrk_case() { # $1 url, $2 script -> "rps p99 errors"
  local script="$work/case.lua"
  cat ${2:+"$work/$2"} "$work/report.lua" >"$script"
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s -s "$script" "$1")
  local line; line=$(grep '^RESULT' <<<"$out")
  read -r _ rps p99 total errors <<<"$line"
  echo "$rps $p99 $errors"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| engine | moment | %s | whole stack PSS |\n|---|---|%s---:|\n' \
  "$(printf '%s RSS / PSS MiB | ' "${BINARIES[@]}" | sed 's/ | $//')" "$(printf -- '---:|%.0s' "${BINARIES[@]}")" >"$work/memory.md"
: >"$work/results.md"
: >"$work/burst.md"

for engine in $ENGINES; do
  echo "== $engine" >&2
  case "$engine" in
    sqlite) url="sqlite://$work/hbnb.sqlite?mode=rwc" ;;
    postgres)
      pgdb="hbnb_stack_bench_$$"
      psql "$ADMIN_URL" -qc "CREATE DATABASE $pgdb" >/dev/null
      url="${ADMIN_URL%/*}/$pgdb" ;;
    *) echo "unknown engine $engine" >&2; exit 1 ;;
  esac
  pids=()
  start hello-service
  start number-service
  start api-service DATABASE_URL="$url"
  start web-dynamic DATABASE_URL="$url"
  start db-backup DATABASE_URL="$url" BACKUP_DIR="$work/backups"
  start gateway STATIC_DIR="$static_dir" \
    HELLO_UPSTREAM="http://127.0.0.1:${port[hello-service]}" NUMBER_UPSTREAM="http://127.0.0.1:${port[number-service]}" \
    API_UPSTREAM="http://127.0.0.1:${port[api-service]}" WEB_UPSTREAM="http://127.0.0.1:${port[web-dynamic]}"
  gw="http://127.0.0.1:${port[gateway]}"
  nginx_port=$(free_port)
  cat >"$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  access_log $work/nginx-access.log;
  sendfile on;
  server {
    listen 127.0.0.1:$nginx_port default_server;
    location /static/ { alias $static_dir/; }
  }
}
CONF
  nginx -c "$work/nginx.conf"
  sleep 0.5
  record_memory "$engine" "at rest"
  run python3 "$SEED" "http://127.0.0.1:${port[api-service]}" >&2
  state=$(curl -fs "$gw/api/v1/states" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  place=$(curl -fs -X POST -H 'Content-Type: application/json' -d '{}' "$gw/api/v1/places_search" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  sleep 1
  record_memory "$engine" "after seeding"

  # A burst of sign-ups (argon2 hashing), then memory once it has settled.
  cat "$work/signup.lua" "$work/report.lua" >"$work/case.lua"
  # Meanwhile a request that does not hash, /api/v1/status, and the api-service's peak RSS.
  wrk -t1 -c2 -d"${BURST_SECONDS}s" --latency "$gw/api/v1/status" >"$work/status.txt" &
  status_wrk=$!
  api_rest=$(rss_kib "${pid[api-service]}"); api_peak=$api_rest
  wrk -t"$THREADS" -c"$BURST_CONNECTIONS" -d"${BURST_SECONDS}s" --timeout 10s -s "$work/case.lua" \
    "$gw/api/v1/users" >"$work/burst.out" &
  burst_wrk=$!
  while kill -0 "$burst_wrk" 2>/dev/null; do
    now=$(rss_kib "${pid[api-service]}"); [ "$now" -gt "$api_peak" ] && api_peak=$now
    sleep 0.2
  done
  wait "$burst_wrk" || true
  wait "$status_wrk" || true
  burst=$(grep '^RESULT' "$work/burst.out" || echo "RESULT ? ? ? ?")
  status_p99=$(awk '$1=="99%" {print $2}' "$work/status.txt")
  sleep 2
  api_after=$(rss_kib "${pid[api-service]}")
  echo "sign-up burst ($BURST_CONNECTIONS clients, ${BURST_SECONDS}s): $burst; /status p99 $status_p99" >&2
  printf '| %s | api-service RSS at rest %s MiB, peak %s MiB (target < 100), after %s MiB (target within 10 of rest); /api/v1/status p99 during it: %s (target < 20 ms) |\n' \
    "$engine" $((api_rest / 1024)) $((api_peak / 1024)) $((api_after / 1024)) "$status_p99" >>"$work/burst.md"
  record_memory "$engine" "after a sign-up burst"

  declare -A samples=()
  for round in $(seq "$ROUNDS"); do
    for entry in "${CASES[@]}"; do
      IFS='|' read -r name path script _ _ <<<"$entry"
      path=${path//STATE/$state}; path=${path//PLACE/$place}
      case "$path" in NGINX*) target="http://127.0.0.1:$nginx_port${path#NGINX}" ;; *) target="$gw$path" ;; esac
      read -r rps p99 errors <<<"$(wrk_case "$target" "$script")"
      echo "round $round, $engine, $name: $rps req/s, p99 $p99 ms, $errors errors" >&2
      samples[$name]+="$rps $p99 $errors;"
    done
  done
  record_memory "$engine" "after the load"
  echo "$engine, after the load: $(curl -fs "$gw/api/v1/stats")" >&2


  ceiling=$(tr ';' '\n' <<<"${samples[hello (ceiling)]}" | awk 'NF {print $1}' | median)
  nginx_rps=$(tr ';' '\n' <<<"${samples[nginx: same file (alias)]:-}" | awk 'NF {print $1}' | median)
  for entry in "${CASES[@]}"; do
    IFS='|' read -r name _ _ target_sqlite target_pg <<<"$entry"
    target=$target_sqlite; [ "$engine" = postgres ] && target=$target_pg
    rps=$(tr ';' '\n' <<<"${samples[$name]}" | awk 'NF {print $1}' | median)
    p99=$(tr ';' '\n' <<<"${samples[$name]}" | awk 'NF {print $2}' | median)
    errors=$(tr ';' '\n' <<<"${samples[$name]}" | awk 'NF {s += $3} END {print s + 0}')
    share=$(awk -v r="$rps" -v c="$ceiling" 'BEGIN {printf "%.3f", r / c}')
    case "$target" in
      -) verdict="" ;;
      nginx) verdict=$(awk -v r="$rps" -v n="$nginx_rps" 'BEGIN {printf "%.2f× nginx (target ≥ 1.0): %s", r / n, (r >= n ? "met" : "NOT met")}') ;;
      *) verdict=$(awk -v s="$share" -v t="$target" 'BEGIN {printf "target ≥ %s: %s", t, (s >= t ? "met" : "NOT met")}') ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "$name" "$rps" "$p99" "$errors" "$share" "$verdict" >>"$work/results.md"
  done
  printf '| %s | sign-up burst, %s clients %ss: req/s p99 ms requests errors(non-2xx) | %s |||||\n' \
    "$engine" "$BURST_CONNECTIONS" "$BURST_SECONDS" "${burst#RESULT }" >>"$work/results.md"

  for name in "${BINARIES[@]}"; do kill "${pid[$name]}" 2>/dev/null || true; done
  kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f "$work/nginx.pid"
  if [ "$engine" = postgres ]; then psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null; pgdb=""; fi
done

echo
echo "bench/stack.sh at $(git rev-parse --short HEAD 2>/dev/null || echo '?'): wrk -t$THREADS -c$CONNECTIONS, ${DURATION}s x $ROUNDS rounds (median), $(nproc) cores"
echo
echo "| engine | case | req/s | p99 ms | errors | share of ceiling | target |"
echo "|---|---|---:|---:|---:|---:|---|"
cat "$work/results.md"
echo
echo "Sign-up burst, $BURST_CONNECTIONS clients for ${BURST_SECONDS}s (wrk does not honour Retry-After):"
echo
cat "$work/burst.md"
echo
cat "$work/memory.md"
for engine in $ENGINES; do
  for moment in "after seeding" "after a sign-up burst"; do
    total=${memory[$engine:$moment]:-0}
    echo "$engine, $moment: whole stack $((total / 1024)) MiB PSS (target ≤ 80): $([ "$total" -le $((80 * 1024)) ] && echo met || echo NOT met)"
  done
done
