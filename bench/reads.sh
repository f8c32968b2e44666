#!/usr/bin/env bash
# "Fast without the cache": the heavy reads under a mixed read/write load, and places_search
# at 100× the data. Release binaries as they are in target/release (never built here), on free
# ports, logs to files, one run per engine; every number is also given as a ratio to another
# number of the same run, since this machine is shared and noisy.
#
# 1. Mixed read/write, through the gateway, on the seed data (SEED: 500 places), api-service and
#    web-dynamic started once with RESPONSE_CACHE_BYTES=0 (cache off) and once with their default
#    cache. Cases: GET /airbnb-onepage/ (hello-service: the ceiling), POST /api/v1/places_search {},
#    GET /2-hbnb/, GET /api/v1/states, GET /api/v1/places/<id>/reviews; each with wrk
#    (-t THREADS -c CONNECTIONS -d DURATION) while bench/writer.py, beside it for the same
#    DURATION, POSTs a state and DELETEs it at a fixed total rate of N requests/s (deadline
#    schedule) through the gateway, for every N in WRITE_RATES (0 is always run first).
#    Columns: req/s, p99, share of the hello ceiling (hello of the same engine, cache setting and
#    write rate), ratio to the same case at 0 writes/s, and (cache rows) ratio to the cache-off row.
#    Plus, cache off at 0 writes/s: places_search and /2-hbnb/ with `Accept-Encoding: br, gzip`,
#    as a ratio to the plain row.
# 2. Growth: api-service alone (direct, cache off), POST /api/v1/places_search {} with
#    GROWTH_CONNECTIONS clients for DURATION at every place count of PLACES_STEPS, the data grown
#    through the API by bench/grow.py (places shaped like the seed's, 512 B of JSON each).
#    api-service CPU (utime+stime from /proc/PID/stat around the wrk run) per request and per
#    place (ratio to the first step), and its peak RSS (VmHWM, reset per step through
#    /proc/PID/clear_refs; VmRSS sampled every 100 ms if that is refused). CPU per request counts
#    the requests wrk completed; the ≤ GROWTH_CONNECTIONS requests cut off at the end add their
#    partial work, so a step runs longer than DURATION when needed for about GROWTH_MIN_REQUESTS
#    requests (estimated from the previous step; at most GROWTH_MAX_SECONDS).
#    Then a memory row: at the largest step, GROWTH_CONNECTIONS concurrent places_search for
#    MEMORY_SECONDS and the RSS peak.
#
# Env: ENGINES ("sqlite postgres mariadb"), DURATION (6), WRITE_RATES ("0 20"; "0 2 20 200" gives
#      the full table), PLACES_STEPS ("500 5000 50000"), CONNECTIONS (16), THREADS (2),
#      GROWTH_CONNECTIONS (8), GROWTH_MIN_REQUESTS (100), GROWTH_MAX_SECONDS (30),
#      MEMORY_SECONDS (10), SEED (../shared/bench/seed.py),
#      TEST_DATABASE_URL (PostgreSQL admin URL, default postgres://hbnb:hbnb@127.0.0.1:5432/postgres;
#      scripts/start-postgres.sh is run), TEST_MARIADB_URL (MariaDB admin URL, default
#      mysql://hbnb:hbnb@127.0.0.1:3306/mysql; scripts/start-mariadb.sh is run). Each engine gets a
#      fresh database (SQLite file, PostgreSQL or MariaDB database), dropped on exit. The database
#      servers run as those scripts leave them (their durability settings are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

ENGINES=${ENGINES:-sqlite postgres mariadb}
DURATION=${DURATION:-6}
WRITE_RATES=${WRITE_RATES:-0 20}
PLACES_STEPS=${PLACES_STEPS:-500 5000 50000}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
GROWTH_CONNECTIONS=${GROWTH_CONNECTIONS:-8}
MEMORY_SECONDS=${MEMORY_SECONDS:-10}
GROWTH_MIN_REQUESTS=${GROWTH_MIN_REQUESTS:-100}
GROWTH_MAX_SECONDS=${GROWTH_MAX_SECONDS:-30}
SEED=${SEED:-../shared/bench/seed.py}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://hbnb:hbnb@127.0.0.1:5432/postgres}
MARIADB_URL=${TEST_MARIADB_URL:-mysql://hbnb:hbnb@127.0.0.1:3306/mysql}
bin=target/release
static_dir=$PWD/web-dynamic/static
# 0 writes/s first: the other rates are given as ratios to it.
rates="0"; for r in $WRITE_RATES; do [ "$r" = 0 ] || rates+=" $r"; done

# The MariaDB admin URL's parts, for the mariadb client (password through MYSQL_PWD).
MY_REST="${MARIADB_URL#*://}"; MY_USERINFO="${MY_REST%@*}"; MY_HOSTPORT="${MY_REST#*@}"; MY_HOSTPORT="${MY_HOSTPORT%%/*}"
MY_USER="${MY_USERINFO%%:*}"; MY_PASS="${MY_USERINFO#*:}"; MY_HOST="${MY_HOSTPORT%%:*}"; MY_PORT="${MY_HOSTPORT##*:}"
[ "$MY_PORT" = "$MY_HOSTPORT" ] && MY_PORT=3306
mariadb_admin() { MYSQL_PWD="$MY_PASS" mariadb --no-defaults -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -N -e "$1"; }

for name in hello-service api-service web-dynamic gateway; do
  [ -x "$bin/$name" ] || { echo "error: $bin/$name is missing (cargo build --release --bins)" >&2; exit 1; }
done
[ -f "$SEED" ] || { echo "error: the seeding script $SEED is missing (SEED=...)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  run apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
fi
case " $ENGINES " in *" postgres "*)
  run scripts/start-postgres.sh
  echo "PostgreSQL: fsync=$(psql "$ADMIN_URL" -qAtc 'SHOW fsync'), synchronous_commit=$(psql "$ADMIN_URL" -qAtc 'SHOW synchronous_commit')" >&2 ;;
esac
case " $ENGINES " in *" mariadb "*)
  if ! command -v mariadbd >/dev/null; then
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client
  fi
  run scripts/start-mariadb.sh
  echo "MariaDB: innodb_flush_log_at_trx_commit=$(mariadb_admin 'SELECT @@innodb_flush_log_at_trx_commit')" >&2 ;;
esac

work=$(mktemp -d)
declare -A port pid
pgdb=""
mydb=""
helpers=()   # writer / sampler processes, by id
cleanup() {
  local p
  for p in "${helpers[@]}" "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pgdb" ] && psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "$mydb" ] && mariadb_admin "DROP DATABASE IF EXISTS $mydb" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
start() { # $1 binary, then VAR=value...
  local name=$1; shift
  port[$name]=$(free_port)
  echo "+ env HOST=127.0.0.1 PORT=${port[$name]} LOG_FORMAT=json RUST_LOG=warn $* $bin/$name >$work/$name.log 2>&1 &" >&2
  env HOST=127.0.0.1 PORT="${port[$name]}" LOG_FORMAT=json RUST_LOG=warn "$@" "$bin/$name" >"$work/$name.log" 2>&1 &
  pid[$name]=$!
  wait_ready "$name" "${port[$name]}" "${pid[$name]}"
}
stop() { # names
  local name
  for name in "$@"; do
    [ -n "${pid[$name]:-}" ] || continue
    kill "${pid[$name]}" 2>/dev/null || true
    wait "${pid[$name]}" 2>/dev/null || true
    unset "pid[$name]"
  done
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime (comm has no spaces)
ticks_per_s=$(getconf CLK_TCK)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-"}'; }

cat >"$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n", summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, errors))
end
LUA
cat >"$work/search.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
: >"$work/empty.lua"

# wrk, printing "rps p50 p99 requests errors". $1 url, $2 lua script, $3 connections,
# $4 seconds, then extra wrk arguments (-H ...).
wrk_run() {
  local url=$1 script=$2 conns=$3 secs=$4; shift 4
  cat "$work/$script" "$work/report.lua" >"$work/case.lua"
  echo "+ wrk -t$THREADS -c$conns -d${secs}s --timeout 60s -s $script+report.lua $* $url" >&2
  local out; out=$(wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 60s -s "$work/case.lua" "$@" "$url")
  grep '^RESULT' <<<"$out" | cut -d' ' -f2-
}

# Mixed case: name | path | lua script
CASES=(
  "hello (ceiling)|/airbnb-onepage/|empty.lua"
  "POST /api/v1/places_search {}|/api/v1/places_search|search.lua"
  "GET /2-hbnb/|/2-hbnb/|empty.lua"
  "GET /api/v1/states|/api/v1/states|empty.lua"
  "GET /api/v1/places/<id>/reviews|/api/v1/places/PLACE/reviews|empty.lua"
)
declare -A mixed   # engine|cache|rate|case -> "rps p99 errors made failed"
declare -A encoded # engine|case -> "rps p99 errors plain_bytes encoded_bytes encoding"
: >"$work/growth.md"
: >"$work/memory.md"

# One mixed-case measurement: wrk on $gw$2 while the writer runs at $4 requests/s.
mixed_run() { # $1 name, $2 path, $3 lua, $4 rate, then extra wrk arguments
  local name=$1 path=$2 script=$3 rate=$4; shift 4
  local writer=""
  if [ "$rate" != 0 ]; then
    echo "+ python3 bench/writer.py $gw $rate $DURATION >$work/writer.out &" >&2
    python3 bench/writer.py "$gw" "$rate" "$DURATION" >"$work/writer.out" &
    writer=$!; helpers+=("$writer")
  fi
  local result; result=$(wrk_run "$gw$path" "$script" "$CONNECTIONS" "$DURATION" "$@")
  local made=0 failed=0
  if [ -n "$writer" ]; then
    wait "$writer" || true
    read -r _ _ made failed _ <"$work/writer.out" || true
    echo "writer: $(cat "$work/writer.out")" >&2
  fi
  read -r rps _ p99 _ errors <<<"$result"
  echo "$engine, cache $cache, $rate writes/s, $name: $rps req/s, p99 $p99 ms, $errors errors; writes $made, $failed failed" >&2
  echo "$rps $p99 $errors $made $failed"
}

for engine in $ENGINES; do
  echo "== $engine" >&2
  case "$engine" in
    sqlite) url="sqlite://$work/hbnb-$engine.sqlite?mode=rwc" ;;
    postgres)
      pgdb="hbnb_reads_bench_$$"
      run psql "$ADMIN_URL" -qc "CREATE DATABASE $pgdb" >/dev/null
      url="${ADMIN_URL%/*}/$pgdb" ;;
    mariadb)
      mydb="hbnb_reads_bench_$$"
      run mariadb_admin "CREATE DATABASE $mydb" >/dev/null
      url="${MARIADB_URL%/*}/$mydb" ;;
    *) echo "unknown engine $engine" >&2; exit 1 ;;
  esac

  # 1. Mixed read/write through the gateway: cache off, then the default cache.
  start hello-service
  closed_port=$(free_port)   # number-service is not part of this benchmark
  for cache in off default; do
    cache_env=(); [ "$cache" = off ] && cache_env=(RESPONSE_CACHE_BYTES=0)
    start api-service DATABASE_URL="$url" "${cache_env[@]}"
    start web-dynamic DATABASE_URL="$url" "${cache_env[@]}"
    start gateway STATIC_DIR="$static_dir" \
      HELLO_UPSTREAM="http://127.0.0.1:${port[hello-service]}" NUMBER_UPSTREAM="http://127.0.0.1:$closed_port" \
      API_UPSTREAM="http://127.0.0.1:${port[api-service]}" WEB_UPSTREAM="http://127.0.0.1:${port[web-dynamic]}"
    gw="http://127.0.0.1:${port[gateway]}"
    if [ "$cache" = off ]; then
      run python3 "$SEED" "http://127.0.0.1:${port[api-service]}" >&2
      place=$(curl -fs -X POST -H 'Content-Type: application/json' -d '{}' "$gw/api/v1/places_search" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
    fi
    for rate in $rates; do
      for entry in "${CASES[@]}"; do
        IFS='|' read -r name path script <<<"$entry"
        mixed[$engine|$cache|$rate|$name]=$(mixed_run "$name" "${path//PLACE/$place}" "$script" "$rate")
      done
    done
    if [ "$cache" = off ]; then
      for entry in "${CASES[@]:1:2}"; do   # places_search and /2-hbnb/, compressed
        IFS='|' read -r name path script <<<"$entry"
        result=$(mixed_run "$name" "$path" "$script" 0 -H 'Accept-Encoding: br, gzip')
        data=(); [ "$script" = search.lua ] && data=(-X POST -H 'Content-Type: application/json' -d '{}')
        sizes=""
        for enc in identity 'br, gzip'; do   # body bytes as sent; the headers kept are the encoded answer's
          sizes+="$(curl -s -o /dev/null -D "$work/headers" -w '%{size_download}' "${data[@]}" -H "Accept-Encoding: $enc" "$gw$path") "
        done
        coding=$(awk -F': *' 'tolower($1) == "content-encoding" {gsub(/\r/, "", $2); print $2}' "$work/headers")
        encoded[$engine|$name]="$result $sizes ${coding:-none}"
      done
    fi
    echo "$engine, cache $cache, after the mixed load: $(curl -fs "$gw/api/v1/stats")" >&2
    stop gateway web-dynamic api-service
  done
  stop hello-service

  # 2. Growth: api-service alone, cache off, direct.
  start api-service DATABASE_URL="$url" RESPONSE_CACHE_BYTES=0
  api="http://127.0.0.1:${port[api-service]}"
  apid=${pid[api-service]}
  first_per_place=""
  prev_rps=""
  for target in $PLACES_STEPS; do
    run python3 bench/grow.py "$target" "$api" >&2
    places=$(curl -fs "$api/api/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["places"])')
    bytes=$(curl -s -o /dev/null -w '%{size_download}' -X POST -H 'Content-Type: application/json' -d '{}' "$api/api/v1/places_search")
    sampler=""
    if echo 5 2>/dev/null >"/proc/$apid/clear_refs"; then peak_how=VmHWM; else
      peak_how="VmRSS sampled"
      (max=0; while :; do now=$(rss_kib "$apid"); [ "$now" -gt "$max" ] && max=$now && echo "$max" >"$work/rss.max"; sleep 0.1; done) &
      sampler=$!; helpers+=("$sampler")
    fi
    secs=$DURATION   # long enough for ~GROWTH_MIN_REQUESTS at the rate the previous step predicts
    [ -z "$prev_rps" ] || secs=$(awk -v d="$DURATION" -v r="$prev_rps" -v pp="$prev_places" -v p="$places" \
      -v n="$GROWTH_MIN_REQUESTS" -v m="$GROWTH_MAX_SECONDS" 'BEGIN {e = r * pp / p; s = (e > 0 ? n / e : m); s = (s > d ? int(s + 0.999) : d); print (s > m ? m : s)}')
    before=$(cpu_ticks "$apid")
    read -r rps p50 p99 requests errors <<<"$(wrk_run "$api/api/v1/places_search" search.lua "$GROWTH_CONNECTIONS" "$secs")"
    after=$(cpu_ticks "$apid")
    if [ -n "$sampler" ]; then kill "$sampler"; wait "$sampler" 2>/dev/null || true; peak=$(cat "$work/rss.max"); else peak=$(hwm_kib "$apid"); fi
    read -r cpu_ms per_place <<<"$(awk -v d=$((after - before)) -v hz="$ticks_per_s" -v n="$requests" -v p="$places" \
      'BEGIN {if (n == 0) {print "- -"; exit}; s = d / hz / n; printf "%.2f %.3f", s * 1000, s * 1e6 / p}')"
    [ -n "$first_per_place" ] || first_per_place=$per_place
    [ "$requests" = 0 ] || { prev_rps=$rps; prev_places=$places; }
    echo "$engine, $places places: $rps req/s, p50 $p50 ms, $requests requests, CPU $cpu_ms ms/request, $per_place µs/place, RSS peak $((peak / 1024)) MiB ($peak_how)" >&2
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "$places" "$bytes" "$rps" "$p50" "$p99" \
      "$secs" "$requests" "$errors" "$cpu_ms" "$per_place" "$(ratio "$per_place" "$first_per_place")" "$((peak / 1024))" >>"$work/growth.md"
  done
  # Memory row: the largest step, GROWTH_CONNECTIONS concurrent places_search for MEMORY_SECONDS.
  sleep 1
  rest=$(rss_kib "$apid")
  echo 5 2>/dev/null >"/proc/$apid/clear_refs" || true
  read -r rps _ p99 requests errors <<<"$(wrk_run "$api/api/v1/places_search" search.lua "$GROWTH_CONNECTIONS" "$MEMORY_SECONDS")"
  peak=$(hwm_kib "$apid")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "$places" "$bytes" "$requests" "$errors" "$p99" \
    "$((rest / 1024))" "$((peak / 1024))" >>"$work/memory.md"
  stop api-service
  if [ "$engine" = postgres ]; then run psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null; pgdb=""; fi
  if [ "$engine" = mariadb ]; then run mariadb_admin "DROP DATABASE IF EXISTS $mydb" >/dev/null; mydb=""; fi
done

echo
echo "bench/reads.sh at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores: ENGINES=\"$ENGINES\" DURATION=$DURATION WRITE_RATES=\"$rates\" PLACES_STEPS=\"$PLACES_STEPS\""
echo
echo "### Mixed read/write through the gateway (seed data, 500 places; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; writer: POST + DELETE /api/v1/states)"
echo
echo "share = req/s ÷ hello req/s of the same engine, cache and write rate; × 0 w/s = ÷ the same case at 0 writes/s; × cache off = ÷ the cache-off row."
echo
echo "| engine | cache | writes/s | writes made (failed) | case | req/s | p99 ms | errors | share of hello | × 0 w/s | × cache off |"
echo "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"
for engine in $ENGINES; do
  for cache in off default; do
    for rate in $rates; do
      for entry in "${CASES[@]}"; do
        name=${entry%%|*}
        read -r rps p99 errors made failed <<<"${mixed[$engine|$cache|$rate|$name]}"
        hello=${mixed[$engine|$cache|$rate|hello (ceiling)]%% *}
        zero=${mixed[$engine|$cache|0|$name]%% *}
        off=${mixed[$engine|off|$rate|$name]%% *}
        vs_off="-"; [ "$cache" = off ] || vs_off=$(ratio "$rps" "$off")
        printf '| %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "$cache" "$rate" "$made" "$failed" \
          "$name" "$rps" "$p99" "$errors" "$(ratio "$rps" "$hello")" "$(ratio "$rps" "$zero")" "$vs_off"
      done
    done
  done
done
echo
echo "### Accept-Encoding: br, gzip (cache off, 0 writes/s, through the gateway)"
echo
echo "| engine | case | req/s | p99 ms | errors | body bytes plain | body bytes encoded | Content-Encoding | share of hello | × plain row |"
echo "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"
for engine in $ENGINES; do
  for entry in "${CASES[@]:1:2}"; do
    name=${entry%%|*}
    read -r rps p99 errors _ _ plain enc coding <<<"${encoded[$engine|$name]}"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$engine" "$name" "$rps" "$p99" "$errors" "$plain" "$enc" "$coding" \
      "$(ratio "$rps" "${mixed[$engine|off|0|hello (ceiling)]%% *}")" "$(ratio "$rps" "${mixed[$engine|off|0|$name]%% *}")"
  done
done
echo
echo "### Growth: POST /api/v1/places_search {} on api-service alone (direct, cache off), wrk -t$THREADS -c$GROWTH_CONNECTIONS, DURATION=${DURATION}s or longer"
echo
echo "| engine | places | body bytes | req/s | p50 ms | p99 ms | seconds | requests | errors | api CPU ms/request | api CPU µs/place | × CPU/place of first step | api RSS peak MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/growth.md"
echo
echo "### Memory: $GROWTH_CONNECTIONS concurrent places_search for ${MEMORY_SECONDS}s at the largest step (api-service alone, cache off)"
echo
echo "| engine | places | body bytes | requests | errors | p99 ms | api RSS before MiB | api RSS peak MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/memory.md"
