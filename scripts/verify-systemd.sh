#!/usr/bin/env bash
# Checks the systemd units in deploy/systemd/ with `systemd-analyze verify`: every binary has a
# .service and a .socket, and the units parse cleanly. verify refuses an ExecStart binary that does
# not exist, so the check runs on copies whose /usr/local/bin/<binary> points at the built one
# (${CARGO_TARGET_DIR:-target}/debug, or BIN_DIR): build first (`cargo build --workspace --bins`). verify only warns
# (exit 0) about unknown keys or bad values, so any output at all fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

BINARIES=(gateway hello-service number-service api-service web-dynamic db-backup)
bin_dir=$(realpath "${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}")

command -v systemd-analyze >/dev/null || {
  echo "error: systemd-analyze is missing (Debian: apt-get install systemd)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for name in "${BINARIES[@]}"; do
  [ -x "$bin_dir/$name" ] || {
    echo "error: $bin_dir/$name is missing: run cargo build --workspace --bins first" >&2
    exit 1
  }
  for kind in service socket; do
    unit=deploy/systemd/hbnb-$name.$kind
    [ -f "$unit" ] || {
      echo "error: $unit is missing: every binary needs a .service and a .socket" >&2
      exit 1
    }
  done
  grep -qx "ExecStart=/usr/local/bin/$name" "deploy/systemd/hbnb-$name.service" || {
    echo "error: deploy/systemd/hbnb-$name.service does not start /usr/local/bin/$name" >&2
    exit 1
  }
done

units=()
for unit in deploy/systemd/*.service deploy/systemd/*.socket deploy/systemd/*.target; do
  sed "s#/usr/local/bin/#$bin_dir/#g" "$unit" >"$work/$(basename "$unit")"
  units+=("$work/$(basename "$unit")")
done

echo "+ systemd-analyze verify ${units[*]}" >&2
set +e
output=$(systemd-analyze verify "${units[@]}" 2>&1)
status=$?
set -e
if [ $status -ne 0 ] || [ -n "$output" ]; then
  echo "$output" >&2
  echo "error: systemd-analyze verify found problems in deploy/systemd/ (exit $status)" >&2
  exit 1
fi
echo "deploy/systemd: ${#units[@]} units verified" >&2
