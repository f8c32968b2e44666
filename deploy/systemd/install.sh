#!/usr/bin/env bash
# Installs the HBNB stack on this machine as systemd units (docs/operations.md, "systemd"). Run as root from
# a checkout, after building the binaries:
#
#   cargo build --release --workspace --bins
#   sudo deploy/systemd/install.sh [--no-start] [BIN_DIR]     BIN_DIR: default target/release
#
# What it does, in order (each command is printed):
#   1. the six binaries            -> /usr/local/bin/           (replaced, never rewritten in place),
#      and scripts/hbnb-ctl (status, tls, reload, upgrade)
#   2. web-dynamic/static          -> /usr/local/share/hbnb/static
#   3. hbnb.sysusers.conf          -> /etc/sysusers.d/hbnb.conf, then systemd-sysusers (user hbnb)
#   4. the .service/.socket/.target units -> /etc/systemd/system/, then systemctl daemon-reload
#   5. /etc/hbnb/hbnb.env (settings shared by every unit), created empty (mode 600) if missing
#   6. systemctl enable --now hbnb.target   (--no-start: enable only; it starts at the next boot)
#
# Running it again upgrades: new binaries are picked up by `systemctl reload hbnb-<service>`
# (SIGUSR2, in place, no request lost) or `systemctl restart`; new units by daemon-reload (done).
set -euo pipefail
run() { echo "+ $*" >&2; "$@"; }

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=1
if [ "${1:-}" = --no-start ]; then
  start=0
  shift
fi
bin_dir=${1:-$repo/target/release}
BINARIES=(gateway hello-service number-service api-service web-dynamic db-backup)

[ "$(id -u)" = 0 ] || { echo "error: run as root (it writes /usr/local, /etc/systemd/system)" >&2; exit 1; }
command -v systemctl >/dev/null || { echo "error: no systemctl: this machine does not run systemd" >&2; exit 1; }
for b in "${BINARIES[@]}"; do
  [ -x "$bin_dir/$b" ] || {
    echo "error: $bin_dir/$b is missing: build first (cargo build --release --workspace --bins)" >&2
    exit 1
  }
done
[ -d "$repo/web-dynamic/static" ] || { echo "error: $repo/web-dynamic/static is missing" >&2; exit 1; }

# 1. Binaries. install(1) unlinks the old file before writing the new one, so a running process
# keeps its binary and a SIGUSR2 upgrade (systemctl reload) starts the new one.
for b in "${BINARIES[@]}"; do
  run install -D -m 755 "$bin_dir/$b" "/usr/local/bin/$b"
done
run install -D -m 755 "$repo/scripts/hbnb-ctl" /usr/local/bin/hbnb-ctl

# 2. web-dynamic's assets (STATIC_DIR in hbnb-web-dynamic.service), swapped in whole.
run install -d -m 755 /usr/local/share/hbnb
run rm -rf /usr/local/share/hbnb/static.new
run cp -R "$repo/web-dynamic/static" /usr/local/share/hbnb/static.new
run chmod -R u=rwX,go=rX /usr/local/share/hbnb/static.new
run rm -rf /usr/local/share/hbnb/static
run mv /usr/local/share/hbnb/static.new /usr/local/share/hbnb/static

# 3. The system user every unit runs as (/etc/sysusers.d may not exist on a minimal system).
run install -D -m 644 "$here/hbnb.sysusers.conf" /etc/sysusers.d/hbnb.conf
run systemd-sysusers /etc/sysusers.d/hbnb.conf

# 4. The units.
for unit in "$here"/*.service "$here"/*.socket "$here"/*.target; do
  run install -m 644 "$unit" "/etc/systemd/system/$(basename "$unit")"
done
run systemctl daemon-reload

# 5. Shared settings (DATABASE_URL may hold a password: root only; systemd reads it).
run install -d -m 755 /etc/hbnb
if [ ! -e /etc/hbnb/hbnb.env ]; then
  # Comments only (SQLite under /var/lib/hbnb/data, the built-in routes): the same file as the
  # Debian package's conffile, so a later `apt install ./hbnb_*.deb` finds it unchanged.
  run install -m 600 "$here/hbnb.env" /etc/hbnb/hbnb.env
fi

# 6. Enable (and start) the whole stack.
if [ "$start" = 1 ]; then
  run systemctl enable --now hbnb.target
else
  run systemctl enable hbnb.target
fi
