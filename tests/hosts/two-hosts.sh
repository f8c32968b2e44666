#!/usr/bin/env bash
# Two hosts on one machine: network namespaces "web" (10.231.0.1: the gateway, the
# api-service, web-dynamic) and "db" (10.231.0.2: the database server and db-backup), joined by a
# veth pair. The database server refuses anything but TLS; the services reach it as
# db.hbnb.test (a per-namespace /etc/hosts) with DATABASE_URL's verify-full settings and the CA
# this test makes with openssl. Run for PostgreSQL 15 (its own initdb, ssl = on, hostssl only)
# and then for MariaDB (its own datadir, require_secure_transport = ON):
#
#   1. a plaintext client is refused by the server; the TLS settings work from the web host;
#      a service (and db-backup) given the wrong CA, or the server's IP (a name its certificate
#      does not list), or (PostgreSQL) a server without TLS, exits at once naming the server
#      and the TLS reason; load through the gateway (tests/hosts/load.py, 4 clients: POST a
#      state, GET it from the API, GET its page) is answered right over TLS
#   2. the database server stopped for 5 s and started again, under that load: requests answer
#      503 (JSON, Retry-After) within a few seconds, never a 500 or a hang, and service resumes
#      by itself (no service restarted)
#   3. the link between the hosts cut for 10 s (every packet between them dropped, iptables in
#      the web namespace: what a cut cable or a dead switch does), then restored: the same
#   4. every acknowledged POST is in the database (read over TLS from the db host)
#   5. db-backup on the db host: a backup (verified by its test restore), `verify`, then
#      `restore --to` a scratch database, whose row counts match the source's
#
# Needs root and `ip netns`; PostgreSQL 15 (/usr/lib/postgresql/15/bin), mariadbd,
# mariadb-install-db, the mariadb and psql clients, openssl, iptables, curl, python3; the
# binaries of `cargo build --workspace --bins` (${CARGO_TARGET_DIR:-target}/debug). Cleans up
# its namespaces and processes on exit. ENGINES="postgres mariadb" (default) picks the engines.
# Prints what it runs and a summary per engine.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# shellcheck source=tests/lib/steps.sh
source tests/lib/steps.sh
started=$SECONDS

ENGINES=${ENGINES:-postgres mariadb}
DEADLINE=${DEADLINE:-30}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
bin=${CARGO_TARGET_DIR:-target}/debug
bin=$(cd "$bin" && pwd)
WEB=hbnb2h-web-$$
DB=hbnb2h-db-$$
WEB_IP=10.231.0.1
DB_IP=10.231.0.2
DB_NAME=db.hbnb.test
PASSWORD="tls-test-pw"
LOAD=$repo/tests/hosts/load.py

[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
for tool in ip iptables openssl curl python3 psql mariadbd mariadb-install-db mariadb mariadb-admin runuser; do
  command -v "$tool" >/dev/null || fail "$tool not found"
done
[ -x "$PG_BIN/initdb" ] || fail "PostgreSQL 15 not found in $PG_BIN (apt-get install postgresql-15)"
for binary in gateway api-service web-dynamic db-backup; do
  [ -x "$bin/$binary" ] || fail "$bin/$binary missing: run cargo build --workspace --bins"
done

tmp=$(mktemp -d /tmp/hbnb-two-hosts.XXXXXX)
chmod 755 "$tmp"
pids=()
summary=()
cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  [ -f "$tmp/pg/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -m immediate stop >/dev/null 2>&1
  [ -f "$tmp/my/mysqld.pid" ] && kill -TERM "$(cat "$tmp/my/mysqld.pid")" 2>/dev/null
  local deadline=$((SECONDS + 15))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  ip netns pids "$DB" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  ip netns pids "$WEB" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  ip netns del "$WEB" 2>/dev/null
  ip netns del "$DB" 2>/dev/null
  rm -rf "/etc/netns/$WEB" "/etc/netns/$DB"
  if [ $status -ne 0 ]; then
    echo "logs kept in $tmp/logs" >&2
    for log in "$tmp"/logs/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $log" >&2
      tail -n 15 "$log" >&2
    done
  else
    rm -rf "$tmp"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/logs"
chmod 1777 "$tmp/logs" # the database servers write theirs here too

on_web() { ip netns exec "$WEB" "$@"; }
on_db() { ip netns exec "$DB" "$@"; }
now() { date +%s.%N; }

# --- the two hosts ----------------------------------------------------------------------------
run ip netns add "$WEB"
run ip netns add "$DB"
run ip link add "w2h$$" type veth peer name "d2h$$"
run ip link set "w2h$$" netns "$WEB"
run ip link set "d2h$$" netns "$DB"
run on_web ip addr add "$WEB_IP/24" dev "w2h$$"
run on_db ip addr add "$DB_IP/24" dev "d2h$$"
for ns in "$WEB" "$DB"; do
  run ip netns exec "$ns" ip link set lo up
  mkdir -p "/etc/netns/$ns"
  # What DNS would say: both hosts resolve the database server's name (ip netns exec mounts it).
  printf '127.0.0.1 localhost\n%s %s\n%s web.hbnb.test\n' "$DB_IP" "$DB_NAME" "$WEB_IP" >"/etc/netns/$ns/hosts"
done
run on_web ip link set "w2h$$" up
run on_db ip link set "d2h$$" up
link_up() { on_web ip -o link show "w2h$$" | grep -q 'state UP'; }
wait_for "the link between the hosts up" link_up

# --- a CA, the server's certificate (for db.hbnb.test only), and another CA ------------------
tls=$tmp/tls
mkdir -p "$tls"
make_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$2" -keyout "$tls/$1.key" -out "$tls/$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
run make_ca ca "HBNB test CA"
run make_ca other-ca "Some other CA"
run openssl req -newkey rsa:2048 -nodes -subj "/CN=$DB_NAME" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$DB_NAME" >"$tls/server.ext"
run openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial -days 2 \
  -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
chmod 644 "$tls"/*.pem

# --- the web host's processes -------------------------------------------------------------------
# start_on_web NAME PORT LOG ENV...: the binary NAME in the web namespace, ready within DEADLINE.
start_on_web() {
  local name=$1 port=$2 log=$3
  shift 3
  echo "+ ip netns exec $WEB env $* $bin/$name  (port $port, log $log)" >&2
  ip netns exec "$WEB" env RUST_LOG=info WORKERS=2 PORT="$port" "$@" "$bin/$name" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  local deadline=$((SECONDS + DEADLINE))
  until on_web curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || fail "$name exited at start (see $log)"
    [ $SECONDS -lt $deadline ] || fail "$name not ready on :$port within ${DEADLINE}s"
    sleep 0.2
  done
  last_pid=$pid
}
stop_pid() {
  local pid=$1 deadline=$((SECONDS + 15))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "pid $pid did not stop within 15 s"
  wait "$pid" 2>/dev/null || true
}

# expect_start_error WHAT EXPECTED-TEXT ENV...: the api-service (then db-backup on the db host)
# given this DATABASE_URL must exit non-zero within 10 s, its output naming the server and
# EXPECTED-TEXT (the TLS reason).
expect_start_error() {
  local what=$1 expected=$2 url=$3 server=$4 log
  log=$tmp/logs/start-error-$engine-${what// /-}.log
  echo "+ (expect a refusal: $what) ip netns exec $WEB env DATABASE_URL=$url $bin/api-service" >&2
  local t0=$SECONDS status=0
  timeout 20 ip netns exec "$WEB" env DATABASE_URL="$url" PORT=0 DATABASE_WAIT=30s "$bin/api-service" >"$log" 2>&1 || status=$?
  local took=$((SECONDS - t0))
  [ $status -ne 0 ] && [ $status -ne 124 ] || fail "$what: api-service did not exit with an error (status $status)"
  [ $took -le 10 ] || fail "$what: api-service took ${took}s to give up (never a hang)"
  grep -q "$server" "$log" || fail "$what: the error does not name $server: $(tail -n 3 "$log")"
  grep -qi "$expected" "$log" || fail "$what: the error does not say '$expected': $(tail -n 3 "$log")"
  echo "  refused in ${took}s: $(grep -o 'cannot make a TLS connection.*' "$log" | head -n 1 | cut -c1-220)" >&2
  # db-backup on the web host's side of the same mistake: the same message, at once.
  status=0
  timeout 30 ip netns exec "$WEB" env DATABASE_URL="$url" BACKUP_DIR="$tmp/wrong-backups" "$bin/db-backup" now >"$log.backup" 2>&1 || status=$?
  [ $status -ne 0 ] && [ $status -ne 124 ] || fail "$what: db-backup now did not fail (status $status)"
  grep -q "$server" "$log.backup" && grep -qi "$expected" "$log.backup" \
    || fail "$what: db-backup's error does not name $server and '$expected': $(tail -n 2 "$log.backup")"
  summary+=("$engine: $what: refused at start in ${took}s, naming $server")
}

# --- one engine ---------------------------------------------------------------------------------
run_engine() {
  engine=$1
  local url url_on_db wrong_ca wrong_name plain_refused server=$DB_NAME
  echo "=== $engine: start the database server on the db host ($DB_IP), TLS only" >&2
  case $engine in
    postgres)
      server=$DB_NAME:5432
      start_postgres
      url="postgres://hbnb:$PASSWORD@$DB_NAME:5432/hbnb?sslmode=verify-full&sslrootcert=$tls/ca.pem"
      wrong_ca="postgres://hbnb:$PASSWORD@$DB_NAME:5432/hbnb?sslmode=verify-full&sslrootcert=$tls/other-ca.pem"
      wrong_name="postgres://hbnb:$PASSWORD@$DB_IP:5432/hbnb?sslmode=verify-full&sslrootcert=$tls/ca.pem"
      echo "+ (expect a refusal) psql with sslmode=disable from the web host" >&2
      if plain_refused=$(on_web env PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=5 psql "postgresql://hbnb@$DB_NAME:5432/hbnb?sslmode=disable" -Atc 'SELECT 1' 2>&1); then
        fail "the server accepted a plaintext client"
      fi
      echo "  $plain_refused" >&2
      grep -q "no encryption" <<<"$plain_refused" || fail "plaintext refused for another reason: $plain_refused"
      run on_web env PGPASSWORD=$PASSWORD psql "postgresql://hbnb@$DB_NAME:5432/hbnb?sslmode=verify-full&sslrootcert=$tls/ca.pem" \
        -Atc "SELECT 'tls ' || ssl || ' ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" >&2
      ;;
    mariadb)
      server=$DB_NAME:3306
      start_mariadb
      url="mariadb://hbnb:$PASSWORD@$DB_NAME:3306/hbnb?ssl-mode=VERIFY_IDENTITY&ssl-ca=$tls/ca.pem"
      wrong_ca="mariadb://hbnb:$PASSWORD@$DB_NAME:3306/hbnb?ssl-mode=VERIFY_IDENTITY&ssl-ca=$tls/other-ca.pem"
      wrong_name="mariadb://hbnb:$PASSWORD@$DB_IP:3306/hbnb?ssl-mode=VERIFY_IDENTITY&ssl-ca=$tls/ca.pem"
      # The same account over TLS first, so that a refusal below is the transport's.
      run on_web mariadb --no-defaults --ssl-ca="$tls/ca.pem" --ssl-verify-server-cert -h "$DB_NAME" -u hbnb -p"$PASSWORD" hbnb \
        -Ne "SHOW SESSION STATUS LIKE 'Ssl_version'" >&2
      echo "+ (expect a refusal) mariadb --skip-ssl from the web host" >&2
      if plain_refused=$(on_web mariadb --no-defaults --skip-ssl --connect-timeout=5 -h "$DB_NAME" -u hbnb -p"$PASSWORD" hbnb -e 'SELECT 1' 2>&1); then
        fail "the server accepted a plaintext client"
      fi
      echo "  $plain_refused" >&2
      grep -qi "insecure transport\|Access denied" <<<"$plain_refused" || fail "plaintext refused for another reason: $plain_refused"
      ;;
  esac

  echo "=== $engine: TLS mistakes answer at start, naming the server and the reason" >&2
  expect_start_error "wrong CA" "not signed by a CA" "$wrong_ca" "$server"
  expect_start_error "name mismatch" "not for the host name" "$wrong_name" "$DB_IP:"
  if [ "$engine" = postgres ]; then
    # The same server without TLS: the URL requires it, so the service refuses it.
    # (In the db namespace: the restarted postmaster is pg_ctl's child.)
    run on_db runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/logs/postgres.log" -m fast -w -o "-c ssl=off" restart >/dev/null
    expect_start_error "server without TLS" "does not support TLS" "$url" "$server"
    run on_db runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/logs/postgres.log" -m fast -w -o "-c ssl=on" restart >/dev/null
  fi

  echo "=== $engine: the services on the web host ($WEB_IP) over TLS, the gateway in front" >&2
  local logs=$tmp/logs api web gateway
  start_on_web api-service 5002 "$logs/api-service-$engine.log" DATABASE_URL="$url"
  api=$last_pid
  start_on_web web-dynamic 5003 "$logs/web-dynamic-$engine.log" DATABASE_URL="$url"
  web=$last_pid
  start_on_web gateway 80 "$logs/gateway-$engine.log"
  gateway=$last_pid

  local records=$tmp/records-$engine.jsonl faults=$tmp/faults-$engine.jsonl stop=$tmp/stop-$engine
  : >"$records"
  : >"$faults"
  echo "+ ip netns exec $WEB python3 $LOAD run --base http://127.0.0.1:80 --clients 4 ... &" >&2
  on_web python3 "$LOAD" run --base http://127.0.0.1:80 --clients 4 --max-seconds 150 \
    --stop-file "$stop" --tag "2h-$engine-$$" --out "$records" &
  local load=$!
  pids+=("$load")
  wait_for "20 right answers over TLS" python3 "$LOAD" settled --records "$records" --count 20

  echo "=== $engine: the database server stopped for 5 s, then started (under load)" >&2
  local t0
  t0=$(now)
  case $engine in
    postgres) run runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null ;;
    mariadb) run mariadb-admin --no-defaults --socket="$tmp/my/mysqld.sock" -uroot shutdown ;;
  esac
  sleep 5 # the fault's duration, not a synchronisation
  case $engine in
    postgres) run on_db runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -l "$logs/postgres.log" -w start >/dev/null ;;
    mariadb) start_mariadb_server ;;
  esac
  printf '{"name": "%s", "start": %s, "end": %s}\n' "server restart" "$t0" "$(now)" >>"$faults"
  local since
  since=$(now)
  wait_for "service to resume after the restart (10 right answers in a row)" \
    python3 "$LOAD" settled --records "$records" --since "$since" --count 10

  echo "=== $engine: the link between the hosts cut for 10 s (every packet dropped), then restored" >&2
  t0=$(now)
  run on_web iptables -A OUTPUT -d "$DB_IP" -j DROP
  run on_web iptables -A INPUT -s "$DB_IP" -j DROP
  sleep 10 # the fault's duration
  run on_web iptables -D OUTPUT -d "$DB_IP" -j DROP
  run on_web iptables -D INPUT -s "$DB_IP" -j DROP
  printf '{"name": "%s", "start": %s, "end": %s}\n' "link cut 10 s" "$t0" "$(now)" >>"$faults"
  since=$(now)
  DEADLINE=60 wait_for "service to resume after the link cut (10 right answers in a row)" \
    python3 "$LOAD" settled --records "$records" --since "$since" --count 10
  touch "$stop"
  wait "$load" || fail "the load script failed"

  for pid in $api $web $gateway; do
    kill -0 "$pid" 2>/dev/null || fail "a service (pid $pid) died during the faults"
  done
  echo "=== $engine: what the clients saw" >&2
  local acked=$tmp/acked-$engine.txt check_status=0
  run python3 "$LOAD" check --records "$records" --faults "$faults" --max-latency 6 --recovery 20 \
    --acked-out "$acked" | tee "$tmp/check-$engine.txt" >&2 || check_status=$?
  [ $check_status -eq 0 ] || fail "$engine: the answers under the faults were not as required (above)"

  echo "=== $engine: every acknowledged write is stored (read over TLS on the db host)" >&2
  local stored=$tmp/stored-$engine.txt
  db_query "SELECT id FROM states WHERE name LIKE '2h-$engine-$$-%'" | sort >"$stored"
  local acked_n stored_n lost
  acked_n=$(wc -l <"$acked")
  stored_n=$(wc -l <"$stored")
  lost=$(sort "$acked" | comm -23 - "$stored" | wc -l)
  echo "  acknowledged POSTs: $acked_n; stored: $stored_n; acknowledged but not stored: $lost" >&2
  [ "$acked_n" -gt 0 ] || fail "no POST was acknowledged"
  [ "$lost" -eq 0 ] || fail "$lost acknowledged writes are not in the database"

  echo "=== $engine: a backup on the db host, verified, restored into a scratch database" >&2
  local backups=$tmp/backups-$engine id scratch_url
  case $engine in
    postgres)
      url_on_db=$url
      run on_db runuser -u postgres -- psql -h "$tmp/pg/sock" -U postgres -qc "CREATE DATABASE hbnb_restored OWNER hbnb" >&2
      scratch_url="postgres://hbnb:$PASSWORD@$DB_NAME:5432/hbnb_restored?sslmode=verify-full&sslrootcert=$tls/ca.pem"
      ;;
    mariadb)
      url_on_db=$url
      run on_db mariadb --no-defaults --socket="$tmp/my/mysqld.sock" -uroot -e "CREATE DATABASE hbnb_restored" >&2
      scratch_url="mariadb://hbnb:$PASSWORD@$DB_NAME:3306/hbnb_restored?ssl-mode=VERIFY_IDENTITY&ssl-ca=$tls/ca.pem"
      ;;
  esac
  echo "+ ip netns exec $DB env DATABASE_URL=<verify-full URL> BACKUP_DIR=$backups $bin/db-backup now" >&2
  id=$(on_db env DATABASE_URL="$url_on_db" BACKUP_DIR="$backups" "$bin/db-backup" now 2>"$logs/db-backup-$engine.log") \
    || fail "db-backup now failed: $(tail -n 3 "$logs/db-backup-$engine.log")"
  run on_db env DATABASE_URL="$url_on_db" BACKUP_DIR="$backups" "$bin/db-backup" verify latest 2>>"$logs/db-backup-$engine.log" >&2 \
    || fail "db-backup verify failed: $(tail -n 3 "$logs/db-backup-$engine.log")"
  echo "+ ip netns exec $DB env ... $bin/db-backup restore $id --to <scratch verify-full URL>" >&2
  on_db env DATABASE_URL="$url_on_db" BACKUP_DIR="$backups" "$bin/db-backup" restore "$id" --to "$scratch_url" \
    2>>"$logs/db-backup-$engine.log" >&2 || fail "db-backup restore failed: $(tail -n 3 "$logs/db-backup-$engine.log")"
  # The backup's manifest holds the rows it counted in the dump's own snapshot (the live
  # database may have changed since: see the late commits below).
  local backup_counts restored_counts
  backup_counts=$(on_db env BACKUP_DIR="$backups" "$bin/db-backup" list --json 2>/dev/null | python3 -c '
import json, sys
m = [m for m in json.load(sys.stdin) if m["id"] == sys.argv[1]][0]
print(m["tables"]["states"], m["tables"]["cities"])' "$id") || fail "cannot read the backup's manifest"
  restored_counts=$(db_query "SELECT (SELECT COUNT(*) FROM states), (SELECT COUNT(*) FROM cities)" hbnb_restored)
  echo "  backup $id: states, cities $backup_counts; restored: $restored_counts" >&2
  [ "$backup_counts" = "$restored_counts" ] || fail "the restored database differs from the backup: $backup_counts vs $restored_counts"
  # Writes answered 503 may still commit: a group sent before the link was cut reaches the
  # server when TCP retransmits it after the link is back. Not acknowledged, so not lost; shown.
  local late
  late=$(db_query "SELECT COUNT(*) FROM states WHERE name LIKE '2h-$engine-$$-%'")
  echo "  stored now: $late (answered 503 yet committed: $((late - acked_n)))" >&2

  for pid in $gateway $web $api; do stop_pid "$pid"; done
  case $engine in
    postgres) run runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg/data" -m fast -w stop >/dev/null ;;
    mariadb) run mariadb-admin --no-defaults --socket="$tmp/my/mysqld.sock" -uroot shutdown ;;
  esac
  while read -r line; do summary+=("$engine: $line"); done <"$tmp/check-$engine.txt"
  summary+=("$engine: acknowledged POSTs $acked_n, stored $stored_n, lost $lost")
  summary+=("$engine: POSTs answered 503 that committed anyway (sent before the cut, delivered after): $((late - acked_n))")
  summary+=("$engine: backup $id taken and verified on the db host, restored into hbnb_restored: states cities $restored_counts, as in the backup")
}

# db_query SQL [DATABASE]: one query over TLS (verify-full) from the db host, tab-separated rows.
db_query() {
  local database=${2:-hbnb}
  case $engine in
    postgres) on_db env PGPASSWORD=$PASSWORD psql "postgresql://hbnb@$DB_NAME:5432/$database?sslmode=verify-full&sslrootcert=$tls/ca.pem" -AtF ' ' -c "$1" ;;
    mariadb) on_db mariadb --no-defaults --ssl-ca="$tls/ca.pem" --ssl-verify-server-cert -h "$DB_NAME" -u hbnb -p"$PASSWORD" "$database" -N -B -e "$1" | tr '\t' ' ' ;;
  esac
}

start_postgres() {
  local data=$tmp/pg/data
  mkdir -p "$tmp/pg/sock"
  cp "$tls/server.pem" "$tls/server.key" "$tmp/pg/"
  chown -R postgres:postgres "$tmp/pg"
  chmod 600 "$tmp/pg/server.key"
  run runuser -u postgres -- "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '$DB_IP'
port = 5432
unix_socket_directories = '$tmp/pg/sock'
ssl = on
ssl_cert_file = '$tmp/pg/server.pem'
ssl_key_file = '$tmp/pg/server.key'
max_connections = 200
EOF
  # TLS only over the network: hostssl for the hosts, anything else rejected.
  cat >"$data/pg_hba.conf" <<EOF
local     all all                trust
hostnossl all all 0.0.0.0/0      reject
hostssl   all all 10.231.0.0/24  scram-sha-256
EOF
  chown postgres:postgres "$data/pg_hba.conf"
  run on_db runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$data" -l "$tmp/logs/postgres.log" -w start >/dev/null
  run on_db runuser -u postgres -- psql -h "$tmp/pg/sock" -U postgres -q \
    -c "CREATE ROLE hbnb LOGIN CREATEDB PASSWORD '$PASSWORD'" -c "CREATE DATABASE hbnb OWNER hbnb" >&2
}

start_mariadb_server() {
  echo "+ ip netns exec $DB mariadbd --datadir=$tmp/my/data --bind-address=$DB_IP --ssl-ca/cert/key --require-secure-transport=ON &" >&2
  on_db setsid mariadbd --no-defaults --datadir="$tmp/my/data" --socket="$tmp/my/mysqld.sock" \
    --pid-file="$tmp/my/mysqld.pid" --bind-address="$DB_IP" --port=3306 --user=root --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --max-connections=300 \
    --ssl-ca="$tls/ca.pem" --ssl-cert="$tls/server.pem" --ssl-key="$tls/server.key" \
    --require-secure-transport=ON --log-error="$tmp/logs/mariadb.log" </dev/null >/dev/null 2>&1 &
  wait_for "mariadbd accepting connections" mariadb-admin --no-defaults --socket="$tmp/my/mysqld.sock" -uroot ping
}

start_mariadb() {
  mkdir -p "$tmp/my/data"
  run mariadb-install-db --no-defaults --datadir="$tmp/my/data" --auth-root-authentication-method=socket \
    --skip-test-db --user=root >"$tmp/logs/mariadb-install.log" 2>&1
  start_mariadb_server
  run mariadb --no-defaults --socket="$tmp/my/mysqld.sock" -uroot -e \
    "CREATE USER 'hbnb'@'%' IDENTIFIED BY '$PASSWORD'; GRANT ALL PRIVILEGES ON *.* TO 'hbnb'@'%'; CREATE DATABASE hbnb;"
}

for engine in $ENGINES; do
  run_engine "$engine"
done

echo "=== two hosts: summary ($((SECONDS - started)) s)"
for line in "${summary[@]}"; do echo "  $line"; done
echo "two-hosts: PASS"
