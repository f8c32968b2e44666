#!/usr/bin/env bash
# This build against an earlier one, in one run: "did this change make anything slower?".
# Builds REV's gateway, api-service and hello-service (release) in a git worktree of their own,
# then
#   1. bench/gateway.sh with BEFORE_GATEWAY = REV's gateway: both gateways in the same run,
#      alternated round by round (throughput and CPU per request, this build / REV);
#   2. bench/api.sh with REV's api-service and with this build's, alternated ROUNDS times on
#      ENGINES (default "sqlite postgres": MariaDB is newer than some revisions).
# Prints both tables and the per-case ratios (this build / REV).
#
# Usage: bench/before-after.sh REV    Env: ROUNDS (2), DURATION (5 for api.sh, 8 for gateway.sh),
#        ENGINES, SKIP_BUILD=1 (this build's target/release as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "+ $*" >&2; "$@"; }

REV=${1:?usage: bench/before-after.sh REV}
ROUNDS=${ROUNDS:-2}
ENGINES=${ENGINES:-sqlite postgres}
commit=$(git rev-parse --short "$REV")
tree=$PWD/target/before/$commit
if [ ! -d "$tree" ]; then
  run git worktree add --detach "$tree" "$commit"
fi
run cargo build --release --manifest-path "$tree/Cargo.toml" -p gateway -p api-service -p hello-service
[ "${SKIP_BUILD:-0}" = 1 ] || run cargo build --release -p gateway -p api-service -p hello-service
case " $ENGINES " in *" postgres "*) run scripts/start-postgres.sh ;; esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== gateway: this build vs $commit" >&2
run env DURATION="${DURATION:-8}" TLS=0 METRICS_ROUNDS=1 BEFORE_ROUNDS=$((ROUNDS + 1)) \
  BEFORE_GATEWAY="$tree/target/release/gateway" bench/gateway.sh >"$out/gateway.md"

for round in $(seq "$ROUNDS"); do
  for build in before now; do
    bin=target/release/api-service
    [ "$build" = before ] && bin=$tree/target/release/api-service
    echo "== api-service, $build (round $round)" >&2
    run env API_BIN="$bin" DURATION="${DURATION:-5}" ENGINES="$ENGINES" bench/api.sh >"$out/api-$build-$round.md"
  done
done

echo
echo "bench/before-after.sh: this build ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', uncommitted changes')) vs $commit"
echo
grep -E '^\|' "$out/gateway.md" | grep -E 'case|---|now|before'
grep 'this build / before' "$out/gateway.md"
echo
echo "api-service, requests/s (median of $ROUNDS rounds each; bench/api.sh tables)"
python3 - "$out" "$ROUNDS" <<'PY'
import re, statistics, sys, pathlib
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def table(path):
    """bench/api.sh's rows: | engine | case | req/s | p50 | p99 | errors |"""
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[\d.]+", cells[2]):
            rows[(cells[0], cells[1])] = float(cells[2])
    return rows
runs = {b: [table(out / f"api-{b}-{r}.md") for r in range(1, rounds + 1)] for b in ("before", "now")}
keys = [k for k in runs["now"][0] if all(k in t for t in runs["before"] + runs["now"])]
print("| engine | case | before | this build | this / before |")
print("|---|---|---:|---:|---:|")
for engine, case in keys:
    before = statistics.median(t[(engine, case)] for t in runs["before"])
    now = statistics.median(t[(engine, case)] for t in runs["now"])
    print(f"| {engine} | {case} | {before:,.0f} | {now:,.0f} | {now / before:.2f} |")
PY
