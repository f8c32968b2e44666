#!/usr/bin/env bash
# Runs every test: builds the binaries the black-box tests start, prepares PostgreSQL for the
# tests that use it, then runs the whole workspace's tests in parallel with cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

if [ -x scripts/start-postgres.sh ]; then
  run scripts/start-postgres.sh
fi
run cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  run cargo nextest run --workspace --no-fail-fast "$@"
else
  run cargo test --workspace --no-fail-fast "$@"
fi
