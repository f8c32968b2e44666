#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster (if it is down), waits until it accepts connections, and
# makes sure the role the tests and the api-service use exists: hbnb / hbnb, LOGIN SUPERUSER.
# Idempotent: safe to run again when everything is already up. Prints every command it runs.
set -euo pipefail

VERSION="${PG_VERSION:-15}"
CLUSTER="${PG_CLUSTER:-main}"
PGPORT="${PGPORT:-5432}"
DEADLINE_SECS="${PG_START_DEADLINE:-60}"

run() {
    echo "+ $*" >&2
    "$@"
}

if ! command -v pg_ctlcluster >/dev/null; then
    echo "error: pg_ctlcluster not found; install PostgreSQL $VERSION (apt-get install postgresql-$VERSION)" >&2
    exit 1
fi

if pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}' | grep -q online; then
    echo "PostgreSQL $VERSION/$CLUSTER is already running" >&2
else
    run pg_ctlcluster "$VERSION" "$CLUSTER" start
fi

deadline=$(( $(date +%s) + DEADLINE_SECS ))
until pg_isready -h 127.0.0.1 -p "$PGPORT" -q; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "error: PostgreSQL did not accept connections on 127.0.0.1:$PGPORT within ${DEADLINE_SECS}s" >&2
        run pg_isready -h 127.0.0.1 -p "$PGPORT" || true
        exit 1
    fi
    sleep 0.2
done
echo "PostgreSQL accepts connections on 127.0.0.1:$PGPORT" >&2

psql_admin() {
    echo "+ su postgres -c \"psql -p $PGPORT -v ON_ERROR_STOP=1 -tAc \\\"$1\\\"\"" >&2
    su postgres -c "psql -p $PGPORT -v ON_ERROR_STOP=1 -tAc \"$1\""
}

if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'hbnb'")" = "1" ]; then
    echo "role hbnb exists" >&2
else
    psql_admin "CREATE ROLE hbnb WITH LOGIN SUPERUSER PASSWORD 'hbnb'"
fi
# A test cluster: trade durability for speed (CREATE DATABASE per test and every commit wait on
# fsync otherwise, seconds each on a slow disk). PG_DURABLE=1 leaves the settings alone.
if [ "${PG_DURABLE:-0}" != "1" ]; then
    for setting in "fsync = off" "synchronous_commit = off" "full_page_writes = off"; do
        if [ "$(psql_admin "SHOW ${setting%% *}")" != "off" ]; then
            psql_admin "ALTER SYSTEM SET $setting" >/dev/null
            reload=1
        fi
    done
    if [ "${reload:-0}" = "1" ]; then
        psql_admin "SELECT pg_reload_conf()" >/dev/null
    fi
    echo "test tuning: fsync, synchronous_commit and full_page_writes are off (PG_DURABLE=1 to keep them)" >&2
fi
echo "ready: postgres://hbnb:hbnb@127.0.0.1:$PGPORT/postgres" >&2
