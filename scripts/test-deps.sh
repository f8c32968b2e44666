#!/usr/bin/env bash
# The system packages scripts/test.sh needs, on Debian 12. Installs what is missing when run as
# root (one apt-get update, then one apt-get install); otherwise prints the exact command to run
# and exits 1. Does nothing when everything is there. Prints what it runs.
#
#   C compiler (ring, bundled SQLite)       build-essential
#   PostgreSQL 15 (API, pages, backups)     postgresql-15 postgresql-client-15
#   MariaDB (started privately)             mariadb-server mariadb-client
#   systemd-analyze (verify-systemd.sh)     systemd
#   Schemathesis's venv                     python3 python3-venv
#   ss (the listen backlog test)            iproute2
#   the browser test                        chromium chromium-driver
#   the docs check (tests/docs/check.sh)    curl
#   make deb (tests/systemd/deb-test.sh)    make (dpkg-deb is in dpkg, always there)
#   the systemd tests read JSON on the host jq
#   the two-host test (tests/hosts/)        iproute2 (ip netns), iptables, openssl
#   promtool (tests/prometheus/check.sh)    prometheus (its service is not started)
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v make >/dev/null 2>&1 || need+=(make)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql-15 postgresql-client-15)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v mariadb-dump >/dev/null 2>&1 || need+=(mariadb-client)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3 python3-venv)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)

if [ ${#need[@]} -eq 0 ]; then
  echo "test-deps: every system package the tests need is installed" >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: missing system packages; install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi

run() { echo "+ $*" >&2; "$@"; }
export DEBIAN_FRONTEND=noninteractive
run apt-get update -q
run apt-get install -y -q "${need[@]}"
