#!/usr/bin/env bash
# Runs every test: builds the binaries the black-box tests start, prepares PostgreSQL and MariaDB
# for the tests that use them, then runs the whole workspace's tests in parallel with cargo-nextest, then
# Schemathesis against the api-service's OpenAPI document, then the docker-compose end-to-end
# test and the systemd boot test when a Docker engine answers, then the two-host test (root).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

# The system packages (PostgreSQL, MariaDB, chromium, ...): installed when run as root, else the
# exact apt-get line is printed and the run stops here.
run scripts/test-deps.sh

if [ -x scripts/start-postgres.sh ]; then
  run scripts/start-postgres.sh
fi
if [ -x scripts/start-mariadb.sh ]; then
  run scripts/start-mariadb.sh
fi
run cargo build --workspace --bins
# The manual against the binaries: every flag documented, links resolve, the runbook's commands
# run (tests/docs/check.sh, about a minute). Before the long tests, so a stale doc fails fast.
run tests/docs/check.sh
if cargo nextest --version >/dev/null 2>&1; then
  run cargo nextest run --workspace --no-fail-fast "$@"
else
  run cargo test --workspace --no-fail-fast "$@"
fi

# Schemathesis over the api-service's OpenAPI document, every check on (docs/design/api.md;
# tests/schemathesis/run.sh, one to two minutes). SCHEMATHESIS: unset = run it
# when python3 can make a venv, 1 = required (CI), 0 = skip. Test filters skip it too.
if [ $# -eq 0 ] && [ "${SCHEMATHESIS:-}" != 0 ]; then
  if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    run tests/schemathesis/run.sh
  elif [ "${SCHEMATHESIS:-}" = 1 ]; then
    echo "error: SCHEMATHESIS=1 but python3 cannot make a venv (python3-venv)" >&2
    exit 1
  else
    echo "no python3 venv: skipping tests/schemathesis/run.sh" >&2
  fi
fi

# The Prometheus configuration and alert rules, checked and unit-tested by promtool
# (tests/prometheus/check.sh, seconds). PROMTOOL_CHECK: unset = run it when promtool is installed,
# 1 = required (CI), 0 = skip. Test filters skip it too.
if [ $# -eq 0 ] && [ "${PROMTOOL_CHECK:-}" != 0 ]; then
  if command -v promtool >/dev/null 2>&1 || [ "${PROMTOOL_CHECK:-}" = 1 ]; then
    run tests/prometheus/check.sh
  else
    echo "no promtool (Debian: prometheus): skipping tests/prometheus/check.sh" >&2
  fi
fi

# The stack in containers (docs/design/containers.md): after the cargo
# tests, whose random ports must not collide with the stack's 80 and 5000-5003; one after the
# other, as they share those ports: docker-compose, docker-compose --scale, then a single-node
# Docker Swarm. DOCKER_E2E: unset = run them when a Docker engine answers, 1 = required (CI),
# 0 = skip. Test filters skip them too.
if [ $# -eq 0 ] && [ "${DOCKER_E2E:-}" != 0 ]; then
  if docker info >/dev/null 2>&1; then
    run tests/docker/compose-e2e.sh
    run tests/docker/compose-scale.sh
    # The image compose-e2e.sh has just built.
    run env REBUILD=0 tests/docker/swarm-e2e.sh
  elif [ "${DOCKER_E2E:-}" = 1 ]; then
    echo "error: DOCKER_E2E=1 but no Docker engine answers (docker info failed)" >&2
    exit 1
  else
    echo "no Docker engine (docker info failed): skipping tests/docker/*.sh" >&2
  fi
fi

# The systemd units booted for real (docs/design/containers.md, "systemd"): a container whose PID 1 is systemd, the
# units installed as an operator would, then the stack under load. It publishes no port, so it
# does not depend on the compose test's ports. SYSTEMD_E2E: unset = run it when a Docker engine
# answers, 1 = required (CI), 0 = skip. Test filters skip it too.
if [ $# -eq 0 ] && [ "${SYSTEMD_E2E:-}" != 0 ]; then
  if docker info >/dev/null 2>&1; then
    run tests/systemd/boot-test.sh
    # The Debian package (docs/package.md) on the same machine image: make deb twice, install,
    # upgrade under load with no failed request, remove, purge. It packs the debug build this
    # script made (stripped, as the boot test runs it): a release build would add 7-14 minutes
    # on 2 cores. DEB_PROFILE=release packs a release build.
    run env PROFILE="${DEB_PROFILE:-debug}" tests/systemd/deb-test.sh
  elif [ "${SYSTEMD_E2E:-}" = 1 ]; then
    echo "error: SYSTEMD_E2E=1 but no Docker engine answers (docker info failed)" >&2
    exit 1
  else
    echo "no Docker engine (docker info failed): skipping tests/systemd/boot-test.sh and deb-test.sh" >&2
  fi
fi

# Two hosts (docs/two-hosts.md): network namespaces "web" (the gateway and the services) and
# "db" (PostgreSQL 15, then MariaDB, TLS only, and db-backup), a restart of the database server
# and a 10 s cut of the link under load. TWO_HOSTS_E2E: unset = run it when we are root and
# `ip netns` works, 1 = required (CI), 0 = skip. Test filters skip it too.
if [ $# -eq 0 ] && [ "${TWO_HOSTS_E2E:-}" != 0 ]; then
  if [ "$(id -u)" = 0 ] && ip netns add "hbnb-probe-$$" 2>/dev/null && ip netns del "hbnb-probe-$$"; then
    run tests/hosts/two-hosts.sh
  elif [ "${TWO_HOSTS_E2E:-}" = 1 ]; then
    echo "error: TWO_HOSTS_E2E=1 but network namespaces are not available (root and ip netns needed)" >&2
    exit 1
  else
    echo "not root or no ip netns: skipping tests/hosts/two-hosts.sh" >&2
  fi
fi
