#!/usr/bin/env bash
# The stack on a single-node Docker Swarm (docs/operations.md, "Scaling to several machines"): `docker swarm
# init` (unless this engine is in a swarm already), the images built here (scripts/docker-build.sh),
# scripts/swarm-deploy.sh (docker stack deploy -c docker-compose.yml), then, through the gateway
# on :80:
#   - every course URL answers; the time from deploy to all healthy is printed;
#   - `docker service scale hbnb_api-service=5`: the gateway spreads requests over 5 instances
#     within its resolve interval (counted from the `upstream` field of its access log);
#   - `docker service update --force hbnb_api-service` (a rolling update) under load: 0 failures;
#   - `docker kill` of one api-service task under load: only requests in flight on it may fail.
# Then `docker stack rm`, and `docker swarm leave --force` if the swarm was made here (a trap).
# Needs free ports 80 (the gateway, published in host mode). Prints what it runs and the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/docker/lib.sh
started=$SECONDS
export STACK=${STACK:-hbnb}
DEADLINE=${DEADLINE:-240}
LOAD_CLIENTS=${LOAD_CLIENTS:-8}
load=(python3 tests/docker/load.py --port 80 --clients "$LOAD_CLIENTS")
LOAD_PATHS=(/api/v1/status /api/v1/states /airbnb-onepage/ /airbnb-dynamic/number_odd_or_even/7)

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed)"
(exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null && fail "port 80 is in use on this host"

made_swarm=0
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
  run docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  made_swarm=1
fi
work=$(mktemp -d)
cleanup() {
  status=$?
  if [ $status -ne 0 ]; then
    echo "---- state at failure" >&2
    docker service ls >&2 || true
    docker service ps --no-trunc "${STACK}_api-service" 2>&1 | head -20 >&2 || true
    docker service logs --tail 20 "${STACK}_gateway" >&2 2>&1 || true
  fi
  run docker stack rm "$STACK" >/dev/null 2>&1 || true
  # The stack's containers and network go away asynchronously.
  local until=$((SECONDS + 60))
  while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && [ $SECONDS -lt $until ]; do
    sleep 1
  done
  docker volume rm "${STACK}_pgdata" "${STACK}_backups" >/dev/null 2>&1 || true
  if [ $made_swarm = 1 ]; then run docker swarm leave --force >/dev/null || true; fi
  rm -rf "$work"
  echo "swarm part took $((SECONDS - started)) s (exit $status)" >&2
  exit $status
}
trap cleanup EXIT

# ---------------------------------------------------------------- build and deploy
if ! docker image inspect "${HBNB_IMAGE:-hbnb:latest}" >/dev/null 2>&1 || [ "${REBUILD:-1}" = 1 ]; then
  run scripts/docker-build.sh
fi
t0=$(date +%s%N)
run scripts/swarm-deploy.sh

# Every service at its replica count, and every course URL answering through the gateway.
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "127.0.0.1$1" || true; }
converged() {
  local line
  while read -r line; do
    set -- ${line/\// }
    [ "$2" = "$3" ] || return 1
  done < <(docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Replicas}}' | sed 's/ (.*//')
}
until=$((SECONDS + DEADLINE))
until converged && [ "$(code /airbnb-onepage/)" = 200 ] && [ "$(code /api/v1/states)" = 200 ] &&
  [ "$(code /2-hbnb/)" = 200 ]; do
  [ $SECONDS -lt $until ] || fail "the stack was not up within ${DEADLINE}s"
  sleep 1
done
healthy_ms=$((($(date +%s%N) - t0) / 1000000))
echo "stack up $((healthy_ms / 1000)).$((healthy_ms % 1000 / 100)) s after 'docker stack deploy' began" >&2
docker service ls --filter "label=com.docker.stack.namespace=$STACK" >&2

expect_body 127.0.0.1/airbnb-onepage/ "Hello HBNB!"
expect_body 127.0.0.1/airbnb-dynamic/number_odd_or_even/6 "<H1>Number: 6 is even</H1>"
expect_body 127.0.0.1/api/v1/status '{"status":"OK"}'
expect_body 127.0.0.1/api/v1/stats '"states":'
expect_body 127.0.0.1/ "<title>HBnB</title>"
expect_body 127.0.0.1/static/styles/4-common.css "body"
expect_status 127.0.0.1/airbnb-dynamic/number_odd_or_even/abc 404
echo "ok: $checks course URLs through the gateway on the swarm" >&2

# Distinct api-service instances the gateway sent /api/v1/status to since $1.
instances_since() {
  docker service logs --raw --since "$1" "${STACK}_gateway" 2>/dev/null | upstreams_for /api/v1/status
}

# ---------------------------------------------------------------- scale out
run docker service scale --detach "${STACK}_api-service=5" >/dev/null
t0=$SECONDS
until=$((SECONDS + 90))
while :; do
  since=$(date -u +%Y-%m-%dT%H:%M:%S)
  for _ in $(seq 40); do curl -s -o /dev/null --max-time 5 127.0.0.1/api/v1/status; done
  seen=$(instances_since "$since")
  [ "$seen" -ge 5 ] && break
  [ $SECONDS -lt $until ] || fail "the gateway reached $seen api-service instances, not 5, within 90 s of scaling"
  sleep 1
done
echo "ok: after scaling to 5 the gateway spread requests over $seen instances ($((SECONDS - t0)) s after the scale command)" >&2

# ---------------------------------------------------------------- rolling update under load
"${load[@]}" --seconds 600 --stop-file "$work/stop" "${LOAD_PATHS[@]}" >"$work/update.json" &
loader=$!
t0=$SECONDS
run timeout 600 docker service update --force --quiet "${STACK}_api-service" >/dev/null
update_secs=$((SECONDS - t0))
touch "$work/stop"
wait $loader
echo "rolling update of 5 api-service tasks (${update_secs} s) under load: $(cat "$work/update.json")" >&2
failures=$(load_failures "$work/update.json")
[ "$failures" = 0 ] || fail "$failures requests failed during the rolling update"

# ---------------------------------------------------------------- a task killed under load
rm -f "$work/stop"
"${load[@]}" --seconds 600 --stop-file "$work/stop" --ready-file "$work/loading" "${LOAD_PATHS[@]}" >"$work/kill.json" &
loader=$!
# The kill must come while requests are flowing: wait for the load's first answer.
until=$((SECONDS + 30))
until [ -e "$work/loading" ]; do
  [ $SECONDS -lt $until ] || { touch "$work/stop"; fail "the load got no answer within 30 s"; }
  sleep 0.1
done
victim=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_api-service" | head -n1)
[ -n "$victim" ] || fail "no api-service task container found"
run docker kill "$victim" >/dev/null
until=$((SECONDS + 90))
# Replaced: 5 running tasks again, none of them the killed one (the load runs on meanwhile).
replaced() {
  local ids
  ids=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_api-service")
  [ "$(wc -l <<<"$ids")" -eq 5 ] && ! grep -q "^$victim" <<<"$ids" && converged
}
until replaced; do
  [ $SECONDS -lt $until ] || { touch "$work/stop"; fail "the killed task was not replaced within 90 s"; }
  sleep 1
done
touch "$work/stop"
wait $loader
echo "one api-service task killed under load (replaced): $(cat "$work/kill.json")" >&2
failures=$(load_failures "$work/kill.json")
[ "$failures" -le "$LOAD_CLIENTS" ] || fail "$failures requests failed; at most the $LOAD_CLIENTS in flight may"

echo "---- figures" >&2
echo "stack up $((healthy_ms / 1000)).$((healthy_ms % 1000 / 100)) s after deploy; rolling update ${update_secs} s" >&2
echo "PASS: swarm end-to-end" >&2
