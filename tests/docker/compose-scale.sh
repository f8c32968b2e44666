#!/usr/bin/env bash
# `docker-compose up --scale api-service=3` (docs/operations.md, "Scaling to several machines"): the gateway
# finds the three instances behind the one name `api-service` and spreads requests over them
# within its resolve interval; scaling back to 1 under load fails no request (the two stopped
# instances drain, their addresses leave the name, the gateway drops them). Uses the image
# tests/docker/compose-e2e.sh built (or builds it); needs free ports 80 and 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/docker/lib.sh
started=$SECONDS

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-hbnb-scale}
export HBNB_BUILD_TARGET=${HBNB_BUILD_TARGET:-prebuilt}
# Several instances on one machine: each takes a free host port for its own 5002.
export API_PORT=0
compose=(docker-compose)
command -v docker-compose >/dev/null || compose=(docker compose)
dc() { run "${compose[@]}" "$@"; }
LOAD_CLIENTS=${LOAD_CLIENTS:-8}

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed)"
docker image inspect "${HBNB_IMAGE:-hbnb:latest}" >/dev/null 2>&1 || run scripts/docker-build.sh
work=$(mktemp -d)
cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    "${compose[@]}" ps >&2 || true
    "${compose[@]}" logs --no-color --tail=20 gateway api-service >&2 || true
  fi
  dc down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "compose --scale part took $((SECONDS - started)) s (exit $status)" >&2
  exit $status
}
trap cleanup EXIT

# Healthy api-service containers of this project.
healthy_api() {
  local ids
  ids=$("${compose[@]}" ps -q api-service)
  [ -n "$ids" ] || { echo 0; return; }
  docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' $ids | grep -c '^healthy$' || true
}
# Distinct api-service instances the gateway sent /api/v1/status to since $1.
instances_since() {
  docker logs --since "$1" "$("${compose[@]}" ps -q gateway)" 2>&1 | upstreams_for /api/v1/status
}
# Sends 40 requests, then counts the instances they reached, until there are $1 (90 s at most).
expect_instances() {
  local want=$1 until=$((SECONDS + 90)) since seen
  while :; do
    since=$(date -u +%Y-%m-%dT%H:%M:%S)
    for _ in $(seq 40); do curl -s -o /dev/null --max-time 5 127.0.0.1/api/v1/status; done
    seen=$(instances_since "$since")
    [ "$seen" -eq "$want" ] && return 0
    [ $SECONDS -lt $until ] || fail "the gateway reached $seen api-service instances, not $want, within 90 s"
    sleep 1
  done
}

dc up -d --scale api-service=3
until=$((SECONDS + 180))
until [ "$(healthy_api)" -eq 3 ] &&
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 127.0.0.1/api/v1/status)" = 200 ]; do
  [ $SECONDS -lt $until ] || fail "3 healthy api-service instances and the gateway not up within 180 s"
  sleep 1
done
t0=$SECONDS
expect_instances 3
echo "ok: the gateway spread requests over the 3 instances of api-service ($((SECONDS - t0)) s after they were healthy)" >&2

python3 tests/docker/load.py --port 80 --clients "$LOAD_CLIENTS" --seconds 300 --stop-file "$work/stop" \
  /api/v1/status /api/v1/states >"$work/down.json" &
loader=$!
dc up -d --no-recreate --scale api-service=1
expect_instances 1
touch "$work/stop"
wait $loader
echo "scaled from 3 to 1 under load: $(cat "$work/down.json")" >&2
failures=$(load_failures "$work/down.json")
[ "$failures" = 0 ] || fail "$failures requests failed while scaling down"
echo "PASS: compose --scale" >&2
