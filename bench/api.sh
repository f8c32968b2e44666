#!/usr/bin/env bash
# Benchmarks api-service on SQLite, PostgreSQL and MariaDB in one run, with wrk (Debian package), each
# case bounded to DURATION seconds, all traffic on 127.0.0.1:
#   1. GET  /api/v1/states            with 1,000 states
#   2. GET  /api/v1/places/<id>
#   3. POST /api/v1/places_search {}  with 1,000 places
#   4. a create+delete cycle          (POST /api/v1/states then DELETE it; one cycle = 2 requests)
# Prints a Markdown table: requests/s, p50 and p99 latency per engine and case.
#
# Env: API_BIN (default target/release/api-service, built if missing), DURATION (10),
#      CONNECTIONS (16), THREADS (2), WORKERS (2), TEST_DATABASE_URL (PostgreSQL admin URL,
#      default postgres://hbnb:hbnb@127.0.0.1:5432/postgres; run scripts/start-postgres.sh first),
#      TEST_MARIADB_URL (MariaDB admin URL, default mysql://hbnb:hbnb@127.0.0.1:3306/mysql; run
#      scripts/start-mariadb.sh first), ENGINES ("sqlite postgres mariadb"), DB_SSLMODE (disable:
#      the server connections in plain text; "prefer" encrypts them when the server offers TLS,
#      as Debian's PostgreSQL does. Plain by default so that builds with and without TLS support
#      compare the same work, see bench/before-after.sh; set it to measure what TLS costs).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
WORKERS="${WORKERS:-2}"
ENGINES="${ENGINES:-sqlite postgres mariadb}"
ADMIN_URL="${TEST_DATABASE_URL:-postgres://hbnb:hbnb@127.0.0.1:5432/postgres}"
MARIADB_URL="${TEST_MARIADB_URL:-mysql://hbnb:hbnb@127.0.0.1:3306/mysql}"
# The MariaDB admin URL's parts, for the mariadb client (password through MYSQL_PWD).
MY_REST="${MARIADB_URL#*://}"; MY_USERINFO="${MY_REST%@*}"; MY_HOSTPORT="${MY_REST#*@}"; MY_HOSTPORT="${MY_HOSTPORT%%/*}"
MY_USER="${MY_USERINFO%%:*}"; MY_PASS="${MY_USERINFO#*:}"; MY_HOST="${MY_HOSTPORT%%:*}"; MY_PORT="${MY_HOSTPORT##*:}"
[ "$MY_PORT" = "$MY_HOSTPORT" ] && MY_PORT=3306
mariadb_admin() { MYSQL_PWD="$MY_PASS" mariadb --no-defaults -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -e "$1"; }
API_BIN="${API_BIN:-target/release/api-service}"
SEED="${SEED:-1000}"
DB_SSLMODE="${DB_SSLMODE:-disable}"
# MySQL's spelling of the same modes (sqlx's ssl-mode): DISABLED or PREFERRED.
case "$DB_SSLMODE" in disable) MY_SSLMODE=DISABLED ;; *) MY_SSLMODE=PREFERRED ;; esac

if ! command -v wrk >/dev/null; then
    echo "+ apt-get install -y wrk" >&2
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
if [ ! -x "$API_BIN" ]; then
    echo "+ cargo build --release -p api-service" >&2
    cargo build --release -p api-service
fi

WORK="$(mktemp -d)"
PID=""
PGDB=""
MYDB=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    if [ -n "$PGDB" ]; then psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true; fi
    if [ -n "$MYDB" ]; then mariadb_admin "DROP DATABASE IF EXISTS $MYDB" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_api() { # $1 = DATABASE_URL
    local port; port="$(free_port)"
    DATABASE_URL="$1" PORT="$port" HOST=127.0.0.1 WORKERS="$WORKERS" RUST_LOG=warn LOG_FORMAT=json \
        "$API_BIN" >"$WORK/api.log" 2>&1 &
    PID=$!
    BASE="http://127.0.0.1:$port"
    local deadline=$(( $(date +%s) + 30 ))
    until curl -fs "$BASE/readyz" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$PID" 2>/dev/null; then
            echo "api-service did not become ready:" >&2; cat "$WORK/api.log" >&2; exit 1
        fi
        sleep 0.1
    done
}

stop_api() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

seed() { # SEED states, one city, one user, SEED places in that city (8 requests in flight)
    PLACE="$(python3 - "$BASE" "$SEED" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, n = sys.argv[1], int(sys.argv[2])
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201, r.status
        return json.load(r)["id"]
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: post("/api/v1/states", {"name": f"state {i}"}), range(n)))
state = post("/api/v1/states", {"name": "Home"})
city = post(f"/api/v1/states/{state}/cities", {"name": "Town"})
user = post("/api/v1/users", {"email": "bench@example.com", "password": "bench"})
with ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda i: post(f"/api/v1/cities/{city}/places",
                                 {"user_id": user, "name": f"place {i}", "number_rooms": 2,
                                  "price_by_night": 80}), range(n)))
print(post(f"/api/v1/cities/{city}/places", {"user_id": user, "name": "target"}))
PY
)"
    echo "seeded: $(curl -fs "$BASE/api/v1/stats")" >&2
}

cat >"$WORK/search.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$WORK/cycle.lua" <<'LUA'
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
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local errors = summary.errors.status + summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, errors))
end
LUA

run_case() { # $1 engine, $2 label, $3 url, $4 lua script (optional)
    local script="$WORK/case.lua"
    cat "${4:-/dev/null}" "$WORK/report.lua" >"$script"
    local out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s -s "$script" "$3")"
    local line; line="$(grep '^RESULT' <<<"$out")"
    read -r _ rps p50 p99 total errors <<<"$line"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$rps" "$p50" "$p99" "$errors" >>"$WORK/table.md"
    echo "$1 / $2: $rps req/s, p50 $p50 ms, p99 $p99 ms, $total requests, $errors errors (non-2xx or socket)" >&2
}

printf '| engine | case | req/s | p50 ms | p99 ms | errors |\n| --- | --- | ---: | ---: | ---: | ---: |\n' >"$WORK/table.md"
for engine in $ENGINES; do
    case "$engine" in
        sqlite) url="sqlite://$WORK/bench.sqlite?mode=rwc" ;;
        postgres)
            PGDB="hbnb_bench_$$"
            psql "$ADMIN_URL" -qc "CREATE DATABASE $PGDB" >/dev/null
            url="${ADMIN_URL%/*}/$PGDB?sslmode=$DB_SSLMODE" ;;
        mariadb)
            MYDB="hbnb_bench_$$"
            mariadb_admin "CREATE DATABASE $MYDB" >/dev/null
            url="${MARIADB_URL%/*}/$MYDB?ssl-mode=$MY_SSLMODE" ;;
        *) echo "unknown engine $engine" >&2; exit 1 ;;
    esac
    echo "== $engine" >&2
    start_api "$url"
    seed
    run_case "$engine" "GET /api/v1/states (1,000 states)" "$BASE/api/v1/states"
    run_case "$engine" "GET /api/v1/places/<id>" "$BASE/api/v1/places/$PLACE"
    run_case "$engine" "POST /api/v1/places_search {} (1,000 places)" "$BASE/api/v1/places_search" "$WORK/search.lua"
    run_case "$engine" "create+delete cycle (2 requests)" "$BASE" "$WORK/cycle.lua"
    stop_api
    if [ "$engine" = postgres ]; then
        psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null; PGDB=""
    fi
    if [ "$engine" = mariadb ]; then
        mariadb_admin "DROP DATABASE IF EXISTS $MYDB" >/dev/null; MYDB=""
    fi
done
echo
echo "api-service $(git rev-parse --short HEAD 2>/dev/null || echo '?'), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, WORKERS=$WORKERS, $(nproc) cores"
cat "$WORK/table.md"
