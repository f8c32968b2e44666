#!/usr/bin/env bash
# Starts a private MariaDB server for the tests (if it is not already up): its own datadir and
# socket under MARIADB_DIR (default /tmp/hbnb-mariadb), TCP on 127.0.0.1:MARIADB_PORT (default
# 3306), waits until it accepts connections, and makes sure the account the tests and the services
# use exists: hbnb / hbnb with every privilege (the tests create a database each).
# Idempotent: safe to run again when the server is already up. Prints every command it runs.
# MARIADB_STOP=1 stops it instead.
set -euo pipefail

DIR="${MARIADB_DIR:-/tmp/hbnb-mariadb}"
PORT="${MARIADB_PORT:-3306}"
DEADLINE_SECS="${MARIADB_START_DEADLINE:-60}"
SOCKET="$DIR/mysqld.sock"
PIDFILE="$DIR/mysqld.pid"
URL="mysql://hbnb:hbnb@127.0.0.1:$PORT/mysql"

run() {
    echo "+ $*" >&2
    "$@"
}

for tool in mariadbd mariadb-install-db mariadb-admin mariadb; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool not found; install MariaDB (apt-get install mariadb-server mariadb-client)" >&2
        exit 1
    fi
done

alive() { mariadb-admin --no-defaults --socket="$SOCKET" -uroot ping >/dev/null 2>&1; }

if [ "${MARIADB_STOP:-0}" = "1" ]; then
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        run mariadb-admin --no-defaults --socket="$SOCKET" -uroot shutdown
    fi
    echo "MariaDB in $DIR is stopped" >&2
    exit 0
fi

# A server started before the binary log was part of the test setup: stopped, started again below.
if alive && [ "$(mariadb --no-defaults --socket="$SOCKET" -uroot -N -e 'SELECT @@log_bin')" != 1 ]; then
    echo "MariaDB in $DIR runs without a binary log: restarting it with one" >&2
    run mariadb-admin --no-defaults --socket="$SOCKET" -uroot shutdown
fi

if alive; then
    echo "MariaDB in $DIR is already running" >&2
else
    if [ ! -d "$DIR/data/mysql" ]; then
        run mkdir -p "$DIR/data"
        run mariadb-install-db --no-defaults --datadir="$DIR/data" --auth-root-authentication-method=socket \
            --skip-test-db --user="$(id -un)" >"$DIR/install.log" 2>&1
    fi
    # A test server: no doublewrite, no fsync per commit (MARIADB_DURABLE=1 keeps the defaults),
    # utf8mb4 by default; a binary log in row format, kept a day, as point-in-time recovery needs
    # (tests/tests/backup_pitr.rs); the daemon detaches (setsid) and logs to $DIR/error.log.
    tuning=(--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --innodb-flush-method=nosync)
    if [ "${MARIADB_DURABLE:-0}" = "1" ]; then tuning=(); fi
    echo "+ mariadbd --datadir=$DIR/data --socket=$SOCKET --port=$PORT ... &" >&2
    setsid mariadbd --no-defaults --datadir="$DIR/data" --socket="$SOCKET" --pid-file="$PIDFILE" \
        --bind-address=127.0.0.1 --port="$PORT" --user="$(id -un)" --skip-name-resolve \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --max-connections=1000 --log-error="$DIR/error.log" "${tuning[@]}" \
        --server-id=1 --log-bin=hbnb-bin --binlog-format=ROW --binlog-expire-logs-seconds=86400 \
        </dev/null >/dev/null 2>&1 &
    server_pid=$!
fi

deadline=$(( $(date +%s) + DEADLINE_SECS ))
until alive; do
    if [ -n "${server_pid:-}" ] && ! kill -0 "$server_pid" 2>/dev/null; then
        echo "error: mariadbd exited at start (port $PORT taken by another server? MARIADB_PORT picks another):" >&2
        tail -20 "$DIR/error.log" >&2 || true
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "error: MariaDB did not accept connections on $SOCKET within ${DEADLINE_SECS}s" >&2
        tail -20 "$DIR/error.log" >&2 || true
        exit 1
    fi
    sleep 0.2
done
echo "MariaDB accepts connections on $SOCKET and 127.0.0.1:$PORT" >&2

run mariadb --no-defaults --socket="$SOCKET" -uroot -e \
    "CREATE USER IF NOT EXISTS 'hbnb'@'127.0.0.1' IDENTIFIED BY 'hbnb';
     CREATE USER IF NOT EXISTS 'hbnb'@'localhost' IDENTIFIED BY 'hbnb';
     GRANT ALL PRIVILEGES ON *.* TO 'hbnb'@'127.0.0.1' WITH GRANT OPTION;
     GRANT ALL PRIVILEGES ON *.* TO 'hbnb'@'localhost' WITH GRANT OPTION;"
echo "ready: $URL" >&2
