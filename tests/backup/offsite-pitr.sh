#!/usr/bin/env bash
# Point-in-time recovery from off-host copies, alone, with its report: a real PostgreSQL
# (scripts/start-postgres.sh), moto's S3 server on loopback, the api-service taking writes,
# db-backup with BACKUP_PITR=on; then the local backups deleted and the database restored from
# the store to a time T and to the end of the archive, compared write by write
# (tests/tests/backup_pitr.rs, which the README's test command runs with every other test).
#
# Usage: tests/backup/offsite-pitr.sh      Needs: PostgreSQL 15 server and client, python3-venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
run() { echo "+ $*" >&2; "$@"; }

run scripts/start-postgres.sh
run cargo build --bins -p api-service -p db-backup
if cargo nextest --version >/dev/null 2>&1; then
  run cargo nextest run -p hbnb-tests --test backup_pitr --no-capture
else
  run cargo test -p hbnb-tests --test backup_pitr -- --nocapture
fi
