#!/usr/bin/env bash
# End-to-end test of docker-compose.yml on this machine: builds the images (scripts/docker-build.sh:
# local base-image stand-ins when no registry answers, binaries built on the host), starts the
# stack, waits until every container is healthy, runs the README's curl examples on ports
# 5000-5003 and 80, creates data through the API, restarts the api-service container (and
# recreates the postgres one) and finds the data again, takes a backup with `db-backup now`,
# restores it into a scratch database and compares row counts, stops the stack (every container
# must exit 0 on SIGTERM), then `docker-compose down -v` (always, via a trap). Prints what it runs, the time from `up` to healthy and the image sizes.
#
# Needs a Docker engine, docker-compose (v1) or the docker compose plugin, curl, and free ports
# 80 and 5000-5003 (run it after the cargo tests, which use random free ports).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/docker/lib.sh
started=$SECONDS

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-hbnb-e2e}
export HBNB_BUILD_TARGET=${HBNB_BUILD_TARGET:-prebuilt}
compose=(docker-compose)
command -v docker-compose >/dev/null || compose=(docker compose)
dc() { run "${compose[@]}" "$@"; }
HEALTH_DEADLINE=${HEALTH_DEADLINE:-180}
PG_USER=${POSTGRES_USER:-hbnb}
PG_DB=${POSTGRES_DB:-hbnb}
PG_PASSWORD=${POSTGRES_PASSWORD:-hbnb}

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed)"
for port in 80 5000 5001 5002 5003; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is already in use on this host; stop what listens there (or the Rust tests) first"
  fi
done

# ---------------------------------------------------------------- build
# prebuilt (default): host binaries, base-image stand-ins when no registry answers. app: the
# Dockerfile's full Rust build, as `docker compose up` does on a machine with a registry.
t0=$SECONDS
if [ "$HBNB_BUILD_TARGET" = prebuilt ]; then
  run scripts/docker-build.sh
else
  dc build gateway
fi
build_secs=$((SECONDS - t0))

# ---------------------------------------------------------------- up
cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "---- state at failure" >&2
    "${compose[@]}" ps >&2 || true
    "${compose[@]}" logs --no-color --tail=30 >&2 || true
  fi
  dc down -v --remove-orphans --timeout 20 || true
  echo "docker part took $((SECONDS - started)) s (exit $status)" >&2
  exit $status
}
trap cleanup EXIT

# Every container of the project healthy (each one has a healthcheck), or fail at the deadline.
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_DEADLINE)) ids line bad
  while :; do
    mapfile -t ids < <("${compose[@]}" ps -q)
    [ ${#ids[@]} -gt 0 ] || fail "no containers in project $COMPOSE_PROJECT_NAME"
    bad=()
    while read -r line; do
      set -- $line
      case "$2 $3" in
        "running healthy") ;;
        "exited "* | "dead "* | *" unhealthy") fail "container $1 is $2 ${3:-} (logs above at exit)" ;;
        *) bad+=("$1:$2/${3:-no-healthcheck}") ;;
      esac
    done < <(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "${ids[@]}")
    [ ${#bad[@]} -eq 0 ] && return 0
    [ $SECONDS -lt $deadline ] || fail "not healthy within ${HEALTH_DEADLINE}s: ${bad[*]}"
    sleep 0.5
  done
}

t0=$(date +%s%N)
dc up -d
wait_healthy
healthy_ms=$((($(date +%s%N) - t0) / 1000000))
echo "stack healthy $((healthy_ms / 1000)).$((healthy_ms % 1000 / 100)) s after 'up -d' began" >&2
[ "$("${compose[@]}" ps -q | wc -l)" -eq 7 ] || fail "expected 7 containers, got: $("${compose[@]}" ps)"

# ---------------------------------------------------------------- the README's curl examples
expect_body 127.0.0.1:5000/airbnb-onepage/ "Hello HBNB!"
expect_body 127.0.0.1:5001/number_odd_or_even/89 "<H1>Number: 89 is odd</H1>"
expect_body 127.0.0.1:5001/number_odd_or_even/123456789012345678901234567890 "<H1>Number: 123456789012345678901234567890 is even</H1>"
expect_body 127.0.0.1:5001/c/is_fun "C is fun"
expect_body 127.0.0.1:5002/api/v1/status '{"status":"OK"}'
expect_body 127.0.0.1:5003/2-hbnb/ "<title>HBnB</title>"
echo "+ curl -sI 127.0.0.1/airbnb-onepage/" >&2
head=$(curl -sSI --max-time 10 127.0.0.1/airbnb-onepage/) || fail "curl -I through the gateway failed"
[[ $head == "HTTP/1.1 200"* ]] || fail "HEAD /airbnb-onepage/ via :80: expected 200, got: ${head%%$'\r'*}"
grep -qi '^x-served-by: [^[:space:]]' <<<"$head" || fail "HEAD /airbnb-onepage/ via :80: no X-Served-By header in: $head"
checks=$((checks + 1))
expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
expect_body 127.0.0.1/airbnb-dynamic/number_odd_or_even/6 "<H1>Number: 6 is even</H1>"
expect_status 127.0.0.1/airbnb-dynamic/number_odd_or_even/abc 404
expect_body 127.0.0.1/api/v1/status '{"status":"OK"}'
expect_body 127.0.0.1/ "<title>HBnB</title>"
expect_status 127.0.0.1/static/styles/4-common.css 200
echo "ok: $checks curl checks on ports 5000-5003 and 80" >&2

# ---------------------------------------------------------------- data through the API (via :80)
# post PATH JSON -> prints the new object's id
post() {
  local body
  echo "+ curl -X POST 127.0.0.1/api/v1$1 -d '$2'" >&2
  body=$(curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' -d "$2" \
    -w '\n%{http_code}' "127.0.0.1/api/v1$1") || fail "POST $1 failed"
  [ "${body##*$'\n'}" = 201 ] || fail "POST $1: expected 201, got ${body##*$'\n'}: ${body%$'\n'*}"
  grep -o '"id": *"[^"]*"' <<<"${body%$'\n'*}" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/'
}
state=$(post /states '{"name":"California"}')
city=$(post "/states/$state/cities" '{"name":"San Francisco"}')
user=$(post /users '{"email":"e2e@hbnb.test","password":"pwd","first_name":"Betty"}')
place=$(post "/cities/$city/places" "{\"user_id\":\"$user\",\"name\":\"Lovely place\",\"number_rooms\":3}")
amenity=$(post /amenities '{"name":"Wifi"}')
post "/places/$place/amenities/$amenity" '{}' >/dev/null
post "/places/$place/reviews" "{\"user_id\":\"$user\",\"text\":\"Great\"}" >/dev/null
stats_expected='{"amenities":1,"cities":1,"places":1,"reviews":1,"states":1,"users":1}'
expect_body 127.0.0.1:5002/api/v1/stats "$stats_expected"
echo "ok: created one state, city, user, place, amenity (linked) and review" >&2

# ---------------------------------------------------------------- restarts keep the data
dc restart api-service
wait_healthy
expect_body "127.0.0.1:5002/api/v1/states/$state" '"name":"California"'
expect_body 127.0.0.1:5002/api/v1/stats "$stats_expected"
# A new postgres container on the same named volume.
dc rm -f -s postgres
dc up -d postgres
wait_healthy
expect_body "127.0.0.1/api/v1/places/$place" '"name":"Lovely place"'
expect_body 127.0.0.1:5002/api/v1/stats "$stats_expected"
echo "ok: data still there after restarting api-service and recreating the postgres container" >&2

# ---------------------------------------------------------------- backup, restore, compare
echo "+ ${compose[*]} exec -T db-backup db-backup now" >&2
out=$("${compose[@]}" exec -T db-backup db-backup now 2>&1) || fail "db-backup now failed (exit $?): $out"
id=$(grep -E '^[0-9]{8}T[0-9.]+Z$' <<<"$out" | tail -n1) || true
[ -n "$id" ] || fail "db-backup now printed no backup id: $out"
echo "backup $id taken" >&2
dc exec -T db-backup db-backup verify "$id" >/dev/null || fail "db-backup verify $id failed"
dc exec -T postgres createdb -U "$PG_USER" hbnb_scratch
dc exec -T db-backup db-backup restore "$id" \
  --to "postgres://$PG_USER:$PG_PASSWORD@postgres:5432/hbnb_scratch" >/dev/null ||
  fail "db-backup restore $id into hbnb_scratch failed"

# Row counts of every table (but sqlx's bookkeeping) in a database, as "table=count" lines.
counts() {
  local db=$1 tables query
  tables=$("${compose[@]}" exec -T postgres psql -U "$PG_USER" -d "$db" -tAc \
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\_sqlx%' ORDER BY 1")
  [ -n "$tables" ] || fail "no tables in database $db"
  query=$(for t in $tables; do printf "SELECT '%s' || '=' || count(*) FROM %s UNION ALL " "$t" "$t"; done)
  "${compose[@]}" exec -T postgres psql -U "$PG_USER" -d "$db" -tAc "${query% UNION ALL }"
}
echo "+ row counts of $PG_DB and hbnb_scratch (psql in the postgres container)" >&2
live=$(counts "$PG_DB")
restored=$(counts hbnb_scratch)
[ "$live" = "$restored" ] ||
  fail "row counts differ between $PG_DB and the restored backup:"$'\n'"$(diff <(echo "$live") <(echo "$restored"))"
[ "$(grep -c '=1$' <<<"$live")" -eq 7 ] || fail "expected one row in each of the 7 tables, got: $live"
echo "ok: backup $id restored into hbnb_scratch; row counts equal: $(tr '\n' ' ' <<<"$restored")" >&2

# ---------------------------------------------------------------- graceful stop
# SIGTERM to every container: each must exit 0 within its stop_grace_period (no SIGKILL = 137).
dc stop
mapfile -t containers < <("${compose[@]}" ps -q)
codes=$(docker inspect -f '{{.Name}} {{.State.ExitCode}}' "${containers[@]}")
if grep -v ' 0$' <<<"$codes" >&2; then fail "containers above did not exit 0 on SIGTERM"; fi
echo "ok: every container exited 0 on SIGTERM" >&2

# ---------------------------------------------------------------- figures
echo "---- figures" >&2
echo "images built in ${build_secs} s; stack healthy $((healthy_ms / 1000)).$((healthy_ms % 1000 / 100)) s after 'up -d' began" >&2
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' |
  grep -E "^(${HBNB_IMAGE:-hbnb:latest}|postgres:15-bookworm|debian:bookworm-slim)"$'\t' >&2 || true
echo "PASS: compose end-to-end" >&2
